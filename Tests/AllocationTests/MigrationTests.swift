import Allocation
import CloudModel
import Testing
import TestSupport

/// Live migration as an engine operation, and the drain plan built on it.
@Suite struct MigrationTests {
    let first = FirstFit()

    @Test func aMigrationMovesTheVFAndThePKeyEntryMakeBeforeBreak() throws {
        let engine = AllocationEngine(cloud: CloudSpec(groups: [Fixtures.group(3, cores: 8, vfs: 4, pkeyTable: 4)]))
        #expect(engine.admit(Fixtures.request(1, vms: 3, Fixtures.shape(vcores: 2)), policy: first) != .rejected(.vf))
        #expect(engine.admit(Fixtures.request(2, vms: 1, Fixtures.shape(vcores: 2)), policy: first) != .rejected(.vf))
        // Cluster 1 holds VFs 0-2 of host 0; cluster 2 VF 3 of host 0.
        let before = try #require(engine.cluster(1))
        #expect(before.vms.map(\.host) == [0, 0, 0])
        let decision = engine.migrate(cluster: 1, vm: 1, to: 2)
        #expect(decision == .accepted(pkey: before.pkey, vms: [PlacedVM(host: 2, virtualFunction: 0)]))
        let after = try #require(engine.cluster(1))
        // The VM keeps its index (a later shrink removes the same VMs) and the cluster its pkey.
        #expect(after.vms == [PlacedVM(host: 0, virtualFunction: 0), PlacedVM(host: 2, virtualFunction: 0), PlacedVM(host: 0, virtualFunction: 2)])
        #expect(after.pkey == before.pkey && after.hostsSpanned == 2)
        #expect(engine.usage(host: 0).usedVFs == 3 && engine.usage(host: 2).usedVFs == 1)
        #expect(engine.usage(host: 2).usedPKeyEntries == 1)
        #expect(engine.invariantViolations().isEmpty)
        // Moving the cluster's last VM off host 0 frees host 0's entry for it.
        #expect(engine.migrate(cluster: 1, vm: 0, to: 1) != .rejected(.vf))
        #expect(engine.migrate(cluster: 1, vm: 2, to: 1) != .rejected(.vf))
        #expect(engine.usage(host: 0).usedPKeyEntries == 1)   // cluster 2's only
        #expect(engine.invariantViolations().isEmpty)
        #expect(engine.migrate(cluster: 9, vm: 0, to: 1) == .ignored)
    }

    @Test func aDestinationThatBreaksARuleRefusesAndNothingChanges() {
        // Host 1: one VF, a pkey table with one tenant entry.
        let engine = AllocationEngine(cloud: CloudSpec(groups: [Fixtures.group(1, cores: 8, vfs: 4, pkeyTable: 4),
                                                               Fixtures.group(1, cores: 4, memoryGiB: 4, vfs: 2, pkeyTable: 2)]))
        _ = engine.admit(Fixtures.request(1, vms: 2, Fixtures.shape(vcores: 1)), policy: first)
        _ = engine.admit(Fixtures.request(2, vms: 1, Fixtures.shape(vcores: 1)), policy: first)
        #expect(engine.cluster(1)!.vms.map(\.host) == [0, 0] && engine.cluster(2)!.vms.map(\.host) == [0])
        #expect(engine.migrate(cluster: 2, vm: 0, to: 1) != .rejected(.vf))   // host 1's tenant entry: cluster 2
        let state = engine.state
        #expect(engine.migrate(cluster: 1, vm: 0, to: 1) == .rejected(.pkeyTable))
        #expect(engine.state == state)
        let big = AllocationEngine(cloud: CloudSpec(groups: [Fixtures.group(1, cores: 8, vfs: 4, pkeyTable: 4),
                                                            Fixtures.group(1, cores: 4, memoryGiB: 4, vfs: 2, pkeyTable: 4)]))
        _ = big.admit(Fixtures.request(1, vms: 1, Fixtures.shape(vcores: 6)), policy: first)
        #expect(big.migrate(cluster: 1, vm: 0, to: 1) == .rejected(.cores))
        _ = big.admit(Fixtures.request(2, vms: 1, Fixtures.shape(vcores: 1, memoryGiB: 8)), policy: first)
        #expect(big.migrate(cluster: 2, vm: 0, to: 1) == .rejected(.memory))
        big.setDrained(host: 1, true)
        _ = big.admit(Fixtures.request(3, vms: 1, Fixtures.shape(vcores: 1)), policy: first)
        #expect(big.migrate(cluster: 3, vm: 0, to: 1) == .rejected(.cores))
        #expect(big.invariantViolations().isEmpty)
    }

