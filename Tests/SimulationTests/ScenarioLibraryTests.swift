import CloudModel
import Foundation
import Simulation
import Testing
import TestSupport

/// Every scenario shipped in Workloads/ loads and runs (a smoke run: the first
/// 48 simulated hours of arrivals), and says which question it answers.
@Suite struct ScenarioLibraryTests {
    static let scenarios: [String] = {
        let directory = Fixtures.repoRoot + "/Workloads"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted().map { directory + "/" + $0 }
    }()

    static let smokeHorizon: Nanoseconds = 48 * 3600 * 1_000_000_000

    @Test func theLibraryHasTheIssuesScenarios() {
        let names = Set(Self.scenarios.map { URL(fileURLWithPath: $0).lastPathComponent })
        #expect(names.isSuperset(of: ["seed-testbed.yaml", "cx3-private-cloud-64.yaml", "cx6-vswitch-1024.yaml", "swf-lublin-256.yaml"]))
    }

    @Test(arguments: scenarios)
    func scenarioRuns(path: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasPrefix("# Question:"), "\(path) does not open with the question it answers")
        let scenario = try Fixtures.loader().load(path: path)
        #expect(scenario.description != nil, "\(path) has no description")
        let run = try Run(scenario: scenario, horizon: Self.smokeHorizon)
        let summary = try run.simulate()
        #expect(summary.requests > 0 && summary.accepted > 0)
        #expect(summary.requests == run.workload.requests.count)
    }

    /// Common random numbers on a generator with every feature (diurnal
    /// arrivals, lognormal lifetimes, tenants, resizes): two policies process
    /// the same arrivals and resizes at the same instants, only the outcomes differ.
    @Test func twoPoliciesSeeIdenticalArrivals() throws {
        let scenario = try Fixtures.loader().load(path: Fixtures.repoRoot + "/Workloads/cx3-private-cloud-64.yaml")
        func requests(_ policy: String) throws -> (events: [String], outcomes: [String]) {
            var events: [String] = [], outcomes: [String] = []
            _ = try Run(scenario: scenario, policy: policy, horizon: Self.smokeHorizon * 4).simulate { row in
                guard row.event == .arrive || row.event == .resize else { return }
                events.append("\(row.time) \(row.id) \(row.event)")
                outcomes.append(row.csvLine)
            }
            return (events, outcomes)
        }
        let first = try requests("first-fit"), random = try requests("random")
        #expect(first.events.count > 500)
        #expect(first.events == random.events)
        #expect(first.events.contains { $0.hasSuffix("resize") })
        #expect(first.outcomes != random.outcomes, "the policies should place differently")
    }
}
