import CloudModel

/// The shared allocation engine (SEMANTICS 2-6): decides where virtual clusters
/// go and which VF and pkey each VM gets. Pure: no clock, no I/O, and no
/// randomness but what a policy carries. The simulator and the production
/// backend both drive it.
public final class AllocationEngine {
    /// Everything that changes, in one value so tests can compare snapshots.
    public struct State: Equatable {
        var pinnedVcores: [Int]
        var dynamicVcores: [Int]
        var usedMemoryMiB: [Int64]
        var usedVFs: [Int]
        /// Tenant pkey entries in use per host (clusters with an hpc VM there).
        var usedPKeyEntries: [Int]
        /// VF-in-use bits, `vfWordsPerHost` words per host.
        var vfBits: [UInt64]
        var freePKeys: LowestFreeSet
        var lidsInUse: Int
        var clusters: [Int64: ClusterRecord]
        var index: CapacityIndex
        var usedPhysicalCores: Int
        var usedVFsTotal: Int
        var usedPKeyEntriesTotal: Int
        var usedMemoryMiBTotal: Int64 = 0
        /// Hosts that take no new VMs (an operator's drain); their running VMs stay.
        var drained: [Bool]
        /// Resources held outside any cluster (a production backend's quarantine and
        /// the site's own pkeys): see `Restore.swift`.
        var holds: Holds
    }

    // Static description of the cloud, by host index.
    public let cloud: CloudSpec
    public let overcommit: Overcommit
    let cores: [Int]
    let memoryMiB: [Int64]
    let vfs: [Int]
    /// Tenant entries per host's pkey table: pkeyTable - 1 (the default partition's).
    let pkeyEntries: [Int]
    let needsLIDPerVF: [Bool]
    let vfWordsPerHost: Int
    let lidSpace: Int
    /// One representative host per distinct host kind, for the `infeasible` check.
    let hostKinds: [Int]

    public internal(set) var state: State

    public init(cloud: CloudSpec) {
        self.cloud = cloud
        overcommit = cloud.overcommit
        var cores: [Int] = [], memory: [Int64] = [], vfs: [Int] = [], entries: [Int] = [], lid: [Bool] = []
        var kinds: [Int] = []
        for group in cloud.groups where group.count > 0 {
            kinds.append(cores.count)
            for _ in 0..<group.count {
                cores.append(group.cores)
                memory.append(group.memoryMiB)
                vfs.append(group.vfs)
                entries.append(group.pkeyTable - 1)
                lid.append(group.sriovMode == .vswitchDynamic)
            }
        }
        self.cores = cores
        memoryMiB = memory
        self.vfs = vfs
        pkeyEntries = entries
        needsLIDPerVF = lid
        hostKinds = kinds
        let vfWords = max(1, ((vfs.max() ?? 0) + 63) / 64)
        vfWordsPerHost = vfWords
        lidSpace = cloud.subnet.lidSpace
        let hostCount = cores.count
        state = State(pinnedVcores: Array(repeating: 0, count: hostCount),
                      dynamicVcores: Array(repeating: 0, count: hostCount),
                      usedMemoryMiB: Array(repeating: 0, count: hostCount),
                      usedVFs: Array(repeating: 0, count: hostCount),
                      usedPKeyEntries: Array(repeating: 0, count: hostCount),
                      vfBits: Array(repeating: 0, count: hostCount * vfWords),
                      freePKeys: LowestFreeSet(cloud.subnet.pkeyPool),
                      lidsInUse: cloud.buildTimeLIDs.total,
                      clusters: [:],
                      index: CapacityIndex(leaves: []),
                      usedPhysicalCores: 0, usedVFsTotal: 0, usedPKeyEntriesTotal: 0,
                      drained: Array(repeating: false, count: hostCount), holds: Holds())
        state.index = CapacityIndex(leaves: (0..<hostCount).map(capacity(ofHost:)))
    }

