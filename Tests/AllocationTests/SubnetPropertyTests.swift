import Allocation
import CloudModel
import Testing
import TestSupport

/// Clouds of several subnets, decided three ways as in `PropertyTests`: the engine
/// with its indexed policy (the subnet index, then each subnet's), the engine with
/// the O(H) scan, and the oracle, which writes the subnet rules out again with
/// full scans. Each subnet's own rejection reason must agree too.
@Suite struct SubnetPropertyTests {
    /// 2 to 4 subnets of 1 to 3 groups, with tight LIDs and small, overlapping pkey pools.
    static func randomCloud(_ rng: inout TestRandom, spanning: Bool) -> CloudSpec {
        let modes: [SRIOVMode] = [.sharedPort, .vswitchDynamic, .vswitchPrepopulated]
        var groups: [HostGroup] = [], subnets: [SubnetSpec] = []
        for s in 0..<Int.random(in: 2...4, using: &rng) {
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                var group = Fixtures.group(Int.random(in: 0...5, using: &rng), cores: Int.random(in: 2...16, using: &rng),
                                           memoryGiB: Int64.random(in: 4...64, using: &rng), vfs: Int.random(in: 0...4, using: &rng),
                                           pkeyTable: Int.random(in: 1...6, using: &rng), mode: modes.randomElement(using: &rng)!)
                group.subnet = s
                groups.append(group)
            }
            let first = 0x10 + Int.random(in: 0...4, using: &rng)
            subnets.append(SubnetSpec(name: "s\(s)", switches: Int.random(in: 0...2, using: &rng), routerPorts: Int.random(in: 0...1, using: &rng),
                                      pkeyPool: first...(first + Int.random(in: 0...3, using: &rng))))
        }
        if groups.allSatisfy({ $0.count == 0 }) { groups[0].count = 1 }
        let overcommit = [Overcommit.none, Overcommit(3, 2), Overcommit(2, 1)].randomElement(using: &rng)!
        var cloud = CloudSpec(groups: groups, overcommit: overcommit, subnets: subnets, routers: RouterSpec(spanning: spanning))
        for s in cloud.subnets.indices {
            cloud.subnets[s].lidSpace = cloud.buildTimeLIDs(subnet: s).total + Int.random(in: 0...8, using: &rng)
        }
        return cloud
    }

    @Test(arguments: PlacementPolicies.names, [false, true])
    func indexedPolicyMatchesNaiveAndTheOracle(policyName: String, spanning: Bool) {
        var accepted = 0, rejected = 0, multiSubnet = 0, retried = 0
        var reasons: Set<RejectionReason> = []
        for seed in UInt64(1)...40 {
            var rng = TestRandom(seed: seed &* 6151 &+ (spanning ? 1 : 0))
            var three = ThreeWay(cloud: Self.randomCloud(&rng, spanning: spanning), policyName: policyName, seed: seed)
            let (indexed, naive) = (three.indexed, three.naive)
            for step in 0..<150 {
                let decided = three.step(&rng, shape: { PropertyTests.randomShape(&$0) })
                let (a, b, expected) = (decided.indexed, decided.naive, decided.oracle)
                if let request = decided.admitted {
                    if case .accepted = a {
                        accepted += 1
                        if Set(indexed.cluster(request.id)!.hosts.map(indexed.subnet(of:))).count > 1 { multiSubnet += 1 }
                    } else {
                        rejected += 1
                        #expect(indexed.subnetReasons == three.oracle.subnetReasons, "seed \(seed) step \(step): subnet reasons")
                    }
                }
                if case .rejected(let reason) = a { reasons.insert(reason) }
                if three.oracle.lastAdmissionRetried { retried += 1 }
                #expect(decided.releasesAgree, "seed \(seed) step \(step): a release disagrees")
                #expect(a == b, "seed \(seed) step \(step): indexed \(a) vs naive \(b)")
                #expect(ReferenceCloud.Outcome(a) == expected, "seed \(seed) step \(step): engine \(a) vs oracle \(expected)")
                #expect(indexed.usage == three.oracle.usage, "seed \(seed) step \(step): usage \(indexed.usage) vs oracle \(three.oracle.usage)")
                for s in 0..<indexed.subnetCount {
                    #expect(indexed.usage(subnet: s).lids == three.oracle.lids(subnet: s), "seed \(seed) step \(step): LIDs of subnet \(s)")
                }
                let problems = indexed.invariantViolations()
                #expect(problems.isEmpty, "seed \(seed) step \(step): \(problems)")
                if a != b || ReferenceCloud.Outcome(a) != expected || !problems.isEmpty { return }
            }
            #expect(indexed.state == naive.state)
        }
        #expect(accepted > 300 && rejected > 300, "accepted \(accepted), rejected \(rejected)")
        // Spanning must have produced clusters across subnets; without it, none, and some admissions needed a second subnet.
        if spanning { #expect(multiSubnet > 20, "clusters across subnets: \(multiSubnet)") } else { #expect(retried > 20, "retried admissions: \(retried)") }
        for reason in [RejectionReason.pkeySpace, .vf, .cores, .fragmented] { #expect(reasons.contains(reason), "never rejected for \(reason)") }
    }

    /// A cluster that fits the second subnet only after the first refused its later VMs
    /// lands there whole, with the second subnet's lowest key.
    @Test func admissionMovesToTheNextSubnetWhenTheFirstCannotTakeItAll() {
        var a = Fixtures.group(1, cores: 4), b = Fixtures.group(2, cores: 4)
        a.subnet = 0
        b.subnet = 1
        let cloud = CloudSpec(groups: [a, b], subnets: [SubnetSpec(name: "a", pkeyPool: 0x20...0x21), SubnetSpec(name: "b", pkeyPool: 0x30...0x31)])
        let engine = AllocationEngine(cloud: cloud)
        let decision = engine.admit(Fixtures.request(1, vms: 2, Fixtures.shape(vcores: 4)), policy: FirstFit())
        #expect(decision == .accepted(pkey: PartitionKey(0x30), vms: [PlacedVM(host: 1, virtualFunction: 0), PlacedVM(host: 2, virtualFunction: 0)]))
        // Subnet a is untouched: its key is still free, and a 1-VM cluster goes there.
        #expect(engine.admit(Fixtures.request(2, vms: 1, Fixtures.shape(vcores: 4)), policy: FirstFit())
                == .accepted(pkey: PartitionKey(0x20), vms: [PlacedVM(host: 0, virtualFunction: 0)]))
        #expect(engine.admit(Fixtures.request(3, vms: 3, Fixtures.shape(vcores: 1)), policy: FirstFit()) == .rejected(.cores))
        #expect(engine.subnetReasons == [.cores, .cores])
        #expect(engine.invariantViolations().isEmpty)
    }

    /// With spanning, one cluster crosses the boundary holding the same key on both sides,
    /// and gives each side's key back when it leaves it.
    @Test func spanningClusterHoldsItsKeyInEachSubnet() {
        var a = Fixtures.group(1, cores: 4), b = Fixtures.group(1, cores: 4)
        a.subnet = 0
        b.subnet = 1
        let cloud = CloudSpec(groups: [a, b], subnets: [SubnetSpec(name: "a", pkeyPool: 0x20...0x22), SubnetSpec(name: "b", pkeyPool: 0x20...0x22)],
                              routers: RouterSpec(spanning: true))
        let engine = AllocationEngine(cloud: cloud)
        #expect(engine.admit(Fixtures.request(1, vms: 2, Fixtures.shape(vcores: 4)), policy: FirstFit())
                == .accepted(pkey: PartitionKey(0x20), vms: [PlacedVM(host: 0, virtualFunction: 0), PlacedVM(host: 1, virtualFunction: 0)]))
        #expect(!engine.isFree(pkey: 0x20, subnet: 0) && !engine.isFree(pkey: 0x20, subnet: 1))
        #expect(engine.shrink(cluster: 1, by: 1) == .accepted(pkey: PartitionKey(0x20), vms: [PlacedVM(host: 1, virtualFunction: 0)]))
        #expect(!engine.isFree(pkey: 0x20, subnet: 0) && engine.isFree(pkey: 0x20, subnet: 1))
        #expect(engine.usage(subnet: 1).clusters == 0 && engine.subnetPeaks[1].clusters == 1)
        engine.release(cluster: 1)
        #expect(engine.isFree(pkey: 0x20, subnet: 0))
        #expect(engine.invariantViolations().isEmpty)
    }
}
