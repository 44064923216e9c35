import Allocation
import CloudModel

/// SEMANTICS sections 4 to 6 written out a second time, as an oracle for the
/// engine: plain per-host counters, full scans, its own placement rules, its
/// own rejection reasons and VF numbering. It shares nothing with
/// `AllocationEngine` but the input types, so a wrong rule in the engine (or
/// in its capacity index) disagrees with it instead of agreeing with itself.
public struct ReferenceCloud {
    /// What an operation did, in the oracle's own terms.
    public enum Outcome: Equatable, CustomStringConvertible {
        /// The hosts and VF numbers of the VMs placed (or removed), in order, and the cluster's pkey.
        case accepted(pkey: Int?, vms: [PlacedVM])
        case rejected(RejectionReason)
        case ignored

        public init(_ decision: Decision) {
            switch decision {
            case .accepted(let pkey, let vms): self = .accepted(pkey: pkey?.value, vms: vms)
            case .rejected(let reason): self = .rejected(reason)
            case .ignored: self = .ignored
            }
        }

        public var description: String {
            switch self {
            case .accepted(let pkey, let vms):
                "accepted pkey \(pkey.map(String.init) ?? "-") on " + vms.map { "\($0.host)/\($0.virtualFunction.map(String.init) ?? "-")" }.joined(separator: ",")
            case .rejected(let reason): "rejected \(reason.rawValue)"
            case .ignored: "ignored"
            }
        }
    }

    struct Host {
        let cores: Int, memoryMiB: Int64, vfs: Int, pkeyTable: Int, lidPerVF: Bool
        var pinned = 0, dynamic = 0, memoryUsed: Int64 = 0
        var vfsInUse: Set<Int> = []
        /// hpc VMs per cluster on this host; a cluster present holds one pkey table entry.
        var hpcVMs: [Int64: Int] = [:]
    }

    struct Cluster {
        let shape: VMShape
        let pkey: Int?
        var vms: [PlacedVM]
    }

    var hosts: [Host] = []
    let numerator: Int, denominator: Int
    let lidSpace: Int, buildTimeLIDs: Int
    var lidsInUse: Int
    var freePKeys: [Int]
    var clusters: [Int64: Cluster] = [:]

    public init(cloud: CloudSpec) {
        var prepopulated = 0
        for group in cloud.groups {
            for _ in 0..<group.count {
                hosts.append(Host(cores: group.cores, memoryMiB: group.memoryMiB, vfs: group.vfs, pkeyTable: group.pkeyTable,
                                  lidPerVF: group.sriovMode == .vswitchDynamic))
            }
            if group.sriovMode == .vswitchPrepopulated { prepopulated += group.count * group.vfs }
        }
        numerator = cloud.overcommit.numerator
        denominator = cloud.overcommit.denominator
        lidSpace = cloud.subnet.lidSpace
        // Every switch and PF port holds a LID from build time, and so does every usable prepopulated VF.
        buildTimeLIDs = cloud.subnet.switches + hosts.count + prepopulated
        lidsInUse = buildTimeLIDs
        freePKeys = Array(cloud.subnet.pkeyPool)
    }

    /// ceil(dynamic / r): the physical cores dynamic vCPUs occupy.
    func coresFor(dynamic: Int) -> Int { (dynamic * denominator + numerator - 1) / numerator }

    // MARK: - The host rules, one at a time (SEMANTICS 4)

    func coresRule(_ h: Host, _ shape: VMShape) -> Bool {
        shape.pinning == .fixed
            ? h.pinned + shape.vcores + coresFor(dynamic: h.dynamic) <= h.cores
            : h.pinned + coresFor(dynamic: h.dynamic + shape.vcores) <= h.cores
    }
    func memoryRule(_ h: Host, _ shape: VMShape) -> Bool { h.memoryUsed + shape.memoryMiB <= h.memoryMiB }
    func vfRule(_ h: Host) -> Bool { h.vfsInUse.count + 1 <= h.vfs }
    /// 1 (the default partition) + distinct clusters after adding <= pkeyTable.
    func pkeyRule(_ h: Host, cluster: Int64) -> Bool { h.hpcVMs[cluster] != nil || 1 + h.hpcVMs.count + 1 <= h.pkeyTable }
    func lidRule(_ h: Host) -> Bool { !h.lidPerVF || lidsInUse + 1 <= lidSpace }

