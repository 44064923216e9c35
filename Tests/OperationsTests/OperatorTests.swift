import Allocation
import CloudModel
import Foundation
import GRDB
import Operations
import SimulatedHardware
import Testing
import TestSupport

/// A rehearsal cloud: the simulated backend and subnet manager on a state in a scratch directory.
final class Rehearsal: @unchecked Sendable {
    let directory: String
    let state: OperatorState
    let partitions: String

    static let scenario = """
    name: lab
    seed: 1
    hosts:
      - { count: 3, cores: 8, memoryGiB: 32, hca: connectx-3, vfs: 4, pkeyTable: 16 }
      - { count: 1, cores: 8, memoryGiB: 32, hca: connectx-6, vfs: 4 }
    """

    init(scenario: String = Rehearsal.scenario, site: String? = nil) throws {
        directory = try Fixtures.scratchDirectory("operations")
        partitions = directory + "/partitions.conf"
        if let site { try site.write(toFile: partitions, atomically: true, encoding: .utf8) }
        state = try OperatorState(path: directory + "/state.sqlite")
        try Operator.initialize(state: state, scenarioYAML: scenario, scenarioFile: directory + "/lab.yaml", catalog: try Fixtures.catalog(),
                                discovered: nil, backend: "simulated", partitions: partitions)
    }

    func op(_ state: OperatorState? = nil) throws -> Operator {
        let state = state ?? self.state
        return try Operator(state: state, catalog: try Fixtures.catalog(), backend: SimulatedBackend(state: state),
                            subnetManager: SimulatedSubnetManager(path: partitions, state: state), actor: "tester")
    }

    var backend: SimulatedBackend { SimulatedBackend(state: state) }

    func hardware(_ host: Int) throws -> HostHardware { try backend.actual(try op().hosts[host]) }

    func spec(_ tenant: String, vms: Int, vcores: Int = 2) -> ClusterSpec {
        ClusterSpec(tenant: tenant, vms: vms, vcores: vcores, memoryGiB: 1, kind: .hpc, pinning: .fixed)
    }

    /// Replaces the recorded scenario (an operator editing the cloud's description).
    func editScenario(_ yaml: String) throws {
        try state.setMeta(["scenarioYAML": yaml])
    }
}

