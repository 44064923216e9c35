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
    /// Min of freeCores over the range: the lower bound that prunes best-fit.
    var minFreeCores: Int32
    /// freeCores and dynamicSlack of the hosts that also have a free VF and a
    /// free pkey entry (else `Demand.none`, which only unconstrained demands meet), max over the range. Why: with independent
    /// maxima a range whose free cores and free VFs sit on different hosts looks
    /// able to take an hpc VM, and a search would descend into all of it
    /// (fragmented clouds turned first-fit into a scan).
    var hpcFreeCores: Int32
    var hpcDynamicSlack: Int32

    /// A padding leaf beyond the last host: never fits, never wins a min.
    static let padding = Capacity(freeCores: .min, dynamicSlack: .min, freeMemoryMiB: .min, freeVFs: .min,
                                  freePKeyEntries: .min, lidExempt: .min, minFreeCores: .max,
                                  hpcFreeCores: .min, hpcDynamicSlack: .min)

    @inline(__always)
    static func combine(_ a: Capacity, _ b: Capacity) -> Capacity {
        Capacity(freeCores: max(a.freeCores, b.freeCores),
                 dynamicSlack: max(a.dynamicSlack, b.dynamicSlack),
                 freeMemoryMiB: max(a.freeMemoryMiB, b.freeMemoryMiB),
                 freeVFs: max(a.freeVFs, b.freeVFs),
                 freePKeyEntries: max(a.freePKeyEntries, b.freePKeyEntries),
                 lidExempt: max(a.lidExempt, b.lidExempt),
                 minFreeCores: min(a.minFreeCores, b.minFreeCores),
                 hpcFreeCores: max(a.hpcFreeCores, b.hpcFreeCores),
                 hpcDynamicSlack: max(a.hpcDynamicSlack, b.hpcDynamicSlack))
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

    init(leaves: [Capacity]) {
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
    }

    var root: Capacity { nodes[1] }

    func leaf(_ host: Int) -> Capacity { nodes[leafBase + host] }

    /// - Complexity: O(log H)
    mutating func update(host: Int, to capacity: Capacity) {
        var i = leafBase + host
        nodes[i] = capacity
        i >>= 1
        while i >= 1 {
            let combined = Capacity.combine(nodes[2 * i], nodes[2 * i + 1])
            if nodes[i] == combined { break }  // ancestors are unchanged too
            nodes[i] = combined
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
    /// - Parameters:
    ///   - bound: an optimistic score for a subtree from its summary (never worse than any leaf in it).
    ///   - score: the exact score of a fitting host.
    ///   - better: strict preference between scores.
    ///   - best: a starting incumbent (e.g. from hosts searched elsewhere), improved in place.
    func bestHost(_ demand: Demand, bound: (Capacity) -> Int, score: (Int) -> Int,
                  better: (Int, Int) -> Bool, best: inout (score: Int, host: Int)?) {
        search(node: 1, low: 0, width: leafBase, demand, bound, score, better, &best)
    }

    private func search(node: Int, low: Int, width: Int, _ demand: Demand, _ bound: (Capacity) -> Int,
                        _ score: (Int) -> Int, _ better: (Int, Int) -> Bool, _ best: inout (score: Int, host: Int)?) {
        let summary = nodes[node]
        guard demand.mayFit(summary) else { return }
        if let incumbent = best {
            let optimistic = bound(summary)
            // Prune when nothing here can beat the incumbent, or only tie it at a higher index.
            if better(incumbent.score, optimistic) || (optimistic == incumbent.score && low > incumbent.host) { return }
        }
        if node >= leafBase {
            let host = node - leafBase
            let value = score(host)
            if let incumbent = best, !(better(value, incumbent.score) || (value == incumbent.score && host < incumbent.host)) {
                return
            }
            best = (value, host)
            return
        }
        // Best first: the child with the more promising bound goes first (the
        // left one on a tie), so the incumbent is good early and prunes the rest.
        let half = width / 2
        let left = 2 * node, right = left + 1
        if better(bound(nodes[right]), bound(nodes[left])) {
            search(node: right, low: low + half, width: half, demand, bound, score, better, &best)
            search(node: left, low: low, width: half, demand, bound, score, better, &best)
        } else {
            search(node: left, low: low, width: half, demand, bound, score, better, &best)
            search(node: right, low: low + half, width: half, demand, bound, score, better, &best)
        }
    }
}
