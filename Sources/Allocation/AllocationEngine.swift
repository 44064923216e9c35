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
        /// Each subnet's pool: a subnet manager's partitions are its own (Hardware/routers.md 2).
        var freePKeys: [LowestFreeSet]
        /// Subnets whose pool has no free key.
        var exhaustedPools: Int = 0
        /// LIDs held in each subnet, and over all of them.
        var lidsInUse: [Int]
        var lidsInUseTotal: Int
        var clusters: [Int64: ClusterRecord]
        /// One index per subnet, over its hosts (local numbering: host - the subnet's first).
        var indexes: [CapacityIndex]
        /// Over the subnets (clouds of more than one): each leaf summarizes one subnet as a
        /// new hpc cluster sees it, so a first VM finds its subnet in O(log S) (`subnetSummary`).
        var subnetIndex: CapacityIndex
        /// Per subnet, in clouds of more than one: cores, memory, VFs and pkey entries in use
        /// (LIDs and pkeys are read off `lidsInUse` and the pools).
        var subnetUse: [Usage] = []
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
    /// Each subnet's LID space.
    let lidSpaces: [Int]
    /// The first host of each subnet, and one past the last host as the last entry.
    let subnetStart: [Int]
    /// Each host's subnet; empty in a single-subnet cloud (every host is in subnet 0).
    let subnetOfHost: [Int32]
    /// Whether a hpc cluster may span subnets (`RouterSpec.spanning`).
    let spanning: Bool
    /// Each distinct kind of empty host, for the `infeasible` check.
    let hostKinds: [EmptyHost]
    /// After a rejected admission in a cloud of several subnets, why each subnet could not
    /// take the cluster (its own first broken rule, or `pkey-space`); empty otherwise.
    /// Not state: a report, overwritten by the next admission.
    public private(set) var subnetReasons: [RejectionReason] = []
    /// Subnets a non-spanning admission already tried (its first VM fit, the rest did not).
    var excludedSubnets: [Bool] = []
    /// In a cloud of several subnets, the most each subnet has had in use at once
    /// (`usage(subnet:)`, after each accepted admission, extension or migration: what a
    /// rejected request tried on the way never counts). Not state: a report.
    public private(set) var subnetPeaks: [Usage] = []

    public internal(set) var state: State

    public init(cloud: CloudSpec) {
        self.cloud = cloud
        overcommit = cloud.overcommit
        var cores: [Int] = [], memory: [Int64] = [], vfs: [Int] = [], entries: [Int] = [], lid: [Bool] = []
        var kinds: [EmptyHost] = [], subnetOf: [Int32] = []
        let subnets = cloud.subnets.count
        var start = Array(repeating: 0, count: subnets + 1)
        let lidsAtBuild = cloud.subnets.indices.map { cloud.buildTimeLIDs(subnet: $0).total }
        for group in cloud.groups where group.count > 0 {
            let kind = EmptyHost(cores: group.cores, memoryMiB: group.memoryMiB, vfs: group.vfs, pkeyEntries: group.pkeyTable - 1,
                                 lidForVF: group.sriovMode != .vswitchDynamic || lidsAtBuild[group.subnet] < cloud.subnets[group.subnet].lidSpace)
            if !kinds.contains(kind) { kinds.append(kind) }
            for _ in 0..<group.count {
                cores.append(group.cores)
                memory.append(group.memoryMiB)
                vfs.append(group.vfs)
                entries.append(group.pkeyTable - 1)
                lid.append(group.sriovMode == .vswitchDynamic)
                if subnets > 1 { subnetOf.append(Int32(group.subnet)) }
            }
            start[group.subnet + 1] += group.count
        }
        for s in 0..<subnets { start[s + 1] += start[s] }
        self.cores = cores
        memoryMiB = memory
        self.vfs = vfs
        pkeyEntries = entries
        needsLIDPerVF = lid
        hostKinds = kinds
        subnetStart = start
        subnetOfHost = subnetOf
        spanning = cloud.routers.spanning
        let vfWords = max(1, ((vfs.max() ?? 0) + 63) / 64)
        vfWordsPerHost = vfWords
        lidSpaces = cloud.subnets.map(\.lidSpace)
        let hostCount = cores.count
        let lids = lidsAtBuild
        state = State(pinnedVcores: Array(repeating: 0, count: hostCount),
                      dynamicVcores: Array(repeating: 0, count: hostCount),
                      usedMemoryMiB: Array(repeating: 0, count: hostCount),
                      usedVFs: Array(repeating: 0, count: hostCount),
                      usedPKeyEntries: Array(repeating: 0, count: hostCount),
                      vfBits: Array(repeating: 0, count: hostCount * vfWords),
                      freePKeys: cloud.subnets.map { LowestFreeSet($0.pkeyPool) },
                      lidsInUse: lids, lidsInUseTotal: lids.reduce(0, +),
                      clusters: [:],
                      indexes: [], subnetIndex: CapacityIndex(leaves: []),
                      usedPhysicalCores: 0, usedVFsTotal: 0, usedPKeyEntriesTotal: 0,
                      drained: Array(repeating: false, count: hostCount), holds: Holds())
        state.indexes = (0..<subnets).map { s in CapacityIndex(leaves: (start[s]..<start[s + 1]).map(capacity(ofHost:))) }
        if subnets > 1 {
            state.subnetUse = Array(repeating: Usage(physicalCores: 0, vfs: 0, pkeyEntries: 0, lids: 0, clusters: 0), count: subnets)
            excludedSubnets = Array(repeating: false, count: subnets)
            rebuildSubnetIndex()
            subnetPeaks = (0..<subnets).map(usage(subnet:))
        }
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
        lidSpaces = other.lidSpaces
        subnetStart = other.subnetStart
        subnetOfHost = other.subnetOfHost
        spanning = other.spanning
        hostKinds = other.hostKinds
        excludedSubnets = other.excludedSubnets
        subnetPeaks = other.subnetPeaks
        state = other.state
    }

    public var hostCount: Int { cores.count }

    /// Subnets in the cloud (1 unless the scenario describes several).
    public var subnetCount: Int { lidSpaces.count }

    /// The subnet of `host`.
    /// - Complexity: O(1)
    @inline(__always)
    public func subnet(of host: Int) -> Int { subnetOfHost.isEmpty ? 0 : Int(subnetOfHost[host]) }

    /// The hosts of subnet `s`.
    public func hosts(ofSubnet s: Int) -> Range<Int> { subnetStart[s]..<subnetStart[s + 1] }

    // MARK: - Admission, resize, release

    /// Places all `request.vms` VMs or none (SEMANTICS 5). In a cloud of several
    /// subnets a hpc cluster lives in one subnet unless routers let it span: its
    /// first VM goes where the policy puts it among the subnets with a free pkey;
    /// if the rest do not fit that subnet, it is tried again without it.
    /// - Complexity: O(n · s) for n VMs, s the cost of one policy search (O(log H) typical);
    ///   times the subnets tried in a cloud of several.
    public func admit(_ request: ClusterRequest, policy: some PlacementPolicy) -> Decision {
        precondition(state.clusters[request.id] == nil, "cluster \(request.id) is already running")
        precondition(request.vms >= 1, "a request needs at least one VM")
        let shape = request.shape
        if !subnetReasons.isEmpty { subnetReasons = [] }
        guard fitsSomeEmptyHost(shape) else { return .rejected(.infeasible) }
        // The pkey is the subnet's lowest free one, taken with the first VM (`add`).
        if shape.kind == .hpc && state.exhaustedPools == subnetCount {
            if subnetCount > 1 { subnetReasons = Array(repeating: .pkeySpace, count: subnetCount) }
            return .rejected(.pkeySpace)
        }
        var record = ClusterRecord(id: request.id, shape: shape, pkey: nil, vms: [], initialSpan: 0, hostCounts: [])
        record.vms.reserveCapacity(request.vms)
        if subnetCount > 1 && shape.kind == .hpc && !spanning {
            return admitInOneSubnet(&record, count: request.vms, policy: policy)
        }
        if let failure = place(count: request.vms, into: &record, policy: policy) {
            if subnetCount > 1 { recordSubnetReasons(tried: [], shape: shape) }
            return .rejected(failure.reason)
        }
        return accept(record)
    }

    private func accept(_ record: ClusterRecord) -> Decision {
        var record = record
        record.initialSpan = record.hostCounts.count
        state.clusters[record.id] = record
        notePeaks(record)
        return .accepted(pkey: record.pkey, vms: record.vms)
    }

    /// A hpc cluster that may not span: the policy's host for its first VM names the
    /// subnet; if that subnet has room for all `count` VMs (`room`), they go there, else
    /// the policy chooses again without it. Room is exact for VMs of one shape, whatever
    /// the policy (each VM placed takes one unit of it), so no VM is placed on trial.
    /// - Complexity: O(t · n log H) for t subnets tried and n VMs.
    private func admitInOneSubnet(_ record: inout ClusterRecord, count: Int, policy: some PlacementPolicy) -> Decision {
        var tried: [Int] = []
        defer { for s in tried { excludedSubnets[s] = false } }
        while let host = policy.chooseHost(for: PlacementQuery(engine: self, cluster: record)) {
            precondition(host >= 0 && host < hostCount && PlacementQuery(engine: self, cluster: record).fits(host),
                         "policy chose host \(host), where the VM does not fit")
            let s = subnet(of: host)
            guard room(in: s, for: record.shape, atLeast: count) >= count else {
                tried.append(s)
                excludedSubnets[s] = true
                continue
            }
            add(to: &record, host: host)
            if count > 1, let failure = place(count: count - 1, into: &record, policy: policy) {
                preconditionFailure("subnet \(s) had room for \(count) VMs, yet one did not fit (\(failure.reason))")
            }
            return accept(record)
        }
        // No subnet left takes the first VM: SEMANTICS 5 over the subnets it may use, the tried
        // ones as they stand filled with as many of its VMs as fit (`filledChecks`).
        let last = failure(for: record)
        for s in tried { excludedSubnets[s] = false }
        let filled = tried.map { (subnet: $0, checks: filledChecks(subnet: $0, shape: record.shape)) }
        for s in tried { excludedSubnets[s] = true }
        var reason = last.reason
        if !filled.isEmpty {
            var checks = filled.reduce(Checks.all) { $0.intersection($1.checks) }
            if last.reason != .pkeySpace { checks.formIntersection(last.checks) }
            reason = checks.reason
        }
        recordSubnetReasons(tried: filled, shape: record.shape)
        return .rejected(reason)
    }

    /// How many VMs of `shape` of a new cluster subnet `s` can take, counted up to
    /// `needed`: per fitting host the fewest of its free VFs, cores and memory in VMs,
    /// with the VMs on `vswitch-dynamic` hosts capped by the subnet's LIDs left.
    /// - Complexity: O(k log H) for the k hosts counted.
    func room(in s: Int, for shape: VMShape, atLeast needed: Int) -> Int {
        let lidsLeft = max(0, lidSpaces[s] - state.lidsInUse[s])
        guard state.freePKeys[s].freeCount > 0 else { return 0 }
        func vms(_ h: Int) -> Int {
            let cores = shape.pinning == .fixed ? freeCores(host: h) / shape.vcores : dynamicSlack(host: h) / shape.vcores
            var vms = min(cores, vfs[h] - state.usedVFs[h])
            if shape.memoryMiB > 0 { vms = min(vms, Int((memoryMiB[h] - state.usedMemoryMiB[h]) / shape.memoryMiB)) }
            return vms
        }
        var exempt = 0, dynamic = 0, capped = false
        let base = subnetStart[s]
        var demand = demand(shape, subnet: s)
        state.indexes[s].forEachFit(demand) { local in
            let h = base + local
            if needsLIDPerVF[h] {
                dynamic += vms(h)
                // The subnet's LIDs are spoken for: more LID-using hosts add nothing.
                if dynamic >= lidsLeft { capped = true }
            } else {
                exempt += vms(h)
            }
            return !capped && exempt + dynamic < needed
        }
        if capped && exempt + lidsLeft < needed && shape.kind == .hpc {
            // Every further VM needs a host that takes no LID: count those alone.
            demand.lidExempt = 1
            exempt = 0
            state.indexes[s].forEachFit(demand) { local in
                exempt += vms(base + local)
                return exempt + lidsLeft < needed
            }
        }
        return exempt + min(dynamic, lidsLeft)
    }

    /// The rules that fail in subnet `s` once as many VMs of a new cluster of `shape` as
    /// fit are placed there first-fit: a tried subnet's state for its reason, whatever the policy.
    func filledChecks(subnet s: Int, shape: VMShape) -> Checks {
        var record = ClusterRecord(id: -1, shape: shape, pkey: nil, vms: [], initialSpan: 0, hostCounts: [])
        if let first = state.indexes[s].firstFit(demand(shape, subnet: s)) {
            add(to: &record, host: subnetStart[s] + first)
            while let host = PlacementQuery(engine: self, cluster: record).firstFit() { add(to: &record, host: host) }
        }
        let checks = failingChecks(for: record, subnet: s)
        while let vm = record.vms.last { removeLast(from: &record, expecting: vm) }
        return checks
    }

    /// Grows a running cluster by `count` VMs of its shape, atomically (SEMANTICS 6).
    public func extend(cluster id: Int64, by count: Int, policy: some PlacementPolicy) -> Decision {
        precondition(count >= 1, "extend by at least one VM")
        guard var record = state.clusters.removeValue(forKey: id) else { return .ignored }
        let before = record.vms.count
        let failure = place(count: count, into: &record, policy: policy)
        state.clusters[id] = record
        if let failure { return .rejected(failure.reason) }
        notePeaks(record)
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
        // The pkey returns to each subnet's pool as the cluster's last VM there leaves (`removeVM`).
        while let vm = record.vms.last { removeLast(from: &record, expecting: vm) }
        return departed
    }

    public func cluster(_ id: Int64) -> ClusterRecord? { state.clusters[id] }

    public var runningClusters: Int { state.clusters.count }

    /// The running clusters' ids, ascending.
    public var clusterIDs: [Int64] { state.clusters.keys.sorted() }

    /// What is in use now, cloud-wide (LIDs summed over the subnets).
    public var usage: Usage {
        Usage(physicalCores: state.usedPhysicalCores, memoryMiB: state.usedMemoryMiBTotal, vfs: state.usedVFsTotal,
              pkeyEntries: state.usedPKeyEntriesTotal, lids: state.lidsInUseTotal, clusters: state.clusters.count)
    }

    /// What the cloud has in all (pkey entries exclude each host's default entry; LIDs
    /// and clusters, the pkey pools, are summed over the subnets).
    public var capacity: Usage {
        Usage(physicalCores: cores.reduce(0, +), memoryMiB: memoryMiB.reduce(0, +), vfs: vfs.reduce(0, +), pkeyEntries: pkeyEntries.reduce(0, +),
              lids: lidSpaces.reduce(0, +), clusters: cloud.subnets.reduce(0) { $0 + $1.pkeyPool.count })
    }

    /// What subnet `s` has in use: its cores, memory, VFs, pkey entries, LIDs, and
    /// pkeys taken from its pool as `clusters` (held keys included).
    /// - Complexity: O(1)
    public func usage(subnet s: Int) -> Usage {
        var use = subnetCount > 1 ? state.subnetUse[s] : usage
        use.lids = state.lidsInUse[s]
        use.clusters = state.freePKeys[s].count - state.freePKeys[s].freeCount
        return use
    }

    /// What subnet `s` has in all, as `capacity` counts it.
    public func capacity(subnet s: Int) -> Usage {
        let hosts = self.hosts(ofSubnet: s)
        return Usage(physicalCores: cores[hosts].reduce(0, +), memoryMiB: memoryMiB[hosts].reduce(0, +), vfs: vfs[hosts].reduce(0, +),
                     pkeyEntries: pkeyEntries[hosts].reduce(0, +), lids: lidSpaces[s], clusters: cloud.subnets[s].pkeyPool.count)
    }

    /// Raises the peaks of the subnets `record` is in (clouds of several subnets).
    /// - Complexity: O(1), O(h) for a spanning cluster on h hosts.
    func notePeaks(_ record: ClusterRecord) {
        guard subnetCount > 1, let first = record.hostCounts.first else { return }
        func note(_ s: Int) {
            let now = usage(subnet: s)
            var peak = subnetPeaks[s]
            peak.physicalCores = max(peak.physicalCores, now.physicalCores)
            peak.memoryMiB = max(peak.memoryMiB, now.memoryMiB)
            peak.vfs = max(peak.vfs, now.vfs)
            peak.pkeyEntries = max(peak.pkeyEntries, now.pkeyEntries)
            peak.lids = max(peak.lids, now.lids)
            peak.clusters = max(peak.clusters, now.clusters)
            subnetPeaks[s] = peak
        }
        let home = subnet(of: first.host)
        note(home)
        if spanning || record.shape.kind == .common {
            for entry in record.hostCounts.dropFirst() where subnet(of: entry.host) != home { note(subnet(of: entry.host)) }
        }
    }

    /// A failed placement: its reason, and which rules no host met.
    struct Failure {
        var reason: RejectionReason
        var checks: Checks
    }

    /// Places `count` VMs one after another; on failure undoes them and says why.
    private func place(count: Int, into record: inout ClusterRecord, policy: some PlacementPolicy) -> Failure? {
        let before = record.vms.count
        for _ in 0..<count {
            // The query is a temporary so it never keeps `record` alive across `add` (no copy on append).
            guard let host = policy.chooseHost(for: PlacementQuery(engine: self, cluster: record)) else {
                let failure = self.failure(for: record)
                while record.vms.count > before { removeLast(from: &record, expecting: record.vms[record.vms.count - 1]) }
                return failure
            }
            // One subnet: the host rules alone; several: the query's, which add where the cluster may go.
            precondition(host >= 0 && host < hostCount && (subnetCount == 1 ? fits(host: host, shape: record.shape, cluster: record)
                                                                             : PlacementQuery(engine: self, cluster: record).fits(host)),
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
    /// In a cloud of several subnets, a hpc VM also needs its cluster's pkey free in
    /// `host`'s subnet unless the cluster is there already, and a cluster that has a
    /// subnet stays in it unless routers let it span.
    public func fits(host: Int, shape: VMShape, cluster: ClusterRecord?) -> Bool {
        guard !state.drained[host] else { return false }
        guard coresFit(host: host, shape: shape), state.usedMemoryMiB[host] + shape.memoryMiB <= memoryMiB[host] else { return false }
        guard shape.kind == .hpc else { return true }
        guard state.usedVFs[host] + 1 <= vfs[host] else { return false }
        // pkey table: 1 (default entry) + distinct clusters after adding <= pkeyTable.
        let holdsPKey = cluster?.holds(host: host) ?? false
        guard holdsPKey || state.usedPKeyEntries[host] + 1 <= pkeyEntries[host] else { return false }
        let s = subnet(of: host)
        guard pkeyAvailable(in: s, for: cluster) else { return false }
        return !needsLIDPerVF[host] || state.lidsInUse[s] + 1 <= lidSpaces[s]
    }

    /// Whether a hpc VM of `cluster` may use subnet `s` as far as pkeys go: the cluster
    /// is there already, or it may enter (a new cluster: a free key; spanning: its key free there).
    @inline(__always)
    func pkeyAvailable(in s: Int, for cluster: ClusterRecord?) -> Bool {
        guard let cluster, let key = cluster.pkey else { return state.freePKeys[s].freeCount > 0 }
        if touches(cluster, subnet: s) { return true }
        return spanning && state.freePKeys[s].contains(key.value) && state.freePKeys[s].isFree(key.value)
    }

    /// Whether `record` has a VM in subnet `s`.
    /// - Complexity: O(1) in one subnet, O(h) for a cluster on h hosts when it may span.
    @inline(__always)
    func touches(_ record: ClusterRecord, subnet s: Int) -> Bool {
        if subnetCount == 1 { return !record.hostCounts.isEmpty }
        if !spanning { return record.hostCounts.first.map { subnet(of: $0.host) == s } ?? false }
        return record.hostCounts.contains { subnet(of: $0.host) == s }
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

    /// The index demand of one more VM of `shape` on a host of subnet `s` not yet
    /// holding the cluster; nil `s`: any subnet (the subnet index's demand, whose
    /// leaves already say whether a new hpc cluster may start there).
    func demand(_ shape: VMShape, subnet s: Int?, newPKeyEntry: Bool = true) -> Demand {
        let hpc = shape.kind == .hpc
        let fixed = shape.pinning == .fixed
        let conditioned = hpc && newPKeyEntry
        let lidsOut = s.map { state.lidsInUse[$0] >= lidSpaces[$0] } ?? false
        return Demand(freeCores: fixed ? Int32(shape.vcores) : Demand.none,
                      dynamicSlack: fixed ? Demand.none : Int32(shape.vcores),
                      freeMemoryMiB: Int32(clamping: shape.memoryMiB),
                      freeVFs: hpc ? 1 : Demand.none,
                      freePKeyEntries: hpc && newPKeyEntry ? 1 : Demand.none,
                      lidExempt: hpc && lidsOut ? 1 : Demand.none,
                      hpcFreeCores: conditioned && fixed ? Int32(shape.vcores) : Demand.none,
                      hpcDynamicSlack: conditioned && !fixed ? Int32(shape.vcores) : Demand.none)
    }

    /// A host as built, for the `infeasible` check: what one VM may need of it.
    struct EmptyHost: Equatable {
        var cores: Int, memoryMiB: Int64, vfs: Int, pkeyEntries: Int
        /// Its subnet has a LID for a VF of it beyond those held from build time (or it needs none).
        var lidForVF: Bool
    }

    /// - Complexity: O(K) for K distinct kinds of host.
    private func fitsSomeEmptyHost(_ shape: VMShape) -> Bool {
        hostKinds.contains { h in
            let coresOK = shape.pinning == .fixed
                ? shape.vcores <= h.cores
                : overcommit.physicalCores(forDynamic: shape.vcores) <= h.cores
            guard coresOK, shape.memoryMiB <= h.memoryMiB else { return false }
            guard shape.kind == .hpc else { return true }
            return h.vfs >= 1 && h.pkeyEntries >= 1 && h.lidForVF
        }
    }

    // MARK: - Rejection reasons (SEMANTICS 5)

    /// The host rules no host of a subnet meets on its own, one bit each, in
    /// SEMANTICS 5's order: the lowest set bit is the reason.
    struct Checks: OptionSet {
        let rawValue: UInt8
        static let vf = Checks(rawValue: 1)
        static let pkeyTable = Checks(rawValue: 2)
        static let lid = Checks(rawValue: 4)
        static let cores = Checks(rawValue: 8)
        static let memory = Checks(rawValue: 16)
        static let all: Checks = [.vf, .pkeyTable, .lid, .cores, .memory]

        var reason: RejectionReason {
            for (check, reason) in [(Checks.vf, RejectionReason.vf), (.pkeyTable, .pkeyTable), (.lid, .lid), (.cores, .cores), (.memory, .memory)]
            where contains(check) { return reason }
            return .fragmented
        }
    }

    /// The rules no host of subnet `s` meets for one more VM of `record`, in the tentative state.
    func failingChecks(for record: ClusterRecord, subnet s: Int) -> Checks {
        let shape = record.shape
        let root = state.indexes[s].root
        var checks: Checks = []
        if shape.kind == .hpc {
            if root.freeVFs < 1 { checks.insert(.vf) }
            if root.freePKeyEntries < 1 && !touches(record, subnet: s) { checks.insert(.pkeyTable) }
            // No host needs no LID, and the subnet has none left (or no host at all).
            if root.lidExempt < 1 && (state.lidsInUse[s] >= lidSpaces[s] || subnetStart[s] == subnetStart[s + 1]) { checks.insert(.lid) }
        }
        let coresOK = shape.pinning == .fixed ? Int(root.freeCores) >= shape.vcores : Int(root.dynamicSlack) >= shape.vcores
        if !coresOK { checks.insert(.cores) }
        if Int64(root.freeMemoryMiB) < shape.memoryMiB { checks.insert(.memory) }
        return checks
    }

    /// The subnets one more VM of `record` may use: its own, or any (spanning, a new
    /// cluster, a common one) whose pkeys allow it, and not one already tried.
    func eligibleSubnets(for record: ClusterRecord) -> some Sequence<Int> {
        let hpc = record.shape.kind == .hpc
        let confined = hpc && !spanning && !record.hostCounts.isEmpty
        let home = confined ? subnet(of: record.hostCounts[0].host) : 0
        return (0..<subnetCount).lazy.filter { s in
            if confined { return s == home }
            if !self.excludedSubnets.isEmpty && self.excludedSubnets[s] { return false }
            return !hpc || self.pkeyAvailable(in: s, for: record)
        }
    }

    /// Why one more VM of `record` fits nowhere: the first rule that no host of any
    /// subnet it may use meets (SEMANTICS 5, subnet by subnet for LIDs and pkeys);
    /// `pkey-space` when no subnet it may enter has the key.
    /// - Complexity: O(1) in one subnet, O(S) over S.
    func failure(for record: ClusterRecord) -> Failure {
        var checks = Checks.all
        var any = false
        for s in eligibleSubnets(for: record) {
            checks.formIntersection(failingChecks(for: record, subnet: s))
            any = true
        }
        guard any else { return Failure(reason: .pkeySpace, checks: []) }
        return Failure(reason: checks.reason, checks: checks)
    }

    /// The rejection reason of one more VM of `record` (drain plans name it).
    func rejectionReason(for record: ClusterRecord) -> RejectionReason { failure(for: record).reason }

    /// After a rejected admission: each subnet's own reason. A subnet tried keeps the
    /// rules that failed there; one never tried, its rules now (its pool may be empty).
    private func recordSubnetReasons(tried: [(subnet: Int, checks: Checks)], shape: VMShape) {
        let empty = ClusterRecord(id: -1, shape: shape, pkey: nil, vms: [], initialSpan: 0, hostCounts: [])
        var reasons = (0..<subnetCount).map { s -> RejectionReason in
            shape.kind == .hpc && state.freePKeys[s].freeCount == 0 ? .pkeySpace : failingChecks(for: empty, subnet: s).reason
        }
        for (s, checks) in tried { reasons[s] = checks.reason }
        subnetReasons = reasons
    }

    // MARK: - State changes

    /// One VM of `shape`'s vCPUs and memory added to `host` (`sign` 1) or taken off (-1),
    /// with the cloud's totals. The caller updates the index.
    func account(_ shape: VMShape, host: Int, by sign: Int) {
        let coresBefore = cores[host] - freeCores(host: host)
        if shape.pinning == .fixed { state.pinnedVcores[host] += sign * shape.vcores } else { state.dynamicVcores[host] += sign * shape.vcores }
        let memory = Int64(sign) * shape.memoryMiB
        state.usedMemoryMiB[host] += memory
        state.usedMemoryMiBTotal += memory
        let held = cores[host] - freeCores(host: host) - coresBefore
        state.usedPhysicalCores += held
        if subnetCount > 1 {
            let s = subnet(of: host)
            state.subnetUse[s].physicalCores += held
            state.subnetUse[s].memoryMiB += memory
        }
    }

    func add(to record: inout ClusterRecord, host: Int, virtualFunction chosen: Int? = nil) {
        let shape = record.shape
        account(shape, host: host, by: 1)
        var vf: Int?
        if shape.kind == .hpc {
            let taken = chosen ?? lowestFreeVF(host: host)
            markVF(taken, host: host, inUse: true)
            vf = taken
            // The cluster's pkey: the subnet's lowest free key with its first VM; the same key in each subnet it enters.
            let s = subnet(of: host)
            if let key = record.pkey {
                if !touches(record, subnet: s) { takePKey(key.value, subnet: s) }
            } else {
                record.pkey = PartitionKey(takeLowestPKey(subnet: s))
            }
        }
        if let i = record.hostCounts.firstIndex(where: { $0.host == host }) {
            record.hostCounts[i].vms += 1
        } else {
            record.hostCounts.append(.init(host: host, vms: 1))
            if shape.kind == .hpc { countPKeyEntry(host: host, by: 1) }
        }
        record.vms.append(PlacedVM(host: host, virtualFunction: vf))
        updateIndex(host: host)
    }

    private func removeLast(from record: inout ClusterRecord, expecting vm: PlacedVM) {
        assert(record.vms.last == vm)
        removeVM(from: &record, at: record.vms.count - 1)
    }

    /// Takes VM `index` out of `record`: its cores, memory, VF (and LID) and, with the
    /// cluster's last VM on that host, the host's pkey entry return; with its last VM
    /// in a subnet, its pkey returns to that subnet's pool.
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
            if shape.kind == .hpc {
                countPKeyEntry(host: host, by: -1)
                let s = subnet(of: host)
                if let key = record.pkey, !touches(record, subnet: s) {
                    releasePKey(key.value, subnet: s)
                    if record.hostCounts.isEmpty { record.pkey = nil }
                }
            }
        }
        updateIndex(host: host)
    }

    /// VF `vf` of `host` taken or freed: its bit, the host and cloud counts, and
    /// its LID on a `vswitch-dynamic` HCA. The caller updates the index.
    func markVF(_ vf: Int, host: Int, inUse: Bool) {
        let bit: UInt64 = 1 << UInt64(vf & 63), delta = inUse ? 1 : -1
        if inUse { state.vfBits[host * vfWordsPerHost + vf >> 6] |= bit } else { state.vfBits[host * vfWordsPerHost + vf >> 6] &= ~bit }
        state.usedVFs[host] += delta
        state.usedVFsTotal += delta
        let s = subnet(of: host)
        if subnetCount > 1 { state.subnetUse[s].vfs += delta }
        if needsLIDPerVF[host] {
            state.lidsInUse[s] += delta
            state.lidsInUseTotal += delta
            // The subnet's last LID taken, or one freed again: whether a new cluster can start there changes.
            if subnetCount > 1 && state.lidsInUse[s] >= lidSpaces[s] - 1 && state.lidsInUse[s] <= lidSpaces[s] { refreshSubnetSummary(s) }
        }
    }

    /// One tenant pkey table entry of `host` taken (+1) or freed (-1).
    func countPKeyEntry(host: Int, by delta: Int) {
        state.usedPKeyEntries[host] += delta
        state.usedPKeyEntriesTotal += delta
        if subnetCount > 1 { state.subnetUse[subnet(of: host)].pkeyEntries += delta }
    }

    // MARK: - pkey pools and the indexes

    func takeLowestPKey(subnet s: Int) -> Int {
        guard let key = state.freePKeys[s].takeLowest() else { preconditionFailure("subnet \(s) has no free pkey") }
        if state.freePKeys[s].freeCount == 0 { poolEmptied(s, by: 1) }
        return key
    }

    func takePKey(_ key: Int, subnet s: Int) {
        state.freePKeys[s].take(key)
        if state.freePKeys[s].freeCount == 0 { poolEmptied(s, by: 1) }
    }

    func releasePKey(_ key: Int, subnet s: Int) {
        state.freePKeys[s].release(key)
        if state.freePKeys[s].freeCount == 1 { poolEmptied(s, by: -1) }
    }

    /// Subnet `s`'s pool became empty (1) or not (-1): new clusters may no longer, or again, start there.
    private func poolEmptied(_ s: Int, by delta: Int) {
        state.exhaustedPools += delta
        if subnetCount > 1 { refreshSubnetSummary(s) }
    }

    /// `host`'s leaf in its subnet's index, and that subnet's leaf in the subnet index.
    /// - Complexity: O(log H)
    @inline(__always)
    func updateIndex(host: Int) {
        let s = subnet(of: host)
        guard subnetCount > 1 else {
            state.indexes[0].update(host: host, to: capacity(ofHost: host))
            return
        }
        let root = state.indexes[s].root, values = state.indexes[s].values.isEmpty ? ValueSets() : state.indexes[s].values[1]
        state.indexes[s].update(host: host - subnetStart[s], to: capacity(ofHost: host))
        // Most updates leave the subnet's summary as it was; pool and LID changes refresh it themselves.
        if state.indexes[s].root != root || (!state.indexes[s].values.isEmpty && state.indexes[s].values[1] != values) {
            refreshSubnetSummary(s)
        }
    }

    /// Subnet `s` as the first VM of a new cluster sees it: its hosts' maxima, with
    /// every hpc field at `Demand.none` (which only a common VM meets) when no new
    /// hpc cluster can start there: no free pkey, or no LID and no host needing none.
    func subnetSummary(_ s: Int) -> (Capacity, ValueSets) {
        let index = state.indexes[s]
        var summary = index.root
        var values = index.values.isEmpty ? ValueSets() : index.values[1]
        let lidsOut = state.lidsInUse[s] >= lidSpaces[s] && summary.lidExempt < 1
        if state.freePKeys[s].freeCount == 0 || lidsOut {
            summary.freeVFs = min(summary.freeVFs, Demand.none)
            summary.hpcFreeCores = min(summary.hpcFreeCores, Demand.none)
            summary.hpcDynamicSlack = min(summary.hpcDynamicSlack, Demand.none)
            values.hpcFreeCores = 0
            values.hpcDynamicSlack = 0
        }
        return (summary, values)
    }

    /// - Complexity: O(log S)
    func refreshSubnetSummary(_ s: Int) {
        let (summary, values) = subnetSummary(s)
        state.subnetIndex.update(host: s, to: summary, values: values)
    }

    func rebuildSubnetIndex() {
        let summaries = (0..<subnetCount).map(subnetSummary)
        state.subnetIndex = CapacityIndex(leaves: summaries.map(\.0), values: summaries.map(\.1))
    }

    /// Tracks the free-core and slack values in every index (best-fit's bound), once.
    func trackValues() {
        guard state.indexes[0].values.isEmpty else { return }
        for s in 0..<subnetCount { state.indexes[s].trackValues() }
        if subnetCount > 1 { rebuildSubnetIndex() }
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