    /// An independent engine in the same state: a scratch copy for what-if
    /// questions (a queue's reservation) that must not touch the real one.
    /// - Complexity: O(1) until either side changes (the state is copy-on-write).
    public init(copying other: AllocationEngine) {
        cloud = other.cloud
        overcommit = other.overcommit
        cores = other.cores
        memoryMiB = other.memoryMiB
        vfs = other.vfs
        pkeyEntries = other.pkeyEntries
        needsLIDPerVF = other.needsLIDPerVF
        vfWordsPerHost = other.vfWordsPerHost
        lidSpace = other.lidSpace
        hostKinds = other.hostKinds
        state = other.state
    }

    public var hostCount: Int { cores.count }

    // MARK: - Admission, resize, release

    /// Places all `request.vms` VMs or none (SEMANTICS 5).
    /// - Complexity: O(n · s) for n VMs, s the cost of one policy search (O(log H) typical).
    public func admit(_ request: ClusterRequest, policy: some PlacementPolicy) -> Decision {
        precondition(state.clusters[request.id] == nil, "cluster \(request.id) is already running")
        precondition(request.vms >= 1, "a request needs at least one VM")
        let shape = request.shape
        guard fitsSomeEmptyHost(shape) else { return .rejected(.infeasible) }
        var pkey: PartitionKey?
        if shape.kind == .hpc {
            guard let key = state.freePKeys.takeLowest() else { return .rejected(.pkeySpace) }
            pkey = PartitionKey(key)
        }
        var record = ClusterRecord(id: request.id, shape: shape, pkey: pkey, vms: [], initialSpan: 0, hostCounts: [])
        record.vms.reserveCapacity(request.vms)
        if let reason = place(count: request.vms, into: &record, policy: policy) {
            if let pkey { state.freePKeys.release(pkey.value) }
            return .rejected(reason)
        }
        record.initialSpan = record.hostCounts.count
        state.clusters[request.id] = record
        return .accepted(pkey: pkey, vms: record.vms)
    }

    /// Grows a running cluster by `count` VMs of its shape, atomically (SEMANTICS 6).
    public func extend(cluster id: Int64, by count: Int, policy: some PlacementPolicy) -> Decision {
        precondition(count >= 1, "extend by at least one VM")
        guard var record = state.clusters.removeValue(forKey: id) else { return .ignored }
        let before = record.vms.count
        let reason = place(count: count, into: &record, policy: policy)
        state.clusters[id] = record
        if let reason { return .rejected(reason) }
        return .accepted(pkey: record.pkey, vms: Array(record.vms[before...]))
    }

    /// Removes the `count` most recently added VMs, never going below one VM (SEMANTICS 6).
    public func shrink(cluster id: Int64, by count: Int) -> Decision {
        precondition(count >= 1, "shrink by at least one VM")
        guard var record = state.clusters.removeValue(forKey: id) else { return .ignored }
        let keep = max(1, record.vms.count - count)
        let removed = Array(record.vms[keep...])
        for vm in removed.reversed() { removeLast(from: &record, expecting: vm) }
        state.clusters[id] = record
        return .accepted(pkey: record.pkey, vms: removed)
    }

    /// Ends a cluster: every resource returns, the pkey goes back to the pool (SEMANTICS 6).
    /// - Returns: the cluster as it was, or nil if it was not running.
    @discardableResult
    public func release(cluster id: Int64) -> ClusterRecord? {
        guard var record = state.clusters.removeValue(forKey: id) else { return nil }
        let departed = record
        while let vm = record.vms.last { removeLast(from: &record, expecting: vm) }
        if let pkey = record.pkey { state.freePKeys.release(pkey.value) }
        return departed
    }

    public func cluster(_ id: Int64) -> ClusterRecord? { state.clusters[id] }

    public var runningClusters: Int { state.clusters.count }

    /// The running clusters' ids, ascending.
    public var clusterIDs: [Int64] { state.clusters.keys.sorted() }

    /// What is in use now, subnet- and cloud-wide.
    public var usage: Usage {
        Usage(physicalCores: state.usedPhysicalCores, memoryMiB: state.usedMemoryMiBTotal, vfs: state.usedVFsTotal,
              pkeyEntries: state.usedPKeyEntriesTotal, lids: state.lidsInUse, clusters: state.clusters.count)
    }

