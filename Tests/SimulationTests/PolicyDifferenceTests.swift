import CloudModel
import Foundation
import Simulation
import Testing
import TestSupport

/// The library scenario where placement policies differ on a real log
/// (`Workloads/swf-lublin-mixed.yaml`): run times follow placement through the
/// overhead model (`lifetime: work`), so where a policy crowds VMs changes how
/// long jobs run and how long the next ones wait. The numbers are pinned: a
/// change to the engine, the queue or the overhead model that moves them shows here.
@Suite struct PolicyDifferenceTests {
    @Test func policiesDifferOnTheMixedLublinScenario() throws {
        let scenario = try Fixtures.loader().load(path: Fixtures.repoRoot + "/Workloads/swf-lublin-mixed.yaml")
        var results: [String: Summary] = [:]
        for policy in ["first-fit", "best-fit", "worst-fit"] {
            // The first 250 simulated hours of arrivals (626 jobs) keep the test short; the README runs all 3,000.
            results[policy] = try Run(scenario: scenario, policy: policy, horizon: 250 * 3_600_000_000_000).simulate()
        }
        func pinned(_ policy: String) -> String {
            let s = results[policy]!
            return String(format: "wait %.1f s, bounded slowdown %.3f, efficiency %.4f, accepted %d",
                          s.jobs.wait.mean, s.jobs.boundedSlowdown.mean, s.performance!.efficiency.mean, s.accepted)
        }
        #expect(pinned("first-fit") == "wait 7845.0 s, bounded slowdown 141.956, efficiency 0.8286, accepted 614")
        #expect(pinned("best-fit") == "wait 7969.0 s, bounded slowdown 151.018, efficiency 0.8339, accepted 614")
        #expect(pinned("worst-fit") == "wait 3405.8 s, bounded slowdown 58.715, efficiency 0.8789, accepted 614")
        // Spreading (worst-fit) crowds hosts least: the highest efficiency, the shortest runs, the least waiting.
        #expect(results["worst-fit"]!.jobs.boundedSlowdown.mean < results["first-fit"]!.jobs.boundedSlowdown.mean / 2)
    }
}
