import CloudModel
import Synchronization

/// Chooses the host for the next VM of a cluster (SEMANTICS 5).
///
/// The engine asks once per VM, against the state that already includes the
/// cluster's earlier VMs, and checks that the chosen host fits. A policy reads
/// the cloud only through its `PlacementQuery`, whose searches are indexed.
public protocol PlacementPolicy {
    /// The name used in scenarios and on the command line.
    var name: String { get }
    /// A host where `query.fits(host)` holds, or nil when no host fits.
    func chooseHost(for query: PlacementQuery) -> Int?
}

/// Random numbers a policy may use. The engine has no randomness of its own:
/// the caller hands a seeded stream in (the simulator's named `placement` stream).
public protocol RandomSource: AnyObject {
    /// Uniform integer in 0..<n.
    func uniformInt(below n: Int) -> Int
}

/// What a policy can ask about the cloud for the VM being placed.
///
/// In a cloud of several subnets the query knows where the VM may go: a hpc
/// cluster that has VMs stays in their subnet unless routers let it span; its
/// first VM (and any common VM) may go to any subnet the engine's rules allow.
/// Every search below honours that, through the subnet index in O(log H).
public struct PlacementQuery {
    let engine: AllocationEngine
    /// The cluster being placed, with its VMs so far.
    public let cluster: ClusterRecord
    /// The one subnet the VM must go to; nil: several may take it.
    let confinedTo: Int?

    init(engine: AllocationEngine, cluster: ClusterRecord) {
        self.engine = engine
        self.cluster = cluster
        if engine.subnetCount == 1 {
            confinedTo = 0
        } else if cluster.shape.kind == .hpc && !engine.spanning, let first = cluster.hostCounts.first {
            confinedTo = engine.subnet(of: first.host)
        } else {
            confinedTo = nil
        }
    }

    public var shape: VMShape { cluster.shape }
    public var hostCount: Int { engine.hostCount }

    /// The hosts the VM may go to as far as subnets go (a random policy draws from them).
    public var hostRange: Range<Int> { confinedTo.map(engine.hosts(ofSubnet:)) ?? 0..<engine.hostCount }

    /// Whether the VM fits `host` under every host rule.
    public func fits(_ host: Int) -> Bool {
        if engine.subnetCount > 1 {
            let s = engine.subnet(of: host)
            if let confinedTo, s != confinedTo { return false }
            if engine.excludedSubnets[s] { return false }
        }
        return engine.fits(host: host, shape: cluster.shape, cluster: cluster)
    }

    /// Physical cores left on `host` if the VM went there.
    public func freeCoresAfter(_ host: Int) -> Int { engine.freeCoresAfter(host: host, shape: cluster.shape) }

    /// Hosts that already hold a VM of this cluster (for hpc: hold its pkey), in first-use order.
    public var clusterHosts: [Int] { cluster.hosts }

    /// Memory (MiB) left on `host` if the VM went there.
    public func freeMemoryMiBAfter(_ host: Int) -> Int64 {
        engine.memoryMiB[host] - engine.state.usedMemoryMiB[host] - cluster.shape.memoryMiB
    }

    /// VFs left free on `host`'s HCA if the VM went there (a common VM takes none).
    public func freeVFsAfter(_ host: Int) -> Int {
        engine.vfs[host] - engine.state.usedVFs[host] - (cluster.shape.kind == .hpc ? 1 : 0)
    }

    /// A hpc cluster with VMs that may span: each subnet is searched on its own, since
    /// whether it may enter one depends on its own key (O(S log H)).
    private var spansSubnets: Bool { confinedTo == nil && cluster.shape.kind == .hpc && cluster.pkey != nil }