    /// What the cloud has in all (pkey entries exclude each host's default entry).
    public var capacity: Usage {
        Usage(physicalCores: cores.reduce(0, +), memoryMiB: memoryMiB.reduce(0, +), vfs: vfs.reduce(0, +), pkeyEntries: pkeyEntries.reduce(0, +),
              lids: lidSpace, clusters: cloud.subnet.pkeyPool.count)
    }

    /// Places `count` VMs one after another; on failure undoes them and returns the reason.
    private func place(count: Int, into record: inout ClusterRecord, policy: some PlacementPolicy) -> RejectionReason? {
        let before = record.vms.count
        for _ in 0..<count {
            // The query is a temporary so it never keeps `record` alive across `add` (no copy on append).
            guard let host = policy.chooseHost(for: PlacementQuery(engine: self, cluster: record)) else {
                let reason = rejectionReason(for: record)
                while record.vms.count > before { removeLast(from: &record, expecting: record.vms[record.vms.count - 1]) }
                return reason
            }
            precondition(host >= 0 && host < hostCount && fits(host: host, shape: record.shape, cluster: record),
                         "policy chose host \(host), where the VM does not fit")
            add(to: &record, host: host)
        }
        return nil
    }

    // MARK: - Host rules (SEMANTICS 4)

    /// Dynamic vCPUs per physical core left for them on `host` (at most the
    /// overcommit ratio; below 1 when they do not fill those cores).
    public func dynamicSharing(host: Int) -> Double {
        let free = cores[host] - state.pinnedVcores[host]
        return free > 0 ? Double(state.dynamicVcores[host]) / Double(free) : 0
    }

    /// The highest `dynamicSharing` over the hosts of `record` (no array built: called per admission).
    public func busiestDynamicSharing(of record: ClusterRecord) -> Double {
        record.hostCounts.reduce(0) { max($0, dynamicSharing(host: $1.host)) }
    }

    /// Physical cores of `host`.
    public func cores(host: Int) -> Int { cores[host] }

    /// Whether every tenant entry of `host`'s pkey table is taken.
    func pkeyTableFull(host: Int) -> Bool { state.usedPKeyEntries[host] >= pkeyEntries[host] }

    /// The literal host rules: does one more VM of `shape` (of `cluster`) fit `host`?
    public func fits(host: Int, shape: VMShape, cluster: ClusterRecord?) -> Bool {
        guard !state.drained[host] else { return false }
        guard coresFit(host: host, shape: shape), state.usedMemoryMiB[host] + shape.memoryMiB <= memoryMiB[host] else { return false }
        guard shape.kind == .hpc else { return true }
        guard state.usedVFs[host] + 1 <= vfs[host] else { return false }
        // pkey table: 1 (default entry) + distinct clusters after adding <= pkeyTable.
        let holdsPKey = cluster?.holds(host: host) ?? false
        guard holdsPKey || state.usedPKeyEntries[host] + 1 <= pkeyEntries[host] else { return false }
        return !needsLIDPerVF[host] || state.lidsInUse + 1 <= lidSpace
    }

    /// The cores rule alone: pinned vCPUs take whole cores, dynamic ones share what is left at the overcommit ratio.
    @inline(__always)
    func coresFit(host: Int, shape: VMShape) -> Bool {
        let pinned = state.pinnedVcores[host], dynamic = state.dynamicVcores[host]
        return shape.pinning == .fixed
            ? pinned + shape.vcores + overcommit.physicalCores(forDynamic: dynamic) <= cores[host]
            : pinned + overcommit.physicalCores(forDynamic: dynamic + shape.vcores) <= cores[host]
    }

    /// Physical cores left on `host` after adding one VM of `shape`:
    /// cores - pinned - ceil(dynamic / r) (the best-fit and worst-fit score).
    public func freeCoresAfter(host: Int, shape: VMShape) -> Int {
        let pinned = state.pinnedVcores[host] + (shape.pinning == .fixed ? shape.vcores : 0)
        let dynamic = state.dynamicVcores[host] + (shape.pinning == .dynamic ? shape.vcores : 0)
        return cores[host] - pinned - overcommit.physicalCores(forDynamic: dynamic)
    }

    /// Physical cores `host` has not handed out: cores - pinned - ceil(dynamic / r).
    public func freeCores(host: Int) -> Int {
        cores[host] - state.pinnedVcores[host] - overcommit.physicalCores(forDynamic: state.dynamicVcores[host])
    }

