import Allocation
import CloudModel
import Overheads
import Simulation
import Testing
import TestSupport

/// A work-based cluster's run time follows from where it was placed.
@Suite struct WorkBasedTests {
    let model: OverheadModel
    init() throws { model = try OverheadModel.load(hardwareDirectory: Fixtures.hardwareDirectory) }

    func cloud(overcommit: Overcommit = .none) -> CloudSpec {
        var group = Fixtures.group(2, cores: 8, memoryGiB: 64)
        group.gflopsPerCore = 10
        return CloudSpec(groups: [group], overcommit: overcommit)
    }

    func departure(of id: Int64, _ requests: [ClusterRequest], policy: any PlacementPolicy, overcommit: Overcommit = .none) -> Int64 {
        var end: Int64 = -1
        _ = Simulator(cloud: cloud(overcommit: overcommit), workload: Workload(requests: requests), policy: policy, overheads: model)
            .run { if $0.event == .depart && $0.id == id { end = $0.time } }
        return end
    }

    static let work = 1_000_000.0  // GFlop

    func request(_ id: Int64, pinning: Pinning = .fixed, vms: Int = 4) -> ClusterRequest {
        ClusterRequest(id: id, arrival: 0, tenant: "t", vms: vms, shape: Fixtures.shape(vcores: 2, pinning: pinning),
                       duration: 0, work: Self.work)
    }

    /// Runtime = work / (cores x peak x efficiency), in nanoseconds.
    func expected(_ configuration: ClusterConfiguration) -> Int64 {
        Int64((Self.work / (8 * 10 * model.efficiency(configuration)) * 1e9).rounded())
    }

    @Test func packingAndSpreadingTakeTheTimesTheModelSays() {
        // First-fit packs 4 VMs on host 0; worst-fit spreads them 2 and 2.
        let packed = departure(of: 1, [request(1)], policy: FirstFit())
        let spread = departure(of: 1, [request(1)], policy: WorstFit())
        #expect(packed == expected(ClusterConfiguration(vmsPerHost: 4, hostsSpanned: 1, pinning: .fixed, path: .sriovIB)))
        #expect(spread == expected(ClusterConfiguration(vmsPerHost: 2, hostsSpanned: 2, pinning: .fixed, path: .sriovIB)))
        // Fewer VMs per host outweigh the network here: spreading finishes first.
        #expect(spread < packed)
    }

    @Test func sharedCoresSlowAWorkBasedCluster() {
        let r = Overcommit(2, 1)
        let alone = departure(of: 1, [request(1, pinning: .dynamic)], policy: FirstFit(), overcommit: r)
        // A second dynamic cluster on the same host first: 16 dynamic vCPUs on 8 cores.
        var other = request(2, pinning: .dynamic)
        other.work = nil
        other.duration = 1_000_000_000_000_000
        let shared = departure(of: 1, [other, ClusterRequest(id: 1, arrival: 1, tenant: "t", vms: 4,
                                                             shape: Fixtures.shape(vcores: 2, pinning: .dynamic), duration: 0,
                                                             work: Self.work)],
                               policy: FirstFit(), overcommit: r)
        #expect(alone == expected(ClusterConfiguration(vmsPerHost: 4, hostsSpanned: 1, pinning: .dynamic, sharing: 1, path: .sriovIB)))
        #expect(shared - 1 == expected(ClusterConfiguration(vmsPerHost: 4, hostsSpanned: 1, pinning: .dynamic, sharing: 2, path: .sriovIB)))
        #expect(shared - 1 > 2 * alone)
    }

    @Test func theSummaryReportsEfficiencyAndStretch() throws {
        let summary = Simulator(cloud: cloud(), workload: Workload(requests: [request(1), request(2, vms: 2)]), policy: FirstFit(),
                                overheads: model).run()
        let performance = summary.performance!
        #expect(performance.efficiency.count == 2 && performance.workBased == 2)
        #expect(performance.stretch.minimum > 1)
        #expect(summary.formatted(title: "t").contains("Efficiency (hpc, sriov-ib)"))
    }
}
