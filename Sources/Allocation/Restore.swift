import CloudModel

/// A VF slot (and optionally a host's pkey table entry) held outside any
/// cluster: a production backend's quarantine of what a deleted or shrunk
/// cluster left on the hardware until the host confirmed the detach.
public struct SlotHold: Hashable, Sendable {
    public var host: Int
    public var virtualFunction: Int?
    /// Whether the hold also keeps one of the host's tenant pkey table entries
    /// (the departed cluster's pkey is still in the port's table).
    public var pkeyEntry: Bool
    /// The cores and memory of a VM of this shape, for a VM that is arriving (a
    /// migration's destination, while the VM still runs at its source); nil: none.
    public var shape: VMShape?

    public init(host: Int, virtualFunction: Int?, pkeyEntry: Bool, shape: VMShape? = nil) {
        self.host = host
        self.virtualFunction = virtualFunction
        self.pkeyEntry = pkeyEntry
        self.shape = shape
    }
}

/// What the engine holds outside its clusters.
struct Holds: Equatable {
    /// Pool keys never handed out: the site's own partitions and quarantined tenant keys.
    var pkeys: Set<Int> = []
    var slots: [SlotHold] = []

    /// The same holds in any order are the same state: equal holds are interchangeable
    /// (`releaseHold` takes any one of them), and a rebuilt engine takes them in another order.
    static func == (a: Holds, b: Holds) -> Bool {
        func sorted(_ slots: [SlotHold]) -> [SlotHold] {
            slots.sorted { ($0.host, $0.virtualFunction ?? -1, $0.pkeyEntry ? 1 : 0) < ($1.host, $1.virtualFunction ?? -1, $1.pkeyEntry ? 1 : 0) }
        }
        return a.pkeys == b.pkeys && sorted(a.slots) == sorted(b.slots)
    }
}

/// Why a recorded placement does not fit the engine as configured now.
public enum RestoreProblem: Equatable, Sendable, CustomStringConvertible {
    case unknownHost(vm: Int, host: Int, hosts: Int)
    case noSuchVF(vm: Int, host: Int, vf: Int, vfs: Int)
    case vfTaken(vm: Int, host: Int, vf: Int)
    /// An hpc VM without a VF or a common VM with one; an hpc cluster without a pkey.
    case malformed(String)
    case pkeyOutsidePool(Int, pool: ClosedRange<Int>)
    case pkeyTaken(Int)
    case duplicateCluster
    /// The placement is restored but exceeds what the host (or subnet) has now.
    case overCapacity(host: Int?, resource: String, used: Int64, limit: Int64)

    /// Whether the placement could not be restored at all (else it is, over capacity).
    public var blocksRestore: Bool {
        if case .overCapacity = self { return false }
        return true
    }

    public var description: String {
        switch self {
        case .unknownHost(let vm, let host, let hosts): "VM \(vm) is on host \(host), but the cloud has \(hosts) hosts now"
        case .noSuchVF(let vm, let host, let vf, let vfs): "VM \(vm) holds VF \(vf) of host \(host), which has \(vfs) usable VFs now"
        case .vfTaken(let vm, let host, let vf): "VM \(vm) holds VF \(vf) of host \(host), which is recorded for another VM too"
        case .malformed(let text): text
        case .pkeyOutsidePool(let pkey, let pool):
            "pkey \(PartitionKey(pkey)) is outside the pool \(PartitionKey(pool.lowerBound))-\(PartitionKey(pool.upperBound))"
        case .pkeyTaken(let pkey): "pkey \(PartitionKey(pkey)) is recorded twice (or is the site's own)"
        case .duplicateCluster: "the cluster id is recorded twice"
        case .overCapacity(let host, let resource, let used, let limit):
            (host.map { "host \($0): " } ?? "subnet: ") + "\(resource) \(used) in use, \(limit) available now"
        }
    }
}