    func fits(_ host: Int, _ shape: VMShape, cluster: Int64) -> Bool {
        let h = hosts[host]
        guard coresRule(h, shape), memoryRule(h, shape) else { return false }
        return shape.kind == .common || (vfRule(h) && pkeyRule(h, cluster: cluster) && lidRule(h))
    }

    /// The first rule no host meets on its own, in SEMANTICS 5's order; else `fragmented`.
    func reason(_ shape: VMShape, cluster: Int64) -> RejectionReason {
        if shape.kind == .hpc {
            if !hosts.contains(where: vfRule) { return .vf }
            if !hosts.contains(where: { pkeyRule($0, cluster: cluster) }) { return .pkeyTable }
            if !hosts.contains(where: lidRule) { return .lid }
        }
        if !hosts.contains(where: { coresRule($0, shape) }) { return .cores }
        if !hosts.contains(where: { memoryRule($0, shape) }) { return .memory }
        return .fragmented
    }

    /// Whether a VM of `shape` fits some empty host (else the request is `infeasible`).
    func fitsAnEmptyHost(_ shape: VMShape) -> Bool {
        hosts.contains { h in
            let empty = Host(cores: h.cores, memoryMiB: h.memoryMiB, vfs: h.vfs, pkeyTable: h.pkeyTable, lidPerVF: h.lidPerVF)
            guard coresRule(empty, shape), memoryRule(empty, shape) else { return false }
            guard shape.kind == .hpc else { return true }
            // An empty subnet holds only its build-time LIDs.
            return empty.vfs >= 1 && empty.pkeyTable >= 2 && (!empty.lidPerVF || buildTimeLIDs + 1 <= lidSpace)
        }
    }

    /// The hosts where one more VM of `shape` (of cluster `id`) fits now.
    public func fittingHosts(_ shape: VMShape, cluster id: Int64) -> [Int] {
        hosts.indices.filter { fits($0, shape, cluster: id) }
    }

    // MARK: - Policies (SEMANTICS 5), ties to the lowest host

    func freeCoresAfter(_ host: Int, _ shape: VMShape) -> Int {
        let h = hosts[host]
        let pinned = h.pinned + (shape.pinning == .fixed ? shape.vcores : 0)
        let dynamic = h.dynamic + (shape.pinning == .dynamic ? shape.vcores : 0)
        return h.cores - pinned - coresFor(dynamic: dynamic)
    }

    func choose(_ policy: String, _ shape: VMShape, cluster: Int64, random: RandomSource?) -> Int? {
        let fitting = fittingHosts(shape, cluster: cluster)
        switch policy {
        case "first-fit":
            return fitting.first
        case "best-fit":
            return fitting.min { (freeCoresAfter($0, shape), $0) < (freeCoresAfter($1, shape), $1) }
        case "worst-fit":
            return fitting.min { (-freeCoresAfter($0, shape), $0) < (-freeCoresAfter($1, shape), $1) }
        case "pkey-pack":
            if shape.kind == .hpc, let own = fitting.first(where: { hosts[$0].hpcVMs[cluster] != nil }) { return own }
            return fitting.first
        case "random":
            // The documented procedure: up to `draws` uniform draws over all hosts, then uniform over the fitting.
            guard let random, !fitting.isEmpty else { return nil }
            for _ in 0..<RandomFit.draws {
                let host = random.uniformInt(below: hosts.count)
                if fitting.contains(host) { return host }
            }
            return fitting[random.uniformInt(below: fitting.count)]
        default:
            preconditionFailure("the reference model has no policy \(policy)")
        }
    }

    // MARK: - Operations (SEMANTICS 5 and 6)

    public mutating func admit(_ request: ClusterRequest, policy: String, random: RandomSource? = nil) -> Outcome {
        guard fitsAnEmptyHost(request.shape) else { return .rejected(.infeasible) }
        var pkey: Int?
        if request.shape.kind == .hpc {
            guard !freePKeys.isEmpty else { return .rejected(.pkeySpace) }
            pkey = freePKeys.removeFirst()
        }
        clusters[request.id] = Cluster(shape: request.shape, pkey: pkey, vms: [])
        if let reason = place(request.vms, cluster: request.id, policy: policy, random: random) {
            clusters[request.id] = nil
            if let pkey { freePKeys.insert(pkey, at: freePKeys.firstIndex { $0 > pkey } ?? freePKeys.count) }
            return .rejected(reason)
        }
        return .accepted(pkey: pkey, vms: clusters[request.id]!.vms)
    }

