import CloudModel
import SimKernel
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
        // Within the tolerance, unless steps between the ends could not be decided.
        #expect(found.meets < found.fails && (found.undecided != nil || (found.fails - found.meets) <= 0.05 * found.fails))
        let meets = search.steps.last { $0.setting == found.meets }!, fails = search.steps.last { $0.setting == found.fails }!
        #expect(meets.interval.upper <= 0.2 && fails.interval.lower > 0.2)
        // The testbed's 2 x 8 cores bind before its 2 x 7 VFs for these shapes.
        #expect(CapacitySearch.bindingLimit(fails).limit == "cores")
        // Every step used the same seeds: common random numbers across the search.
        #expect(search.steps.allSatisfy { $0.summaries.count == 3 })
    }

    @Test func aStepIsDecidedOnlyWhenItsWholeIntervalIsOnOneSide() throws {
        let search = try CapacitySearch(scenario: try scenario(), target: CapacitySearch.Target(parsing: "rejection<=0.01")!,
                                        dimension: .rate, replications: 3)
        #expect(search.verdict(ConfidenceInterval([0.002, 0.004, 0.006])) == .meets)
        #expect(search.verdict(ConfidenceInterval([0.013, 0.014, 0.015])) == .fails)
        // Mean below the threshold, interval across it: the mean alone would have said "meets".
        #expect(search.verdict(ConfidenceInterval([0.004, 0.009, 0.014])) == .undecided)
        // One replication has no interval: its value decides; identical values decide too.
        #expect(search.verdict(ConfidenceInterval([0.011])) == .fails)
        #expect(search.verdict(ConfidenceInterval([0.01, 0.01])) == .meets)
    }

    @Test func undecidedStepsGrowTheirReplicationsAndTheBracketEndsAreDecided() throws {
        var search = try CapacitySearch(scenario: try scenario(), target: CapacitySearch.Target(parsing: "rejection<=0.1")!,
                                        dimension: .rate, replications: 2, maxReplications: 8)
        let found = try #require(try search.search(tolerance: 0.02))
        // Replications double from 2 while undecided: a step stops early only when decided.
        #expect(search.steps.allSatisfy { [2, 4, 8].contains($0.summaries.count) })
        #expect(search.steps.allSatisfy { $0.summaries.count == 8 || $0.verdict != .undecided })
        #expect(search.steps.contains { $0.summaries.count > 2 }, "no step needed more replications: the test shows nothing")
        let meets = search.steps.last { $0.setting == found.meets }!, fails = search.steps.last { $0.setting == found.fails }!
        #expect(meets.interval.upper <= 0.1 && fails.interval.lower > 0.1)
        if let band = found.undecided {
            #expect(found.meets < band.lowerBound && band.upperBound < found.fails)
            #expect(search.steps.filter { band.contains($0.setting) }.allSatisfy { $0.verdict == .undecided })
        }
    }

    @Test func theBoundaryServesClustersAndTenantsMeasuredOverTheSteadyWindow() throws {
        var search = try CapacitySearch(scenario: try scenario(), target: CapacitySearch.Target(parsing: "rejection<=0.2")!,
                                        dimension: .rate, replications: 2)
        let found = try #require(try search.search(tolerance: 0.1))
        let summary = search.steps.last { $0.setting == found.meets }!.summaries[0]
        let steady = try #require(summary.steadyConcurrency)
        #expect(steady.clusters > 0 && steady.clusters <= Double(summary.peakConcurrentClusters))
        #expect(steady.tenants > 0 && steady.tenants <= steady.clusters && summary.peakConcurrentTenants <= summary.peakConcurrentClusters)
    }

    @Test func moreHostsMeetTheTargetAndFewerDoNot() throws {
        var search = try CapacitySearch(scenario: try scenario(), target: CapacitySearch.Target(parsing: "rejection<=0.05")!,
                                        dimension: .hosts, replications: 2)
        let found = try #require(try search.search())
        #expect(found.meets > found.fails && (found.undecided != nil || found.meets - found.fails <= 2))
        #expect(search.steps.first { $0.setting == found.meets }!.meets)
    }

    @Test func varyingTheRateOfATraceIsRefused() throws {
        let replay = try Fixtures.loader().load(path: Fixtures.repoRoot + "/Workloads/swf-lublin-256.yaml")
        #expect(throws: InputError.self) {
            try CapacitySearch(scenario: replay, target: CapacitySearch.Target(parsing: "rejection<=0.1")!, dimension: .rate, replications: 1)
        }
    }
}
