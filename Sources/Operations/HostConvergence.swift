import Allocation
import CloudModel
import Foundation

/// What one host should hold, derived from the records (`Operator.desires`).
public struct HostDesire: Equatable, Sendable, Codable {
    /// One active VM's VF.
    public struct Attached: Equatable, Sendable, Codable {
        public var pkey: Int
        public var guid: UInt64

        public init(pkey: Int, guid: UInt64) {
            self.pkey = pkey
            self.guid = guid
        }
    }

    /// A VM whose VF is to be detached (then confirmed).
    public struct Retiring: Equatable, Sendable, Codable {
        public var cluster: Int64
        public var seq: Int

        public init(cluster: Int64, seq: Int) {
            self.cluster = cluster
            self.seq = seq
        }
    }

    public var vfCount: Int
    /// Active VMs, by VF.
    public var attached: [Int: Attached] = [:]
    /// Tenant pkeys the host's port must hold (clusters with VMs there not yet detached).
    public var portPKeys: Set<Int> = []
    /// VFs of retiring VMs, by VF.
    public var retiring: [Int: Retiring] = [:]

    enum CodingKeys: String, CodingKey { case vfCount, attached, portPKeys, retiring }

    /// The pkeys sorted: the same desire always encodes to the same bytes (agents' generations compare bytes).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(vfCount, forKey: .vfCount)
        try c.encode(attached, forKey: .attached)
        try c.encode(portPKeys.sorted(), forKey: .portPKeys)
        try c.encode(retiring, forKey: .retiring)
    }

    public init(vfCount: Int, attached: [Int: Attached] = [:], portPKeys: Set<Int> = [], retiring: [Int: Retiring] = [:]) {
        self.vfCount = vfCount
        self.attached = attached
        self.portPKeys = portPKeys
        self.retiring = retiring
    }
}

/// One host brought to its desire in the safe order, whoever runs it: `apply`
/// on the operator's machine, or the agent on the host itself. Both call
/// these functions, so the order and the checks never differ per caller.
public enum HostConvergence {
    /// One host's changes: the VF count, detaches, then attaches.
    public static func changes(_ host: HostEntry, _ want: HostDesire, _ have: HostHardware) -> (changes: [Change], waiting: [String]) {
        var changes: [Change] = []
        var waiting: [String] = []
        if have.vfCount != want.vfCount {
            // Changing the count re-creates every VF: never while one is attached or held by a guest
            // (mlx5 does not check, sriov.c:215-229, and removing a VF vfio-pci holds blocks until the guest lets go).
            if !have.assigned.isEmpty || have.vfs.values.contains(where: { if case .attached = $0 { true } else { false } }) {
                waiting.append("\(host.name): \(have.vfCount) VFs present, \(want.vfCount) wanted: change the count when no VF is in use (drain the host)")
            } else {
                changes.append(Change(kind: .prepare, host: host.index, hostName: host.name, vfs: want.vfCount))
                return (changes, waiting)  // the VFs are re-created: read them again next round
            }
        }
        for (vf, state) in have.vfs.sorted(by: { $0.key < $1.key }) where want.attached[vf] == nil && state != .detached {
            let why = switch state {
            case .attached(let pkey, _, _): want.retiring[vf] != nil ? "its VM left" : "no VM holds it (pkey \(pkey.map { PartitionKey($0).description } ?? "?"))"
            case .other(let text): text
            case .detached: ""
            }
            changes.append(Change(kind: .detach, host: host.index, hostName: host.name, vf: vf, detail: why))
        }
        let limited = have.portHasLimitedDefault
        for (vf, vm) in want.attached.sorted(by: { $0.key < $1.key }) {
            if case .attached(let pkey, let guid, let hasDefault) = have.vfs[vf], guid == vm.guid,
               pkey.map({ $0 & 0x7fff == vm.pkey }) ?? true, limited == nil || hasDefault == nil || hasDefault == limited {
                continue
            }
            guard have.vfs[vf] != nil else {
                waiting.append("\(host.name): VF \(vf) is not present (\(have.vfCount) VFs)")
                continue
            }
            if have.portHolds(vm.pkey) == false {
                waiting.append("\(host.name): pkey \(PartitionKey(vm.pkey)) is not in port \(host.port)'s table yet: the subnet manager adds it after it re-reads its partitions")
                continue
            }
            changes.append(Change(kind: .attach, host: host.index, hostName: host.name, vf: vf, pkey: vm.pkey, guid: GUIDFormat.hex(vm.guid),
                                  limitedDefault: limited != false,
                                  detail: limited == false ? "no limited default pkey in the port's table: the VM cannot reach the SA" : nil))
        }
        return (changes, waiting)
    }

    /// Carries out one host change on a backend.
    /// - Returns: notes for the operator.
    public static func execute(_ change: Change, on host: HostEntry, backend: Backend) throws -> [String] {
        switch change.kind {
        case .prepare: return try backend.prepare(host, vfs: change.vfs ?? 0).map { [$0] } ?? []
        case .detach:
            try backend.detach(host, vf: change.vf ?? 0)
            return []
        case .attach:
            let config = VFConfig(pkey: change.pkey ?? 0, guid: change.guid.flatMap(GUIDFormat.parse) ?? 0,
                                  limitedDefault: change.limitedDefault ?? true)
            return try backend.attach(host, vf: change.vf ?? 0, config)
        case .subnetManager, .reload: return []
        }
    }

    /// Isolation first: the VF count, then every detach the host needs,
    /// reading the host again after each step. Fresh VFs come up in the
    /// driver's defaults, so a count change is followed by their detach.
    /// - Parameters:
    ///   - read: the host's hardware now (nil when it cannot be read).
    ///   - run: carries out (and records) one change.
    public static func isolate(_ host: HostEntry, _ want: HostDesire, read: () -> HostHardware?, run: (Change) throws -> Void) throws {
        guard let have = read() else { return }
        let early = changes(host, want, have).changes.filter { $0.kind == .prepare || $0.kind == .detach }
        for change in early { try run(change) }
        guard !early.isEmpty, let after = read() else { return }
        if early.contains(where: { $0.kind == .prepare }) {
            for change in changes(host, want, after).changes where change.kind == .detach { try run(change) }
            _ = read()
        }
    }

    /// Attaches what the host's port is ready for, after `isolate`.
    /// - Returns: what still waits (a pkey the port does not hold yet, a VF not present, a detach still needed).
    public static func attach(_ host: HostEntry, _ want: HostDesire, _ have: HostHardware, run: (Change) throws -> Void) throws -> [String] {
        let (planned, waiting) = changes(host, want, have)
        var left = waiting
        for change in planned where change.kind == .attach { try run(change) }
        for change in planned where change.kind == .detach { left.append("\(change) (still needed)") }
        if planned.contains(where: { $0.kind == .prepare }) {
            left.append("\(host.name): \(have.vfCount) VFs present, \(want.vfCount) wanted: "
                        + "the new count takes effect when the driver is next loaded (mlx4: num_vfs at boot)")
        }
        return left
    }
}