    @Test func onADynamicVSwitchTheDestinationNeedsALID() {
        var cloud = CloudSpec(groups: [Fixtures.group(2, cores: 8, vfs: 4, mode: .vswitchDynamic)])
        cloud.subnet.lidSpace = cloud.buildTimeLIDs.total + 1
        let engine = AllocationEngine(cloud: cloud)
        _ = engine.admit(Fixtures.request(1, vms: 1, Fixtures.shape(vcores: 1)), policy: first)
        // The one spare LID is the VM's own: make before break needs a second one.
        #expect(engine.migrate(cluster: 1, vm: 0, to: 1) == .rejected(.lid))
        #expect(engine.invariantViolations().isEmpty)
    }

    @Test func aDrainPlanEmptiesTheHostOnAScratchCopyAndReplaysAsPlanned() throws {
        let engine = AllocationEngine(cloud: CloudSpec(groups: [Fixtures.group(3, cores: 8, vfs: 4, pkeyTable: 4)]))
        _ = engine.admit(Fixtures.request(1, vms: 3, Fixtures.shape(vcores: 2)), policy: first)
        _ = engine.admit(Fixtures.request(2, vms: 2, Fixtures.shape(vcores: 2)), policy: first)
        _ = engine.admit(Fixtures.request(3, vms: 1, Fixtures.shape(vcores: 1, kind: .common)), policy: first)
        let state = engine.state
        let plan = try engine.planDrain(host: 0, policy: first).get()
        #expect(engine.state == state)   // planning changes nothing
        let onHost0 = [1, 2, 3].flatMap { id in engine.cluster(Int64(id))!.vms.enumerated().filter { $0.element.host == 0 }.map { _ in id } }
        #expect(plan.map { Int($0.cluster) } == onHost0 && plan.allSatisfy { $0.from.host == 0 && $0.to.host != 0 })
        // Applying: drain, then each migration, which the engine accepts exactly as planned.
        engine.setDrained(host: 0, true)
        for step in plan {
            #expect(engine.migrate(cluster: step.cluster, vm: step.vm, to: step.to.host) == .accepted(pkey: engine.cluster(step.cluster)!.pkey, vms: [step.to]))
            #expect(engine.invariantViolations().isEmpty)
        }
        #expect(engine.usage(host: 0).usedVFs == 0 && engine.usage(host: 0).freeCores == 8)
    }

    @Test func aDrainWithNowhereToGoSaysWhichVMAndWhy() {
        let engine = AllocationEngine(cloud: CloudSpec(groups: [Fixtures.group(2, cores: 8, vfs: 1, pkeyTable: 4)]))
        _ = engine.admit(Fixtures.request(1, vms: 2, Fixtures.shape(vcores: 1)), policy: first)
        #expect(engine.planDrain(host: 0, policy: first) == .failure(DrainBlocked(cluster: 1, vm: 0, reason: .vf)))
    }

