import Allocation
import CloudModel
import Foundation
import GRDB

/// A cluster as recorded: the truth about what was decided.
public struct RecordedCluster: Equatable, Sendable, Codable {
    public var id: Int64
    public var tenant: String
    public var vcores: Int
    public var memoryMiB: Int64
    public var kind: String
    public var pinning: String
    public var pkey: Int?
    /// `active`, `deleting` (VFs being detached, pkey quarantined) or `deleted`.
    public var status: String
    public var created: String
    public var vms: [RecordedVM]

    public var shape: VMShape {
        VMShape(vcores: vcores, memoryMiB: memoryMiB, kind: VMKind(rawValue: kind) ?? .hpc, pinning: Pinning(rawValue: pinning) ?? .fixed)
    }

    /// The VMs a tenant has now (in the order they were added).
    public var activeVMs: [RecordedVM] { vms.filter { $0.status == "active" } }
}

/// One VM as recorded: its host, VF and GUID.
public struct RecordedVM: Equatable, Sendable, Codable {
    public var seq: Int
    public var host: Int
    public var vf: Int?
    public var guid: UInt64?
    /// `active`, `incoming` (a migration's destination: attached before the source
    /// VM moves, held but not one of the cluster's VMs), `retiring` (its VF is to be
    /// detached) or `detached` (the VF maps nothing; the host may still hold the pkey
    /// until the subnet manager drops it).
    public var status: String

    public init(seq: Int, host: Int, vf: Int?, guid: UInt64?, status: String) {
        self.seq = seq
        self.host = host
        self.vf = vf
        self.guid = guid
        self.status = status
    }

    enum CodingKeys: String, CodingKey { case seq, host, vf, guid, status }

    /// GUIDs travel as `0x` and 16 hex digits: a JSON number cannot hold 64 bits exactly.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(seq, forKey: .seq)
        try c.encode(host, forKey: .host)
        try c.encodeIfPresent(vf, forKey: .vf)
        try c.encodeIfPresent(guid.map(GUIDFormat.hex), forKey: .guid)
        try c.encode(status, forKey: .status)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        seq = try c.decode(Int.self, forKey: .seq)
        host = try c.decode(Int.self, forKey: .host)
        vf = try c.decodeIfPresent(Int.self, forKey: .vf)
        guid = try c.decodeIfPresent(String.self, forKey: .guid).flatMap { UInt64($0.dropFirst(2), radix: 16) }
        status = try c.decode(String.self, forKey: .status)
    }
}

/// A create request as the operator gives it.
public struct ClusterSpec: Sendable {
    public var tenant: String
    public var vms: Int
    public var vcores: Int
    public var memoryGiB: Int
    public var kind: VMKind
    public var pinning: Pinning
    public var policy: String?

    public init(tenant: String, vms: Int, vcores: Int, memoryGiB: Int, kind: VMKind, pinning: Pinning, policy: String? = nil) {
        self.tenant = tenant
        self.vms = vms
        self.vcores = vcores
        self.memoryGiB = memoryGiB
        self.kind = kind
        self.pinning = pinning
        self.policy = policy
    }
}

/// The operator's state machine: clusters created, resized and deleted
/// through the shared allocation engine, recorded placements as the truth,
/// and (in `Reconciler`) `plan`/`apply` bringing the hardware to them.
///
/// Every command rebuilds the engine from the recorded placements inside the
/// same `BEGIN IMMEDIATE` transaction that records its decision: nothing is
/// re-decided, and two commands can never take the same id, pkey or VF.
public final class Operator {
    public let state: OperatorState
    public let backend: Backend
    public let subnetManager: SubnetManager
    public let scenario: Scenario
    public let hosts: [HostEntry]
    /// Who the audit trail names (`$SUDO_USER`, `$USER`, or a caller's choice).
    public var actor: String
    /// The engine between commands (shared by every `acting(as:)` copy).
    let cache: LoadedCache

    public init(state: OperatorState, catalog: HardwareCatalog, backend: Backend, subnetManager: SubnetManager,
                actor: String = Operator.defaultActor) throws {
        guard let yaml = try state.meta("scenarioYAML"), let file = try state.meta("scenarioFile") else {
            throw OperatorError("\(state.path) has no cloud yet: give --scenario S.yaml on the first command")
        }
        self.state = state
        self.backend = backend
        self.subnetManager = subnetManager
        self.actor = actor
        cache = LoadedCache()
        scenario = try ScenarioLoader(catalog: catalog, policies: PlacementPolicies.names).load(yaml: yaml, file: file)
        hosts = try state.read(Self.inventory)
        guard hosts.count == scenario.cloud.hostCount else {
            throw OperatorError("the inventory has \(hosts.count) hosts but the scenario has \(scenario.cloud.hostCount): "
                                + "the recorded placements name inventory hosts, so the scenario's host list must not change", kind: .environment)
        }
    }