extension AllocationEngine {
    /// Puts a recorded cluster back exactly as it was placed: its pkey, and each
    /// VM's host and VF, in the order the VMs were added. No policy runs and
    /// nothing is re-decided: a production backend's recorded decisions are the
    /// truth. A placement that is structurally impossible now (a host or VF that
    /// no longer exists, a VF or pkey recorded twice) is not restored; one that
    /// merely exceeds today's capacity (a profile was edited) is restored and
    /// reported, so its resources are never handed to anyone else.
    /// - Returns: the problems, empty when the placement fits as it is.
    /// - Complexity: O(n log H) for n VMs.
    @discardableResult
    public func restore(id: Int64, shape: VMShape, pkey: PartitionKey?, vms: [PlacedVM]) -> [RestoreProblem] {
        var problems: [RestoreProblem] = []
        if state.clusters[id] != nil { problems.append(.duplicateCluster) }
        if vms.isEmpty { problems.append(.malformed("no VMs")) }
        if (shape.kind == .hpc) != (pkey != nil) { problems.append(.malformed("an \(shape.kind.rawValue) cluster \(pkey == nil ? "without" : "with") a pkey")) }
        if let pkey {
            // The key is taken in each subnet the cluster's VMs are in (`add`).
            for s in Set(vms.lazy.map(\.host).filter { $0 >= 0 && $0 < self.hostCount }.map(subnet(of:))).sorted() {
                if !state.freePKeys[s].contains(pkey.value) {
                    problems.append(.pkeyOutsidePool(pkey.value, pool: cloud.subnets[s].pkeyPool))
                } else if !state.freePKeys[s].isFree(pkey.value) {
                    problems.append(.pkeyTaken(pkey.value))
                }
            }
        }
        var slots = Set<Int>()
        for (i, vm) in vms.enumerated() {
            guard vm.host >= 0 && vm.host < hostCount else { problems.append(.unknownHost(vm: i, host: vm.host, hosts: hostCount)); continue }
            switch (shape.kind, vm.virtualFunction) {
            case (.hpc, nil): problems.append(.malformed("hpc VM \(i) on host \(vm.host) has no VF"))
            case (.common, .some): problems.append(.malformed("common VM \(i) on host \(vm.host) holds a VF"))
            case (.hpc, let vf?):
                if vf < 0 || vf >= vfs[vm.host] {
                    problems.append(.noSuchVF(vm: i, host: vm.host, vf: vf, vfs: vfs[vm.host]))
                } else if !isVFFree(vf, host: vm.host) || !slots.insert(vm.host << 20 | vf).inserted {
                    problems.append(.vfTaken(vm: i, host: vm.host, vf: vf))
                }
            default: break
            }
        }
        guard problems.isEmpty else { return problems }

        var record = ClusterRecord(id: id, shape: shape, pkey: pkey, vms: [], initialSpan: 0, hostCounts: [])
        for vm in vms { add(to: &record, host: vm.host, virtualFunction: vm.virtualFunction) }
        record.initialSpan = record.hostCounts.count
        state.clusters[id] = record
        for host in record.hosts { problems += overCapacity(host: host) }
        for s in 0..<subnetCount where state.lidsInUse[s] > lidSpaces[s] {
            problems.append(.overCapacity(host: nil, resource: "LIDs", used: Int64(state.lidsInUse[s]), limit: Int64(lidSpaces[s])))
        }
        return problems
    }

    func overCapacity(host h: Int) -> [RestoreProblem] {
        var problems: [RestoreProblem] = []
        let held = state.pinnedVcores[h] + overcommit.physicalCores(forDynamic: state.dynamicVcores[h])
        if held > cores[h] { problems.append(.overCapacity(host: h, resource: "physical cores", used: Int64(held), limit: Int64(cores[h]))) }
        if state.usedMemoryMiB[h] > memoryMiB[h] {
            problems.append(.overCapacity(host: h, resource: "MiB of memory", used: state.usedMemoryMiB[h], limit: memoryMiB[h]))
        }
        if state.usedPKeyEntries[h] > pkeyEntries[h] {
            problems.append(.overCapacity(host: h, resource: "tenant pkey entries", used: Int64(state.usedPKeyEntries[h]), limit: Int64(pkeyEntries[h])))
        }
        return problems
    }

    // MARK: - Holds