@Suite struct OperatorTests {
    /// One deployment drives one subnet manager: a scenario of several subnets is refused before anything is written.
    @Test func aCloudOfSeveralSubnetsIsRefused() throws {
        let yaml = """
        subnets:
          - { name: pod, count: 2, hosts: [ { count: 2, cores: 8, memoryGiB: 32, hca: connectx-3 } ] }
        """
        #expect {
            _ = try Rehearsal(scenario: yaml)
        } throws: { error in
            "\(error)".contains("the production backend drives one subnet, and this scenario describes 2")
        }
    }

    @Test func recordedPlacementsAreNeverReDecided() throws {
        let lab = try Rehearsal()
        let op = try lab.op()
        let a = try op.create(lab.spec("alice", vms: 3))
        #expect(a.vms.map(\.host) == [0, 0, 0] && a.vms.map(\.vf) == [0, 1, 2])
        #expect(try op.apply().converged)

        // The host model shrinks to 4 cores: alice's 6 pinned vCPUs on host 0 no longer fit, and stay where they are.
        try lab.editScenario(Rehearsal.scenario.replacingOccurrences(of: "count: 3, cores: 8", with: "count: 3, cores: 4"))
        let reopened = try lab.op()
        let loaded = try reopened.snapshot()
        #expect(loaded.clusters[0].activeVMs.map(\.host) == [0, 0, 0], "nothing moved")
        #expect(loaded.problems == ["cluster 1 (alice): host 0: physical cores 6 in use, 4 available now"])
        #expect(try reopened.plan().changes.isEmpty, "plan proposes no move")
        let b = try reopened.create(lab.spec("bob", vms: 1))
        #expect(b.vms.map(\.host) == [1], "host 0 is over capacity: nothing more goes there")

        // VFs shrink to 2 while VF 2 is in use: the cluster cannot be restored, but its pkey and VF slots stay held.
        try lab.editScenario(Rehearsal.scenario.replacingOccurrences(of: "vfs: 4, pkeyTable: 16", with: "vfs: 2, pkeyTable: 16"))
        let shrunk = try lab.op()
        #expect(try shrunk.snapshot().problems.contains("cluster 1 (alice): VM 2 holds VF 2 of host 0, which has 2 usable VFs now"))
        let c = try shrunk.create(lab.spec("carol", vms: 1))
        #expect(c.pkey == 3 && c.vms.map(\.host) == [1], "alice's pkey 1 and bob's 2 are held; host 0's VFs too")
    }

    @Test func concurrentCommandsNeverShareAnIdAPkeyOrAVF() throws {
        let lab = try Rehearsal(scenario: """
            hosts:
              - { count: 8, cores: 64, memoryGiB: 256, hca: connectx-3, vfs: 15, pkeyTable: 64 }
            """)
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            do {
                // Each worker is its own process as far as SQLite is concerned: its own connection.
                let op = try lab.op(try OperatorState(path: lab.state.path))
                for i in 0..<10 { _ = try op.create(lab.spec("w\(worker)-\(i)", vms: 2, vcores: 1)) }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        let loaded = try lab.op().snapshot()
        #expect(loaded.clusters.count == 40)
        #expect(Set(loaded.clusters.map(\.id)).count == 40 && Set(loaded.clusters.compactMap(\.pkey)).count == 40)
        let slots = loaded.clusters.flatMap(\.vms).map { "\($0.host)/\($0.vf!)" }
        #expect(Set(slots).count == 80, "no VF twice")
        #expect(loaded.engine.invariantViolations().isEmpty)
    }

    @Test func numbersBeyondTheCloudAreInputErrorsAndNothingIsRecorded() throws {
        let lab = try Rehearsal()
        let op = try lab.op()
        for spec in [lab.spec("x", vms: Int.max), lab.spec("x", vms: 0), lab.spec("x", vms: 1, vcores: Int.max),
                     ClusterSpec(tenant: "x", vms: 1, vcores: 1, memoryGiB: Int.max, kind: .hpc, pinning: .fixed),
                     ClusterSpec(tenant: "x\u{1b}[2J", vms: 1, vcores: 1, memoryGiB: 1, kind: .hpc, pinning: .fixed)] {
            #expect(throws: OperatorError.self) { try op.create(spec) }
        }
        #expect(throws: OperatorError.self) { try op.resize(id: 1, by: Int.min, policy: nil) }
        #expect(try op.delete(id: Int64.max).outcome == "ignored")
        #expect(try op.create(lab.spec("alice", vms: 1)).clusterID == 1, "an unknown id never moves the id sequence")
        let audit = try op.operations()
        #expect(audit.map { $0["action"]! } == ["delete", "create"] && audit.allSatisfy { $0["actor"] == "tester" })
    }

    @Test func aDeletedClustersPkeyAndVFsStayQuarantinedUntilItsHostsConfirm() throws {
        let lab = try Rehearsal()
        let op = try lab.op()
        let a = try op.create(lab.spec("alice", vms: 2, vcores: 4))  // hosts 0 (two VMs)
        let b = try op.create(lab.spec("bob", vms: 1, vcores: 8))    // host 1
        #expect(try op.apply().converged)
        #expect(try lab.hardware(0).portPKeys?.contains(0x8001) == true)

        // Host 0 stops answering; alice is deleted.
        try lab.backend.setUnreachable(op.hosts[0], "no route to host")
        _ = try op.delete(id: a.clusterID!)
        let c = try op.create(lab.spec("carol", vms: 2, vcores: 8))
        #expect(c.pkey == 3, "alice's pkey 1 is quarantined")
        #expect(c.vms.map(\.host) == [0, 2] && c.vms.map(\.vf) == [2, 0], "alice's cores are free, her VFs 0 and 1 are not")
        let report = try op.apply()
        #expect(report.unreachable.map(\.hostName) == ["sim0"] && !report.converged)
        #expect(report.changes.contains { $0.kind == .attach && $0.hostName == "sim2" }, "the other hosts went on: \(report.changes)")
        #expect(try lab.partitionsText().contains("hpccloud_c1=0x0001"), "alice's partition stays until host 0 confirmed the detach")
        #expect(try op.create(lab.spec("dave", vms: 1)).pkey == 4)

        // Host 0 is back: the detach is confirmed, the partition goes, and pkey 1 is free again.
        try lab.backend.setUnreachable(op.hosts[0], nil)
        let back = try op.apply()
        #expect(back.converged, "\(back)")
        #expect(back.changes.filter { $0.kind == .detach }.map(\.vf) == [0, 1])
        #expect(try !lab.partitionsText().contains("hpccloud_c1="))
        #expect(try lab.hardware(0).portPKeys?.contains(0x8001) == false)
        #expect(try op.create(lab.spec("erin", vms: 1)).pkey == 1)
        _ = b
    }

    @Test func theSitesPartitionsAreKeptByteForByteAndTheirPkeysNeverGoToTenants() throws {
        let site = "# site partitions\r\nStorage=0x0001, ipoib, mtu=5 : ALL=full ; # storage\r\nMgmt=0x0003 :\n  0x0002c90300000001=limited ;\n"
        let lab = try Rehearsal(site: site)
        let op = try lab.op()
        #expect(try op.create(lab.spec("alice", vms: 1)).pkey == 2)
        #expect(try op.create(lab.spec("bob", vms: 1)).pkey == 4)
        #expect(try op.apply().converged)
        let text = try lab.partitionsText()
        #expect(text.hasPrefix(site), "the site's lines, byte for byte")
        let config = try PartitionsConfig(text: text)
        #expect(config.before == site && config.after.isEmpty)
        // A second apply rewrites nothing; the site adds a line after the block, which stays too.
        try (text + "Late=0x0005 : ALL ;\n").write(toFile: lab.partitions, atomically: true, encoding: .utf8)
        #expect(try op.create(lab.spec("carol", vms: 1)).pkey == 6)
        #expect(try op.apply().converged)
        #expect(try lab.partitionsText().hasSuffix("# END hpccloud managed block\nLate=0x0005 : ALL ;\n"))
        // The site takes a tenant's pkey: the configuration is not written until resolved.
        try (try lab.partitionsText() + "Clash=0x0002 : ALL ;\n").write(toFile: lab.partitions, atomically: true, encoding: .utf8)
        #expect(try op.snapshot().problems.contains { $0.contains("'Clash' uses pkey 0x0002, which a tenant cluster holds") })
        _ = try op.delete(id: 1)
        let blocked = try op.apply()
        #expect(!blocked.converged && blocked.waiting.contains { $0.contains("site partition uses a tenant's pkey") })
    }

    @Test func aRebootedHostIsReconciledBeforeVMsStart() throws {
        let lab = try Rehearsal()
        let op = try lab.op()
        _ = try op.create(lab.spec("alice", vms: 2, vcores: 4))
        #expect(try op.apply().converged)
        try lab.backend.reboot(op.hosts[0])
        #expect(try lab.hardware(0).vfs[0] == .other("maps the full default pkey (driver default)"), "back in Default after a reboot")
        let report = try op.apply(only: [0], manageSubnet: false)
        #expect(report.converged && report.changes.map(\.kind) == [.detach, .detach, .attach, .attach], "\(report.changes)")
        #expect(try lab.hardware(0).vfs[1] == .attached(pkey: 1, guid: 0x0200_0000_0000_0002, limitedDefault: true))
    }

    @Test func aShrinkRetiresTheNewestVMsAndAClampedOneIsRefused() throws {
        let lab = try Rehearsal()
        let op = try lab.op()
        _ = try op.create(lab.spec("alice", vms: 5, vcores: 2))  // host 0 x4, host 1 x1
        #expect(try op.apply().converged)
        #expect(try op.resize(id: 1, by: -5, policy: nil).outcome == "rejected")
        let shrink = try op.resize(id: 1, by: -2, policy: nil)
        #expect(shrink.vms.map(\.host) == [0, 1] && shrink.vms.map(\.vf) == [3, 0])
        let grow = try op.resize(id: 1, by: 1, policy: nil)
        #expect(grow.vms.map(\.host) == [1] && grow.vms.map(\.vf) == [1], "the retiring VF 0 of host 1 is not handed out yet")
        #expect(try op.apply().converged)
        #expect(try lab.hardware(1).vfs[0] == .detached)
        #expect(try op.snapshot().clusters[0].vms.map(\.seq) == [0, 1, 2, 5], "retired VMs leave the records once confirmed")
    }

    /// OpenSM's reload can fail (a stale pid file): the file is written but not in effect, so the next apply asks again.
    @Test func aFailedSubnetManagerReloadIsRetriedUntilItTakes() throws {
        final class FlakySM: SubnetManager {
            let inner: SimulatedSubnetManager
            var failures: Int
            init(_ inner: SimulatedSubnetManager, failures: Int) {
                self.inner = inner
                self.failures = failures
            }
            var location: String { inner.location }
            func read() throws -> String? { try inner.read() }
            func write(_ text: String) throws { try inner.write(text) }
            func reload() throws {
                if failures > 0 {
                    failures -= 1
                    throw OperatorError("subnet manager reload: no pid in opensm.pid", kind: .environment)
                }
                try inner.reload()
            }
        }
        let lab = try Rehearsal(scenario: """
            hosts:
              - { count: 2, cores: 8, memoryGiB: 32, hca: connectx-6, vfs: 4 }
            """)
        let sm = FlakySM(SimulatedSubnetManager(path: lab.partitions, state: lab.state), failures: 1)
        let op = try Operator(state: lab.state, catalog: try Fixtures.catalog(), backend: lab.backend, subnetManager: sm)
        _ = try op.create(lab.spec("alice", vms: 2))
        let first = try op.apply(wait: 0)
        #expect(first.failed.map(\.change.kind) == [.subnetManager] && !first.converged)
        #expect(try op.plan().changes.map(\.kind) == [.reload], "the file is written but not in effect")
        let second = try op.apply(wait: 0)
        #expect(second.converged && second.changes.first?.kind == .subnetManager, "\(second)")
        #expect(try op.plan().changes.isEmpty)
    }

    @Test func aDrainedHostTakesNoNewVMs() throws {
        let lab = try Rehearsal()
        let op = try lab.op()
        _ = try op.setDrained(host: "sim0", true)
        #expect(try op.create(lab.spec("alice", vms: 2)).vms.map(\.host) == [1, 1])
        _ = try op.setDrained(host: "0", false)
        #expect(try op.create(lab.spec("bob", vms: 1)).vms.map(\.host) == [0])
        #expect(throws: OperatorError.self) { try op.setDrained(host: "nowhere", true) }
    }

    @Test func aDrainPlanShowsWhereEachVMWouldGoAndChangesNothing() throws {
        let lab = try Rehearsal()
        let op = try lab.op()
        _ = try op.create(lab.spec("alice", vms: 3))
        _ = try op.create(lab.spec("bob", vms: 1))
        let before = try op.snapshot().engine.state
        let audited = try op.operations().count
        let plan = try op.drainPlan(host: "sim0")
        // Every VM on sim0, cluster by cluster, goes to another host with a VF of its own there.
        #expect(plan.map(\.tenant) == ["alice", "alice", "alice", "bob"] && plan.map(\.vm) == [0, 1, 2, 0])
        #expect(plan.allSatisfy { $0.fromHost == "sim0" && $0.toHost != "sim0" && $0.toVF != nil })
        let destinations = plan.map { "\($0.toHost)/\($0.toVF!)" }
        #expect(Set(destinations).count == destinations.count)
        #expect(try op.snapshot().engine.state == before && op.operations().count == audited)
        #expect(throws: OperatorError.self) { try op.drainPlan(host: "nowhere") }
    }
}

