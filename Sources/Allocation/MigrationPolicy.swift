import CloudModel

/// When and how running VMs move (live migration): the counterpart of
/// `PlacementPolicy` for VMs already placed. A policy only proposes moves through
/// `AllocationEngine.migrate`, whose rules it cannot bypass, and leaves the
/// engine unchanged when it gives up.
public protocol MigrationPolicy {
    /// The registered name (`MigrationPolicies`).
    var name: String { get }
    /// How often `consolidate` runs; nil: never.
    var period: Nanoseconds? { get }
    /// Whether `makeRoom` ever tries (a run counts the rejections it could not turn).
    var makesRoom: Bool { get }
    /// After `request` was rejected as `fragmented`: moves running VMs until it is
    /// admitted, and admits it; or changes nothing.
    /// - Returns: the admission and the migrations made before it, or nil.
    func makeRoom(for request: ClusterRequest, in engine: AllocationEngine, placement: any PlacementPolicy) -> (decision: Decision, migrations: [Migration])?
    /// Moves running VMs to empty hosts; returns the migrations made (applied).
    func consolidate(_ engine: AllocationEngine) -> [Migration]
}

/// How far one migration decision may go.
public struct MigrationLimits: Equatable, Sendable {
    /// Most migrations to admit one request (defragment), or in one pass (consolidate).
    public var maxMigrations: Int
    /// Hosts examined: as the place to free (defragment), or to empty (consolidate).
    public var candidates: Int

    public static let standard = MigrationLimits(maxMigrations: 4, candidates: 16)

    public init(maxMigrations: Int, candidates: Int) {
        precondition(maxMigrations >= 1 && candidates >= 1, "migration limits must be at least 1")
        self.maxMigrations = maxMigrations
        self.candidates = candidates
    }
}

/// Never moves a VM.
public struct NoMigration: MigrationPolicy {
    public init() {}
    public var name: String { "none" }
    public var period: Nanoseconds? { nil }
    public var makesRoom: Bool { false }
    public func makeRoom(for request: ClusterRequest, in engine: AllocationEngine, placement: any PlacementPolicy) -> (decision: Decision, migrations: [Migration])? { nil }
    public func consolidate(_ engine: AllocationEngine) -> [Migration] { [] }
}

/// Defragment on reject: a request rejected as `fragmented` (every resource free
/// somewhere, never all on one host) gets room by moving a few running VMs.
/// Greedy and bounded: each step frees one host for one more VM of the request,
/// choosing among `candidates` hosts (the nearest to fitting) the one that needs
/// the fewest migrations (a single VM tried first, then the largest VMs first),
/// and asks the engine to admit again; past `maxMigrations` every move is taken back.
public struct Defragment: MigrationPolicy {
    public var limits: MigrationLimits
    /// Also consolidate every `period` (nil: only on reject).
    public var period: Nanoseconds?

    public init(limits: MigrationLimits = .standard, period: Nanoseconds? = nil) {
        self.limits = limits
        self.period = period
    }

    public var name: String { period == nil ? "defragment" : "defragment+consolidate" }
    public var makesRoom: Bool { true }

    /// - Complexity: O(m · (H + C · v + k · r · s)) for m steps, H hosts, C running
    ///   clusters of v VMs, k candidates of r residents and s one best-fit search.
    public func makeRoom(for request: ClusterRequest, in engine: AllocationEngine, placement: any PlacementPolicy) -> (decision: Decision, migrations: [Migration])? {
        var trial = MigrationTrial()
        while trial.count < limits.maxMigrations,
              engine.freeRoom(for: request.shape, budget: limits.maxMigrations - trial.count, candidates: limits.candidates, trial: &trial) {
            let decision = engine.admit(request, policy: placement)
            if case .accepted = decision { return (decision, trial.migrations) }
            guard case .rejected(.fragmented) = decision else { break }
        }
        engine.rollBack(trial)
        return nil
    }

    public func consolidate(_ engine: AllocationEngine) -> [Migration] {
        period == nil ? [] : engine.consolidate(limits: limits)
    }
}

/// Periodic consolidation: every `period`, the most lightly loaded hosts are
/// emptied into hosts already in use (best-fit), each host all or nothing, at
/// most `maxMigrations` moves per pass. Whole free hosts take large requests later.
public struct Consolidate: MigrationPolicy {
    public var limits: MigrationLimits
    public var interval: Nanoseconds

    public init(limits: MigrationLimits = .standard, every interval: Nanoseconds) {
        precondition(interval > 0, "a consolidation period must be positive")
        self.limits = limits
        self.interval = interval
    }

