import Allocation
import CloudModel
import Foundation
import GRDB

/// One live migration as the operator carried it out.
public struct MigrationOutcome: Equatable, Sendable, Codable {
    /// The VM, where it was and where it went (its index among the cluster's VMs is kept).
    public var move: PlannedMigration
    /// `moved`, or `failed` (the VM still runs at the source; the destination VF is being detached).
    public var outcome: String
    public var detail: String?
}

extension Operator {
    /// Live-migrates VM `index` of cluster `id` to host `name`, in the order that
    /// keeps every tenant isolated and the VM reachable:
    /// 1. the engine decides (`AllocationEngine.migrate`: the destination's VF, its
    ///    pkey entry, its rules) and the destination is recorded `incoming` beside the
    ///    VM, which stays `active` at the source: both VF slots are held;
    /// 2. the destination host is converged (`apply(only:)`): the subnet manager gets
    ///    the destination as a member first, then the destination VF takes the
    ///    cluster's pkey and the VM's GUID; only a VF the engine gave this cluster is touched;
    /// 3. the hypervisor's part, `hook`, runs (`/bin/sh -c`, with the move in
    ///    `HPCCLOUD_*` variables, never in the command text): it copies the memory and
    ///    switches the VM to the destination VF;
    /// 4. the move is recorded (the VM `active` at the destination, the source VF
    ///    `retiring`), and the source host is converged: its VF is unmapped and its
    ///    GUID deleted, then the source leaves the partition.
    /// A failed step 2 or 3 (a hook that exits non-zero, or runs past `hookTimeout` and is
    /// stopped) records the destination VF as `retiring` and detaches it: the VM stays where it was.
    /// - Throws: `OperatorError` (refused) when the engine refuses the destination.
    public func migrate(cluster id: Int64, vm index: Int, to name: String, hook: String?, wait: TimeInterval = 60,
                        hookTimeout: TimeInterval = Operator.defaultHookTimeout) throws -> MigrationOutcome {
        let destination = try host(named: name)
        let site = try siteStatements()
        let arguments = "cluster=\(id) vm=\(index) to=\(destination.name)"
        // 1. Decide and record the destination beside the source (a refusal is audited, then thrown).
        var refusal: String?
        let decided = try state.writeImmediate { db -> (cluster: RecordedCluster, source: RecordedVM, incoming: RecordedVM)? in
            let loaded = try load(db, site: site, owned: true)
            func refuse(_ reason: String) throws -> (cluster: RecordedCluster, source: RecordedVM, incoming: RecordedVM)? {
                try audit(db, "migrate", id, arguments, "refused", reason)
                refusal = "cluster \(id) VM \(index) cannot move to \(destination.name): \(reason)"
                return nil
            }
            guard let cluster = try Self.recordedClusters(db, id: id).first, cluster.status == "active" else { return try refuse("no such running cluster") }
            guard cluster.vms.allSatisfy({ ["active", "detached"].contains($0.status) }) else {
                return try refuse("a VM of it is being attached or detached (apply first)")
            }
            let active = cluster.activeVMs
            guard active.indices.contains(index) else { return try refuse("it has no VM \(index) (it has \(active.count))") }
            let source = active[index]
            guard source.host != destination.index else { return try refuse("it is there already") }
            let decision = loaded.engine.migrate(cluster: id, vm: index, to: destination.index)
            guard case .accepted(_, let placed) = decision else {
                let reason = if case .rejected(let r) = decision { r.rawValue } else { "not running" }
                return try refuse(reason)
            }
            let incoming = RecordedVM(seq: (cluster.vms.map(\.seq).max() ?? -1) + 1, host: placed[0].host, vf: placed[0].virtualFunction,
                                      guid: source.guid, status: "incoming")
            try db.execute(sql: "INSERT INTO vm (clusterId, seq, host, vf, guid, status) VALUES (?, ?, ?, ?, ?, 'incoming')",
                           arguments: [id, incoming.seq, incoming.host, incoming.vf, incoming.guid.map { String($0, radix: 16) }])
            try audit(db, "migrate", id, arguments, "accepted", "incoming as vm \(incoming.seq)")
            try keep(loaded, db, site: site, cluster: id, before: cluster)
            return (cluster, source, incoming)
        }
        guard let (cluster, source, incoming) = decided else { throw OperatorError(refusal ?? "refused", kind: .refused) }
        var outcome = MigrationOutcome(move: PlannedMigration(cluster: id, tenant: cluster.tenant, vm: index, fromHost: hosts[source.host].name,
                                                              fromVF: source.vf, toHost: destination.name, toVF: incoming.vf),
                                       outcome: "moved", detail: nil)
        // 2. The destination first.
        let attached = try apply(only: [destination.index], wait: wait)
        var failure: String?
        if let vf = incoming.vf, let pkey = cluster.pkey, !attachedAsRecorded(destination, vf: vf, pkey: pkey, guid: incoming.guid) {
            failure = "the destination VF was not attached: " + (attached.failed.map(\.error).first ?? attached.waiting.first ?? "unknown")
        }
        // 3. The hypervisor's part.
        if failure == nil, let hook {
            failure = Self.runHook(hook, environment: [
                "HPCCLOUD_CLUSTER": "\(id)", "HPCCLOUD_TENANT": cluster.tenant, "HPCCLOUD_VM": "\(index)",
                "HPCCLOUD_GUID": source.guid.map(GUIDFormat.hex) ?? "", "HPCCLOUD_PKEY": cluster.pkey.map { PartitionKey($0).description } ?? "",
                "HPCCLOUD_FROM_HOST": outcome.move.fromHost, "HPCCLOUD_FROM_VF": source.vf.map(String.init) ?? "",
                "HPCCLOUD_TO_HOST": outcome.move.toHost, "HPCCLOUD_TO_VF": incoming.vf.map(String.init) ?? "",
            ], timeout: hookTimeout)
        }
        // 4. Record the outcome, then converge the host that gives up a VF.
        try state.writeImmediate { db in
            let loaded = try load(db, site: site, owned: true)
            let before = try Self.recordedClusters(db, id: id).first
            if failure == nil {
                try db.execute(sql: "UPDATE vm SET host = ?, vf = ? WHERE clusterId = ? AND seq = ?", arguments: [incoming.host, incoming.vf, id, source.seq])
                if source.vf == nil {
                    try db.execute(sql: "DELETE FROM vm WHERE clusterId = ? AND seq = ?", arguments: [id, incoming.seq])
                } else {
                    try db.execute(sql: "UPDATE vm SET host = ?, vf = ?, status = 'retiring' WHERE clusterId = ? AND seq = ?",
                                   arguments: [source.host, source.vf, id, incoming.seq])
                }
            } else if incoming.vf == nil {
                try db.execute(sql: "DELETE FROM vm WHERE clusterId = ? AND seq = ?", arguments: [id, incoming.seq])
            } else {
                try db.execute(sql: "UPDATE vm SET status = 'retiring' WHERE clusterId = ? AND seq = ?", arguments: [id, incoming.seq])
            }
            try audit(db, "migrate", id, arguments, failure == nil ? "moved" : "failed", failure)
            try keep(loaded, db, site: site, cluster: id, before: before)
        }
        _ = try apply(only: [failure == nil ? source.host : destination.index], wait: wait)
        if let failure {
            outcome.outcome = "failed"
            outcome.detail = failure
        }
        return outcome
    }

