import Allocation
import CloudModel
import Testing
import TestSupport

/// Hand-built states with known answers for each host rule, policy and reason.
@Suite struct HostRulesTests {
    let first = FirstFit()

    func accepted(_ decision: Decision) -> [Int]? {
        if case .accepted(_, let vms) = decision { return vms.map(\.host) }
        return nil
    }

    @Test func overcommitSharesCoresAmongDynamicVcpusOnly() {
        // One 4-core host at r = 3/2: dynamic vCPUs fit while ceil(d / 1.5) + pinned <= 4.
        let engine = AllocationEngine(cloud: CloudSpec(groups: [Fixtures.group(1, cores: 4)], overcommit: Overcommit(3, 2)))
        let dynamic = Fixtures.shape(vcores: 3, pinning: .dynamic)
        #expect(accepted(engine.admit(Fixtures.request(1, vms: 2, dynamic), policy: first)) == [0, 0])  // 6 dyn -> 4 cores
        #expect(engine.freeCores(host: 0) == 0)
        #expect(engine.admit(Fixtures.request(2, vms: 1, Fixtures.shape(vcores: 1, pinning: .dynamic)), policy: first) == .rejected(.cores))
        engine.release(cluster: 1)
        // Pinned cores are not shared: 2 pinned leave 2 cores = 3 dynamic vCPUs.
        #expect(accepted(engine.admit(Fixtures.request(3, vms: 1, Fixtures.shape(vcores: 2)), policy: first)) == [0])
        #expect(accepted(engine.admit(Fixtures.request(4, vms: 1, dynamic), policy: first)) == [0])
        #expect(engine.admit(Fixtures.request(5, vms: 1, Fixtures.shape(vcores: 1, pinning: .dynamic)), policy: first) == .rejected(.cores))
        #expect(engine.usage.physicalCores == 4)
    }

    @Test func requestIsAllOrNothingAndReportsTheFirstUnmetRule() {
        let engine = AllocationEngine(cloud: CloudSpec(groups: [Fixtures.group(2, cores: 8, vfs: 2)]))
        // 5 hpc VMs need 5 VFs; only 4 exist.
        let before = engine.state
        #expect(engine.admit(Fixtures.request(1, vms: 5, Fixtures.shape(vcores: 1)), policy: first) == .rejected(.vf))
        #expect(engine.state == before)
        #expect(engine.admit(Fixtures.request(2, vms: 4, Fixtures.shape(vcores: 1)), policy: first) != .rejected(.vf))
    }

    @Test func pkeyTableCountsDistinctClustersPerHost() {
        // pkeyTable 3 = default entry + 2 tenant partitions per host.
        let engine = AllocationEngine(cloud: CloudSpec(groups: [Fixtures.group(1, cores: 64, vfs: 64, pkeyTable: 3)]))
        let vm = Fixtures.shape(vcores: 1)
        #expect(accepted(engine.admit(Fixtures.request(1, vms: 3, vm), policy: first)) == [0, 0, 0])
        #expect(accepted(engine.admit(Fixtures.request(2, vms: 1, vm), policy: first)) == [0])
        #expect(engine.admit(Fixtures.request(3, vms: 1, vm), policy: first) == .rejected(.pkeyTable))
        // A cluster already on the host needs no new entry to grow.
        #expect(accepted(engine.extend(cluster: 1, by: 2, policy: first)) == [0, 0])
        // Common VMs need no pkey entry at all.
        #expect(accepted(engine.admit(Fixtures.request(4, vms: 1, Fixtures.shape(vcores: 1, kind: .common)), policy: first)) == [0])
        #expect(engine.usage.pkeyEntries == 2)
        // The entry is freed when the cluster's last VM leaves the host.
        engine.release(cluster: 2)
        #expect(accepted(engine.admit(Fixtures.request(5, vms: 1, vm), policy: first)) == [0])
    }