extension Rehearsal {
    func partitionsText() throws -> String { try String(contentsOfFile: partitions, encoding: .utf8) }
}

/// A lock-protected value for the concurrency test.
final class Mutex<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

@Suite struct LoadedCacheTests {
    /// The engine a command reuses is, after every kind of command and pass,
    /// the engine a fresh operator rebuilds from the records alone.
    @Test func theCachedEngineIsTheEngineTheRecordsRebuild() throws {
        let lab = try Rehearsal(scenario: """
            seed: 3
            hosts:
              - { count: 6, cores: 16, memoryGiB: 64, hca: connectx-3, vfs: 6, pkeyTable: 8 }
              - { count: 2, cores: 16, memoryGiB: 64, hca: connectx-6, vfs: 6 }
            """)
        let op = try lab.op()
        let random = SplitMixRandom(seed: 11)
        func pick(_ n: Int) -> Int { random.uniformInt(below: n) }
        var steps: [String] = []
        for step in 0..<160 {
            let rebuilds = op.engineRebuilds
            let live = try op.snapshot().clusters.filter { $0.status == "active" }
            switch pick(10) {
            case 0...3:
                let kind: VMKind = pick(4) == 0 ? .common : .hpc
                _ = try op.create(ClusterSpec(tenant: "t\(pick(3))", vms: 1 + pick(4), vcores: 1 + pick(4), memoryGiB: 1, kind: kind, pinning: .fixed))
                steps.append("create")
            case 4, 5 where !live.isEmpty:
                let cluster = live[pick(live.count)]
                _ = try op.resize(id: cluster.id, by: pick(2) == 0 ? 1 + pick(2) : -(1 + pick(2)), policy: nil)
                steps.append("resize \(cluster.id)")
            case 6, 7 where !live.isEmpty:
                _ = try op.delete(id: live[pick(live.count)].id)
                steps.append("delete")
            case 8:
                if pick(3) == 0 { _ = try op.setDrained(host: "sim\(pick(8))", pick(2) == 0) }
                _ = try op.apply(wait: 0)
                steps.append("apply")
            default:
                _ = try op.delete(id: Int64(1 + pick(200)))  // often no such cluster
                steps.append("delete any")
            }
            let cached = try op.snapshot()
            if step > 0 && steps.last != "apply" {
                // Only a pass changes records behind the cache's back: a command and the snapshots around it build nothing.
                #expect(op.engineRebuilds == rebuilds, "step \(step): \(steps.last!) rebuilt the engine")
            }
            let rebuilt = try lab.op().snapshot()
            #expect(cached.engine.state == rebuilt.engine.state, "step \(step) after \(steps.suffix(3))")
            #expect(cached.clusters == rebuilt.clusters && cached.hosts == rebuilt.hosts, "step \(step)")
            #expect(cached.engine.invariantViolations().isEmpty)
        }
    }