    public var name: String { "consolidate" }
    public var period: Nanoseconds? { interval }
    public var makesRoom: Bool { false }

    public func makeRoom(for request: ClusterRequest, in engine: AllocationEngine, placement: any PlacementPolicy) -> (decision: Decision, migrations: [Migration])? { nil }

    /// - Complexity: O(H log H + C · v + m · s).
    public func consolidate(_ engine: AllocationEngine) -> [Migration] { engine.consolidate(limits: limits) }
}

/// The migration policies by name (`MigrationSpec.Policy`), for scenarios and the CLI.
public enum MigrationPolicies {
    /// The policy a scenario's `migration:` names.
    public static func make(_ spec: MigrationSpec) -> any MigrationPolicy {
        let limits = MigrationLimits(maxMigrations: spec.maxMigrations, candidates: spec.candidates)
        switch spec.policy {
        case .none: return NoMigration()
        case .defragment: return Defragment(limits: limits)
        case .consolidate: return Consolidate(limits: limits, every: spec.period!)
        case .defragmentAndConsolidate: return Defragment(limits: limits, period: spec.period!)
        }
    }
}

extension AllocationEngine {
    /// Moves VMs off one host so that one more VM of `shape` (of a new cluster) fits
    /// there, in at most `budget` migrations, recorded in `trial`. The host is the
    /// one of the `candidates` nearest to fitting that needs the fewest moves (ties:
    /// the lower index); each moved VM goes where best-fit puts it on another host.
    /// - Returns: false, with the engine unchanged, when no candidate can be freed in budget.
    /// - Complexity: O(H + C · v + k · r · s): see `Defragment.makeRoom`.
    func freeRoom(for shape: VMShape, budget: Int, candidates: Int, trial: inout MigrationTrial) -> Bool {
        let probe = ClusterRecord(id: -1, shape: shape, pkey: nil, vms: [], initialSpan: 0, hostCounts: [])
        // Nearest to fitting first: the shortfall in cores and memory in VMs' worth, plus a missing VF or pkey entry.
        var ranked: [(shortfall: Double, host: Int)] = []
        for host in 0..<hostCount where !state.drained[host] && couldHold(host: host, shape: shape)
            && !fits(host: host, shape: shape, cluster: probe) {
            ranked.append((shortfall(host: host, shape: shape), host))
        }
        ranked.sort { ($0.shortfall, $0.host) < ($1.shortfall, $1.host) }
        let chosen = ranked.prefix(candidates).map(\.host)
        let residents = residents(of: Set(chosen))
        var best: (moves: [(cluster: Int64, vm: Int)], host: Int)?
        for host in chosen {
            let limit = min(budget, (best?.moves.count ?? budget + 1) - 1)
            guard limit >= 1, let moves = evictions(from: host, toFit: probe, residents: residents[host] ?? [], limit: limit) else { continue }
            best = (moves, host)
            if moves.count == 1 { break }
        }
        guard let best else { return false }
        let applied = evict(best.moves, from: best.host, keepingRoomFor: probe, trial: &trial)
        precondition(applied && fits(host: best.host, shape: shape, cluster: probe), "an eviction tried a moment ago must succeed again")
        return true
    }

    /// How far `host` is from taking one more VM of `shape`: cores and memory short in VMs' worth, plus one per missing VF or pkey entry.
    private func shortfall(host: Int, shape: VMShape) -> Double {
        let freeCores = shape.pinning == .fixed ? self.freeCores(host: host) : dynamicSlack(host: host)
        var total = Double(max(0, shape.vcores - freeCores)) / Double(shape.vcores)
        if shape.memoryMiB > 0 { total += Double(max(0, shape.memoryMiB - (memoryMiB[host] - state.usedMemoryMiB[host]))) / Double(shape.memoryMiB) }
        if shape.kind == .hpc {
            if state.usedVFs[host] >= vfs[host] { total += 1 }
            if state.usedPKeyEntries[host] >= pkeyEntries[host] { total += 1 }
        }
        return total
    }