    @Test func lidRuleDependsOnSRIOVMode() {
        var cloud = CloudSpec(groups: [Fixtures.group(1, cores: 8, vfs: 4, mode: .vswitchDynamic),
                                       Fixtures.group(1, cores: 8, vfs: 4, mode: .vswitchPrepopulated),
                                       Fixtures.group(1, cores: 8, vfs: 4, mode: .sharedPort)])
        #expect(cloud.buildTimeLIDs == BuildTimeLIDs(switches: 1, pfPorts: 3, prepopulatedVFs: 4))
        cloud.subnet.lidSpace = cloud.buildTimeLIDs.total + 2
        let engine = AllocationEngine(cloud: cloud)
        let vm = Fixtures.shape(vcores: 1)
        // Host 0 (dynamic) takes a LID per VF: two fit, the third goes to host 1.
        #expect(accepted(engine.admit(Fixtures.request(1, vms: 3, vm), policy: first)) == [0, 0, 1])
        #expect(engine.usage.lids == cloud.subnet.lidSpace)
        engine.release(cluster: 1)
        #expect(engine.usage.lids == cloud.buildTimeLIDs.total)
    }

    @Test func lidReasonWhenOnlyDynamicHostsRemain() {
        var cloud = CloudSpec(groups: [Fixtures.group(2, cores: 8, vfs: 4, mode: .vswitchDynamic)])
        cloud.subnet.lidSpace = cloud.buildTimeLIDs.total + 1
        let engine = AllocationEngine(cloud: cloud)
        #expect(engine.admit(Fixtures.request(1, vms: 2, Fixtures.shape(vcores: 1)), policy: first) == .rejected(.lid))
    }

    @Test func fragmentedMemoryInfeasibleAndPKeySpaceReasons() {
        let cloud = CloudSpec(groups: [Fixtures.group(2, cores: 8, memoryGiB: 16)], subnet: SubnetSpec(pkeyPool: 0x100...0x102))
        let engine = AllocationEngine(cloud: cloud)
        // Host 0 loses its memory, host 1 its cores.
        #expect(accepted(engine.admit(Fixtures.request(1, vms: 1, Fixtures.shape(vcores: 1, memoryGiB: 14, kind: .common)), policy: first)) == [0])
        #expect(accepted(engine.admit(Fixtures.request(2, vms: 1, Fixtures.shape(vcores: 7, memoryGiB: 3)), policy: first)) == [1])
        // 2 cores + 4 GiB: cores are met on host 0, memory on host 1, never both.
        #expect(engine.admit(Fixtures.request(3, vms: 1, Fixtures.shape(vcores: 2, memoryGiB: 4)), policy: first) == .rejected(.fragmented))
        // Memory is short everywhere for 16 GiB, though an empty host could hold it.
        #expect(engine.admit(Fixtures.request(4, vms: 1, Fixtures.shape(vcores: 1, memoryGiB: 16)), policy: first) == .rejected(.memory))
        // Bigger than any empty host, whatever the state.
        #expect(engine.admit(Fixtures.request(5, vms: 1, Fixtures.shape(vcores: 9)), policy: first) == .rejected(.infeasible))
        #expect(engine.admit(Fixtures.request(6, vms: 1, Fixtures.shape(vcores: 1, memoryGiB: 17)), policy: first) == .rejected(.infeasible))
        // The pool has 3 keys, one held by cluster 2: the lowest free is taken, and returns on release.
        guard case .accepted(let key, _) = engine.admit(Fixtures.request(7, vms: 1, Fixtures.shape(vcores: 1, memoryGiB: 1)), policy: first) else {
            Issue.record("request 7 should fit"); return
        }
        #expect(key == PartitionKey(0x101))
        #expect(accepted(engine.admit(Fixtures.request(8, vms: 1, Fixtures.shape(vcores: 1, memoryGiB: 0)), policy: first)) == [0])
        #expect(engine.admit(Fixtures.request(9, vms: 1, Fixtures.shape(vcores: 1, memoryGiB: 0)), policy: first) == .rejected(.pkeySpace))
        engine.release(cluster: 2)
        guard case .accepted(let reused, _) = engine.admit(Fixtures.request(10, vms: 1, Fixtures.shape(vcores: 1, memoryGiB: 0)), policy: first) else {
            Issue.record("request 10 should fit"); return
        }
        #expect(reused == PartitionKey(0x100))
        #expect(engine.invariantViolations().isEmpty)
    }

