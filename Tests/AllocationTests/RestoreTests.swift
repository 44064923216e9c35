import Allocation
import CloudModel
import Testing
import TestSupport

/// The production backend rebuilds the engine from recorded placements: the
/// rebuilt engine must be the one that decided them, so every later decision
/// is the same, and it must never place anything on what is held.
@Suite struct RestoreTests {
    @Test(arguments: PlacementPolicies.names)
    func aRestoredEngineDecidesAsTheOriginal(policyName: String) {
        for seed in UInt64(1)...40 {
            var rng = TestRandom(seed: seed &* 104_729)
            let cloud = PropertyTests.randomCloud(&rng)
            let original = AllocationEngine(cloud: cloud)
            let policy = PlacementPolicies.make(policyName == "random" ? "first-fit" : policyName, random: TestRandomSource(seed: seed))!
            var next: Int64 = 1
            for _ in 0..<80 {
                let roll = Double.random(in: 0..<1, using: &rng)
                let ids = original.clusterIDs
                if roll < 0.55 || ids.isEmpty {
                    _ = original.admit(Fixtures.request(next, vms: Int.random(in: 1...5, using: &rng), PropertyTests.randomShape(&rng)), policy: policy)
                    next += 1
                } else if roll < 0.7 {
                    _ = original.extend(cluster: ids.randomElement(using: &rng)!, by: Int.random(in: 1...3, using: &rng), policy: policy)
                } else if roll < 0.85 {
                    _ = original.shrink(cluster: ids.randomElement(using: &rng)!, by: Int.random(in: 1...3, using: &rng))
                } else {
                    original.release(cluster: ids.randomElement(using: &rng)!)
                }
            }
            let restored = AllocationEngine(cloud: cloud)
            for id in original.clusterIDs {
                let record = original.cluster(id)!
                #expect(restored.restore(id: id, shape: record.shape, pkey: record.pkey, vms: record.vms).isEmpty)
                #expect(restored.cluster(id)!.vms == record.vms)
            }
            #expect(restored.invariantViolations().isEmpty)
            #expect(restored.usage == original.usage && (0..<restored.hostCount).allSatisfy { restored.usage(host: $0) == original.usage(host: $0) })
            // The same next decisions, VM by VM.
            for _ in 0..<20 {
                let request = Fixtures.request(next, vms: Int.random(in: 1...4, using: &rng), PropertyTests.randomShape(&rng))
                next += 1
                #expect(original.admit(request, policy: policy) == restored.admit(request, policy: policy), "seed \(seed)")
            }
        }
    }

    @Test func structuralMisfitsAreNotRestoredAndCapacityMisfitsAreReported() {
        let engine = AllocationEngine(cloud: CloudSpec(groups: [Fixtures.group(2, cores: 4, vfs: 2, pkeyTable: 3)]))
        let shape = Fixtures.shape(vcores: 3)
        #expect(engine.restore(id: 1, shape: shape, pkey: PartitionKey(5), vms: [PlacedVM(host: 0, virtualFunction: 2)])
                == [.noSuchVF(vm: 0, host: 0, vf: 2, vfs: 2)])
        #expect(engine.restore(id: 1, shape: shape, pkey: PartitionKey(5), vms: [PlacedVM(host: 7, virtualFunction: 0)])
                == [.unknownHost(vm: 0, host: 7, hosts: 2)])
        #expect(engine.restore(id: 1, shape: shape, pkey: nil, vms: [PlacedVM(host: 0, virtualFunction: 0)]).count == 1)
        #expect(engine.runningClusters == 0 && engine.isFree(pkey: 5), "nothing was taken")

        // Two VMs of 3 pinned vCPUs on a 4-core host: restored, and reported.
        let over = engine.restore(id: 1, shape: shape, pkey: PartitionKey(5), vms: [PlacedVM(host: 0, virtualFunction: 0), PlacedVM(host: 0, virtualFunction: 1)])
        #expect(over == [.overCapacity(host: 0, resource: "physical cores", used: 6, limit: 4)])
        #expect(!engine.isFree(pkey: 5) && engine.usage(host: 0).usedVFs == 2)
        #expect(engine.invariantViolations(checkCapacity: false).isEmpty && !engine.invariantViolations().isEmpty)
        #expect(engine.restore(id: 2, shape: shape, pkey: PartitionKey(5), vms: [PlacedVM(host: 1, virtualFunction: 0)]) == [.pkeyTaken(5)])
        #expect(engine.restore(id: 2, shape: shape, pkey: PartitionKey(6), vms: [PlacedVM(host: 0, virtualFunction: 0)]) == [.vfTaken(vm: 0, host: 0, vf: 0)])
    }

    @Test func holdsKeepPkeysAndVFSlotsFromNewClusters() {
        let engine = AllocationEngine(cloud: CloudSpec(groups: [Fixtures.group(2, cores: 8, vfs: 2, pkeyTable: 3, mode: .vswitchDynamic)]))
        let lids = engine.usage.lids
        #expect(engine.hold(pkey: 1) && !engine.hold(pkey: 1) && engine.hold(pkey: 0x7fff), "a key outside the pool needs no hold")
        #expect(engine.hold(SlotHold(host: 0, virtualFunction: 0, pkeyEntry: true)) == nil)
        #expect(engine.hold(SlotHold(host: 0, virtualFunction: 0, pkeyEntry: false)) == .vfTaken(vm: 0, host: 0, vf: 0))
        #expect(engine.usage.lids == lids + 1, "a held vSwitch VF keeps its LID")
        let decision = engine.admit(Fixtures.request(1, vms: 2, Fixtures.shape(vcores: 1)), policy: FirstFit())
        #expect(decision == .accepted(pkey: PartitionKey(2), vms: [PlacedVM(host: 0, virtualFunction: 1), PlacedVM(host: 1, virtualFunction: 0)]))
        #expect(engine.invariantViolations().isEmpty)
        engine.releaseHold(SlotHold(host: 0, virtualFunction: 0, pkeyEntry: true))
        engine.releaseHold(pkey: 1)
        #expect(engine.invariantViolations().isEmpty && engine.usage.lids == lids + 2)
        #expect(engine.admit(Fixtures.request(2, vms: 1, Fixtures.shape(vcores: 1)), policy: FirstFit())
                == .accepted(pkey: PartitionKey(1), vms: [PlacedVM(host: 0, virtualFunction: 0)]))
    }

    @Test(arguments: PlacementPolicies.names)
    func aDrainedHostIsNeverChosen(policyName: String) {
        let engine = AllocationEngine(cloud: CloudSpec(groups: [Fixtures.group(4, cores: 8)]))
        let policy = PlacementPolicies.make(policyName, random: TestRandomSource(seed: 3))!
        engine.setDrained(host: 0, true)
        engine.setDrained(host: 2, true)
        for id in Int64(1)...4 {
            guard case .accepted(_, let vms) = engine.admit(Fixtures.request(id, vms: 1, Fixtures.shape(vcores: 4)), policy: policy) else {
                Issue.record("rejected with two hosts in service")
                return
            }
            #expect(vms.allSatisfy { $0.host == 1 || $0.host == 3 })
        }
        #expect(engine.admit(Fixtures.request(9, vms: 1, Fixtures.shape(vcores: 1)), policy: policy) == .rejected(.cores))
        #expect(engine.invariantViolations().isEmpty)
    }
}