    @Test func anotherProcessesChangeIsNeverMissed() throws {
        let lab = try Rehearsal()
        let mine = try lab.op()
        let theirs = try lab.op(try OperatorState(path: lab.state.path))  // another connection, as another process
        let a = try mine.create(lab.spec("alice", vms: 1))
        let b = try theirs.create(lab.spec("bob", vms: 1))
        let c = try mine.create(lab.spec("carol", vms: 1))
        #expect(Set([a.pkey, b.pkey, c.pkey]).count == 3)
        #expect(Set([a, b, c].flatMap(\.vms).map { "\($0.host)/\($0.vf!)" }).count == 3, "no VF twice")
        _ = try theirs.setDrained(host: "sim0", true)
        #expect(try mine.create(lab.spec("dave", vms: 1)).vms.map(\.host) != [0], "the drain from the other connection is seen")
    }
}

/// Live migration by the operator: `host drain --migrate` on the simulated backend,
/// with tenant isolation checked after every change to a VF.
@Suite struct OperatorMigrationTests {
    func watched(_ lab: Rehearsal, hookLog: String) throws -> (Operator, IsolationWatch) {
        let hosts = try lab.op().hosts
        let watch = IsolationWatch(SimulatedBackend(state: lab.state), state: lab.state, hosts: hosts, hookLog: hookLog)
        let op = try Operator(state: lab.state, catalog: try Fixtures.catalog(), backend: watch,
                              subnetManager: SimulatedSubnetManager(path: lab.partitions, state: lab.state), actor: "tester")
        return (op, watch)
    }

