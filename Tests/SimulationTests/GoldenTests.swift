import CloudModel
import Foundation
import Simulation
import Testing
import TestSupport
import Workloads

@Suite struct GoldenTests {
    static let golden = Fixtures.repoRoot + "/Tests/SimulationTests/Golden/"

    /// The decision log of a run, as the bytes `replay` writes.
    static func log(_ run: Run) throws -> String {
        var lines = [DecisionRow.header]
        _ = try run.simulate { lines.append($0.csvLine) }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test func goldenDecisionLogIsReproducedByteForByte() throws {
        let scenario = try Fixtures.loader().load(path: Self.golden + "golden.yaml")
        let run = try Run(scenario: scenario, workload: try TraceCSV.read(path: Self.golden + "golden-trace.csv"))
        let expected = try String(contentsOfFile: Self.golden + "golden-decisions.csv", encoding: .utf8)
        #expect(try Self.log(run) == expected)
    }

    @Test func goldenSummaryCountsAndSpans() throws {
        let scenario = try Fixtures.loader().load(path: Self.golden + "golden.yaml")
        let summary = try Run(scenario: scenario, workload: try TraceCSV.read(path: Self.golden + "golden-trace.csv")).simulate()
        #expect(summary.requests == 8 && summary.accepted == 6 && summary.rejected == [.cores: 1, .vf: 1])
        #expect(summary.resizes == 3 && summary.resizesAccepted == 2 && summary.resizesIgnored == 1)
        #expect(summary.departures == 6 && summary.events == 17 && summary.peakConcurrentClusters == 4)
        // hpc clusters 1 (hosts 0,1), 2 (1,2), 5 (2), 6 (1): 6 hosts / 4 clusters.
        #expect(summary.meanHostsSpanned == 1.5)
        // Eight tenants, one cluster each. Clusters running over the steady window
        // [9.00000005 s, 90.0000005 s): 2 until 10.5, 3, 4 from 20, 3 from 25, 2 from 40.5, 1 from 60.
        #expect(summary.peakConcurrentTenants == 4)
        let steady = try #require(summary.steadyConcurrency)
        let spans: [(clusters: Double, seconds: Double)] = [(2, 1.49999995), (3, 9.5), (4, 5), (3, 15.5), (2, 19.5), (1, 30.0000005)]
        let area = spans.reduce(0) { $0 + $1.clusters * $1.seconds }
        #expect(abs(steady.clusters - area / 81.00000045) < 1e-9 && steady.tenants == steady.clusters)
    }

    @Test func aTenantIsServedWhileAnyOfItsClustersRuns() throws {
        let scenario = try Fixtures.loader().load(path: Self.golden + "golden.yaml")
        // alice's two clusters overlap from 10 to 20 s; bob runs from 15 to 30 s.
        let trace = TraceCSV.requiredColumns.joined(separator: ",") + "\n" + [
            "1,0,alice,1,1,1,hpc,fixed,20", "2,10,alice,1,1,1,hpc,fixed,30", "3,15,bob,1,1,1,hpc,fixed,15", "4,100,carol,1,1,1,hpc,fixed,1",
        ].joined(separator: "\n") + "\n"
        let summary = try Run(scenario: scenario, workload: try TraceCSV.parse(trace, file: "tenants.csv")).simulate()
        #expect(summary.peakConcurrentClusters == 3 && summary.peakConcurrentTenants == 2)
        // Steady window [10 s, 100 s): tenants 1 to 15 s, 2 to 30 s, 1 to 40 s, then none.
        let steady = try #require(summary.steadyConcurrency)
        let tenantSeconds: Double = 5 + 2 * 15 + 10, clusterSeconds: Double = 2 * 5 + 3 * 5 + 2 * 10 + 10
        #expect(abs(steady.tenants - tenantSeconds / 90) < 1e-12 && abs(steady.clusters - clusterSeconds / 90) < 1e-12)
    }

    @Test func sameSeedSameBytesAndPoliciesSeeTheSameArrivals() throws {
        let loader = try Fixtures.loader()
        let scenario = try loader.load(yaml: EmbeddedScenarios.defaultYAML, file: EmbeddedScenarios.defaultFile)
        let a = try Run(scenario: scenario, policy: "random"), b = try Run(scenario: scenario, policy: "random")
        #expect(try Self.log(a) == Self.log(b))
        // Common random numbers: the arrival stream does not depend on the policy.
        for policy in ["best-fit", "worst-fit", "pkey-pack"] {
            #expect(try Run(scenario: scenario, policy: policy).workload.requests == a.workload.requests)
        }
        // A different seed changes the arrivals.
        #expect(try Run(scenario: scenario, seed: 43).workload.requests != a.workload.requests)
    }

    @Test func theEmbeddedDefaultRejectsSomeRequests() throws {
        let scenario = try Fixtures.loader().load(yaml: EmbeddedScenarios.defaultYAML, file: EmbeddedScenarios.defaultFile)
        #expect(scenario.cloud.hostCount == 64)
        #expect(scenario.cloud.groups[0].cores == 16 && scenario.cloud.groups[0].memoryMiB == 128 * 1024 && scenario.cloud.groups[0].vfs == 15)
        let summary = try Run(scenario: scenario).simulate()
        #expect(summary.requests == 5000)
        #expect(summary.rejectedTotal > 0 && summary.acceptanceRatio > 0.5)
    }
}

@Suite struct SimulatorSemanticsTests {
    func run(_ trace: String, hosts: String = "[ { count: 1, cores: 4, memoryGiB: 16, hca: connectx-3, vfs: 4 } ]") throws -> (Summary, [String]) {
        let scenario = try Fixtures.loader().load(yaml: "hosts: \(hosts)", file: "/tmp/t.yaml")
        var rows: [String] = []
        let summary = try Run(scenario: scenario, workload: TraceCSV.parse(TraceCSV.header + ",op\n" + trace, file: "t.csv"))
            .simulate { rows.append($0.csvLine) }
        return (summary, rows)
    }

