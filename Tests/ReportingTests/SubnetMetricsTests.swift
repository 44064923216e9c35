import Allocation
import CloudModel
import Reporting
import Simulation
import Testing
import TestSupport

/// Each subnet's peaks and rejections reach the results database's metrics (and `--json`).
@Suite struct SubnetMetricsTests {
    @Test func subnetMetricsAreNamedBySubnet() {
        var a = Fixtures.group(2, cores: 4), b = Fixtures.group(2, cores: 4)
        a.subnet = 0
        b.subnet = 1
        let cloud = CloudSpec(groups: [a, b], subnets: [SubnetSpec(name: "a", pkeyPool: 1...2), SubnetSpec(name: "b", pkeyPool: 1...3)])
        let requests = (1...5).map { Fixtures.request(Int64($0), vms: 1, Fixtures.shape(vcores: 4), arrival: Int64($0), duration: 100) }
        let summary = Simulator(cloud: cloud, workload: Workload(requests: requests), policy: FirstFit()).run()
        let metrics = Dictionary(uniqueKeysWithValues: RunRecorder.metrics(summary))
        #expect(metrics["subnet.a.pkeys.peakShare"] == 1 && metrics["subnet.b.pkeys.peakShare"] == 2.0 / 3)
        #expect(metrics["subnet.a.rejected.pkey-space"] == 1 && metrics["subnet.b.rejected.cores"] == 1)
        // A single-subnet run has none.
        let single = Simulator(cloud: CloudSpec(groups: [Fixtures.group(2, cores: 4)]), workload: Workload(requests: requests), policy: FirstFit()).run()
        #expect(!RunRecorder.metrics(single).contains { $0.0.hasPrefix("subnet.") })
    }
}