    @Test func drainingMovesEachVMDestinationFirstAndKeepsEveryTenantIsolated() throws {
        let lab = try Rehearsal()
        let log = lab.directory + "/hooks.log"
        let (op, watch) = try watched(lab, hookLog: log)
        let a = try op.create(lab.spec("alice", vms: 2)), b = try op.create(lab.spec("bob", vms: 1))
        #expect(a.vms.map(\.host) == [0, 0] && b.vms.map(\.host) == [0])
        #expect(try op.apply(wait: 1).converged)
        let hook = "echo \"$HPCCLOUD_CLUSTER $HPCCLOUD_VM $HPCCLOUD_FROM_HOST/$HPCCLOUD_FROM_VF $HPCCLOUD_TO_HOST/$HPCCLOUD_TO_VF $HPCCLOUD_GUID\" >> '\(log)'"
        let moves = try op.drain(host: "sim0", hook: hook, wait: 1)
        #expect(moves.map(\.outcome) == ["moved", "moved", "moved"] && moves.allSatisfy { $0.move.toHost != "sim0" })
        #expect(watch.violations.isEmpty, "\(watch.violations)")
        // Destination first: the k-th move's VF was attached before the k-th hook ran, its source detached after.
        for (k, move) in moves.enumerated() {
            let attach = try #require(watch.changes.first { $0.change == "attach \(move.move.toHost) \(move.move.toVF!)" })
            let detach = try #require(watch.changes.first { $0.change == "detach \(move.move.fromHost) \(move.move.fromVF!)" })
            #expect(attach.hooksBefore == k && detach.hooksBefore == k + 1, "move \(k): \(watch.changes)")
        }
        let hooks = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(hooks.first == "1 0 sim0/0 \(moves[0].move.toHost)/\(moves[0].move.toVF!) 0x0200000000000001", "\(hooks)")
        // The records: every VM at its destination with its GUID and index; host 0 empty, drained, converged.
        let loaded = try op.snapshot()
        #expect(loaded.clusters.flatMap(\.vms).allSatisfy { $0.status == "active" && $0.host != 0 })
        #expect(loaded.clusters[0].vms.map(\.guid) == a.vms.map(\.guid) && loaded.clusters[0].vms.map(\.seq) == [0, 1])
        #expect(loaded.engine.usage(host: 0).usedVFs == 0 && loaded.engine.isDrained(host: 0) && loaded.engine.invariantViolations().isEmpty)
        #expect(try lab.hardware(0).vfs.values.allSatisfy { $0 == .detached })
        #expect(try op.plan().changes.isEmpty)
        #expect(try op.operations().filter { $0["action"] == "migrate" }.count == 6, "each move audited when decided and when done")
    }