    @Test func utilizationIsTimeWeightedOverFirstToLastEvent() throws {
        // 2 cores over [0,10), 2 more over [5,15): area 2*5 + 4*5 + 2*5 = 40 core-seconds over 15 s.
        let (summary, _) = try run("1,0,a,1,2,1,hpc,fixed,10,\n2,5,b,1,2,1,hpc,fixed,10,")
        let cores = try #require(summary.utilization[.physicalCores])
        #expect(cores.peak == 4 && cores.capacity == 4)
        #expect(abs(cores.timeAverage - 40.0 / 15.0) < 1e-12)
        let vfs = try #require(summary.utilization[.vfs])
        #expect(vfs.peak == 2 && abs(vfs.timeAverage - 20.0 / 15.0) < 1e-12)
        #expect(summary.windowStart == 0 && summary.windowEnd == 15_000_000_000)
    }

    @Test func departuresFreeResourcesBeforeSameTimeArrivals() throws {
        // Cluster 1 holds all 4 cores until t=10; cluster 2 arrives at t=10 and fits only if 1 left first.
        let (_, rows) = try run("2,10,b,1,4,1,hpc,fixed,1,\n1,0,a,1,4,1,hpc,fixed,10,")
        #expect(rows == ["0.000000,1,arrive,accepted,,0,0x0001", "10.000000,1,depart,done,,,0x0001",
                         "10.000000,2,arrive,accepted,,0,0x0001", "11.000000,2,depart,done,,,0x0001"])
    }

    @Test func shrinksRunBeforeExtendsAndExtendsBeforeArrivals() throws {
        let (_, rows) = try run("""
        1,0,a,2,1,1,hpc,fixed,100,
        1,5,,1,,,,,,resize
        9,5,c,1,2,1,hpc,fixed,1,
        1,5,,-1,,,,,,resize
        """)
        // At t=5: shrink (frees a core) then extend (takes it back) then the arrival (2 cores left).
        #expect(Array(rows[1...3]) == ["5.000000,1,resize,accepted,,,0x0001", "5.000000,1,resize,accepted,,0,0x0001",
                                       "5.000000,9,arrive,accepted,,0,0x0002"])
    }
}