    /// Keeps `pkey` out of every subnet's pool (the site's own partition, or a deleted
    /// cluster's key until every host confirmed its detach). A key outside a
    /// pool needs no hold there: the engine never hands it out.
    /// - Returns: false when a cluster or another hold has it.
    @discardableResult
    public func hold(pkey: Int) -> Bool {
        let pools = (0..<subnetCount).filter { state.freePKeys[$0].contains(pkey) }
        guard !pools.isEmpty else { return true }
        guard pools.allSatisfy({ state.freePKeys[$0].isFree(pkey) }) else { return false }
        for s in pools { takePKey(pkey, subnet: s) }
        state.holds.pkeys.insert(pkey)
        return true
    }

    public func releaseHold(pkey: Int) {
        guard state.holds.pkeys.remove(pkey) != nil else { return }
        for s in 0..<subnetCount where state.freePKeys[s].contains(pkey) { releasePKey(pkey, subnet: s) }
    }

    /// Keeps a VF slot (with its LID on a `vswitch-dynamic` HCA) and optionally
    /// a pkey table entry of `slot.host` from new VMs.
    /// - Returns: the problem, or nil when held.
    public func hold(_ slot: SlotHold) -> RestoreProblem? {
        let h = slot.host
        guard h >= 0 && h < hostCount else { return .unknownHost(vm: 0, host: h, hosts: hostCount) }
        if let vf = slot.virtualFunction {
            guard vf >= 0 && vf < vfs[h] else { return .noSuchVF(vm: 0, host: h, vf: vf, vfs: vfs[h]) }
            guard isVFFree(vf, host: h) else { return .vfTaken(vm: 0, host: h, vf: vf) }
            markVF(vf, host: h, inUse: true)
        }
        if slot.pkeyEntry { countPKeyEntry(host: h, by: 1) }
        if let shape = slot.shape { account(shape, host: h, by: 1) }
        state.holds.slots.append(slot)
        updateIndex(host: h)
        return nil
    }

    public func releaseHold(_ slot: SlotHold) {
        guard let i = state.holds.slots.firstIndex(of: slot) else { return }
        state.holds.slots.remove(at: i)
        let h = slot.host
        if let vf = slot.virtualFunction { markVF(vf, host: h, inUse: false) }
        if slot.pkeyEntry { countPKeyEntry(host: h, by: -1) }
        if let shape = slot.shape { account(shape, host: h, by: -1) }
        updateIndex(host: h)
    }

    // MARK: - Drain

    /// A drained host takes no new VMs (admission and extension skip it); what
    /// runs there stays, and shrinks and releases work as before.
    /// - Complexity: O(log H)
    public func setDrained(host: Int, _ drained: Bool) {
        precondition(host >= 0 && host < hostCount, "no host \(host)")
        state.drained[host] = drained
        updateIndex(host: host)
    }

    public func isDrained(host: Int) -> Bool { state.drained[host] }

    // MARK: - Per-host view

    /// What one host has and holds, for an operator's capacity view.
    public struct HostUsage: Equatable, Sendable, Codable {
        public var cores: Int
        public var freeCores: Int
        public var memoryMiB: Int64
        public var usedMemoryMiB: Int64
        public var vfs: Int
        public var usedVFs: Int
        public var pkeyEntries: Int
        public var usedPKeyEntries: Int
        public var drained: Bool
    }

    public func usage(host h: Int) -> HostUsage {
        HostUsage(cores: cores[h], freeCores: freeCores(host: h), memoryMiB: memoryMiB[h], usedMemoryMiB: state.usedMemoryMiB[h],
                  vfs: vfs[h], usedVFs: state.usedVFs[h], pkeyEntries: pkeyEntries[h], usedPKeyEntries: state.usedPKeyEntries[h],
                  drained: state.drained[h])
    }

    /// Whether subnet `s`'s pool still has `pkey` free (false for a held, used or out-of-pool key).
    public func isFree(pkey: Int, subnet s: Int = 0) -> Bool { state.freePKeys[s].contains(pkey) && state.freePKeys[s].isFree(pkey) }
}