    /// Dynamic vCPUs that still fit `host`: floor((cores - pinned) * r) - dynamic.
    @inline(__always)
    func dynamicSlack(host: Int) -> Int {
        overcommit.dynamicCapacity(ofPhysical: cores[host] - state.pinnedVcores[host]) - state.dynamicVcores[host]
    }

    func capacity(ofHost h: Int) -> Capacity {
        let free = freeCores(host: h)
        let slack = dynamicSlack(host: h)
        let hpcReady = vfs[h] > state.usedVFs[h] && pkeyEntries[h] > state.usedPKeyEntries[h]
        var capacity = Capacity(freeCores: Int32(free),
                        dynamicSlack: Int32(slack),
                        freeMemoryMiB: Int32(memoryMiB[h] - state.usedMemoryMiB[h]),
                        freeVFs: Int32(vfs[h] - state.usedVFs[h]),
                        freePKeyEntries: Int32(pkeyEntries[h] - state.usedPKeyEntries[h]),
                        lidExempt: needsLIDPerVF[h] ? 0 : 1,
                        hpcFreeCores: hpcReady ? Int32(free) : Demand.none,
                        hpcDynamicSlack: hpcReady ? Int32(slack) : Demand.none)
        if state.drained[h] {
            // A drained host meets no cores demand (every VM has at least one vCPU), so no search descends to it.
            capacity.freeCores = .min
            capacity.dynamicSlack = .min
            capacity.hpcFreeCores = .min
            capacity.hpcDynamicSlack = .min
        }
        return capacity
    }

    /// The index demand of one more VM of `shape` on a host not yet holding the cluster.
    func demand(_ shape: VMShape, newPKeyEntry: Bool = true) -> Demand {
        let hpc = shape.kind == .hpc
        let fixed = shape.pinning == .fixed
        let conditioned = hpc && newPKeyEntry
        return Demand(freeCores: fixed ? Int32(shape.vcores) : Demand.none,
                      dynamicSlack: fixed ? Demand.none : Int32(shape.vcores),
                      freeMemoryMiB: Int32(clamping: shape.memoryMiB),
                      freeVFs: hpc ? 1 : Demand.none,
                      freePKeyEntries: hpc && newPKeyEntry ? 1 : Demand.none,
                      lidExempt: hpc && state.lidsInUse >= lidSpace ? 1 : Demand.none,
                      hpcFreeCores: conditioned && fixed ? Int32(shape.vcores) : Demand.none,
                      hpcDynamicSlack: conditioned && !fixed ? Int32(shape.vcores) : Demand.none)
    }

    private func fitsSomeEmptyHost(_ shape: VMShape) -> Bool {
        hostKinds.contains { h in
            let coresOK = shape.pinning == .fixed
                ? shape.vcores <= cores[h]
                : overcommit.physicalCores(forDynamic: shape.vcores) <= cores[h]
            guard coresOK, shape.memoryMiB <= memoryMiB[h] else { return false }
            guard shape.kind == .hpc else { return true }
            return vfs[h] >= 1 && pkeyEntries[h] >= 1 && (!needsLIDPerVF[h] || cloud.buildTimeLIDs.total < lidSpace)
        }
    }

    /// The first of vf, pkey-table, lid, cores, memory that no host meets on its own
    /// in the tentative state; `fragmented` if each is met somewhere (SEMANTICS 5).
    func rejectionReason(for record: ClusterRecord) -> RejectionReason {
        let shape = record.shape
        let root = state.index.root
        if shape.kind == .hpc {
            if root.freeVFs < 1 { return .vf }
            if root.freePKeyEntries < 1 && record.hostCounts.isEmpty { return .pkeyTable }
            if state.lidsInUse >= lidSpace && root.lidExempt < 1 { return .lid }
        }
        let coresOK = shape.pinning == .fixed ? Int(root.freeCores) >= shape.vcores : Int(root.dynamicSlack) >= shape.vcores
        if !coresOK { return .cores }
        if Int64(root.freeMemoryMiB) < shape.memoryMiB { return .memory }
        return .fragmented
    }

