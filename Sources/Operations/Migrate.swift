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
    /// A failed step 2 or 3 records the destination VF as `retiring` and detaches it:
    /// the VM stays where it was.
    /// - Throws: `OperatorError` (refused) when the engine refuses the destination.
    public func migrate(cluster id: Int64, vm index: Int, to name: String, hook: String?, wait: TimeInterval = 60) throws -> MigrationOutcome {
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
            ])
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
    public func drain(host name: String, hook: String?, wait: TimeInterval = 60) throws -> [MigrationOutcome] {
        let plan = try drainPlan(host: name)
        _ = try setDrained(host: name, true)
        var done: [MigrationOutcome] = []
        for step in plan {
            let moved = try migrate(cluster: step.cluster, vm: step.vm, to: step.toHost, hook: hook, wait: wait)
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

    /// Runs the hypervisor's migration command; nil when it exited 0, else why not.
    static func runHook(_ command: String, environment: [String: String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        do {
            try process.run()
        } catch {
            return "the migration hook could not start: \(error.localizedDescription)"
        }
        process.waitUntilExit()
        guard process.terminationReason == .exit && process.terminationStatus == 0 else {
            return "the migration hook failed (\(process.terminationReason == .exit ? "exit \(process.terminationStatus)" : "signal \(process.terminationStatus)"))"
        }
        return nil
    }
}
