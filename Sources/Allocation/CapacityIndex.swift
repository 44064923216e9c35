/// Free capacity of one host, or the per-dimension extremes of a range of hosts.
///
/// Each field is chosen so that "a VM fits host h" is exactly "every field of
/// h's leaf is >= the VM's `Demand`" (see `AllocationEngine.demand`). Cores need
/// two fields because fixed and dynamic vCPUs consume them differently.
struct Capacity: Equatable {
    /// Physical cores not held: cores - pinned - ceil(dynamic / r). Max over the range.
    var freeCores: Int32
    /// Dynamic vCPUs that still fit: floor((cores - pinned) * r) - dynamic. Max over the range.
    var dynamicSlack: Int32
    var freeMemoryMiB: Int32
    var freeVFs: Int32
    /// Free pkey table entries for tenant partitions (the default entry excluded).
    var freePKeyEntries: Int32
    /// 1 when an hpc VM on this host needs no new LID (not `vswitch-dynamic`).
    var lidExempt: Int32
    /// freeCores and dynamicSlack of the hosts that also have a free VF and a
    /// free pkey entry (else `Demand.none`, which only unconstrained demands meet), max over the range. Why: with independent
    /// maxima a range whose free cores and free VFs sit on different hosts looks
    /// able to take an hpc VM, and a search would descend into all of it
    /// (fragmented clouds turned first-fit into a scan).
    var hpcFreeCores: Int32
    var hpcDynamicSlack: Int32

    /// A padding leaf beyond the last host: never fits.
    static let padding = Capacity(freeCores: .min, dynamicSlack: .min, freeMemoryMiB: .min, freeVFs: .min,
                                  freePKeyEntries: .min, lidExempt: .min,
                                  hpcFreeCores: .min, hpcDynamicSlack: .min)

    @inline(__always)
    static func combine(_ a: Capacity, _ b: Capacity) -> Capacity {
        Capacity(freeCores: max(a.freeCores, b.freeCores),
                 dynamicSlack: max(a.dynamicSlack, b.dynamicSlack),
                 freeMemoryMiB: max(a.freeMemoryMiB, b.freeMemoryMiB),
                 freeVFs: max(a.freeVFs, b.freeVFs),
                 freePKeyEntries: max(a.freePKeyEntries, b.freePKeyEntries),
                 lidExempt: max(a.lidExempt, b.lidExempt),
                 hpcFreeCores: max(a.hpcFreeCores, b.hpcFreeCores),
                 hpcDynamicSlack: max(a.hpcDynamicSlack, b.hpcDynamicSlack))
    }
}

/// Which free-core and dynamic-slack values occur among a range's hosts, one
/// bit per value (127 and above share bit 127), over all hosts and over those
/// ready for a new hpc VM (a free VF and a free pkey entry).
///
/// Why: best-fit wants the fitting host with the fewest cores left, and the
/// least value in a range is nearly always a full host that fits nothing; a
/// bound from it pruned nothing, so best-fit scanned (4.5 s against first-fit's
/// 0.43 s for 300k admissions on 10k hosts). "The least value >= v" read off
/// these bits bounds only hosts that can take the VM's cores.
struct ValueSets: Equatable {
    var freeCores: UInt128 = 0
    var dynamicSlack: UInt128 = 0
    var hpcFreeCores: UInt128 = 0
    var hpcDynamicSlack: UInt128 = 0

    /// The bit shared by every value at or above it.
    static let top = 127

    init() {}

    /// The values of one host (a drained host or a padding leaf has none: its fields are negative).
    init(leaf c: Capacity) {
        freeCores = Self.bit(c.freeCores)
        dynamicSlack = Self.bit(c.dynamicSlack)
        hpcFreeCores = Self.bit(c.hpcFreeCores)
        hpcDynamicSlack = Self.bit(c.hpcDynamicSlack)
    }

    @inline(__always)
    static func bit(_ value: Int32) -> UInt128 { value < 0 ? 0 : 1 << UInt128(min(Int(value), top)) }