    /// Empties `name` for maintenance: the host is drained (recorded), then each VM
    /// on it moves (`migrate`) where the engine's drain plan puts it.
    /// - Returns: each migration, in order; it stops at the first that failed.
    /// - Throws: `OperatorError` (refused) when some VM fits no other host: then nothing moved
    ///   and the host stays in service.
    public func drain(host name: String, hook: String?, wait: TimeInterval = 60,
                      hookTimeout: TimeInterval = Operator.defaultHookTimeout) throws -> [MigrationOutcome] {
        let plan = try drainPlan(host: name)
        _ = try setDrained(host: name, true)
        var done: [MigrationOutcome] = []
        for step in plan {
            let moved = try migrate(cluster: step.cluster, vm: step.vm, to: step.toHost, hook: hook, wait: wait, hookTimeout: hookTimeout)
            done.append(moved)
            if moved.outcome != "moved" { break }
        }
        return done
    }

    /// Whether `vf` of `host` maps `pkey` (where the host can read it) and carries `guid`.
    func attachedAsRecorded(_ host: HostEntry, vf: Int, pkey: Int, guid: UInt64?) -> Bool {
        guard case .attached(let mapped, let carried, _)? = try? backend.actual(host).vfs[vf] else { return false }
        return (mapped ?? pkey) == pkey && carried == guid
    }

    /// How long a migration hook may run before it is stopped and the move counts as failed.
    public static let defaultHookTimeout: TimeInterval = 1800

    /// Runs the hypervisor's migration command (`/bin/sh -c`, its own process group,
    /// the move in `environment`); nil when it exited 0 within `timeout` seconds, else why not.
    /// A hook past its timeout gets SIGTERM, then SIGKILL 10 s later, its whole process
    /// group (a shell's children too): a hung hypervisor call must not hold the drain, and
    /// the VM's destination VF, for ever. A stopped hook counts as failed, so it must leave
    /// the VM running at its source when it is stopped.
    static func runHook(_ command: String, environment: [String: String], timeout: TimeInterval) -> String? {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        let words: [String] = ["/bin/sh", "-c", command]
        let argv = words.map { strdup($0) } + [nil]
        defer { for arg in argv { free(arg) } }
        let merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for entry in envp { free(entry) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/bin/sh", nil, &attributes, argv, envp)
        guard spawned == 0 else { return "the migration hook could not start: \(String(cString: strerror(spawned)))" }
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            guard Date() < deadline else {
                stopGroup(pid)
                return "the migration hook did not finish in \(String(format: "%g", timeout)) s and was stopped"
            }
            usleep(20_000)
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG from <sys/wait.h>, which Swift does not import as functions.
        let signal = status & 0x7f
        if signal == 0 && (status >> 8) & 0xff == 0 { return nil }
        return "the migration hook failed (\(signal == 0 ? "exit \((status >> 8) & 0xff)" : "signal \(signal)"))"
    }

    /// SIGTERM to `leader`'s process group, SIGKILL after 10 s if it is still there; reaps the leader.
    private static func stopGroup(_ leader: pid_t) {
        kill(-leader, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<500 {
            if waitpid(leader, &status, WNOHANG) != 0 { break }
            usleep(20_000)
        }
        kill(-leader, SIGKILL)
        _ = waitpid(leader, &status, 0)
    }
}
