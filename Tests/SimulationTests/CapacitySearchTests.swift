import CloudModel
import Simulation
import Testing
import TestSupport

@Suite struct CapacitySearchTests {
    func scenario() throws -> Scenario { try Fixtures.loader().load(path: Fixtures.repoRoot + "/Workloads/seed-testbed.yaml") }

    @Test func targetsParse() {
        let target = CapacitySearch.Target(parsing: "rejection<=0.01")!
        #expect(target.metric == .rejection && target.atMost && target.threshold == 0.01)
        #expect(target.met(by: 0.01) && !target.met(by: 0.0101))
        #expect(CapacitySearch.Target(parsing: "acceptance >= 0.9")?.atMost == false)
        #expect(CapacitySearch.Target(parsing: "latency<=3") == nil && CapacitySearch.Target(parsing: "rejection=0.1") == nil)
    }

    @Test func theRateBracketStraddlesTheTargetAndNamesTheLimit() throws {
        var search = try CapacitySearch(scenario: try scenario(), target: CapacitySearch.Target(parsing: "rejection<=0.2")!,
                                        dimension: .rate, replications: 3)
        let found = try #require(try search.search(tolerance: 0.05))
        #expect(found.meets < found.fails && (found.fails - found.meets) <= 0.05 * found.fails)
        let meets = search.steps.last { $0.setting == found.meets }!, fails = search.steps.last { $0.setting == found.fails }!
        #expect(meets.interval.mean <= 0.2 && fails.interval.mean > 0.2)
        // The testbed's 2 x 8 cores bind before its 2 x 7 VFs for these shapes.
        #expect(CapacitySearch.bindingLimit(fails).limit == "cores")
        // Every step used the same seeds: common random numbers across the search.
        #expect(search.steps.allSatisfy { $0.summaries.count == 3 })
    }

    @Test func moreHostsMeetTheTargetAndFewerDoNot() throws {
        var search = try CapacitySearch(scenario: try scenario(), target: CapacitySearch.Target(parsing: "rejection<=0.05")!,
                                        dimension: .hosts, replications: 2)
        let found = try #require(try search.search())
        #expect(found.meets > found.fails && found.meets - found.fails <= 2)
        #expect(search.steps.first { $0.setting == found.meets }!.meets)
    }

    @Test func varyingTheRateOfATraceIsRefused() throws {
        let replay = try Fixtures.loader().load(path: Fixtures.repoRoot + "/Workloads/swf-lublin-256.yaml")
        #expect(throws: InputError.self) {
            try CapacitySearch(scenario: replay, target: CapacitySearch.Target(parsing: "rejection<=0.1")!, dimension: .rate, replications: 1)
        }
    }
}