    /// While a VM migrates, its destination's cores and memory are held with its VF:
    /// a create between the decision and the move cannot take them.
    @Test func anIncomingVMHoldsItsDestinationsCoresAndMemory() throws {
        let lab = try Rehearsal()
        let (op, _) = try watched(lab, hookLog: lab.directory + "/none.log")
        let a = try op.create(lab.spec("alice", vms: 1, vcores: 6))
        #expect(try op.apply(wait: 1).converged)
        // The state between a migration's decision and its move (as a concurrent command sees it):
        // the VM still on sim0, its destination recorded incoming on sim1 with 6 of its 8 cores.
        try lab.state.writeImmediate { db in
            try db.execute(sql: "INSERT INTO vm (clusterId, seq, host, vf, guid, status) VALUES (?, 1, 1, 0, ?, 'incoming')",
                           arguments: [a.clusterID!, String(a.vms[0].guid!, radix: 16)])
        }
        let loaded = try op.snapshot()
        #expect(loaded.engine.usage(host: 1).freeCores == 2 && loaded.engine.usage(host: 1).usedVFs == 1 && loaded.engine.invariantViolations().isEmpty)
        let b = try op.create(lab.spec("bob", vms: 1, vcores: 4))
        #expect(b.vms.map(\.host) == [2], "sim1's cores are held for the incoming VM")
    }

