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

    /// What the model sees of 2-vCPU VMs placed on the test cloud (its HCA's link, no switch link).
    func placed(v: Int, hosts: Int, pinning: Pinning = .fixed, sharing: Double = 1) -> ClusterConfiguration {
        ClusterConfiguration(vmsPerHost: v, hostsSpanned: hosts, pinning: pinning, sharing: sharing, path: .sriovIB,
                             ranksPerVM: 2, hcaLink: cloud().groups[0].hca.link)
    }

    @Test func packingAndSpreadingTakeTheTimesTheModelSays() {
        // First-fit packs 4 VMs on host 0; worst-fit spreads them 2 and 2.
        let packed = departure(of: 1, [request(1)], policy: FirstFit())
        let spread = departure(of: 1, [request(1)], policy: WorstFit())
        #expect(packed == expected(placed(v: 4, hosts: 1)))
        #expect(spread == expected(placed(v: 2, hosts: 2)))
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
        #expect(alone == expected(placed(v: 4, hosts: 1, pinning: .dynamic)))
        #expect(shared - 1 == expected(placed(v: 4, hosts: 1, pinning: .dynamic, sharing: 2)))
        #expect(shared - 1 > 2 * alone)
    }

    @Test func theSummaryReportsEfficiencyAndStretch() throws {
        let summary = Simulator(cloud: cloud(), workload: Workload(requests: [request(1), request(2, vms: 2)]), policy: FirstFit(),
                                overheads: model).run()
        let performance = summary.performance!
        #expect(performance.efficiency.count == 2 && performance.workBased == 2)
        #expect(performance.stretch.minimum > 1)
        #expect(summary.formatted(title: "t").contains("Efficiency (hpc, sriov-ib, hpl)"))
        // The means carry the model's interval, and nothing here leaves the measurements.
        let intervals = try #require(performance.intervals)
        #expect(intervals.efficiency.low < performance.efficiency.mean && performance.efficiency.mean < intervals.efficiency.high)
        #expect(abs(intervals.efficiency.value - performance.efficiency.mean) < 1e-12)
        #expect(abs(intervals.stretch.value - performance.stretch.mean) < 1e-12)
        let hours = try #require(intervals.workRunHours)
        #expect(hours.low < hours.value && hours.value < hours.high)
        #expect(performance.beyondDataClusters == 0 && summary.formatted(title: "t").range(of: #"beyond the measurements +none"#, options: .regularExpression) != nil)
    }

    @Test func clustersBeyondTheMeasurementsAreCounted() throws {
        // 8 VMs of 1 vCPU on one host: more VMs per host than any measurement.
        var crowded = request(1, vms: 8)
        crowded.shape = Fixtures.shape(vcores: 1)
        let summary = Simulator(cloud: cloud(), workload: Workload(requests: [crowded]), policy: FirstFit(), overheads: model).run()
        let performance = try #require(summary.performance)
        #expect(performance.beyondDataClusters == 1 && performance.beyondData["vms-per-host"] == 1)
        #expect(summary.formatted(title: "t").contains("1 clusters (vms-per-host 1; capped where the data stop)"))
    }
}