    @inline(__always)
    static func combine(_ a: ValueSets, _ b: ValueSets) -> ValueSets {
        var c = ValueSets()
        c.freeCores = a.freeCores | b.freeCores
        c.dynamicSlack = a.dynamicSlack | b.dynamicSlack
        c.hpcFreeCores = a.hpcFreeCores | b.hpcFreeCores
        c.hpcDynamicSlack = a.hpcDynamicSlack | b.hpcDynamicSlack
        return c
    }

    /// A lower bound on the values >= `least` in `set`, exact below `top`; nil when there is none.
    /// - Complexity: O(1)
    @inline(__always)
    static func least(in set: UInt128, atLeast least: Int) -> Int? {
        let from = min(max(least, 0), top)
        let candidates = set & (UInt128.max << UInt128(from))
        guard candidates != 0 else { return nil }
        let value = candidates.trailingZeroBitCount
        return value == top ? max(top, least) : value
    }
}

/// What one VM needs of a host, in `Capacity` terms. A dimension the VM does
/// not constrain holds `Demand.none`, which every real host meets.
struct Demand: Equatable {
    static let none: Int32 = .min + 1
    var freeCores: Int32
    var dynamicSlack: Int32
    var freeMemoryMiB: Int32
    var freeVFs: Int32
    var freePKeyEntries: Int32
    var lidExempt: Int32
    /// The cores demand again, against the VF-and-pkey-conditioned fields (hpc VMs needing a new entry).
    var hpcFreeCores: Int32
    var hpcDynamicSlack: Int32

    /// True when some host in the range summarized by `c` may fit (exact for a leaf).
    @inline(__always)
    func mayFit(_ c: Capacity) -> Bool {
        c.freeCores >= freeCores && c.dynamicSlack >= dynamicSlack && c.freeMemoryMiB >= freeMemoryMiB
            && c.freeVFs >= freeVFs && c.freePKeyEntries >= freePKeyEntries && c.lidExempt >= lidExempt
            && c.hpcFreeCores >= hpcFreeCores && c.hpcDynamicSlack >= hpcDynamicSlack
    }
}

/// A segment tree over hosts 0..<H holding per-dimension maxima of free capacity.
///
/// Searches descend only into subtrees whose maxima admit the demand, so a
/// first-fit costs O(log H) when capacity is not pathologically interleaved
/// across dimensions, and an update costs O(log H).
struct CapacityIndex: Equatable {
    /// Leaves start here (a power of two >= host count).
    let leafBase: Int
    let hostCount: Int
    private(set) var nodes: [Capacity]
    /// `values[i]` summarizes the same range as `nodes[i]`, kept apart so first-fit reads
    /// 32-byte nodes. Empty until the first best-fit search (`trackValues`): a cloud
    /// that never asks for one pays nothing for them on each update.
    private(set) var values: [ValueSets] = []

    /// - Parameter values: each leaf's value sets, given (the subnet index's leaves summarize
    ///   whole subnets); nil: not tracked until `trackValues`.
    init(leaves: [Capacity], values leafValues: [ValueSets]? = nil) {
        hostCount = leaves.count
        var base = 1
        while base < max(1, leaves.count) { base <<= 1 }
        leafBase = base
        nodes = Array(repeating: .padding, count: 2 * base)
        for (h, leaf) in leaves.enumerated() { nodes[base + h] = leaf }
        var i = base - 1
        while i >= 1 {
            nodes[i] = Capacity.combine(nodes[2 * i], nodes[2 * i + 1])
            i -= 1
        }
        if let leafValues {
            values = Array(repeating: ValueSets(), count: 2 * base)
            for (h, value) in leafValues.enumerated() { values[base + h] = value }
            combineValues()
        }
    }

    private mutating func combineValues() {
        var i = leafBase - 1
        while i >= 1 {
            values[i] = ValueSets.combine(values[2 * i], values[2 * i + 1])
            i -= 1
        }
    }

    /// The value sets derive from the nodes: equal nodes, equal index.
    static func == (a: CapacityIndex, b: CapacityIndex) -> Bool {
        a.leafBase == b.leafBase && a.hostCount == b.hostCount && a.nodes == b.nodes
    }