    /// A hung hypervisor call must not hold the drain (and the destination VF) for ever:
    /// past its timeout the hook's whole process group is stopped and the move fails.
    @Test func aHookPastItsTimeoutIsStoppedWithItsChildrenAndTheVMStays() throws {
        let lab = try Rehearsal()
        let (op, watch) = try watched(lab, hookLog: lab.directory + "/none.log")
        let a = try op.create(lab.spec("alice", vms: 1))
        #expect(try op.apply(wait: 1).converged)
        let pidFile = lab.directory + "/hook.pid"
        let started = Date()
        let stopped = try op.migrate(cluster: a.clusterID!, vm: 0, to: "sim1", hook: "echo $$ > '\(pidFile)'; sleep 60; exit 0",
                                     wait: 1, hookTimeout: 0.5)
        #expect(Date().timeIntervalSince(started) < 30, "the hook was not stopped at its timeout")
        #expect(stopped.outcome == "failed" && stopped.detail == "the migration hook did not finish in 0.5 s and was stopped")
        // The shell and its sleep (same process group) are gone, once init has reaped the orphaned sleep.
        let leader = try #require(pid_t(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        var gone = false
        for _ in 0..<250 where !gone {
            gone = kill(-leader, 0) == -1 && errno == ESRCH
            if !gone { usleep(20_000) }
        }
        #expect(gone, "the hook's process group still runs")
        #expect(watch.violations.isEmpty, "\(watch.violations)")
        let loaded = try op.snapshot()
        #expect(loaded.clusters[0].vms.map(\.host) == [0] && loaded.clusters[0].vms.map(\.status) == ["active"])
        #expect(try lab.hardware(1).vfs.values.allSatisfy { $0 == .detached } && (try op.plan().changes.isEmpty))
    }

    @Test func aFailedHookLeavesTheVMWhereItWasAndARefusalChangesNothing() throws {
        let lab = try Rehearsal()
        let (op, watch) = try watched(lab, hookLog: lab.directory + "/none.log")
        let a = try op.create(lab.spec("alice", vms: 1))
        #expect(try op.apply(wait: 1).converged)
        let failed = try op.migrate(cluster: a.clusterID!, vm: 0, to: "sim1", hook: "exit 3", wait: 1)
        #expect(failed.outcome == "failed" && failed.detail == "the migration hook failed (exit 3)")
        #expect(watch.violations.isEmpty, "\(watch.violations)")
        let loaded = try op.snapshot()
        #expect(loaded.clusters[0].vms.map(\.host) == [0] && loaded.clusters[0].vms.map(\.status) == ["active"], "the destination's row is gone")
        #expect(try lab.hardware(1).vfs.values.allSatisfy { $0 == .detached } && (try op.plan().changes.isEmpty))
        // The vSwitch host takes it (its VF joins the partition by the VM's GUID); a host without room refuses, recording nothing.
        let moved = try op.migrate(cluster: a.clusterID!, vm: 0, to: "sim3", hook: nil, wait: 1)
        #expect(moved.outcome == "moved" && watch.violations.isEmpty)
        #expect(try op.desiredPartitionsText()?.contains("hpccloud_c1=0x0001, ipoib : 0x0200000000000001=full ;") == true)
        _ = try op.create(lab.spec("bob", vms: 4, vcores: 2))
        let before = try op.snapshot().clusters
        #expect(throws: OperatorError.self) { try op.migrate(cluster: a.clusterID!, vm: 0, to: "sim0", hook: nil, wait: 1) }
        #expect(try op.snapshot().clusters == before)
        #expect(try op.operations().last?["outcome"] == "refused")
    }
}