    /// The lowest-index host where the VM fits.
    /// - Complexity: O(log H) typical (O(S log H) for a cluster spanning S subnets), plus
    ///   O(k) comparisons for a cluster already on k hosts.
    public func firstFit() -> Int? {
        var best: Int?
        if let s = confinedTo {
            best = engine.state.indexes[s].firstFit(engine.demand(cluster.shape, subnet: s)).map { engine.subnetStart[s] + $0 }
        } else if spansSubnets {
            for s in engine.eligibleSubnets(for: cluster) {
                if let h = engine.state.indexes[s].firstFit(engine.demand(cluster.shape, subnet: s)) {
                    best = engine.subnetStart[s] + h
                    break
                }
            }
        } else {
            // The subnet index names the lowest subnet that may take the VM; its own index finds the host.
            let any = engine.demand(cluster.shape, subnet: nil)
            var from = 0
            while let s = engine.state.subnetIndex.firstFit(any, from: from) {
                if !engine.excludedSubnets[s], let h = engine.state.indexes[s].firstFit(engine.demand(cluster.shape, subnet: s)) {
                    best = engine.subnetStart[s] + h
                    break
                }
                from = s + 1
            }
        }
        for host in ownHostsTheIndexMisses where host < (best ?? .max) && fits(host) { best = host }
        return best
    }

    /// The lowest-index host among `hosts` where the VM fits.
    public func firstFit(among hosts: some Sequence<Int>) -> Int? {
        var best: Int?
        for host in hosts where host < (best ?? .max) && fits(host) { best = host }
        return best
    }

    /// The lowest-index host of this cluster where the VM fits (no array built: hot path).
    func lowestFittingClusterHost() -> Int? {
        firstFit(among: cluster.hostCounts.lazy.map(\.host))
    }

    /// The index asks every host for a free pkey entry, which a host already
    /// holding this cluster's pkey does not need. It answers exactly for such a
    /// host unless its table is full, so only those are checked directly
    /// (no array built: hot path).
    var ownHostsTheIndexMisses: some Sequence<Int> {
        let hpc = cluster.shape.kind == .hpc
        return cluster.hostCounts.lazy.map(\.host).filter { hpc && engine.pkeyTableFull(host: $0) }
    }

    /// The fitting host that leaves the fewest free physical cores (ties: lowest index).
    public func bestFit() -> Int? { extremeFit(fewest: true) }

    /// The fitting host that leaves the most free physical cores (ties: lowest index).
    public func worstFit() -> Int? { extremeFit(fewest: false) }

    /// Every host where the VM fits, ascending.
    /// - Complexity: O(F log H) for F feasible hosts.
    public func feasibleHosts() -> [Int] {
        var hosts: [Int] = []
        let subnets: [Int] = confinedTo.map { [$0] } ?? Array(engine.eligibleSubnets(for: cluster))
        for s in subnets {
            let from = hosts.count
            engine.state.indexes[s].allFits(engine.demand(cluster.shape, subnet: s), into: &hosts)
            let offset = engine.subnetStart[s]
            if offset != 0 { for i in from..<hosts.count { hosts[i] += offset } }
        }
        let own = ownHostsTheIndexMisses.filter(fits)
        if !own.isEmpty { hosts = Array(Set(hosts).union(own)).sorted() }
        return hosts
    }

    /// Whether any host fits, without enumerating them.
    public var anyFits: Bool { firstFit() != nil }

    private func extremeFit(fewest: Bool) -> Int? {
        var ranking = ExtremeFitRanking(engine: engine, shape: cluster.shape, fewest: fewest)
        var best: (score: Int, host: Int)?
        // The cluster's own full-table hosts are invisible to the index: score them directly.
        for host in ownHostsTheIndexMisses where fits(host) {
            let score = ranking.score(host)
            if best == nil || ranking.better(score, best!.score) || (score == best!.score && host < best!.host) {
                best = (score, host)
            }
        }
        if fewest { engine.trackValues() }
        if let s = confinedTo {
            ranking.offset = engine.subnetStart[s]
            engine.state.indexes[s].bestHost(engine.demand(cluster.shape, subnet: s), ranking, best: &best)
        } else if spansSubnets {
            for s in engine.eligibleSubnets(for: cluster) {
                ranking.offset = engine.subnetStart[s]
                engine.state.indexes[s].bestHost(engine.demand(cluster.shape, subnet: s), ranking, best: &best)
            }
        } else {
            engine.state.subnetIndex.bestHost(engine.demand(cluster.shape, subnet: nil), SubnetRanking(inner: ranking), best: &best)
        }
        return best?.host
    }
}