    @Test func policiesBreakTiesTowardsTheLowestIndex() {
        // Free cores after one 1-core VM: host0 3, host1 7, host2 1, host3 7, host4 1.
        let cloud = CloudSpec(groups: [Fixtures.group(1, cores: 4), Fixtures.group(1, cores: 8), Fixtures.group(1, cores: 2),
                                       Fixtures.group(1, cores: 8), Fixtures.group(1, cores: 2)])
        let vm = Fixtures.shape(vcores: 1)
        let cases: [(any PlacementPolicy, Int)] = [(FirstFit(), 0), (BestFit(), 2), (WorstFit(), 1), (PKeyPack(), 0)]
        for (policy, expected) in cases {
            let engine = AllocationEngine(cloud: cloud)
            #expect(accepted(engine.admit(Fixtures.request(1, vms: 1, vm), policy: policy)) == [expected], "\(policy.name)")
        }
    }

    @Test func pkeyPackPrefersHostsHoldingTheClusterPKey() {
        let engine = AllocationEngine(cloud: CloudSpec(groups: [Fixtures.group(4, cores: 4)]))
        let small = Fixtures.shape(vcores: 1)
        #expect(accepted(engine.admit(Fixtures.request(1, vms: 1, Fixtures.shape(vcores: 4)), policy: first)) == [0])
        #expect(accepted(engine.admit(Fixtures.request(2, vms: 1, small), policy: first)) == [1])
        engine.release(cluster: 1)
        // Host 0 is empty again; cluster 2 holds host 1 and grows there first.
        #expect(accepted(engine.extend(cluster: 2, by: 3, policy: PKeyPack())) == [1, 1, 1])
        // Host 1 is full: first-fit among the rest.
        #expect(accepted(engine.extend(cluster: 2, by: 2, policy: PKeyPack())) == [0, 0])
        // First-fit would have used host 0 from the start.
        #expect(accepted(engine.extend(cluster: 2, by: 1, policy: first)) == [0])
    }

    @Test func resizeGrowsAtomicallyShrinksFromTheEndAndIgnoresUnknownClusters() {
        let engine = AllocationEngine(cloud: CloudSpec(groups: [Fixtures.group(3, cores: 2)]))
        let vm = Fixtures.shape(vcores: 1)
        #expect(accepted(engine.admit(Fixtures.request(1, vms: 3, vm), policy: first)) == [0, 0, 1])
        let before = engine.state
        #expect(engine.extend(cluster: 1, by: 4, policy: first) == .rejected(.cores))
        #expect(engine.state == before)
        #expect(accepted(engine.extend(cluster: 1, by: 3, policy: first)) == [1, 2, 2])
        // Shrink removes the most recent VMs, and never below one VM.
        #expect(accepted(engine.shrink(cluster: 1, by: 2)) == [2, 2])
        #expect(engine.cluster(1)?.vms.map(\.host) == [0, 0, 1, 1])
        #expect(accepted(engine.shrink(cluster: 1, by: 10)) == [0, 1, 1])
        #expect(engine.cluster(1)?.vms.map(\.host) == [0])
        #expect(engine.shrink(cluster: 99, by: 1) == .ignored)
        #expect(engine.extend(cluster: 99, by: 1, policy: first) == .ignored)
        #expect(engine.invariantViolations().isEmpty)
    }

    @Test func virtualFunctionsAreTheLowestFreeIndexOnTheHost() {
        let engine = AllocationEngine(cloud: CloudSpec(groups: [Fixtures.group(1, cores: 8, vfs: 70)]))
        let vm = Fixtures.shape(vcores: 1)
        guard case .accepted(_, let a) = engine.admit(Fixtures.request(1, vms: 2, vm), policy: first),
              case .accepted(_, let b) = engine.admit(Fixtures.request(2, vms: 2, vm), policy: first) else {
            Issue.record("both should fit"); return
        }
        #expect(a.map(\.virtualFunction) == [0, 1])
        #expect(b.map(\.virtualFunction) == [2, 3])
        engine.release(cluster: 1)
        guard case .accepted(_, let c) = engine.admit(Fixtures.request(3, vms: 3, vm), policy: first) else {
            Issue.record("should fit"); return
        }
        #expect(c.map(\.virtualFunction) == [0, 1, 4])
        #expect(engine.invariantViolations().isEmpty)
    }
}