    /// The fewest of `residents` to move off `host` (at most `limit`) for `probe`'s VM to fit: any single one
    /// first, else the largest first. Tried on this engine and taken back. Nil: not within `limit`.
    private func evictions(from host: Int, toFit probe: ClusterRecord, residents: [(cluster: Int64, vm: Int)],
                           limit: Int) -> [(cluster: Int64, vm: Int)]? {
        func works(_ moves: [(cluster: Int64, vm: Int)]) -> Bool {
            var scratch = MigrationTrial()
            defer { rollBack(scratch) }
            return evict(moves, from: host, keepingRoomFor: probe, trial: &scratch) && fits(host: host, shape: probe.shape, cluster: probe)
        }
        for resident in residents where works([resident]) { return [resident] }
        guard limit >= 2 else { return nil }
        // A cluster's VMs on the host together (its pkey entry goes with the last), fewest first.
        var byCluster: [(cluster: Int64, vm: Int)] = []
        var groups: [[(cluster: Int64, vm: Int)]] = []
        for resident in residents {
            if let last = byCluster.last, last.cluster != resident.cluster {
                groups.append(byCluster)
                byCluster = []
            }
            byCluster.append(resident)
        }
        if !byCluster.isEmpty { groups.append(byCluster) }
        for group in groups.filter({ $0.count >= 2 && $0.count <= limit }).sorted(by: { $0.count < $1.count }) where works(group) {
            return group
        }
        // Largest first: vCPUs, then memory (ties: cluster id, VM index, as listed).
        let sizes = residents.map { state.clusters[$0.cluster]!.shape }
        let order = residents.indices.sorted { (sizes[$1].vcores, sizes[$1].memoryMiB, $0) < (sizes[$0].vcores, sizes[$0].memoryMiB, $1) }
        var moves: [(cluster: Int64, vm: Int)] = []
        for i in order.prefix(limit) {
            moves.append(residents[i])
            if moves.count >= 2, works(moves) { return moves }
        }
        return nil
    }

    /// Moves each of `moves` off `host` to a host that cannot take `probe`'s VM
    /// (best-fit among those): a move into room the request could use would gain
    /// nothing, and greedy steps would pass one VM back and forth.
    /// - Returns: false at the first VM no such host takes (the moves before it stay in `trial`).
    /// - Complexity: O(k · F log H) for k moves and F hosts the moved VM fits.
    private func evict(_ moves: [(cluster: Int64, vm: Int)], from host: Int, keepingRoomFor probe: ClusterRecord,
                       trial: inout MigrationTrial) -> Bool {
        let wasDrained = state.drained[host]
        setDrained(host: host, true)  // so no VM lands back on it
        defer { setDrained(host: host, wasDrained) }
        for move in moves {
            guard let record = state.clusters[move.cluster] else { return false }
            let query = PlacementQuery(engine: self, cluster: record)
            var best: (free: Int, host: Int)?
            for candidate in query.feasibleHosts() where !fits(host: candidate, shape: probe.shape, cluster: probe) {
                let free = query.freeCoresAfter(candidate)
                if best == nil || free < best!.free { best = (free, candidate) }
            }
            guard let destination = best?.host,
                  case .accepted = migrate(cluster: move.cluster, vm: move.vm, to: destination, trial: &trial) else { return false }
        }
        return true
    }

    /// One consolidation pass: the `candidates` most lightly loaded hosts (physical
    /// cores held, then index) are emptied, each all or nothing, into hosts already in
    /// use that are not candidates (best-fit), within `maxMigrations` moves in all.
    /// - Returns: the migrations made.
    /// - Complexity: O(H log H + C · v + m · s).
    func consolidate(limits: MigrationLimits) -> [Migration] {
        var occupied: [(cores: Int, host: Int)] = []
        for host in 0..<hostCount where !state.drained[host] && !isEmpty(host: host) {
            occupied.append((cores[host] - freeCores(host: host), host))
        }
        occupied.sort { ($0.cores, $0.host) < ($1.cores, $1.host) }
        // Emptying the last hosts in use would only move their VMs to empty hosts.
        let chosen = occupied.prefix(max(0, min(limits.candidates, occupied.count - 1))).map(\.host)
        guard !chosen.isEmpty else { return [] }
        let residents = residents(of: Set(chosen))
        // Candidates take nothing during the pass: light hosts are packed into heavier ones, never into each other.
        for host in chosen { setDrained(host: host, true) }
        defer { for host in chosen { setDrained(host: host, false) } }
        var pass = MigrationTrial()
        for host in chosen {
            let moves = residents[host] ?? []
            guard !moves.isEmpty, moves.count <= limits.maxMigrations - pass.count else { continue }
            var emptying = MigrationTrial()
            var done = true
            for move in moves {
                let record = state.clusters[move.cluster]!
                guard let destination = PlacementQuery(engine: self, cluster: record).bestFit(), !isEmpty(host: destination),
                      case .accepted = migrate(cluster: move.cluster, vm: move.vm, to: destination, trial: &emptying) else {
                    done = false
                    break
                }
            }
            if done { pass.append(emptying) } else { rollBack(emptying) }
        }
        return pass.migrations
    }
}