/// Best-fit and worst-fit: free physical cores after the VM, fewest or most.
struct ExtremeFitRanking: SingleHostRanking {
    let engine: AllocationEngine
    let shape: VMShape
    let fewest: Bool
    /// A new hpc VM can only go where a VF and a pkey entry are free: bound by those hosts' values.
    let conditioned: Bool
    let v: Int
    /// The overcommit ratio r = p / q.
    let p: Int, q: Int
    /// The first host of the subnet searched.
    var offset = 0

    init(engine: AllocationEngine, shape: VMShape, fewest: Bool) {
        self.engine = engine
        self.shape = shape
        self.fewest = fewest
        conditioned = shape.kind == .hpc
        v = shape.vcores
        (p, q) = (engine.overcommit.numerator, engine.overcommit.denominator)
    }

    // A fixed VM leaves free - v cores. A dynamic one, with C = cores - pinned, d dynamic,
    // slack s = floor(C r) - d, leaves C - ceil((d + v) q / p) = floor(((C p mod q) + (s - v) q) / p):
    // at least floor((s - v) q / p), at most floor(((s - v) q + q - 1) / p), exact when q = 1,
    // and increasing in the slack.
    @inline(__always)
    func bound(_ summary: Capacity, _ values: ValueSets) -> Int? {
        let fixed = shape.pinning == .fixed
        if fewest {
            // The least value >= v a subtree holds bounds its best score (see `ValueSets`).
            let set = fixed ? (conditioned ? values.hpcFreeCores : values.freeCores)
                            : (conditioned ? values.hpcDynamicSlack : values.dynamicSlack)
            guard let least = ValueSets.least(in: set, atLeast: v) else { return nil }
            return fixed ? least - v : (least - v) * q / p
        }
        if fixed { return Int(conditioned ? summary.hpcFreeCores : summary.freeCores) - v }
        // The subtree's max slack, with the offset C p mod q at its largest (the free-cores
        // bound is loose by a core and pruned nothing on clouds of idle hosts).
        let slack = Int(conditioned ? summary.hpcDynamicSlack : summary.dynamicSlack)
        let numerator = q * (slack - v) + q - 1
        return numerator >= 0 ? numerator / p : -((-numerator + p - 1) / p)
    }

    @inline(__always)
    func score(_ host: Int) -> Int { engine.freeCoresAfter(host: host, shape: shape) }

    @inline(__always)
    func better(_ a: Int, _ b: Int) -> Bool { fewest ? a < b : a > b }
}

/// A ranking over the subnet index: a subtree's bound is its hosts' (the leaves hold
/// each subnet's summaries), and a leaf is a subnet, searched with its own index.
struct SubnetRanking: HostRanking {
    let inner: ExtremeFitRanking

    @inline(__always)
    func bound(_ summary: Capacity, _ values: ValueSets) -> Int? { inner.bound(summary, values) }

    @inline(__always)
    func better(_ a: Int, _ b: Int) -> Bool { inner.better(a, b) }

    func host(ofLeaf leaf: Int) -> Int { leaf < inner.engine.subnetCount ? inner.engine.subnetStart[leaf] : .max }

    func visit(leaf s: Int, best: inout (score: Int, host: Int)?) {
        let engine = inner.engine
        guard !engine.excludedSubnets[s] else { return }
        var ranking = inner
        ranking.offset = engine.subnetStart[s]
        engine.state.indexes[s].bestHost(engine.demand(inner.shape, subnet: s), ranking, best: &best)
    }
}

// MARK: - The five shipped policies

/// The lowest-index host where the VM fits (canonical).
public struct FirstFit: PlacementPolicy {
    public let name = "first-fit"
    public init() {}
    public func chooseHost(for query: PlacementQuery) -> Int? { query.firstFit() }
}

/// The host that leaves the fewest free physical cores.
public struct BestFit: PlacementPolicy {
    public let name = "best-fit"
    public init() {}
    public func chooseHost(for query: PlacementQuery) -> Int? { query.bestFit() }
}

/// The host that leaves the most free physical cores (spread).
public struct WorstFit: PlacementPolicy {
    public let name = "worst-fit"
    public init() {}
    public func chooseHost(for query: PlacementQuery) -> Int? { query.worstFit() }
}