    // MARK: - State changes

    /// One VM of `shape`'s vCPUs and memory added to `host` (`sign` 1) or taken off (-1),
    /// with the cloud's totals. The caller updates the index.
    func account(_ shape: VMShape, host: Int, by sign: Int) {
        let coresBefore = cores[host] - freeCores(host: host)
        if shape.pinning == .fixed { state.pinnedVcores[host] += sign * shape.vcores } else { state.dynamicVcores[host] += sign * shape.vcores }
        state.usedMemoryMiB[host] += Int64(sign) * shape.memoryMiB
        state.usedMemoryMiBTotal += Int64(sign) * shape.memoryMiB
        state.usedPhysicalCores += cores[host] - freeCores(host: host) - coresBefore
    }

    func add(to record: inout ClusterRecord, host: Int, virtualFunction chosen: Int? = nil) {
        let shape = record.shape
        account(shape, host: host, by: 1)
        var vf: Int?
        if shape.kind == .hpc {
            let taken = chosen ?? lowestFreeVF(host: host)
            markVF(taken, host: host, inUse: true)
            vf = taken
        }
        if let i = record.hostCounts.firstIndex(where: { $0.host == host }) {
            record.hostCounts[i].vms += 1
        } else {
            record.hostCounts.append(.init(host: host, vms: 1))
            if shape.kind == .hpc { countPKeyEntry(host: host, by: 1) }
        }
        record.vms.append(PlacedVM(host: host, virtualFunction: vf))
        state.index.update(host: host, to: capacity(ofHost: host))
    }

    private func removeLast(from record: inout ClusterRecord, expecting vm: PlacedVM) {
        assert(record.vms.last == vm)
        removeVM(from: &record, at: record.vms.count - 1)
    }

    /// Takes VM `index` out of `record`: its cores, memory, VF (and LID) and, with the
    /// cluster's last VM on that host, the host's pkey entry return.
    func removeVM(from record: inout ClusterRecord, at index: Int) {
        let removed = record.vms.remove(at: index)
        let host = removed.host, shape = record.shape
        account(shape, host: host, by: -1)
        if let vf = removed.virtualFunction { markVF(vf, host: host, inUse: false) }
        let i = record.hostCounts.firstIndex { $0.host == host }!
        record.hostCounts[i].vms -= 1
        if record.hostCounts[i].vms == 0 {
            record.hostCounts.remove(at: i)
            // The host's pkey entry goes when the cluster's last hpc VM leaves it.
            if shape.kind == .hpc { countPKeyEntry(host: host, by: -1) }
        }
        state.index.update(host: host, to: capacity(ofHost: host))
    }

    /// VF `vf` of `host` taken or freed: its bit, the host and cloud counts, and
    /// its LID on a `vswitch-dynamic` HCA. The caller updates the index.
    func markVF(_ vf: Int, host: Int, inUse: Bool) {
        let bit: UInt64 = 1 << UInt64(vf & 63), delta = inUse ? 1 : -1
        if inUse { state.vfBits[host * vfWordsPerHost + vf >> 6] |= bit } else { state.vfBits[host * vfWordsPerHost + vf >> 6] &= ~bit }
        state.usedVFs[host] += delta
        state.usedVFsTotal += delta
        if needsLIDPerVF[host] { state.lidsInUse += delta }
    }

    /// One tenant pkey table entry of `host` taken (+1) or freed (-1).
    func countPKeyEntry(host: Int, by delta: Int) {
        state.usedPKeyEntries[host] += delta
        state.usedPKeyEntriesTotal += delta
    }

    func isVFFree(_ vf: Int, host: Int) -> Bool {
        state.vfBits[host * vfWordsPerHost + vf >> 6] & (1 << UInt64(vf & 63)) == 0
    }

    private func lowestFreeVF(host: Int) -> Int {
        let base = host * vfWordsPerHost
        for w in 0..<vfWordsPerHost where state.vfBits[base + w] != ~0 {
            let vf = w << 6 + (~state.vfBits[base + w]).trailingZeroBitCount
            precondition(vf < vfs[host], "no free VF on host \(host)")
            return vf
        }
        preconditionFailure("no free VF on host \(host)")
    }
}