    /// Builds `values` from the nodes, once; later updates keep them.
    /// - Complexity: O(H) the first time, O(1) after.
    mutating func trackValues() {
        guard values.isEmpty else { return }
        values = nodes.map(ValueSets.init(leaf:))  // inner nodes are overwritten below
        combineValues()
    }

    var root: Capacity { nodes[1] }

    func leaf(_ host: Int) -> Capacity { nodes[leafBase + host] }

    /// - Parameter leafValues: the leaf's value sets when they are not its own capacity's
    ///   (a leaf summarizing a subnet); ignored unless values are tracked.
    /// - Complexity: O(log H)
    mutating func update(host: Int, to capacity: Capacity, values leafValues: ValueSets? = nil) {
        var i = leafBase + host
        nodes[i] = capacity
        var nodesChange = true, valuesChange = !values.isEmpty
        if valuesChange { values[i] = leafValues ?? ValueSets(leaf: capacity) }
        i >>= 1
        // Each array stops where its summary no longer changes: its ancestors are unchanged too.
        while i >= 1 && (nodesChange || valuesChange) {
            if nodesChange {
                let combined = Capacity.combine(nodes[2 * i], nodes[2 * i + 1])
                if nodes[i] == combined { nodesChange = false } else { nodes[i] = combined }
            }
            if valuesChange {
                let combined = ValueSets.combine(values[2 * i], values[2 * i + 1])
                if values[i] == combined { valuesChange = false } else { values[i] = combined }
            }
            i >>= 1
        }
    }

    /// Lowest host index whose leaf meets `demand`.
    func firstFit(_ demand: Demand) -> Int? {
        firstFit(node: 1, demand)
    }

    private func firstFit(node: Int, _ demand: Demand) -> Int? {
        guard demand.mayFit(nodes[node]) else { return nil }
        if node >= leafBase { return node - leafBase }
        return firstFit(node: 2 * node, demand) ?? firstFit(node: 2 * node + 1, demand)
    }

    /// Lowest host index at or after `from` whose leaf meets `demand`.
    /// - Complexity: O(log H) plus the subtrees that look able to fit but hold no fit.
    func firstFit(_ demand: Demand, from: Int) -> Int? {
        from <= 0 ? firstFit(demand) : firstFit(node: 1, low: 0, width: leafBase, from: from, demand)
    }

    private func firstFit(node: Int, low: Int, width: Int, from: Int, _ demand: Demand) -> Int? {
        guard low + width > from, demand.mayFit(nodes[node]) else { return nil }
        if node >= leafBase { return node - leafBase }
        let half = width / 2
        return firstFit(node: 2 * node, low: low, width: half, from: from, demand)
            ?? firstFit(node: 2 * node + 1, low: low + half, width: half, from: from, demand)
    }

    /// Calls `body` with each host meeting `demand`, ascending, while it returns true.
    /// - Complexity: O(F log H) for the F hosts visited.
    func forEachFit(_ demand: Demand, _ body: (Int) -> Bool) {
        _ = visit(node: 1, demand, body)
    }

    /// False once `body` asked to stop.
    private func visit(node: Int, _ demand: Demand, _ body: (Int) -> Bool) -> Bool {
        guard demand.mayFit(nodes[node]) else { return true }
        if node >= leafBase { return body(node - leafBase) }
        return visit(node: 2 * node, demand, body) && visit(node: 2 * node + 1, demand, body)
    }

    /// Every host meeting `demand`, ascending.
    /// - Complexity: O(F log H) for F results.
    func allFits(_ demand: Demand, into result: inout [Int]) {
        collect(node: 1, demand, &result)
    }

    private func collect(node: Int, _ demand: Demand, _ result: inout [Int]) {
        guard demand.mayFit(nodes[node]) else { return }
        if node >= leafBase { result.append(node - leafBase); return }
        collect(node: 2 * node, demand, &result)
        collect(node: 2 * node + 1, demand, &result)
    }