    /// Random clouds, admissions, migrations, drains and releases: every
    /// invariant holds after every step, no VF is ever shared, and releasing
    /// everything returns the engine to empty.
    @Test func randomMigrationsKeepEveryInvariant() {
        var rng = TestRandom(seed: 17)
        var moved = 0, refused = 0, drains = 0
        for _ in 0..<60 {
            let cloud = PropertyTests.randomCloud(&rng)
            let engine = AllocationEngine(cloud: cloud)
            let empty = engine.usage
            var next: Int64 = 1
            for _ in 0..<80 {
                switch Int.random(in: 0..<10, using: &rng) {
                case 0..<4:
                    _ = engine.admit(Fixtures.request(next, vms: Int.random(in: 1...4, using: &rng), PropertyTests.randomShape(&rng)), policy: first)
                    next += 1
                case 4..<8:
                    guard let id = engine.clusterIDs.randomElement(using: &rng), let record = engine.cluster(id) else { continue }
                    let vm = Int.random(in: 0..<record.vms.count, using: &rng)
                    let host = Int.random(in: 0..<engine.hostCount, using: &rng)
                    guard host != record.vms[vm].host else { continue }
                    let state = engine.state
                    if case .rejected = engine.migrate(cluster: id, vm: vm, to: host) {
                        #expect(engine.state == state)
                        refused += 1
                    } else {
                        moved += 1
                    }
                case 8:
                    let host = Int.random(in: 0..<engine.hostCount, using: &rng)
                    if case .success(let plan) = engine.planDrain(host: host, policy: first) {
                        engine.setDrained(host: host, true)
                        drains += plan.isEmpty ? 0 : 1
                        for step in plan {
                            #expect(engine.migrate(cluster: step.cluster, vm: step.vm, to: step.to.host)
                                    == .accepted(pkey: engine.cluster(step.cluster)!.pkey, vms: [step.to]))
                        }
                        #expect(engine.clusterIDs.allSatisfy { !engine.cluster($0)!.vms.contains { $0.host == host } })
                        engine.setDrained(host: host, false)
                    }
                default:
                    if let id = engine.clusterIDs.randomElement(using: &rng) { engine.release(cluster: id) }
                }
                #expect(engine.invariantViolations().isEmpty)
            }
            for id in engine.clusterIDs { engine.release(cluster: id) }
            #expect(engine.usage == empty)
        }
        // The sequences exercise every path, not only refusals.
        #expect(moved > 100 && refused > 100 && drains > 10, "moved \(moved), refused \(refused), drains \(drains)")
    }
}

/// Trials taken back exactly, and the migration policies built on them.
@Suite struct MigrationPolicyTests {
    let first = FirstFit()

    /// Random migrations on random clouds, then `rollBack`: the state is equal
    /// to before, VF bits and record order included.
    @Test func aTrialRollsBackExactly() {
        var rng = TestRandom(seed: 23)
        var undone = 0
        for _ in 0..<60 {
            let engine = AllocationEngine(cloud: PropertyTests.randomCloud(&rng))
            for id in 1...Int64(12) {
                _ = engine.admit(Fixtures.request(id, vms: Int.random(in: 1...4, using: &rng), PropertyTests.randomShape(&rng)), policy: first)
            }
            let before = engine.state
            var trial = MigrationTrial()
            for _ in 0..<10 {
                guard let id = engine.clusterIDs.randomElement(using: &rng), let record = engine.cluster(id) else { continue }
                let vm = Int.random(in: 0..<record.vms.count, using: &rng)
                let host = Int.random(in: 0..<engine.hostCount, using: &rng)
                guard host != record.vms[vm].host else { continue }
                _ = engine.migrate(cluster: id, vm: vm, to: host, trial: &trial)
            }
            undone += trial.count
            engine.rollBack(trial)
            #expect(engine.state == before)
        }
        #expect(undone > 100, "only \(undone) migrations tried")
    }

    /// Host 0 has the cores but its pkey table is full (two small clusters);
    /// host 1 has a pkey entry but not the cores: the 4-core VM is `fragmented`.
    /// Moving one small cluster's VM to host 1 (where the new VM could not go anyway) admits it.
    @Test func defragmentingMovesOneVMWhereTheRequestCouldNotGo() throws {
        let engine = AllocationEngine(cloud: CloudSpec(groups: [Fixtures.group(2, cores: 8, vfs: 4, pkeyTable: 3)]))
        for (id, vcores) in [(1, 2), (2, 2), (3, 6)] {
            _ = engine.admit(Fixtures.request(Int64(id), vms: 1, Fixtures.shape(vcores: vcores)), policy: first)
        }
        #expect([1, 2, 3].map { engine.cluster(Int64($0))!.vms[0].host } == [0, 0, 1])
        let request = Fixtures.request(4, vms: 1, Fixtures.shape(vcores: 4))
        let state = engine.state
        #expect(engine.admit(request, policy: first) == .rejected(.fragmented))
        #expect(engine.state == state)
        #expect(NoMigration().makeRoom(for: request, in: engine, placement: first) == nil)
        let (decision, migrations) = try #require(Defragment().makeRoom(for: request, in: engine, placement: first))
        #expect(migrations.count == 1 && migrations[0].cluster == 1 && migrations[0].from.host == 0 && migrations[0].to.host == 1)
        guard case .accepted(_, let vms) = decision else { Issue.record("not admitted: \(decision)"); return }
        #expect(vms.map(\.host) == [0])
        #expect(engine.invariantViolations().isEmpty)
    }

