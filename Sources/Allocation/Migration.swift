import CloudModel

extension AllocationEngine {
    /// Why one more VM of `record` cannot go to `host`, by the host rules in the
    /// order SEMANTICS 5 names them (vf, pkey-table, lid, cores, memory); nil when it fits.
    /// A drained host takes no VM: it answers `cores`, as its capacity leaf does.
    /// - Complexity: O(1) (O(h) for the cluster's h hosts, for the pkey rule).
    public func obstacle(host: Int, for record: ClusterRecord) -> RejectionReason? {
        guard !fits(host: host, shape: record.shape, cluster: record) else { return nil }
        if state.drained[host] { return .cores }
        let shape = record.shape
        if shape.kind == .hpc {
            if state.usedVFs[host] + 1 > vfs[host] { return .vf }
            if !record.holds(host: host) && state.usedPKeyEntries[host] + 1 > pkeyEntries[host] { return .pkeyTable }
            let s = subnet(of: host)
            // Another subnet: the cluster may enter it only by spanning, with its key free there.
            if !pkeyAvailable(in: s, for: record) { return .pkeySpace }
            if needsLIDPerVF[host] && state.lidsInUse[s] + 1 > lidSpaces[s] { return .lid }
        }
        return coresFit(host: host, shape: shape) ? .memory : .cores
    }

    /// Moves VM `index` of cluster `id` to `host`: a live migration as the engine
    /// sees it. Make before break: the destination VM is set up first (a free VF of
    /// `host`, the cluster's pkey entry there if it had none, a LID on a
    /// `vswitch-dynamic` HCA), then the source VM's resources return. The cluster
    /// keeps its pkey and its VM order (the moved VM keeps its index, so a later
    /// shrink removes the same VMs), and no VF or pkey entry is ever shared.
    /// - Returns: `.accepted` with the VM as placed now, `.rejected` with the
    ///   destination's first broken rule (nothing changes), `.ignored` when the
    ///   cluster is not running.
    /// - Complexity: O(v + log H) for a cluster of v VMs.
    public func migrate(cluster id: Int64, vm index: Int, to host: Int) -> Decision {
        guard var record = state.clusters.removeValue(forKey: id) else { return .ignored }
        defer { state.clusters[id] = record }
        precondition(record.vms.indices.contains(index), "cluster \(id) has no VM \(index)")
        precondition(host >= 0 && host < hostCount, "no host \(host)")
        precondition(record.vms[index].host != host, "a migration moves a VM to another host")
        if let reason = obstacle(host: host, for: record) { return .rejected(reason) }
        add(to: &record, host: host)
        removeVM(from: &record, at: index)
        let moved = record.vms.removeLast()
        record.vms.insert(moved, at: index)
        notePeaks(record)
        return .accepted(pkey: record.pkey, vms: [moved])
    }
}

/// One VM moved from one host to another (`AllocationEngine.migrate`).
public struct Migration: Equatable, Sendable {
    public var cluster: Int64
    /// The VM's index in its cluster (kept by the move).
    public var vm: Int
    public var from: PlacedVM
    public var to: PlacedVM

    public init(cluster: Int64, vm: Int, from: PlacedVM, to: PlacedVM) {
        self.cluster = cluster
        self.vm = vm
        self.from = from
        self.to = to
    }
}

extension AllocationEngine {
    /// What emptying `host` for maintenance takes: the host is drained (it takes no
    /// VM), then every VM on it, cluster by ascending id and VM by index, goes where
    /// `policy` places one more VM of its cluster. Worked out on a scratch copy: this
    /// engine does not change. Applying the plan is `setDrained` and then each
    /// `migrate` in order, which the engine accepts as planned.
    /// - Returns: the migrations in order, or the first VM no host can take and why.
    /// - Complexity: O(m · s) for m VMs on the host and s one policy search.
    public func planDrain(host: Int, policy: some PlacementPolicy) -> Result<[Migration], DrainBlocked> {
        let scratch = AllocationEngine(copying: self)
        scratch.setDrained(host: host, true)
        var plan: [Migration] = []
        for id in scratch.clusterIDs {
            var index = 0
            while let record = scratch.cluster(id), index < record.vms.count {
                defer { index += 1 }
                guard record.vms[index].host == host else { continue }
                guard let destination = policy.chooseHost(for: PlacementQuery(engine: scratch, cluster: record)), destination != host,
                      case .accepted(_, let placed) = scratch.migrate(cluster: id, vm: index, to: destination) else {
                    return .failure(DrainBlocked(cluster: id, vm: index, reason: scratch.rejectionReason(for: record)))
                }
                plan.append(Migration(cluster: id, vm: index, from: record.vms[index], to: placed[0]))
            }
        }
        return .success(plan)
    }
}

