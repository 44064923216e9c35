import Allocation
import CloudModel
import Testing
import TestSupport

/// Random operation sequences: indexed policies against the naive reference,
/// decision by decision, with every invariant checked after every operation.
@Suite struct PropertyTests {
    /// A random heterogeneous cloud, small enough that limits bind often.
    static func randomCloud(_ rng: inout TestRandom, cores: ClosedRange<Int> = 2...16,
                            memoryGiB: ClosedRange<Int64> = 4...64) -> CloudSpec {
        let modes: [SRIOVMode] = [.sharedPort, .vswitchDynamic, .vswitchPrepopulated]
        var groups: [HostGroup] = []
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            groups.append(Fixtures.group(Int.random(in: 1...9, using: &rng),
                                         cores: Int.random(in: cores, using: &rng),
                                         memoryGiB: Int64.random(in: memoryGiB, using: &rng),
                                         vfs: Int.random(in: 0...4, using: &rng),
                                         pkeyTable: Int.random(in: 1...6, using: &rng),
                                         mode: modes.randomElement(using: &rng)!))
        }
        let overcommit = [Overcommit.none, Overcommit(3, 2), Overcommit(2, 1), Overcommit(7, 3)].randomElement(using: &rng)!
        var cloud = CloudSpec(groups: groups, overcommit: overcommit)
        // Tight LID and pkey budgets so those limits bind too.
        cloud.subnet.lidSpace = cloud.buildTimeLIDs.total + Int.random(in: 0...12, using: &rng)
        cloud.subnet.pkeyPool = 0x10...(0x10 + Int.random(in: 0...20, using: &rng))
        return cloud
    }

    static func randomShape(_ rng: inout TestRandom, vcores: ClosedRange<Int> = 1...8) -> VMShape {
        VMShape(vcores: Int.random(in: vcores, using: &rng),
                memoryMiB: Int64.random(in: 0...16_384, using: &rng),
                kind: Double.random(in: 0..<1, using: &rng) < 0.75 ? .hpc : .common,
                pinning: Bool.random(using: &rng) ? .fixed : .dynamic)
    }

    /// Three parties decide every operation: the engine with its indexed policy, the
    /// engine with the O(H) reference policy (same rules, no index), and
    /// `ReferenceCloud`, an oracle that re-implements the rules, the rejection
    /// reasons and the VF numbering without the engine's code.
    @Test(arguments: PlacementPolicies.names)
    func indexedPolicyMatchesNaiveAndTheOracleDecisionByDecision(policyName: String) {
        var operations = 0, accepted = 0, rejected = 0
        var reasons: Set<RejectionReason> = []
        for seed in UInt64(1)...60 {
            var rng = TestRandom(seed: seed &* 7919)
            var three = ThreeWay(cloud: Self.randomCloud(&rng), policyName: policyName, seed: seed)
            for step in 0..<150 {
                let decided = three.step(&rng, shape: { Self.randomShape(&$0) })
                let (a, b, expected) = (decided.indexed, decided.naive, decided.oracle)
                if decided.admitted != nil { if case .accepted = a { accepted += 1 } else { rejected += 1 } }
                operations += 1
                if case .rejected(let reason) = a { reasons.insert(reason) }
                #expect(decided.releasesAgree, "seed \(seed) step \(step): a release disagrees")
                #expect(a == b, "seed \(seed) step \(step): indexed \(a) vs naive \(b)")
                #expect(ReferenceCloud.Outcome(a) == expected, "seed \(seed) step \(step): engine \(a) vs oracle \(expected)")
                #expect(three.indexed.usage == three.oracle.usage, "seed \(seed) step \(step): usage \(three.indexed.usage) vs oracle \(three.oracle.usage)")
                let problems = three.indexed.invariantViolations()
                #expect(problems.isEmpty, "seed \(seed) step \(step): \(problems)")
                if a != b || ReferenceCloud.Outcome(a) != expected || !problems.isEmpty { return }
            }
            #expect(three.indexed.state == three.naive.state)
        }
        // The sequences must exercise both outcomes, or the comparison proves little.
        #expect(accepted > 500 && rejected > 500, "accepted \(accepted), rejected \(rejected)")
        // Every reason the rules can give must have come up, or the oracle checked little.
        let expectedReasons: Set<RejectionReason> = [.infeasible, .pkeySpace, .vf, .pkeyTable, .lid, .cores, .memory, .fragmented]
        #expect(reasons == expectedReasons, "reasons seen: \(reasons.map(\.rawValue).sorted())")
        #expect(operations == 60 * 150)
    }

    /// Hosts of 100-300 cores at overcommit up to 7/3: free cores and dynamic slack
    /// pass `ValueSets.top`, where values share one bit and the best-fit bound is
    /// only a lower bound. The extreme fits must still decide as the O(H) scan does.
    @Test(arguments: ["best-fit", "worst-fit"])
    func extremeFitsMatchNaiveOnHostsPastTheSharedTopValue(policyName: String) {
        var accepted = 0, pastTop = 0
        for seed in UInt64(1)...25 {
            var rng = TestRandom(seed: seed &* 104_729)
            let cloud = Self.randomCloud(&rng, cores: 100...300, memoryGiB: 512...2048)
            let indexed = AllocationEngine(cloud: cloud), naive = AllocationEngine(cloud: cloud)
            let indexedPolicy = PlacementPolicies.make(policyName, random: TestRandomSource(seed: seed))!
            let naivePolicy = ReferencePolicies.make(policyName, random: TestRandomSource(seed: seed))
            var running: [Int64] = []
            for step in 0..<200 {
                if Double.random(in: 0..<1, using: &rng) < 0.7 || running.isEmpty {
                    let request = Fixtures.request(Int64(step + 1), vms: Int.random(in: 1...6, using: &rng),
                                                   Self.randomShape(&rng, vcores: 1...160))
                    let a = indexed.admit(request, policy: indexedPolicy), b = naive.admit(request, policy: naivePolicy)
                    #expect(a == b, "seed \(seed) step \(step): indexed \(a) vs naive \(b)")
                    if a != b { return }
                    if case .accepted = a { running.append(request.id); accepted += 1 }
                } else {
                    let id = running.remove(at: Int.random(in: 0..<running.count, using: &rng))
                    #expect(indexed.release(cluster: id) == naive.release(cluster: id))
                }
                pastTop += (0..<indexed.hostCount).filter { indexed.freeCores(host: $0) > 127 }.count  // ValueSets.top
            }
            let problems = indexed.invariantViolations()
            #expect(problems.isEmpty, "seed \(seed): \(problems)")
            #expect(indexed.state == naive.state)
        }
        #expect(accepted > 1000 && pastTop > 1000, "accepted \(accepted), host-steps past the top value \(pastTop)")
    }

    @Test func rejectedRequestsAndReleasesRestoreStateExactly() {
        var accepted = 0
        for seed in UInt64(1)...40 {
            var rng = TestRandom(seed: seed)
            let engine = AllocationEngine(cloud: Self.randomCloud(&rng))
            let policy = FirstFit()
            var running: [Int64] = []
            for id in Int64(1)...80 {
                let request = Fixtures.request(id, vms: Int.random(in: 1...5, using: &rng), Self.randomShape(&rng))
                let before = engine.state
                let decision = engine.admit(request, policy: policy)
                switch decision {
                case .accepted:
                    accepted += 1
                    let after = engine.state
                    engine.release(cluster: id)
                    #expect(engine.state == before, "seed \(seed) id \(id): release did not restore the state")
                    // Deterministic policy, same state: the same admission again, kept running.
                    #expect(engine.admit(request, policy: policy) == decision)
                    #expect(engine.state == after)
                    running.append(id)
                case .rejected:
                    #expect(engine.state == before, "seed \(seed) id \(id): a rejection changed the state")
                case .ignored:
                    Issue.record("an admission is never ignored")
                }
            }
            for id in running.shuffled(using: &rng) { engine.release(cluster: id) }
            #expect(engine.state == AllocationEngine(cloud: engine.cloud).state,
                    "seed \(seed): releasing everything did not restore the empty cloud")
        }
        #expect(accepted > 200)
    }
}