    init(copying other: Operator, actor: String) {
        state = other.state
        backend = other.backend
        subnetManager = other.subnetManager
        scenario = other.scenario
        hosts = other.hosts
        cache = other.cache
        self.actor = actor
    }

    /// The same operator, with `actor` named in the audit trail (one per API caller; nothing is re-read).
    public func acting(as actor: String) -> Operator { Operator(copying: self, actor: actor) }

    public static var defaultActor: String {
        let env = ProcessInfo.processInfo.environment
        return env["SUDO_USER"] ?? env["USER"] ?? "uid \(getuid())"
    }

    /// The recorded hosts, in inventory order.
    /// Columns are read by position: GRDB's lookup by name lowercases every name on every row,
    /// which profiled as the controller's largest cost (every command loads the records).
    public static func inventory(_ db: Database) throws -> [HostEntry] {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT host, name, sysfsRoot, device, driver, port, nodeGUID, portGUID, membership, drained FROM inventory ORDER BY host
            """)).map { row in
            HostEntry(index: row[0], name: row[1], sysfsRoot: row[2], device: row[3], driver: row[4],
                      port: row[5], nodeGUID: UInt64(row[6] as String, radix: 16) ?? 0, portGUID: UInt64(row[7] as String, radix: 16) ?? 0,
                      membership: Membership(rawValue: row[8]) ?? .physicalPort, drained: row[9])
        }
    }

    /// How many times this operator (and its `acting(as:)` copies) built the engine from every record.
    public var engineRebuilds: Int { cache.rebuilds }

    /// The recorded hosts as `db` reads them: from the cached engine's load while the records are unchanged.
    public func hosts(in db: Database) throws -> [HostEntry] {
        try cache.hosts(generation: OperatorState.generation(db)) ?? Self.inventory(db)
    }

    // MARK: - Setting up

    /// Records the cloud once: its scenario and its hosts (`discovered`, one
    /// per host in inventory order, whose index and drain are ignored, or
    /// simulated hosts with generated GUIDs).
    public static func initialize(state: OperatorState, scenarioYAML: String, scenarioFile: String, catalog: HardwareCatalog,
                                  discovered: [HostEntry]?, backend: String, partitions: String?) throws {
        let scenario = try ScenarioLoader(catalog: catalog, policies: PlacementPolicies.names).load(yaml: scenarioYAML, file: scenarioFile)
        // One deployment drives one subnet manager (OpenSM: one per subnet, opensm.8.in:74-88); across subnets
        // a partition needs the same key in each and NVIDIA's SM for the routers (Hardware/routers.md 4, 6).
        guard scenario.cloud.subnets.count == 1 else {
            throw OperatorError("\(scenarioFile): the production backend drives one subnet, and this scenario describes "
                                + "\(scenario.cloud.subnets.count): deploy one controller per subnet, each with its own scenario")
        }
        let modes = scenario.cloud.groups.flatMap { Array(repeating: $0.sriovMode, count: $0.count) }
        let hosts: [HostEntry]
        if let discovered {
            guard discovered.count == scenario.cloud.hostCount else {
                throw OperatorError("found \(discovered.count) hosts' HCAs but the scenario has \(scenario.cloud.hostCount) hosts")
            }
            hosts = discovered
        } else {
            hosts = (0..<scenario.cloud.hostCount).map { i in
                // Simulated ConnectX-3-style GUIDs; the port GUID is the node GUID + 1 as on mlx4 (on mlx5 they are equal).
                let node: UInt64 = 0x0002_c903_0000_0000 | UInt64(i) << 8
                let membership: Membership = modes[i] == .sharedPort ? .physicalPort : .virtualPort
                return HostEntry(index: i, name: "sim\(i)", nodeGUID: node, portGUID: membership == .physicalPort ? node + 1 : node,
                                 membership: membership)
            }
        }
        try state.writeImmediate { db in
            guard try OperatorState.meta("scenarioYAML", in: db) == nil else { return }
            for (i, host) in hosts.enumerated() {
                try db.execute(sql: """
                    INSERT INTO inventory (host, name, sysfsRoot, device, driver, port, nodeGUID, portGUID, membership)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [i, host.name, host.sysfsRoot, host.device, host.driver, host.port, String(host.nodeGUID, radix: 16),
                                     String(host.portGUID, radix: 16), host.membership.rawValue])
            }
            var meta = ["scenarioYAML": scenarioYAML, "scenarioFile": scenarioFile, "backend": backend,
                        "nextGUIDSerial": "1", "randomState": "\(scenario.seed)"]
            if let partitions { meta["partitions"] = partitions }
            try OperatorState.setMeta(meta, in: db)
        }
    }

    // MARK: - Loading the recorded state

    /// The recorded clusters (not yet fully deleted) with their VMs, by id; only cluster `id` when given.
    /// - Complexity: O(live clusters + their VMs) (the `cluster_live` partial index; VMs by primary key),
    ///   or O(log clusters + its VMs) for one id.
    public static func recordedClusters(_ db: Database, id only: Int64? = nil) throws -> [RecordedCluster] {
        var vms: [Int64: [RecordedVM]] = [:]
        let one = only == nil ? "" : " AND cluster.id = ?"
        // Statements compiled once per connection (compiling runs GRDB's authorizer, which profiled high).
        for row in try Row.fetchAll(db.cachedStatement(sql: """
            SELECT vm.clusterId, vm.seq, vm.host, vm.vf, vm.guid, vm.status FROM cluster CROSS JOIN vm ON vm.clusterId = cluster.id
            WHERE cluster.status != 'deleted'\(one) ORDER BY cluster.id, vm.seq
            """), arguments: StatementArguments(only.map { [$0] } ?? [])) {
            // By position, as `inventory` reads.
            vms[row[0], default: []].append(RecordedVM(seq: row[1], host: row[2], vf: row[3], guid: (row[4] as String?).flatMap { UInt64($0, radix: 16) },
                                                       status: row[5]))
        }
        return try Row.fetchAll(db.cachedStatement(sql: """
            SELECT id, tenant, vcores, memoryMiB, kind, pinning, pkey, status, created FROM cluster WHERE status != 'deleted'\(one) ORDER BY id
            """), arguments: StatementArguments(only.map { [$0] } ?? [])).map { row in
            let id: Int64 = row[0]
            return RecordedCluster(id: id, tenant: row[1], vcores: row[2], memoryMiB: row[3], kind: row[4], pinning: row[5], pkey: row[6],
                                   status: row[7], created: row[8], vms: vms[id] ?? [])
        }
    }

    /// The engine as the records say, and what in them no longer fits the scenario as configured now.
    public struct Loaded {
        public let engine: AllocationEngine
        /// By id.
        public internal(set) var clusters: [RecordedCluster]
        public let hosts: [HostEntry]
        /// One line per misfit (the cluster, and why) or conflict with the site's partitions.
        public let problems: [String]
        /// The records' generation this was loaded at (`OperatorState.generation`).
        public internal(set) var generation: Int64

        /// An independent copy: the engine's state is copy-on-write, so this is O(1) until either side changes.
        func copy() -> Loaded {
            Loaded(engine: AllocationEngine(copying: engine), clusters: clusters, hosts: hosts, problems: problems, generation: generation)
        }
    }

    /// The engine as the records in `db` say. A command (`owned`) gets the
    /// cached engine itself when the records have not changed since it was
    /// cached, and hands it back through `keep` when its transaction commits;
    /// a reader gets a copy. Anything else rebuilds from the records.
    /// - Complexity: O(1) from the cache; O(clusters + VMs + hosts) to rebuild.
    public func load(_ db: Database, site: [PartitionStatement], owned: Bool = false) throws -> Loaded {
        let generation = try OperatorState.generation(db)
        if let cached = owned ? cache.take(generation: generation, site: site) : cache.copy(generation: generation, site: site) {
            return cached
        }
        let loaded = try rebuild(db, site: site, generation: generation)
        cache.countRebuild()
        if !owned { cache.store(loaded.copy(), site: site) }
        return loaded
    }

    func rebuild(_ db: Database, site: [PartitionStatement], generation: Int64) throws -> Loaded {
        let engine = AllocationEngine(cloud: scenario.cloud)
        let hosts = try Self.inventory(db)
        var problems: [String] = []
        for host in hosts where (host.drained || !host.registered) && host.index < engine.hostCount { engine.setDrained(host: host.index, true) }
        let clusters = try Self.recordedClusters(db)
        let tenantPKeys = Set(clusters.compactMap(\.pkey))
        var sitePKeys: [Int] = []
        for statement in site {
            guard let pkey = statement.pkey else {
                problems.append("partitions.conf line \(statement.line): site partition '\(statement.name)' has no explicit pkey; "
                                + "OpenSM picks one, which a tenant may also get: give it one")
                continue
            }
            if pkey == 0x7fff { continue }
            sitePKeys.append(pkey)
            if tenantPKeys.contains(pkey) {
                problems.append("partitions.conf line \(statement.line): site partition '\(statement.name)' uses pkey \(PartitionKey(pkey)), "
                                + "which a tenant cluster holds: the subnet manager configuration is not written until this is resolved")
            }
        }
        for cluster in clusters { problems += Self.restore(cluster, into: engine) }
        for pkey in sitePKeys where !tenantPKeys.contains(pkey) { engine.hold(pkey: pkey) }
        return Loaded(engine: engine, clusters: clusters, hosts: hosts, problems: problems, generation: generation)
    }

    /// Puts one recorded cluster into `engine`: an active one as placed, and
    /// what a deleting or shrunk one left on the hardware as holds (`holds(of:)`).
    /// - Returns: one line per misfit.
    static func restore(_ cluster: RecordedCluster, into engine: AllocationEngine) -> [String] {
        var problems: [String] = []
        let active = cluster.activeVMs
        if cluster.status == "active" {
            let placed = active.map { PlacedVM(host: $0.host, virtualFunction: $0.vf) }
            let found = engine.restore(id: cluster.id, shape: cluster.shape, pkey: cluster.pkey.map(PartitionKey.init), vms: placed)
            problems += found.map { "cluster \(cluster.id) (\(cluster.tenant)): \($0)" }
            if found.contains(where: \.blocksRestore) {
                // Keep what can be kept from anyone else: its pkey and its VF slots.
                if let pkey = cluster.pkey { engine.hold(pkey: pkey) }
                for vm in active { _ = engine.hold(SlotHold(host: vm.host, virtualFunction: vm.vf, pkeyEntry: false)) }
            }
        }
        let (pkey, slots) = holds(of: cluster)
        if let pkey { engine.hold(pkey: pkey) }  // quarantined until every host confirmed the detach
        for (vm, slot) in slots {
            if let problem = engine.hold(slot) { problems.append("cluster \(cluster.id) (\(cluster.tenant)), VM \(vm) being detached: \(problem)") }
        }
        return problems
    }

    /// What a recorded cluster holds outside the engine's clusters: a deleting
    /// cluster's pkey; each retiring VM's VF slot; and, for retiring and
    /// detached VMs, the host's pkey entry while the cluster has no active VM there.
    static func holds(of cluster: RecordedCluster) -> (pkey: Int?, slots: [(vm: Int, slot: SlotHold)]) {
        var entryHeld = Set(cluster.activeVMs.map(\.host))
        var slots: [(Int, SlotHold)] = []
        for vm in cluster.vms where vm.status != "active" {
            let entry = cluster.pkey != nil && entryHeld.insert(vm.host).inserted
            // A migration's destination also holds the VM's cores and memory: the VM runs at its source until it moves.
            let incoming = vm.status == "incoming"
            slots.append((vm.seq, SlotHold(host: vm.host, virtualFunction: vm.status == "retiring" || incoming ? vm.vf : nil, pkeyEntry: entry,
                                           shape: incoming ? cluster.shape : nil)))
        }
        return (cluster.status == "active" ? nil : cluster.pkey, slots)
    }

    /// Brings a command's engine (`load(owned: true)`) to the records as its
    /// transaction leaves them, and caches it once that transaction commits:
    /// the touched cluster leaves the engine (with what `before` held) and is
    /// restored as recorded now, so the engine equals a rebuild. Nothing is
    /// cached when the records have problems (a rebuild reports them).
    /// - Complexity: O(the cluster's VMs · log H + log clusters).
    func keep(_ loaded: Loaded, _ db: Database, site: [PartitionStatement], cluster id: Int64?, before: RecordedCluster?) throws {
        guard loaded.problems.isEmpty else { return }
        var loaded = loaded
        if let id {
            if let before {
                let (pkey, slots) = Self.holds(of: before)
                if let pkey { loaded.engine.releaseHold(pkey: pkey) }
                for (_, slot) in slots { loaded.engine.releaseHold(slot) }
            }
            _ = loaded.engine.release(cluster: id)
            let after = try Self.recordedClusters(db, id: id).first
            if let after { guard Self.restore(after, into: loaded.engine).isEmpty else { return } }
            var at = 0, end = loaded.clusters.count  // the first cluster with an id >= `id` (they are sorted by id)
            while at < end {
                let middle = (at + end) / 2
                if loaded.clusters[middle].id < id { at = middle + 1 } else { end = middle }
            }
            switch (at < loaded.clusters.count && loaded.clusters[at].id == id, after) {
            case (true, let after?): loaded.clusters[at] = after
            case (true, nil): loaded.clusters.remove(at: at)
            case (false, let after?): loaded.clusters.insert(after, at: at)
            case (false, nil): break
            }
        }
        loaded.generation = try OperatorState.generation(db)
        let kept = CachedLoaded(loaded: loaded)
        db.afterNextTransaction(onCommit: { [cache] _ in cache.store(kept.loaded, site: site) })
    }

    /// The site's partition statements (outside the managed block).
    public func siteStatements() throws -> [PartitionStatement] {
        try cache.siteStatements(try subnetManager.read())
    }

    /// The recorded state and the engine rebuilt from it (read only).
    public func snapshot() throws -> Loaded {
        let site = try siteStatements()
        return try state.read { try load($0, site: site) }
    }

    // MARK: - Commands

    /// The largest numbers a command may carry: beyond them no cloud of this
    /// scenario could ever say yes, and the engine's arithmetic is not asked.
    func validate(vms: Int, shape: VMShape) throws {
        let cloud = scenario.cloud
        let maxCores = cloud.groups.map(\.cores).max() ?? 0
        let maxVcores = shape.pinning == .fixed ? maxCores : cloud.overcommit.dynamicCapacity(ofPhysical: maxCores)
        guard shape.vcores >= 1 && shape.vcores <= maxVcores else {
            throw OperatorError("--vcores \(shape.vcores): expected 1 to \(maxVcores) (\(shape.pinning.rawValue) vCPUs on the largest host)")
        }
        let maxMemory = cloud.groups.map(\.memoryMiB).max() ?? 0
        guard shape.memoryMiB >= 0 && shape.memoryMiB <= maxMemory else {
            throw OperatorError("--mem-gib \(shape.memoryMiB / 1024): expected 0 to \(maxMemory / 1024) (the largest host's memory)")
        }
        // By arithmetic, as `hpccloud limits` does: no engine is built for a bound.
        let maxVMs = shape.kind == .hpc ? cloud.groups.reduce(0) { $0 + $1.count * $1.vfs }
            : cloud.overcommit.dynamicCapacity(ofPhysical: cloud.groups.reduce(0) { $0 + $1.count * $1.cores })
        guard vms >= 1 && vms <= maxVMs else {
            throw OperatorError("\(vms) VMs: expected 1 to \(maxVMs) (\(shape.kind == .hpc ? "VFs" : "vCPUs") in the whole cloud)")
        }
    }

    /// The outcome of a command, for the CLI's output and exit status.
    public struct Outcome: Sendable, Codable {
        public var clusterID: Int64?
        /// accepted | rejected | ignored | deleting | deleted
        public var outcome: String
        public var reason: String?
        public var pkey: Int?
        /// VMs placed (create, grow) or removed (shrink, delete).
        public var vms: [RecordedVM]
        /// Recorded placements that no longer fit the scenario (reported, never moved).
        public var problems: [String]
    }

    func policy(named name: String?, random: SplitMixRandom) throws -> any PlacementPolicy {
        let name = name ?? scenario.policy
        guard let policy = PlacementPolicies.make(name, random: random) else {
            // A program's answers are not recorded decisions the operator could replay: simulation only.
            throw OperatorError(PolicyReference(name)?.isExternal == true
                ? "policy '\(name)' is a program (exec:): the operator places with a registered policy (\(PlacementPolicies.names.joined(separator: ", ")))"
                : "unknown policy '\(name)' (expected one of: \(PlacementPolicies.names.joined(separator: ", ")))")
        }
        return policy
    }

    /// Admits a new cluster; records the decision and the audit row in one transaction.
    public func create(_ spec: ClusterSpec) throws -> Outcome {
        let site = try siteStatements()
        return try state.writeImmediate { try create(spec, in: $0, site: site) }
    }

    /// `create` inside the caller's `BEGIN IMMEDIATE` transaction (`state.writeImmediate`),
    /// so the caller's own checks and records (quotas, idempotency keys) commit with the decision.
    public func create(_ spec: ClusterSpec, in db: Database, site: [PartitionStatement]) throws -> Outcome {
        guard spec.memoryGiB >= 0 && spec.memoryGiB <= Int(Int32.max) else { throw OperatorError("--mem-gib \(spec.memoryGiB): out of range") }
        let shape = VMShape(vcores: spec.vcores, memoryMiB: Int64(spec.memoryGiB) * 1024, kind: spec.kind, pinning: spec.pinning)
        try validate(vms: spec.vms, shape: shape)
        // The tenant reaches terminals, logs and JSON: printable text only.
        guard !spec.tenant.isEmpty, spec.tenant.count <= 128,
              !spec.tenant.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw OperatorError("--tenant: expected 1 to 128 printable characters")
        }
        let arguments = "tenant=\(spec.tenant) vms=\(spec.vms) vcores=\(spec.vcores) memGiB=\(spec.memoryGiB) kind=\(spec.kind.rawValue) "
            + "pinning=\(spec.pinning.rawValue) policy=\(spec.policy ?? scenario.policy)"
        do {
            let loaded = try load(db, site: site, owned: true)
            let id = (try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM cluster") ?? 0) + 1
            let random = SplitMixRandom(seed: UInt64(try OperatorState.meta("randomState", in: db) ?? "") ?? scenario.seed)
            let request = ClusterRequest(id: id, arrival: 0, tenant: spec.tenant, vms: spec.vms, shape: shape, duration: 0)
            let decision = loaded.engine.admit(request, policy: try policy(named: spec.policy, random: random))
            try OperatorState.setMeta(["randomState": "\(random.position)"], in: db)
            guard case .accepted(let pkey, let placed) = decision else {
                let reason = if case .rejected(let r) = decision { r.rawValue } else { "ignored" }
                try audit(db, "create", nil, arguments, "rejected", reason)
                try keep(loaded, db, site: site, cluster: nil, before: nil)
                return Outcome(clusterID: nil, outcome: "rejected", reason: reason, pkey: nil, vms: [], problems: loaded.problems)
            }
            try db.execute(sql: """
                INSERT INTO cluster (id, tenant, vcores, memoryMiB, kind, pinning, pkey, status, created) VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?)
                """, arguments: [id, spec.tenant, spec.vcores, shape.memoryMiB, spec.kind.rawValue, spec.pinning.rawValue, pkey?.value, Self.now()])
            let vms = try recordVMs(db, cluster: id, from: 0, placed)
            try audit(db, "create", id, arguments, "accepted", pkey.map { "pkey \($0)" })
            try keep(loaded, db, site: site, cluster: id, before: nil)
            return Outcome(clusterID: id, outcome: "accepted", reason: nil, pkey: pkey?.value, vms: vms, problems: loaded.problems)
        }
    }

    /// Inserts placed VMs with fresh GUIDs (a per-cloud prefix and a serial that is never reused).
    func recordVMs(_ db: Database, cluster: Int64, from seq: Int, _ placed: [PlacedVM]) throws -> [RecordedVM] {
        var serial = UInt64(try OperatorState.meta("nextGUIDSerial", in: db) ?? "1") ?? 1
        var vms: [RecordedVM] = []
        for (i, vm) in placed.enumerated() {
            var guid: UInt64?
            if vm.virtualFunction != nil {
                // 0 asks the SM to assign and all ones deletes (mlx4 sysfs.c): the serial skips both.
                guard serial < 0xffff_fffe else { throw OperatorError("the VM GUID serials of prefix \(scenario.cloud.subnet.vmGUIDPrefix) are used up", kind: .environment) }
                guid = UInt64(scenario.cloud.subnet.vmGUIDPrefix) << 32 | serial
                serial += 1
            }
            let row = RecordedVM(seq: seq + i, host: vm.host, vf: vm.virtualFunction, guid: guid, status: "active")
            try db.cachedStatement(sql: "INSERT INTO vm (clusterId, seq, host, vf, guid, status) VALUES (?, ?, ?, ?, ?, 'active')")
                .execute(arguments: [cluster, row.seq, row.host, row.vf, guid.map { String($0, radix: 16) }])
            vms.append(row)
        }
        try OperatorState.setMeta(["nextGUIDSerial": "\(serial)"], in: db)
        return vms
    }

    func audit(_ db: Database, _ action: String, _ cluster: Int64?, _ arguments: String, _ outcome: String, _ detail: String?) throws {
        try db.cachedStatement(sql: "INSERT INTO operation (time, actor, action, clusterId, arguments, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .execute(arguments: [Self.now(), actor, action, cluster, arguments, outcome, detail])
    }

    static func now() -> String { Date().formatted(.iso8601) }

    /// Grows (`delta` > 0) or shrinks a running cluster. A shrink that would
    /// leave no VM is refused whole rather than clamped.
    public func resize(id: Int64, by delta: Int, policy: String?) throws -> Outcome {
        let site = try siteStatements()
        return try state.writeImmediate { try resize(id: id, by: delta, policy: policy, in: $0, site: site) }
    }

    /// `resize` inside the caller's `BEGIN IMMEDIATE` transaction.
    public func resize(id: Int64, by delta: Int, policy: String?, in db: Database, site: [PartitionStatement]) throws -> Outcome {
        guard delta != 0 else { throw OperatorError("--by: expected a non-zero number of VMs (+K grows, -K shrinks)") }
        guard delta.magnitude <= UInt(Int32.max) else { throw OperatorError("--by \(delta): out of range") }
        let loaded = try load(db, site: site, owned: true)
        let before = try Self.recordedClusters(db, id: id).first
        let outcome = try resize(before, id: id, by: delta, policy: policy, in: db, loaded)
        try keep(loaded, db, site: site, cluster: before.map(\.id), before: before)
        return outcome
    }

    func resize(_ recorded: RecordedCluster?, id: Int64, by delta: Int, policy: String?, in db: Database, _ loaded: Loaded) throws -> Outcome {
        let arguments = "by=\(delta)" + (policy.map { " policy=\($0)" } ?? "")
        do {
            guard let cluster = recorded, cluster.status == "active", loaded.engine.cluster(id) != nil else {
                try audit(db, "resize", id, arguments, "ignored", "no such running cluster")
                return Outcome(clusterID: id, outcome: "ignored", reason: "no such running cluster", pkey: nil, vms: [], problems: loaded.problems)
            }
            if delta > 0 {
                try validate(vms: delta, shape: cluster.shape)
                let random = SplitMixRandom(seed: UInt64(try OperatorState.meta("randomState", in: db) ?? "") ?? scenario.seed)
                let decision = loaded.engine.extend(cluster: id, by: delta, policy: try self.policy(named: policy, random: random))
                try OperatorState.setMeta(["randomState": "\(random.position)"], in: db)
                guard case .accepted(_, let placed) = decision else {
                    let reason = if case .rejected(let r) = decision { r.rawValue } else { "ignored" }
                    try audit(db, "resize", id, arguments, "rejected", reason)
                    return Outcome(clusterID: id, outcome: "rejected", reason: reason, pkey: cluster.pkey, vms: [], problems: loaded.problems)
                }
                let next = (cluster.vms.map(\.seq).max() ?? -1) + 1
                let vms = try recordVMs(db, cluster: id, from: next, placed)
                try audit(db, "resize", id, arguments, "accepted", nil)
                return Outcome(clusterID: id, outcome: "accepted", reason: nil, pkey: cluster.pkey, vms: vms, problems: loaded.problems)
            }
            let active = cluster.activeVMs
            guard -delta < active.count else {
                let reason = "a cluster keeps at least one VM: it has \(active.count), so shrink by at most \(active.count - 1) (or delete it)"
                try audit(db, "resize", id, arguments, "rejected", reason)
                return Outcome(clusterID: id, outcome: "rejected", reason: reason, pkey: cluster.pkey, vms: [], problems: loaded.problems)
            }
            guard case .accepted(_, let removed) = loaded.engine.shrink(cluster: id, by: -delta) else {
                preconditionFailure("the engine refused a shrink of a restored cluster")
            }
            let retiring = Array(active.suffix(-delta))
            precondition(retiring.map { PlacedVM(host: $0.host, virtualFunction: $0.vf) } == removed,
                         "the engine's newest VMs are the newest recorded ones")
            try retire(db, cluster: cluster, retiring)
            try audit(db, "resize", id, arguments, "accepted", nil)
            return Outcome(clusterID: id, outcome: "accepted", reason: nil, pkey: cluster.pkey, vms: retiring, problems: loaded.problems)
        }
    }

    /// VMs leave: hpc VMs' VFs are to be detached first (their slots, GUIDs and
    /// pkey stay quarantined until then); common VMs hold no hardware and go at once.
    func retire(_ db: Database, cluster: RecordedCluster, _ vms: [RecordedVM]) throws {
        for vm in vms {
            if vm.vf != nil {
                try db.execute(sql: "UPDATE vm SET status = 'retiring' WHERE clusterId = ? AND seq = ?", arguments: [cluster.id, vm.seq])
            } else {
                try db.execute(sql: "DELETE FROM vm WHERE clusterId = ? AND seq = ?", arguments: [cluster.id, vm.seq])
            }
        }
    }

    /// Ends a cluster: its VFs are detached by the next apply; its pkey and GUIDs
    /// stay quarantined until every host confirmed the detach.
    public func delete(id: Int64) throws -> Outcome {
        let site = try siteStatements()
        return try state.writeImmediate { try delete(id: id, in: $0, site: site) }
    }

    /// `delete` inside the caller's `BEGIN IMMEDIATE` transaction.
    public func delete(id: Int64, in db: Database, site: [PartitionStatement]) throws -> Outcome {
        let loaded = try load(db, site: site, owned: true)
        let before = try Self.recordedClusters(db, id: id).first
        let outcome = try delete(before, id: id, in: db, loaded)
        try keep(loaded, db, site: site, cluster: before.map(\.id), before: before)
        return outcome
    }

    func delete(_ recorded: RecordedCluster?, id: Int64, in db: Database, _ loaded: Loaded) throws -> Outcome {
        do {
            guard let cluster = recorded, cluster.status == "active" else {
                try audit(db, "delete", id, "", "ignored", "no such running cluster")
                return Outcome(clusterID: id, outcome: "ignored", reason: "no such running cluster", pkey: nil, vms: [], problems: loaded.problems)
            }
            try retire(db, cluster: cluster, cluster.activeVMs)
            let hardware = cluster.vms.contains { $0.vf != nil }
            try db.execute(sql: "UPDATE cluster SET status = ?, ended = ? WHERE id = ?",
                           arguments: [hardware ? "deleting" : "deleted", Self.now(), id])
            let outcome = hardware ? "deleting" : "deleted"
            try audit(db, "delete", id, "", outcome, nil)
            return Outcome(clusterID: id, outcome: outcome, reason: nil, pkey: cluster.pkey, vms: cluster.activeVMs, problems: loaded.problems)
        }
    }

    /// Records what a host's agent found on it (its HCA's device, driver, port
    /// and GUIDs) in the inventory row of `entry.index`; the name and drain stay.
    public static func register(_ db: Database, _ entry: HostEntry) throws {
        try db.execute(sql: """
            UPDATE inventory SET device = ?, driver = ?, port = ?, nodeGUID = ?, portGUID = ?, membership = ? WHERE host = ?
            """, arguments: [entry.device, entry.driver, entry.port, String(entry.nodeGUID, radix: 16), String(entry.portGUID, radix: 16),
                             entry.membership.rawValue, entry.index])
    }

    /// Drains a host (no new VMs; what runs stays) or returns it to service.
    public func setDrained(host name: String, _ drained: Bool) throws -> HostEntry {
        try state.writeImmediate { db in
            guard var host = try Self.inventory(db).first(where: { $0.isNamed(name) }) else {
                throw OperatorError("no host '\(name)' in the inventory", kind: .refused)
            }
            try db.execute(sql: "UPDATE inventory SET drained = ? WHERE host = ?", arguments: [drained, host.index])
            try audit(db, drained ? "drain" : "undrain", nil, "host=\(host.name)", "accepted", nil)
            host.drained = drained
            return host
        }
    }

    /// The audit trail, newest last.
    public func operations(limit: Int = 1000) throws -> [[String: String]] {
        try rows("SELECT * FROM (SELECT * FROM operation ORDER BY seq DESC LIMIT ?) ORDER BY seq", limit)
    }

    /// The hardware journal, newest last.
    public func journal(limit: Int = 1000) throws -> [[String: String]] {
        try rows("SELECT * FROM (SELECT * FROM journal ORDER BY seq DESC LIMIT ?) ORDER BY seq", limit)
    }

    func rows(_ sql: String, _ limit: Int) throws -> [[String: String]] {
        try state.read { db in
            try Row.fetchAll(db, sql: sql, arguments: [limit]).map { row in
                var out: [String: String] = [:]
                for (column, value) in row {
                    switch value.storage {
                    case .null: break
                    case .int64(let v): out[column] = "\(v)"
                    case .double(let v): out[column] = "\(v)"
                    case .string(let v): out[column] = v
                    case .blob(let v): out[column] = "\(v.count) bytes"
                    }
                }
                return out
            }
        }
    }
}