    @Test func aDefragmentationThatCannotSucceedChangesNothing() {
        // Host 0: two 3-core clusters (pkey table full, 2 cores free); host 1: one 7-core VM (1 core free).
        // No VM fits the other host, so no move makes room for 2 cores.
        let engine = AllocationEngine(cloud: CloudSpec(groups: [Fixtures.group(2, cores: 8, vfs: 4, pkeyTable: 3)]))
        for (id, vcores) in [(1, 3), (2, 3), (3, 7)] {
            _ = engine.admit(Fixtures.request(Int64(id), vms: 1, Fixtures.shape(vcores: vcores)), policy: first)
        }
        let request = Fixtures.request(9, vms: 1, Fixtures.shape(vcores: 2))
        let state = engine.state
        #expect(engine.admit(request, policy: first) == .rejected(.fragmented))
        #expect(Defragment(limits: MigrationLimits(maxMigrations: 8, candidates: 2)).makeRoom(for: request, in: engine, placement: first) == nil)
        #expect(engine.state == state)
    }

    @Test func consolidationEmptiesTheLightestHostIntoOneInUse() {
        let engine = AllocationEngine(cloud: CloudSpec(groups: [Fixtures.group(3, cores: 8, vfs: 4)]))
        _ = engine.admit(Fixtures.request(1, vms: 1, Fixtures.shape(vcores: 6)), policy: ReplayedPlacement(hosts: [0]))
        _ = engine.admit(Fixtures.request(2, vms: 1, Fixtures.shape(vcores: 2)), policy: ReplayedPlacement(hosts: [1]))
        let moves = Consolidate(every: 1).consolidate(engine)
        #expect(moves == [Migration(cluster: 2, vm: 0, from: PlacedVM(host: 1, virtualFunction: 0), to: PlacedVM(host: 0, virtualFunction: 1))])
        #expect(engine.isEmpty(host: 1) && engine.isEmpty(host: 2) && !engine.isDrained(host: 1))
        // Nothing lighter is left to move into a host in use.
        #expect(Consolidate(every: 1).consolidate(engine).isEmpty)
        #expect(engine.invariantViolations().isEmpty)
    }

    /// Random clouds under the policies: every invariant holds after every
    /// decision, and an admission after migrations is one the engine checked.
    @Test func randomDefragmentationAndConsolidationKeepEveryInvariant() {
        var rng = TestRandom(seed: 29)
        var rescued = 0, emptied = 0
        let policy = Defragment(limits: MigrationLimits(maxMigrations: 4, candidates: 4), period: 1)
        for _ in 0..<60 {
            let engine = AllocationEngine(cloud: PropertyTests.randomCloud(&rng))
            for id in 1...Int64(60) {
                let request = Fixtures.request(id, vms: Int.random(in: 1...3, using: &rng), PropertyTests.randomShape(&rng))
                if engine.admit(request, policy: first) == .rejected(.fragmented) {
                    let state = engine.state
                    if let (decision, migrations) = policy.makeRoom(for: request, in: engine, placement: first) {
                        guard case .accepted = decision else { Issue.record("rescued without admission"); return }
                        #expect(!migrations.isEmpty && migrations.count <= 4)
                        rescued += 1
                    } else {
                        #expect(engine.state == state)
                    }
                }
                if id % 10 == 0 {
                    emptied += policy.consolidate(engine).count
                    if let victim = engine.clusterIDs.randomElement(using: &rng) { engine.release(cluster: victim) }
                }
                #expect(engine.invariantViolations().isEmpty)
            }
        }
        #expect(rescued > 5 && emptied > 5, "rescued \(rescued), consolidation moves \(emptied)")
    }
}
