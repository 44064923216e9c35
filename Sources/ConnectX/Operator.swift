import Allocation
import CloudModel
import Foundation
import GRDB

/// The operator's view: clusters created, resized and deleted through the
/// shared allocation engine, and `plan`/`apply` to bring the hardware (or the
/// simulated backend) to what the engine decided.
///
/// The engine's state is rebuilt on every command by replaying the recorded
/// operations in order: the same decisions, VFs and pkeys every time, with no
/// second copy of the engine's logic.
public final class Operator {
    public let state: OperatorState
    public let backend: Backend
    public let engine: AllocationEngine
    public let hosts: [HostEntry]
    public let scenario: Scenario
    public let partitionsPath: String
    /// Tells the subnet manager to re-read partitions.conf.
    public let reloadSubnetManager: () throws -> Void
    /// The `random` policy's numbers, from the scenario seed, replayed from the start with the operations.
    private let random: SplitMixRandom

    public init(state: OperatorState, catalog: HardwareCatalog, backend: Backend, partitionsPath: String? = nil,
                reloadSubnetManager: @escaping () throws -> Void = {}) throws {
        guard let yaml = try state.meta("scenarioYAML"), let file = try state.meta("scenarioFile") else {
            throw OperatorError("\(state.path) has no cloud yet: give --scenario S.yaml on the first command")
        }
        self.state = state
        self.backend = backend
        scenario = try ScenarioLoader(catalog: catalog, policies: PlacementPolicies.names).load(yaml: yaml, file: file)
        engine = AllocationEngine(cloud: scenario.cloud)
        random = SplitMixRandom(seed: scenario.seed)
        let stored = try state.meta("partitions")
        self.partitionsPath = partitionsPath ?? stored ?? (state.path + ".partitions.conf")
        self.reloadSubnetManager = reloadSubnetManager
        hosts = try state.queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM inventory ORDER BY host").map { row in
                HostEntry(index: row["host"], name: row["name"], sysfsRoot: row["sysfsRoot"], device: row["device"],
                          nodeGUID: UInt64(row["nodeGUID"] as String, radix: 16) ?? 0, portGUID: UInt64(row["portGUID"] as String, radix: 16) ?? 0)
            }
        }
        guard hosts.count == engine.hostCount else {
            throw OperatorError("the inventory has \(hosts.count) hosts but the scenario \(hosts.count < engine.hostCount ? "more" : "fewer"): \(engine.hostCount)")
        }
        try replay()
    }

    /// A host found for the inventory: a name, its sysfs root, its HCA.
    public typealias DiscoveredHost = (name: String, root: String?, device: HCADevice)

    /// Records the cloud: its scenario and its hosts (`discovered`, one per
    /// host in inventory order, or simulated hosts with generated GUIDs).
    public static func initialize(state: OperatorState, scenarioYAML: String, scenarioFile: String, catalog: HardwareCatalog,
                                  discovered: [DiscoveredHost]?, partitions: String?) throws {
        guard try state.meta("scenarioYAML") == nil else { return }
        let scenario = try ScenarioLoader(catalog: catalog, policies: PlacementPolicies.names).load(yaml: scenarioYAML, file: scenarioFile)
        var rows: [[DatabaseValueConvertible?]] = []
        if let discovered {
            guard discovered.count == scenario.cloud.hostCount else {
                throw OperatorError("found \(discovered.count) hosts' HCAs but the scenario has \(scenario.cloud.hostCount) hosts")
            }
            for (i, host) in discovered.enumerated() {
                rows.append([i, host.name, host.root, host.device.name, host.device.driver?.rawValue, host.device.pciAddress,
                             String(host.device.nodeGUID, radix: 16), String(host.device.portGUID(1), radix: 16)])
            }
        } else {
            for i in 0..<scenario.cloud.hostCount {
                let node: UInt64 = 0x0002_c903_0000_0000 | UInt64(i) << 8
                rows.append([i, "sim\(i)", nil, nil, nil, nil, String(node, radix: 16), String(node + 1, radix: 16)])
            }
        }
        try state.queue.write { db in
            for row in rows {
                try db.execute(sql: "INSERT INTO inventory (host, name, sysfsRoot, device, driver, pci, nodeGUID, portGUID) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               arguments: StatementArguments(row))
            }
        }
        var meta = ["scenarioYAML": scenarioYAML, "scenarioFile": scenarioFile]
        if let partitions { meta["partitions"] = partitions }
        try state.setMeta(meta)
    }

    /// The hosts under a `--sysfs-root`: the directory itself when it holds
    /// `sys/`, else each subdirectory that does (sorted by name).
    public static func discoverHosts(sysfsRoot: String) throws -> [DiscoveredHost] {
        let fm = FileManager.default
        let roots = fm.fileExists(atPath: sysfsRoot + "/sys") ? [sysfsRoot]
            : ((try? fm.contentsOfDirectory(atPath: sysfsRoot)) ?? []).sorted().map { sysfsRoot + "/" + $0 }
                .filter { fm.fileExists(atPath: $0 + "/sys") }
        return try roots.map { root in
            guard let device = try SysfsDiscovery(sysfs: DirectorySysfs(root: root)).devices().first else {
                throw OperatorError("no RDMA device under \(root)/sys/class/infiniband")
            }
            return (URL(fileURLWithPath: root).lastPathComponent, root, device)
        }
    }

    // MARK: Operations

    struct Operation {
        var action: String
        var clusterID: Int64
        var request: ClusterRequest?
        var policy: String?
        var delta: Int?
    }

    private func policy(_ name: String) -> any PlacementPolicy {
        PlacementPolicies.make(name, random: random) ?? FirstFit()
    }

    @discardableResult
    private func perform(_ operation: Operation) -> Decision {
        switch operation.action {
        case "create": engine.admit(operation.request!, policy: policy(operation.policy ?? scenario.policy))
        case "resize":
            operation.delta! > 0 ? engine.extend(cluster: operation.clusterID, by: operation.delta!, policy: policy(operation.policy ?? scenario.policy))
                : engine.shrink(cluster: operation.clusterID, by: -operation.delta!)
        default: engine.release(cluster: operation.clusterID) == nil ? .ignored : .accepted(pkey: nil, vms: [])
        }
    }

    private func replay() throws {
        let operations = try state.queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM operation ORDER BY seq").map { row -> Operation in
                let id: Int64 = row["clusterId"]
                var request: ClusterRequest?
                if let vms = row["vms"] as Int?, let vcores = row["vcores"] as Int?, let kind = (row["kind"] as String?).flatMap(VMKind.init),
                   let pinning = (row["pinning"] as String?).flatMap(Pinning.init) {
                    request = ClusterRequest(id: id, arrival: 0, tenant: row["tenant"] ?? "", vms: vms,
                                             shape: VMShape(vcores: vcores, memoryMiB: row["memoryMiB"] ?? 0, kind: kind, pinning: pinning), duration: 0)
                }
                return Operation(action: row["action"], clusterID: id, request: request, policy: row["policy"], delta: row["delta"])
            }
        }
        for operation in operations { perform(operation) }
    }

    /// Admits a new cluster; records it whatever the answer.
    public func create(tenant: String, vms: Int, vcores: Int, memoryGiB: Int, kind: VMKind, pinning: Pinning, policy: String?) throws -> (id: Int64, decision: Decision) {
        let id = (try state.queue.read { try Int64.fetchOne($0, sql: "SELECT MAX(clusterId) FROM operation") } ?? 0) + 1
        let request = ClusterRequest(id: id, arrival: 0, tenant: tenant, vms: vms,
                                     shape: VMShape(vcores: vcores, memoryMiB: Int64(memoryGiB) * 1024, kind: kind, pinning: pinning), duration: 0)
        let decision = perform(Operation(action: "create", clusterID: id, request: request, policy: policy))
        try record(action: "create", id: id, request: request, policy: policy, delta: nil, decision: decision)
        return (id, decision)
    }

    public func resize(id: Int64, by delta: Int, policy: String?) throws -> Decision {
        guard delta != 0 else { throw OperatorError("resize by a non-zero number of VMs") }
        let decision = perform(Operation(action: "resize", clusterID: id, request: nil, policy: policy, delta: delta))
        try record(action: "resize", id: id, request: nil, policy: policy, delta: delta, decision: decision)
        return decision
    }

    public func delete(id: Int64) throws -> Decision {
        let decision = perform(Operation(action: "delete", clusterID: id, request: nil, policy: nil, delta: nil))
        try record(action: "delete", id: id, request: nil, policy: nil, delta: nil, decision: decision)
        return decision
    }

    private func record(action: String, id: Int64, request: ClusterRequest?, policy: String?, delta: Int?, decision: Decision) throws {
        let (outcome, reason): (String, String?) = switch decision {
        case .accepted: ("accepted", nil)
        case .rejected(let reason): ("rejected", reason.rawValue)
        case .ignored: ("ignored", nil)
        }
        try state.queue.write { db in
            try db.execute(sql: """
                INSERT INTO operation (time, action, clusterId, tenant, vms, vcores, memoryMiB, kind, pinning, policy, delta, outcome, reason)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [Date().formatted(.iso8601), action, id, request?.tenant, request?.vms, request?.shape.vcores,
                                 request?.shape.memoryMiB, request?.shape.kind.rawValue, request?.shape.pinning.rawValue,
                                 policy, delta, outcome, reason])
            try materialize(db)
        }
    }

    /// Rewrites the derived `cluster` and `vm` tables from the engine.
    private func materialize(_ db: Database) throws {
        try db.execute(sql: "DELETE FROM vm")
        try db.execute(sql: "DELETE FROM cluster")
        let tenants = try Dictionary(Row.fetchAll(db, sql: "SELECT clusterId, tenant FROM operation WHERE action = 'create'")
            .map { ($0["clusterId"] as Int64, $0["tenant"] as String? ?? "") }, uniquingKeysWith: { a, _ in a })
        for cluster in clusters {
            try db.execute(sql: "INSERT INTO cluster (id, tenant, pkey, vms, vcores, kind) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [cluster.id, tenants[cluster.id] ?? "", cluster.pkey?.description, cluster.vms.count,
                                       cluster.shape.vcores, cluster.shape.kind.rawValue])
            for (i, vm) in cluster.vms.enumerated() {
                try db.execute(sql: "INSERT INTO vm (clusterId, idx, host, vf, guid) VALUES (?, ?, ?, ?, ?)",
                               arguments: [cluster.id, i, vm.host, vm.virtualFunction,
                                           vm.virtualFunction.map { GUIDFormat.hex(Self.vmGUID(host: vm.host, vf: $0)) }])
            }
        }
    }

    /// The running clusters, by id.
    public var clusters: [ClusterRecord] {
        engine.clusterIDs.compactMap(engine.cluster)
    }

    /// A VM's GUID (its alias GUID on mlx4, its VF node and port GUID on mlx5):
    /// locally administered, unique per host and VF slot.
    public static func vmGUID(host: Int, vf: Int) -> UInt64 { 0x0200_0000_0000_0000 | UInt64(host) << 24 | UInt64(vf + 1) }

    // MARK: Desired state

    /// One partition per cluster with hpc VMs: its pkey, its hosts' port GUIDs as full members.
    public var partitions: [Partition] {
        clusters.compactMap { cluster in
            guard let pkey = cluster.pkey else { return nil }
            return Partition(name: "c\(cluster.id)", pkey: pkey.value, members: cluster.hosts.map { hosts[$0].portGUID })
        }
    }

    public var partitionsText: String { PartitionsFile.render(partitions) }

    func desired(_ host: HostEntry) -> HostHardware {
        var hardware = HostHardware(vfCount: scenario.cloud.groups.flatMap { Array(repeating: $0.vfs, count: $0.count) }[host.index], attached: [:])
        for cluster in clusters {
            for vm in cluster.vms where vm.host == host.index {
                guard let vf = vm.virtualFunction, let pkey = cluster.pkey else { continue }
                hardware.attached[vf] = VFState(pkey: pkey.value, guid: Self.vmGUID(host: host.index, vf: vf))
            }
        }
        return hardware
    }

    // MARK: Plan and apply

    /// One change the hardware needs.
    public struct Change: CustomStringConvertible, Sendable {
        public enum Action: Sendable {
            case partitions(String)
            case prepare(vfs: Int)
            case attach(vf: Int, pkey: Int, guid: UInt64)
            case detach(vf: Int)
        }

        public var host: Int?
        public var hostName: String?
        public var action: Action

        public var description: String {
            let on = hostName.map { "\($0): " } ?? ""
            switch action {
            case .partitions(let text):
                return "subnet manager: write partitions.conf (\(text.split(separator: "\n").count - 2) tenant partitions) and reload"
            case .prepare(let vfs): return on + "set the VF count to \(vfs)"
            case .attach(let vf, let pkey, let guid): return on + "VF \(vf): attach to pkey \(String(format: "0x%04x", pkey)) with GUID \(GUIDFormat.hex(guid))"
            case .detach(let vf): return on + "VF \(vf): detach (unmap every pkey)"
            }
        }
    }

    /// What differs between the engine's decisions and the hardware, in the
    /// order apply makes the changes: partitions first (the subnet manager must
    /// program a pkey before a VF can map it), then per host the VF count,
    /// detaches and attaches.
    public func plan() throws -> [Change] {
        var changes: [Change] = []
        let text = partitionsText
        if (try? String(contentsOfFile: partitionsPath, encoding: .utf8)) != text {
            changes.append(Change(host: nil, hostName: nil, action: .partitions(text)))
        }
        for host in hosts {
            let want = desired(host), have = try backend.actual(host)
            if let count = want.vfCount, have.vfCount != count {
                changes.append(Change(host: host.index, hostName: host.name, action: .prepare(vfs: count)))
            }
            for vf in Set(have.attached.keys).union(have.unisolated).sorted() where want.attached[vf] == nil {
                changes.append(Change(host: host.index, hostName: host.name, action: .detach(vf: vf)))
            }
            for (vf, state) in want.attached.sorted(by: { $0.key < $1.key }) where !(have.attached[vf]?.satisfies(state) ?? false) {
                changes.append(Change(host: host.index, hostName: host.name, action: .attach(vf: vf, pkey: state.pkey!, guid: state.guid)))
            }
        }
        return changes
    }

    public struct ApplyReport: Sendable {
        public var applied: [Change] = []
        public var failed: [(Change, String)] = []
        public var notes: [String] = []
    }

    /// Converges: each change is journaled as intended, made, then marked
    /// applied (or failed with its error). Under the apply lock. Twice in a row,
    /// the second finds nothing to do; after a crash, the next run's plan
    /// (from the hardware's actual state) finishes the job.
    public func apply() throws -> ApplyReport {
        try state.withApplyLock {
            var report = ApplyReport()
            for change in try plan() {
                let seq = try state.queue.write { db -> Int64 in
                    try db.execute(sql: "INSERT INTO journal (time, host, change, status) VALUES (?, ?, ?, 'intended')",
                                   arguments: [Date().formatted(.iso8601), change.host, change.description])
                    return db.lastInsertedRowID
                }
                do {
                    if let note = try perform(change) { report.notes.append(note) }
                    try state.queue.write { try $0.execute(sql: "UPDATE journal SET status = 'applied' WHERE seq = ?", arguments: [seq]) }
                    report.applied.append(change)
                } catch {
                    try state.queue.write { try $0.execute(sql: "UPDATE journal SET status = 'failed', error = ? WHERE seq = ?",
                                                           arguments: ["\(error)", seq]) }
                    report.failed.append((change, "\(error)"))
                }
            }
            return report
        }
    }

    private func perform(_ change: Change) throws -> String? {
        let host = change.host.map { hosts[$0] }
        switch change.action {
        case .partitions(let text):
            try AtomicFile.write(text, to: partitionsPath)
            try reloadSubnetManager()
            return nil
        case .prepare(let vfs): return try backend.prepare(host!, vfs: vfs)
        case .attach(let vf, let pkey, let guid):
            try backend.attach(host!, vf: vf, pkey: pkey, guid: guid)
            return nil
        case .detach(let vf):
            try backend.detach(host!, vf: vf)
            return nil
        }
    }
}
