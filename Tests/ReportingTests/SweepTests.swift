import CloudModel
import Foundation
import Reporting
import Simulation
import Testing
import TestSupport

@Suite struct SweepTests {
    static let horizon: Nanoseconds = 200 * 3_600_000_000_000

    func plan(replications: Int = 3) throws -> SweepPlan {
        let path = Fixtures.repoRoot + "/Workloads/seed-testbed.yaml"
        return try SweepPlan(yaml: try String(contentsOfFile: path, encoding: .utf8), file: path, loader: try Fixtures.loader(),
                             variations: [.init(key: "policy", values: ["first-fit", "worst-fit"]),
                                          .init(key: "hosts[0].count", values: ["2", "3"])],
                             replications: replications, horizon: Self.horizon)
    }

    func database(_ name: String) throws -> (ResultsDatabase, String) {
        let path = NSTemporaryDirectory() + "hpccloud-sweep-\(UUID().uuidString)-\(name).sqlite"
        return (try ResultsDatabase(path: path), path)
    }

    @Test func pointsAreTheCrossProductAndKeysReachTheScenario() throws {
        let plan = try plan()
        #expect(plan.points.map(\.label) == ["policy=first-fit hosts[0].count=2", "policy=first-fit hosts[0].count=3",
                                            "policy=worst-fit hosts[0].count=2", "policy=worst-fit hosts[0].count=3"])
        #expect(plan.points.map(\.scenario.policy) == ["first-fit", "first-fit", "worst-fit", "worst-fit"])
        #expect(plan.points.map(\.scenario.cloud.hostCount) == [2, 3, 2, 3])
        #expect(plan.runCount == 12 && plan.runs(shard: 1, of: 5) == [1, 6, 11])
    }

    @Test func aBadVariedValueIsNamedBeforeAnythingRuns() throws {
        let path = Fixtures.repoRoot + "/Workloads/seed-testbed.yaml"
        #expect(throws: InputError.self) {
            try SweepPlan(yaml: try String(contentsOfFile: path, encoding: .utf8), file: path, loader: try Fixtures.loader(),
                          variations: [.init(key: "hosts[0].sriovMode", values: ["shared-port", "vswitch"])], replications: 1)
        }
        #expect(throws: InputError.self) {
            try SweepPlan(yaml: try String(contentsOfFile: path, encoding: .utf8), file: path, loader: try Fixtures.loader(),
                          variations: [.init(key: "hosts[3].count", values: ["1"])], replications: 1)
        }
    }

    /// Common random numbers: at one point both policies get the same seed, hence the same arrivals.
    @Test func policiesAtAPointSeeIdenticalArrivals() throws {
        let plan = try plan()
        for replication in 0..<3 {
            let a = try Run(scenario: plan.points[0].scenario, seed: plan.seed(point: 0, replication: replication))
            let b = try Run(scenario: plan.points[2].scenario, seed: plan.seed(point: 2, replication: replication))
            #expect(a.workload.requests == b.workload.requests)
        }
        #expect(plan.seed(point: 0, replication: 0) != plan.seed(point: 0, replication: 1))
    }

    @Test func wholeShardedAndMergedAreTheSame() throws {
        let plan = try plan()
        let (whole, _) = try database("whole")
        let wholeRuns = try SweepRunner.run(plan, indices: plan.runs(), jobs: 2)
        try SweepStore(database: whole).record(wholeRuns, plan: plan, sweep: "s", yaml: "y")
        var shardPaths: [String] = []
        for shard in [1, 0, 2] {  // finishing out of order does not matter
            let (db, path) = try database("shard\(shard)")
            try SweepStore(database: db).record(try SweepRunner.run(plan, indices: plan.runs(shard: shard, of: 3), jobs: 1),
                                                plan: plan, sweep: "s", yaml: "y")
            shardPaths.append(path)
        }
        let mergedPath = NSTemporaryDirectory() + "hpccloud-merged-\(UUID().uuidString).sqlite"
        #expect(try SweepStore.merge(shardPaths, into: mergedPath) == 12)
        let merged = try SweepStore(database: try ResultsDatabase(path: mergedPath)).runs()
        let expected = try SweepStore(database: whole).runs()
        #expect(merged.count == 12 && merged == expected)
        #expect(try ResultsDatabase(path: mergedPath).runIDs() == Array(1...12))
        // Merging a shard twice is refused.
        #expect(throws: InputError.self) { try SweepStore.merge(shardPaths + [shardPaths[0]], into: mergedPath + "-2") }
        let table = SweepStatistics(merged, keys: ["policy", "hosts[0].count"]).formatted()
        #expect(table.contains("worst-fit") && table.contains(" ± "))
        // The report of a sweep database: each metric against the varied key, one band per policy.
        let html = try Report(database: try ResultsDatabase(path: mergedPath)).html(title: "sweep")
        #expect(html.contains("accepted % against hosts[0].count") && html.contains("policy=worst-fit"))
        #expect(html.components(separatedBy: "<polygon").count - 1 >= 2 * 5)
        #expect(!html.contains("Paired differences against"))
        // With a baseline: the paired table and one difference figure per metric, against that point.
        let paired = try Report(database: try ResultsDatabase(path: mergedPath)).html(title: "sweep", baseline: ("policy", "first-fit"))
        #expect(paired.contains("<h3>Against policy=first-fit</h3>") && paired.contains("Paired differences against policy=first-fit"))
        #expect(paired.contains("accepted %: difference from policy=first-fit (paired, 95%)"))
        // No queue: no wait or slowdown charts (every wait would be 0), and no axis of a billionth.
        #expect(!paired.contains("wait s") && !paired.contains("bounded slowdown") && !paired.contains("e-09"))
    }
}