/// Hosts already holding this cluster's pkey first, then first-fit among the rest:
/// keeps clusters compact and pkey table entries few.
public struct PKeyPack: PlacementPolicy {
    public let name = "pkey-pack"
    public init() {}
    public func chooseHost(for query: PlacementQuery) -> Int? {
        guard query.shape.kind == .hpc else { return query.firstFit() }
        return query.lowestFittingClusterHost() ?? query.firstFit()
    }
}

/// Uniform among feasible hosts, from a seeded stream.
///
/// Sampling is exact and indexed: if some host fits, draw up to `draws` host
/// indices uniformly and take the first that fits; if none did, draw once
/// more, uniformly among all feasible hosts. Either way each feasible host is
/// equally likely, and a nearly full cloud costs no O(H) scan.
public struct RandomFit: PlacementPolicy {
    public let name = "random"
    public static let draws = 32
    public let random: RandomSource

    public init(random: RandomSource) { self.random = random }

    public func chooseHost(for query: PlacementQuery) -> Int? {
        guard query.anyFits else { return nil }
        let range = query.hostRange
        for _ in 0..<RandomFit.draws {
            let host = range.lowerBound + random.uniformInt(below: range.count)
            if query.fits(host) { return host }
        }
        let feasible = query.feasibleHosts()
        return feasible[random.uniformInt(below: feasible.count)]
    }
}

/// Places VMs on given hosts, in order: re-creates a placement decided
/// elsewhere (on the real engine) in a scratch copy. Not a user policy.
public final class ReplayedPlacement: PlacementPolicy {
    public let name = "replayed"
    private let hosts: [Int]
    private var next = 0

    public init(hosts: [Int]) { self.hosts = hosts }

    /// The next host if the VM fits there; nil (a rejection) otherwise or when the list is used up.
    public func chooseHost(for query: PlacementQuery) -> Int? {
        guard next < hosts.count else { return nil }
        let host = hosts[next]
        next += 1
        return query.fits(host) ? host : nil
    }
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a tiny fixed generator for
/// callers with no GSL stream at hand (operator commands replaying the
/// `random` policy, the benchmark's inputs). Same seed, same numbers, everywhere.
public final class SplitMixRandom: RandomSource {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// Where the stream is now: `SplitMixRandom(seed: position)` continues it
    /// (the operator keeps it in its state database between commands).
    public var position: UInt64 { state }

    public func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    public func uniformInt(below n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// The placement policies by name: the five shipped ones, and any a program
/// registers (`register`), usable wherever a policy name is (scenarios, the CLI).
public enum PlacementPolicies {
    /// Makes a policy; `random` is the run's seeded stream, for policies that draw.
    public typealias Factory = @Sendable (RandomSource) -> any PlacementPolicy

    private static let registry = Mutex<[(name: String, make: Factory)]>([
        ("first-fit", { _ in FirstFit() }),
        ("best-fit", { _ in BestFit() }),
        ("worst-fit", { _ in WorstFit() }),
        ("pkey-pack", { _ in PKeyPack() }),
        ("random", { RandomFit(random: $0) }),
    ])

    /// Every registered name, shipped ones first, then in registration order.
    public static var names: [String] { registry.withLock { $0.map(\.name) } }

    /// Registers a Swift policy under `name` (once, before the runs that use it).
    /// - Precondition: the name is new, not empty, and not an external policy (`exec:`).
    public static func register(_ name: String, _ make: @escaping Factory) {
        precondition(!name.isEmpty && !name.hasPrefix(PolicyReference.externalPrefix), "policy name '\(name)' is reserved")
        registry.withLock { policies in
            precondition(!policies.contains { $0.name == name }, "policy '\(name)' is already registered")
            policies.append((name, make))
        }
    }

    /// - Parameter random: the stream a policy that draws uses (`random`).
    public static func make(_ name: String, random: @autoclosure () -> RandomSource) -> (any PlacementPolicy)? {
        guard let make = registry.withLock({ $0.first { $0.name == name }?.make }) else { return nil }
        return make(random())
    }
}