/// Why a host cannot be emptied: the first VM no other host takes.
public struct DrainBlocked: Error, Equatable, Sendable {
    public var cluster: Int64
    public var vm: Int
    public var reason: RejectionReason

    public init(cluster: Int64, vm: Int, reason: RejectionReason) {
        self.cluster = cluster
        self.vm = vm
        self.reason = reason
    }
}

/// Migrations made on trial: `AllocationEngine.rollBack` takes them all back
/// exactly (each VM to its old VF, each cluster's record as it was), so a
/// search may try moves on the real engine instead of a scratch copy.
public struct MigrationTrial {
    public fileprivate(set) var migrations: [Migration] = []
    /// The cluster's record before each migration, by position.
    fileprivate var before: [ClusterRecord] = []

    public init() {}

    public var count: Int { migrations.count }

    /// Keeps `other`'s migrations after these (both on the same engine, `other` later).
    public mutating func append(_ other: MigrationTrial) {
        migrations += other.migrations
        before += other.before
    }
}

extension AllocationEngine {
    /// `migrate`, remembered in `trial` when accepted.
    /// - Complexity: as `migrate`.
    public func migrate(cluster id: Int64, vm index: Int, to host: Int, trial: inout MigrationTrial) -> Decision {
        guard let record = state.clusters[id] else { return .ignored }
        let decision = migrate(cluster: id, vm: index, to: host)
        if case .accepted(_, let placed) = decision {
            trial.migrations.append(Migration(cluster: id, vm: index, from: record.vms[index], to: placed[0]))
            trial.before.append(record)
        }
        return decision
    }

    /// Takes back every migration of `trial`, last first: the state is as before
    /// the first one, VF numbers and record order included. Valid while nothing
    /// else changed the clusters involved since.
    /// - Complexity: O(m · (v + log H)) for m migrations.
    public func rollBack(_ trial: MigrationTrial) {
        for (migration, before) in zip(trial.migrations, trial.before).reversed() {
            var record = state.clusters.removeValue(forKey: migration.cluster)!
            precondition(record.vms[migration.vm] == migration.to, "the trial's cluster \(migration.cluster) changed since")
            // The old VF is free: only later migrations of the trial could have taken it, and they are undone.
            add(to: &record, host: migration.from.host, virtualFunction: migration.from.virtualFunction)
            removeVM(from: &record, at: migration.vm)
            state.clusters[migration.cluster] = before
        }
    }

    /// True when no VM runs on `host`.
    /// - Complexity: O(1).
    public func isEmpty(host: Int) -> Bool {
        state.usedMemoryMiB[host] == 0 && state.pinnedVcores[host] == 0 && state.dynamicVcores[host] == 0
    }

    /// Whether `host`, emptied, could take one VM of `shape` (a new cluster's): its size, not its load.
    /// - Complexity: O(1).
    public func couldHold(host: Int, shape: VMShape) -> Bool {
        let coresOK = shape.pinning == .fixed ? shape.vcores <= cores[host]
                                              : overcommit.physicalCores(forDynamic: shape.vcores) <= cores[host]
        guard coresOK, shape.memoryMiB <= memoryMiB[host] else { return false }
        return shape.kind != .hpc || (vfs[host] >= 1 && pkeyEntries[host] >= 1)
    }

    /// The running VMs on each of `hosts`, by cluster id then VM index.
    /// - Complexity: O(C · v) over the C running clusters (the engine keeps no host-to-VM index).
    public func residents(of hosts: Set<Int>) -> [Int: [(cluster: Int64, vm: Int)]] {
        var result: [Int: [(cluster: Int64, vm: Int)]] = [:]
        guard !hosts.isEmpty else { return result }
        for (id, record) in state.clusters {
            for (index, vm) in record.vms.enumerated() where hosts.contains(vm.host) { result[vm.host, default: []].append((id, index)) }
        }
        for host in result.keys { result[host]!.sort { ($0.cluster, $0.vm) < ($1.cluster, $1.vm) } }
        return result
    }
}