    /// Branch and bound for the fitting host with the best score (ties: lowest index).
    ///
    /// Generic over the ranking so that its bound and score inline into the
    /// descent (as closures they were a fifth of best-fit's time).
    /// - Parameter best: a starting incumbent (e.g. from hosts searched elsewhere), improved in place.
    /// - Complexity: O(log H) node visits when the bound is tight, O(H) at worst.
    func bestHost<Ranking: HostRanking>(_ demand: Demand, _ ranking: Ranking, best: inout (score: Int, host: Int)?) {
        let tracked = !values.isEmpty
        guard demand.mayFit(nodes[1]), let optimistic = ranking.bound(nodes[1], tracked ? values[1] : ValueSets()) else { return }
        search(node: 1, low: 0, width: leafBase, optimistic: optimistic, tracked: tracked, demand, ranking, &best)
    }

    /// Visits `node`, which may fit and whose bound is `optimistic`; each child's summaries
    /// are read once, here, to order the children and to skip those that cannot fit.
    private func search<Ranking: HostRanking>(node: Int, low: Int, width: Int, optimistic: Int, tracked: Bool,
                                              _ demand: Demand, _ ranking: Ranking, _ best: inout (score: Int, host: Int)?) {
        if let incumbent = best {
            // Prune when nothing here can beat the incumbent, or only tie it at a higher index.
            if ranking.better(incumbent.score, optimistic) || (optimistic == incumbent.score && ranking.host(ofLeaf: low) > incumbent.host) { return }
        }
        if node >= leafBase {
            ranking.visit(leaf: node - leafBase, best: &best)
            return
        }
        let half = width / 2
        let left = 2 * node, right = left + 1
        let leftBound = demand.mayFit(nodes[left]) ? ranking.bound(nodes[left], tracked ? values[left] : ValueSets()) : nil
        let rightBound = demand.mayFit(nodes[right]) ? ranking.bound(nodes[right], tracked ? values[right] : ValueSets()) : nil
        // Best first: the child with the more promising bound goes first (the
        // left one on a tie), so the incumbent is good early and prunes the rest.
        switch (leftBound, rightBound) {
        case let (l?, r?) where ranking.better(r, l):
            search(node: right, low: low + half, width: half, optimistic: r, tracked: tracked, demand, ranking, &best)
            search(node: left, low: low, width: half, optimistic: l, tracked: tracked, demand, ranking, &best)
        case let (l?, r):
            search(node: left, low: low, width: half, optimistic: l, tracked: tracked, demand, ranking, &best)
            if let r { search(node: right, low: low + half, width: half, optimistic: r, tracked: tracked, demand, ranking, &best) }
        case let (nil, r?):
            search(node: right, low: low + half, width: half, optimistic: r, tracked: tracked, demand, ranking, &best)
        case (nil, nil):
            return
        }
    }
}

/// How `CapacityIndex.bestHost` ranks the hosts that fit.
protocol HostRanking {
    /// An optimistic score for a subtree from its summaries (never worse than any fitting
    /// leaf in it), or nil when no leaf in it can fit. `values` is empty unless tracked.
    func bound(_ summary: Capacity, _ values: ValueSets) -> Int?
    /// Strict preference between scores.
    func better(_ a: Int, _ b: Int) -> Bool
    /// The cloud's index of the first host under leaf `leaf` (ties go to the lowest).
    func host(ofLeaf leaf: Int) -> Int
    /// Scores the fitting leaf `leaf` (or searches the hosts it stands for) into `best`.
    func visit(leaf: Int, best: inout (score: Int, host: Int)?)
}

/// A ranking of single hosts: a leaf is one host, `offset` past the index's first.
protocol SingleHostRanking: HostRanking {
    /// The exact score of a fitting host (its index in the cloud).
    func score(_ host: Int) -> Int
    /// The cloud's index of the index's leaf 0 (its subnet's first host).
    var offset: Int { get }
}

extension SingleHostRanking {
    @inline(__always)
    func host(ofLeaf leaf: Int) -> Int { offset + leaf }

    @inline(__always)
    func visit(leaf: Int, best: inout (score: Int, host: Int)?) {
        let host = offset + leaf
        let value = score(host)
        if let incumbent = best, !(better(value, incumbent.score) || (value == incumbent.score && host < incumbent.host)) { return }
        best = (value, host)
    }
}
