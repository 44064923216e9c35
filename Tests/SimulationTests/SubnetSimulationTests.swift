import Allocation
import CloudModel
import Overheads
import Simulation
import Testing
import TestSupport
import SimKernel
import Workloads

/// Runs on clouds of several subnets: each subnet's peaks and reasons, the router's cost in
/// the overhead model, and the bench's large cases as the scenarios that describe them.
@Suite struct SubnetSimulationTests {
    /// Two subnets of 2 hosts (4 cores, ConnectX-3): 1-VM clusters of 4 cores fill subnet a
    /// (two keys), then b; the fifth cluster finds every host full.
    public static func twoSubnets(spanning: Bool = false) -> CloudSpec {
        var a = Fixtures.group(2, cores: 4), b = Fixtures.group(2, cores: 4)
        b.subnet = 1
        a.subnet = 0
        return CloudSpec(groups: [a, b], subnets: [SubnetSpec(name: "a", pkeyPool: 1...2), SubnetSpec(name: "b", pkeyPool: 1...3)],
                         routers: RouterSpec(spanning: spanning))
    }

    @Test func eachSubnetReportsItsPeaksAndItsOwnReasons() {
        let requests = (1...5).map { Fixtures.request(Int64($0), vms: 1, Fixtures.shape(vcores: 4), arrival: Int64($0), duration: 100) }
        let summary = Simulator(cloud: Self.twoSubnets(), workload: Workload(requests: requests, resizes: []), policy: FirstFit()).run()
        #expect(summary.accepted == 4 && summary.rejected == [.cores: 1])
        #expect(summary.subnets.map(\.name) == ["a", "b"])
        let (a, b) = (summary.subnets[0], summary.subnets[1])
        #expect(a.peak.physicalCores == 8 && a.peak.clusters == 2 && b.peak.clusters == 2)
        // a: both keys taken, so a new cluster meets its empty pool; b: a key left, no cores.
        #expect(a.rejections == [.pkeySpace: 1] && b.rejections == [.cores: 1])
        #expect(a.bindingLimit == "pkey space" && b.bindingLimit == "cores")
        #expect(summary.formatted(title: "t").contains("\n  a              2    100.0      1.6     12.5      6.7      0.0    100.0         1  pkey space\n"))
    }

    /// A cluster across two subnets pays the router on the messages between them, so it runs
    /// slower than the same placement in one subnet.
    @Test func aRoutedClusterPaysTheRouterHop() throws {
        let model = try OverheadModel.load(hardwareDirectory: Fixtures.repoRoot + "/Hardware")
        let engine = AllocationEngine(cloud: Self.twoSubnets(spanning: true))
        guard case .accepted = engine.admit(Fixtures.request(1, vms: 4, Fixtures.shape(vcores: 4)), policy: FirstFit()) else {
            Issue.record("not admitted")
            return
        }
        let routed = ClusterConfiguration(placed: engine.cluster(1)!, in: engine, path: .sriovIB)
        // Hosts 0,1 in a and 2,3 in b: 8 of the 12 ordered host pairs cross.
        #expect(abs(routed.routedShare - 8.0 / 12) < 1e-12)
        #expect(routed.routerLatencyMicroseconds == RouterSpec.defaultHopLatencyMicroseconds)
        var direct = routed
        direct.routedShare = 0
        #expect(model.communication(routed, profile: model.hpl) > model.communication(direct, profile: model.hpl))
        #expect(model.efficiency(routed) < model.efficiency(direct))
    }

    /// The bench's large cases are the clouds `Workloads/bench/` describes, pod for pod.
    @Test(arguments: [("synthetic-40k", 40_000), ("synthetic-100k", 100_000), ("synthetic-1m", 1_000_000)])
    func benchCloudsAreTheirScenarios(file: String, hosts: Int) throws {
        let scenario = try Fixtures.loader().load(path: Fixtures.repoRoot + "/Workloads/bench/\(file).yaml")
        #expect(scenario.cloud == Benchmark.cloud(hosts: hosts, catalog: try Fixtures.catalog()))
        guard case .synthetic(var spec) = scenario.workload else {
            Issue.record("\(file) has no synthetic workload")
            return
        }
        // The same arrivals, shapes and resizes as the bench generates (the first 2,000 of them).
        spec.requests = 2_000
        let generated = try SyntheticWorkload.generate(spec, streams: RandomStreams(seed: scenario.seed))
        let bench = Benchmark.syntheticWorkload(hosts: hosts, requests: 2_000)
        #expect(generated.requests == bench.requests && generated.resizes == bench.resizes)
    }
}
