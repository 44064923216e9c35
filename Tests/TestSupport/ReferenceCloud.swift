import Allocation
import CloudModel

/// SEMANTICS sections 4 to 6 written out a second time, as an oracle for the
/// engine: plain per-host counters, full scans, its own placement rules, its
/// own rejection reasons and VF numbering. It shares nothing with
/// `AllocationEngine` but the input types, so a wrong rule in the engine (or
/// in its capacity index) disagrees with it instead of agreeing with itself.
///
/// Clouds of several subnets, as `Workloads/README.md` states them: each subnet
/// its own LIDs and pkey pool; a hpc cluster takes the lowest free key of the
/// subnet of its first VM and the same key in every subnet it enters; without
/// spanning it stays in that subnet, and an admission whose later VMs do not fit
/// there is tried again without that subnet.
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
        let cores: Int, memoryMiB: Int64, vfs: Int, pkeyTable: Int, lidPerVF: Bool, subnet: Int
        var pinned = 0, dynamic = 0, memoryUsed: Int64 = 0
        var vfsInUse: Set<Int> = []
        /// hpc VMs per cluster on this host; a cluster present holds one pkey table entry.
        var hpcVMs: [Int64: Int] = [:]
    }

    struct Cluster {
        let shape: VMShape
        var pkey: Int?
        var vms: [PlacedVM]
    }

    var hosts: [Host] = []
    let numerator: Int, denominator: Int
    let lidSpace: [Int], buildTimeLIDs: [Int]
    var lidsInUse: [Int]
    /// Each subnet's free keys, ascending.
    var freePKeys: [[Int]]
    var clusters: [Int64: Cluster] = [:]
    let spanning: Bool
    /// Subnets an admission already tried (its first VM fit there, a later one did not).
    var excluded: Set<Int> = []
    /// After a rejected admission in a cloud of several subnets: each subnet's own reason.
    public private(set) var subnetReasons: [RejectionReason] = []
    /// Whether the last operation was an admission tried in more than one subnet.
    public private(set) var lastAdmissionRetried = false

    /// LIDs held in subnet `s`.
    public func lids(subnet s: Int) -> Int { lidsInUse[s] }

    public init(cloud: CloudSpec) {
        var prepopulated = Array(repeating: 0, count: cloud.subnets.count), pfPorts = prepopulated
        for group in cloud.groups {
            for _ in 0..<group.count {
                hosts.append(Host(cores: group.cores, memoryMiB: group.memoryMiB, vfs: group.vfs, pkeyTable: group.pkeyTable,
                                  lidPerVF: group.sriovMode == .vswitchDynamic, subnet: group.subnet))
            }
            pfPorts[group.subnet] += group.count
            if group.sriovMode == .vswitchPrepopulated { prepopulated[group.subnet] += group.count * group.vfs }
        }
        numerator = cloud.overcommit.numerator
        denominator = cloud.overcommit.denominator
        lidSpace = cloud.subnets.map(\.lidSpace)
        // Every switch, router port and PF port holds a LID from build time, and so does every usable prepopulated VF.
        buildTimeLIDs = cloud.subnets.indices.map { cloud.subnets[$0].switches + cloud.subnets[$0].routerPorts + pfPorts[$0] + prepopulated[$0] }
        lidsInUse = buildTimeLIDs
        freePKeys = cloud.subnets.map { Array($0.pkeyPool) }
        spanning = cloud.routers.spanning
    }

    var subnetCount: Int { lidSpace.count }

    /// Subnets holding an hpc VM of cluster `id`.
    func subnets(of id: Int64) -> Set<Int> {
        guard let cluster = clusters[id], cluster.shape.kind == .hpc else { return [] }
        return Set(cluster.vms.map { hosts[$0.host].subnet })
    }

    /// Whether the next VM of shape `shape` of cluster `id` (running or not yet) may go to
    /// subnet `s` at all: its own subnet (not spanning), or one whose pool gives it its key
    /// (its first VM: any key).
    func mayUse(_ s: Int, _ shape: VMShape, cluster id: Int64) -> Bool {
        guard shape.kind == .hpc else { return true }
        guard let cluster = clusters[id] else { return !excluded.contains(s) && !freePKeys[s].isEmpty }
        let mine = subnets(of: id)
        if mine.contains(s) { return true }
        if !mine.isEmpty && !spanning { return false }
        if mine.isEmpty && excluded.contains(s) { return false }
        if let key = cluster.pkey { return freePKeys[s].contains(key) }
        return !freePKeys[s].isEmpty
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
    func lidRule(_ h: Host) -> Bool { !h.lidPerVF || lidsInUse[h.subnet] + 1 <= lidSpace[h.subnet] }

    func fits(_ host: Int, _ shape: VMShape, cluster: Int64) -> Bool {
        let h = hosts[host]
        guard coresRule(h, shape), memoryRule(h, shape) else { return false }
        return shape.kind == .common || (mayUse(h.subnet, shape, cluster: cluster) && vfRule(h) && pkeyRule(h, cluster: cluster) && lidRule(h))
    }

    /// The rules no host of subnet `s` meets on its own, in SEMANTICS 5's order.
    func failing(_ shape: VMShape, cluster: Int64, subnet s: Int) -> [RejectionReason] {
        let mine = hosts.filter { $0.subnet == s }
        var rules: [RejectionReason] = []
        if shape.kind == .hpc {
            if !mine.contains(where: vfRule) { rules.append(.vf) }
            if !mine.contains(where: { pkeyRule($0, cluster: cluster) }) { rules.append(.pkeyTable) }
            if !mine.contains(where: lidRule) { rules.append(.lid) }
        }
        if !mine.contains(where: { coresRule($0, shape) }) { rules.append(.cores) }
        if !mine.contains(where: { memoryRule($0, shape) }) { rules.append(.memory) }
        return rules
    }

    /// The first rule no host of the subnets the cluster may use meets, in SEMANTICS 5's
    /// order (`also`: rules that failed in subnets tried before); else `fragmented`;
    /// `pkey-space` when it may use none.
    func reason(_ shape: VMShape, cluster: Int64, also earlier: [[RejectionReason]] = []) -> RejectionReason {
        let usable = (0..<subnetCount).filter { mayUse($0, shape, cluster: cluster) }
        let lists = usable.map { failing(shape, cluster: cluster, subnet: $0) } + earlier
        guard !lists.isEmpty else { return .pkeySpace }
        return [RejectionReason.vf, .pkeyTable, .lid, .cores, .memory].first { rule in lists.allSatisfy { $0.contains(rule) } } ?? .fragmented
    }

    /// Whether a VM of `shape` fits some empty host (else the request is `infeasible`).
    func fitsAnEmptyHost(_ shape: VMShape) -> Bool {
        hosts.contains { h in
            let empty = Host(cores: h.cores, memoryMiB: h.memoryMiB, vfs: h.vfs, pkeyTable: h.pkeyTable, lidPerVF: h.lidPerVF, subnet: h.subnet)
            guard coresRule(empty, shape), memoryRule(empty, shape) else { return false }
            guard shape.kind == .hpc else { return true }
            // An empty subnet holds only its build-time LIDs.
            return empty.vfs >= 1 && empty.pkeyTable >= 2 && (!empty.lidPerVF || buildTimeLIDs[h.subnet] + 1 <= lidSpace[h.subnet])
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
            // The documented procedure: up to `draws` uniform draws over the hosts it may use
            // (its subnet's when confined to one, else all), then uniform over the fitting.
            guard let random, !fitting.isEmpty else { return nil }
            let mine = subnets(of: cluster)
            let range = !spanning && mine.count == 1 ? hosts.indices.filter { hosts[$0].subnet == mine.first! } : Array(hosts.indices)
            for _ in 0..<RandomFit.draws {
                let host = range[0] + random.uniformInt(below: range.count)
                if fitting.contains(host) { return host }
            }
            return fitting[random.uniformInt(below: fitting.count)]
        default:
            preconditionFailure("the reference model has no policy \(policy)")
        }
    }

    // MARK: - Operations (SEMANTICS 5 and 6)

    public mutating func admit(_ request: ClusterRequest, policy: String, random: RandomSource? = nil) -> Outcome {
        subnetReasons = []
        lastAdmissionRetried = false
        guard fitsAnEmptyHost(request.shape) else { return .rejected(.infeasible) }
        let hpc = request.shape.kind == .hpc
        if hpc && freePKeys.allSatisfy(\.isEmpty) {
            if subnetCount > 1 { subnetReasons = Array(repeating: .pkeySpace, count: subnetCount) }
            return .rejected(.pkeySpace)
        }
        excluded = []
        var tried: [Int] = []
        defer {
            excluded = []
            lastAdmissionRetried = !tried.isEmpty
        }
        clusters[request.id] = Cluster(shape: request.shape, pkey: nil, vms: [])
        if hpc && subnetCount > 1 && !spanning {
            // The policy's first host names the subnet; the cluster goes there only if it has room for every VM.
            while let host = choose(policy, request.shape, cluster: request.id, random: random) {
                let s = hosts[host].subnet
                guard room(s, request.shape) >= request.vms else {
                    tried.append(s)
                    excluded.insert(s)
                    continue
                }
                addVM(to: request.id, host: host)
                guard case .placed = place(request.vms - 1, cluster: request.id, policy: policy, random: random) else {
                    preconditionFailure("the oracle counted room that was not there")
                }
                return .accepted(pkey: clusters[request.id]!.pkey, vms: clusters[request.id]!.vms)
            }
            excluded = []
            let filled = Dictionary(uniqueKeysWithValues: tried.map { ($0, filledFailing($0, request.shape)) })
            excluded = Set(tried)
            let why = reason(request.shape, cluster: request.id, also: Array(filled.values))
            recordSubnetReasons(request.shape, cluster: request.id, tried: filled)
            clusters[request.id] = nil
            return .rejected(why)
        }
        switch place(request.vms, cluster: request.id, policy: policy, random: random) {
        case .placed:
            return .accepted(pkey: clusters[request.id]!.pkey, vms: clusters[request.id]!.vms)
        case .failed(let reason):
            if subnetCount > 1 { recordSubnetReasons(request.shape, cluster: request.id, tried: [:]) }
            clusters[request.id] = nil
            return .rejected(reason)
        }
    }

    /// Each subnet's own reason after a rejection: a tried one's rules when filled, else
    /// `pkey-space` for an empty pool, else the first rule no host of it meets now.
    mutating func recordSubnetReasons(_ shape: VMShape, cluster id: Int64, tried: [Int: [RejectionReason]]) {
        let saved = excluded
        excluded = []
        subnetReasons = (0..<subnetCount).map { s in
            if let rules = tried[s] { return rules.first ?? .fragmented }
            if shape.kind == .hpc && freePKeys[s].isEmpty { return .pkeySpace }
            return failing(shape, cluster: id, subnet: s).first ?? .fragmented
        }
        excluded = saved
    }

    /// VMs of `shape` a new cluster could place in subnet `s`: for each host, VMs added one
    /// at a time while every rule still holds, the LID-using ones capped by the subnet's LIDs.
    func room(_ s: Int, _ shape: VMShape) -> Int {
        guard !freePKeys[s].isEmpty else { return 0 }
        var exempt = 0, dynamic = 0
        for var h in hosts where h.subnet == s && 1 + h.hpcVMs.count + 1 <= h.pkeyTable {
            var k = 0
            while coresRule(h, shape) && memoryRule(h, shape) && vfRule(h) {
                if shape.pinning == .fixed { h.pinned += shape.vcores } else { h.dynamic += shape.vcores }
                h.memoryUsed += shape.memoryMiB
                h.vfsInUse.insert(-1 - k)
                k += 1
            }
            if h.lidPerVF { dynamic += k } else { exempt += k }
        }
        return exempt + min(dynamic, max(0, lidSpace[s] - lidsInUse[s]))
    }

    /// The rules no host of subnet `s` meets once a new cluster of `shape` fills it first-fit.
    mutating func filledFailing(_ s: Int, _ shape: VMShape) -> [RejectionReason] {
        let id = Int64.min
        clusters[id] = Cluster(shape: shape, pkey: nil, vms: [])
        while let host = hosts.indices.first(where: { hosts[$0].subnet == s && fits($0, shape, cluster: id) }) { addVM(to: id, host: host) }
        let rules = failing(shape, cluster: id, subnet: s)
        while !clusters[id]!.vms.isEmpty { removeLastVM(of: id) }
        clusters[id] = nil
        return rules
    }

    public mutating func extend(cluster id: Int64, by count: Int, policy: String, random: RandomSource? = nil) -> Outcome {
        lastAdmissionRetried = false
        guard let before = clusters[id]?.vms.count else { return .ignored }
        if case .failed(let reason) = place(count, cluster: id, policy: policy, random: random) { return .rejected(reason) }
        return .accepted(pkey: clusters[id]!.pkey, vms: Array(clusters[id]!.vms[before...]))
    }

    /// Removes the `count` most recently added VMs, keeping at least one.
    public mutating func shrink(cluster id: Int64, by count: Int) -> Outcome {
        lastAdmissionRetried = false
        guard let cluster = clusters[id] else { return .ignored }
        let keep = max(1, cluster.vms.count - count)
        let removed = Array(cluster.vms[keep...])
        while clusters[id]!.vms.count > keep { removeLastVM(of: id) }
        return .accepted(pkey: cluster.pkey, vms: removed)
    }

    public mutating func release(cluster id: Int64) -> Bool {
        lastAdmissionRetried = false
        guard clusters[id] != nil else { return false }
        while !clusters[id]!.vms.isEmpty { removeLastVM(of: id) }
        clusters[id] = nil
        return true
    }

    enum Placing {
        case placed
        case failed(RejectionReason)
    }

    /// Places VMs one after another; on failure removes the ones placed and says why.
    mutating func place(_ count: Int, cluster id: Int64, policy: String, random: RandomSource?) -> Placing {
        let shape = clusters[id]!.shape
        let before = clusters[id]!.vms.count
        for _ in 0..<count {
            guard let host = choose(policy, shape, cluster: id, random: random) else {
                let why = reason(shape, cluster: id)
                while clusters[id]!.vms.count > before { removeLastVM(of: id) }
                return .failed(why)
            }
            addVM(to: id, host: host)
        }
        return .placed
    }

    mutating func addVM(to id: Int64, host: Int) {
        let shape = clusters[id]!.shape
        var h = hosts[host]
        if shape.pinning == .fixed { h.pinned += shape.vcores } else { h.dynamic += shape.vcores }
        h.memoryUsed += shape.memoryMiB
        var vf: Int?
        if shape.kind == .hpc {
            // The key: the subnet's lowest free one with the first VM; the same key in each subnet entered.
            if !subnets(of: id).contains(h.subnet) {
                let key = clusters[id]!.pkey ?? freePKeys[h.subnet][0]
                freePKeys[h.subnet].removeAll { $0 == key }
                clusters[id]!.pkey = key
            }
            let lowest = (0..<h.vfs).first { !h.vfsInUse.contains($0) }!
            h.vfsInUse.insert(lowest)
            h.hpcVMs[id, default: 0] += 1
            if h.lidPerVF { lidsInUse[h.subnet] += 1 }
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
            if h.lidPerVF { lidsInUse[h.subnet] -= 1 }
        }
        hosts[vm.host] = h
        // The key returns to a subnet's pool with the cluster's last VM there.
        if let key = clusters[id]!.pkey, vm.virtualFunction != nil, !subnets(of: id).contains(h.subnet) {
            freePKeys[h.subnet].insert(key, at: freePKeys[h.subnet].firstIndex { $0 > key } ?? freePKeys[h.subnet].count)
            if clusters[id]!.vms.isEmpty { clusters[id]!.pkey = nil }
        }
    }

    // MARK: - Totals, to compare with the engine's `usage`

    /// Physical cores in use (pinned plus ceil(dynamic / r) per host), memory, VFs, tenant pkey entries, LIDs, clusters.
    public var usage: Usage {
        Usage(physicalCores: hosts.reduce(0) { $0 + $1.pinned + coresFor(dynamic: $1.dynamic) },
              memoryMiB: hosts.reduce(0) { $0 + $1.memoryUsed },
              vfs: hosts.reduce(0) { $0 + $1.vfsInUse.count },
              pkeyEntries: hosts.reduce(0) { $0 + $1.hpcVMs.count },
              lids: lidsInUse.reduce(0, +), clusters: clusters.count)
    }
}