    public mutating func extend(cluster id: Int64, by count: Int, policy: String, random: RandomSource? = nil) -> Outcome {
        guard let before = clusters[id]?.vms.count else { return .ignored }
        if let reason = place(count, cluster: id, policy: policy, random: random) { return .rejected(reason) }
        return .accepted(pkey: clusters[id]!.pkey, vms: Array(clusters[id]!.vms[before...]))
    }

    /// Removes the `count` most recently added VMs, keeping at least one.
    public mutating func shrink(cluster id: Int64, by count: Int) -> Outcome {
        guard let cluster = clusters[id] else { return .ignored }
        let keep = max(1, cluster.vms.count - count)
        let removed = Array(cluster.vms[keep...])
        while clusters[id]!.vms.count > keep { removeLastVM(of: id) }
        return .accepted(pkey: cluster.pkey, vms: removed)
    }

    public mutating func release(cluster id: Int64) -> Bool {
        guard let cluster = clusters[id] else { return false }
        while !clusters[id]!.vms.isEmpty { removeLastVM(of: id) }
        clusters[id] = nil
        if let pkey = cluster.pkey { freePKeys.insert(pkey, at: freePKeys.firstIndex { $0 > pkey } ?? freePKeys.count) }
        return true
    }

    /// Places VMs one after another; on failure removes the ones placed and returns why.
    mutating func place(_ count: Int, cluster id: Int64, policy: String, random: RandomSource?) -> RejectionReason? {
        let shape = clusters[id]!.shape
        let before = clusters[id]!.vms.count
        for _ in 0..<count {
            guard let host = choose(policy, shape, cluster: id, random: random) else {
                let why = reason(shape, cluster: id)
                while clusters[id]!.vms.count > before { removeLastVM(of: id) }
                return why
            }
            addVM(to: id, host: host)
        }
        return nil
    }

    mutating func addVM(to id: Int64, host: Int) {
        let shape = clusters[id]!.shape
        var h = hosts[host]
        if shape.pinning == .fixed { h.pinned += shape.vcores } else { h.dynamic += shape.vcores }
        h.memoryUsed += shape.memoryMiB
        var vf: Int?
        if shape.kind == .hpc {
            let lowest = (0..<h.vfs).first { !h.vfsInUse.contains($0) }!
            h.vfsInUse.insert(lowest)
            h.hpcVMs[id, default: 0] += 1
            if h.lidPerVF { lidsInUse += 1 }
            vf = lowest
        }
        hosts[host] = h
        clusters[id]!.vms.append(PlacedVM(host: host, virtualFunction: vf))
    }

    mutating func removeLastVM(of id: Int64) {
        let vm = clusters[id]!.vms.removeLast()
        let shape = clusters[id]!.shape
        var h = hosts[vm.host]
        if shape.pinning == .fixed { h.pinned -= shape.vcores } else { h.dynamic -= shape.vcores }
        h.memoryUsed -= shape.memoryMiB
        if let vf = vm.virtualFunction {
            h.vfsInUse.remove(vf)
            // The host's pkey entry goes with the cluster's last hpc VM there.
            h.hpcVMs[id]! -= 1
            if h.hpcVMs[id] == 0 { h.hpcVMs[id] = nil }
            if h.lidPerVF { lidsInUse -= 1 }
        }
        hosts[vm.host] = h
    }

    // MARK: - Totals, to compare with the engine's `usage`

    /// Physical cores in use (pinned plus ceil(dynamic / r) per host), memory, VFs, tenant pkey entries, LIDs, clusters.
    public var usage: Usage {
        Usage(physicalCores: hosts.reduce(0) { $0 + $1.pinned + coresFor(dynamic: $1.dynamic) },
              memoryMiB: hosts.reduce(0) { $0 + $1.memoryUsed },
              vfs: hosts.reduce(0) { $0 + $1.vfsInUse.count },
              pkeyEntries: hosts.reduce(0) { $0 + $1.hpcVMs.count },
              lids: lidsInUse, clusters: clusters.count)
    }
}
