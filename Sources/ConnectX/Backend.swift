import Foundation
import GRDB

/// A host as the operator's backends know it.
public struct HostEntry: Equatable, Sendable {
    public var index: Int
    public var name: String
    /// Where its sysfs lives (`/` on the host itself); nil for simulated hosts.
    public var sysfsRoot: String?
    public var device: String?
    public var nodeGUID: UInt64
    public var portGUID: UInt64
}

/// What one VF is configured as.
public struct VFState: Equatable, Sendable {
    /// Mapped to a tenant partition with this VM GUID (pkey nil where the host
    /// cannot read it: on mlx5 the subnet manager holds VF pkeys).
    public var pkey: Int?
    public var guid: UInt64

    public init(pkey: Int?, guid: UInt64) {
        self.pkey = pkey
        self.guid = guid
    }

    /// Whether the hardware (`self`) already is `desired`.
    func satisfies(_ desired: VFState) -> Bool {
        guid == desired.guid && (pkey == nil || pkey.map { $0 & 0x7fff } == desired.pkey.map { $0 & 0x7fff })
    }
}

/// A host's VF configuration: the VF count and the attached VFs (all others
/// unmapped: no pkey a VM could use).
public struct HostHardware: Equatable, Sendable {
    public var vfCount: Int?
    public var attached: [Int: VFState]
    /// VFs in some other, non-isolated state (mlx4's default map to the default pkey).
    public var unisolated: Set<Int> = []

    public init(vfCount: Int?, attached: [Int: VFState], unisolated: Set<Int> = []) {
        self.vfCount = vfCount
        self.attached = attached
        self.unisolated = unisolated
    }
}

/// Applies the engine's decisions to hosts, in the engine's terms (prepare a
/// host, attach a VM to a VF with a pkey, detach). The decisions come from
/// `Allocation`; a backend only carries them out and reports what is there.
public protocol Backend: AnyObject {
    var name: String { get }
    func actual(_ host: HostEntry) throws -> HostHardware
    /// Sets the host's VF count; returns a note for the operator (mlx4's modprobe.d line).
    func prepare(_ host: HostEntry, vfs: Int) throws -> String?
    func attach(_ host: HostEntry, vf: Int, pkey: Int, guid: UInt64) throws
    func detach(_ host: HostEntry, vf: Int) throws
}

/// Rehearsal: the same sequence of changes, recorded in the state database
/// instead of written to hardware.
public final class SimulatedBackend: Backend {
    public let name = "simulated"
    let state: OperatorState

    public init(state: OperatorState) { self.state = state }

    public func actual(_ host: HostEntry) throws -> HostHardware {
        try state.queue.read { db in
            var hardware = HostHardware(vfCount: nil, attached: [:])
            for row in try Row.fetchAll(db, sql: "SELECT key, value FROM hardware WHERE host = ?", arguments: [host.index]) {
                let key: String = row["key"], value: String = row["value"]
                if key == "vfCount" { hardware.vfCount = Int(value) }
                if key.hasPrefix("vf."), let vf = Int(key.dropFirst(3)) {
                    let parts = value.split(separator: ",")
                    hardware.attached[vf] = VFState(pkey: Int(parts[0]), guid: UInt64(parts[1]) ?? 0)
                }
            }
            return hardware
        }
    }

    func set(_ host: HostEntry, _ key: String, _ value: String?) throws {
        try state.queue.write { db in
            if let value {
                try db.execute(sql: "INSERT INTO hardware (host, key, value) VALUES (?, ?, ?) ON CONFLICT(host, key) DO UPDATE SET value = excluded.value",
                               arguments: [host.index, key, value])
            } else {
                try db.execute(sql: "DELETE FROM hardware WHERE host = ? AND key = ?", arguments: [host.index, key])
            }
        }
    }

    public func prepare(_ host: HostEntry, vfs: Int) throws -> String? {
        try set(host, "vfCount", "\(vfs)")
        return nil
    }

    public func attach(_ host: HostEntry, vf: Int, pkey: Int, guid: UInt64) throws { try set(host, "vf.\(vf)", "\(pkey),\(guid)") }
    public func detach(_ host: HostEntry, vf: Int) throws { try set(host, "vf.\(vf)", nil) }
}

/// Real ConnectX HCAs through sysfs, one sysfs root per host.
public final class ConnectXBackend: Backend {
    public let name = "connectx"
    /// A host's sysfs; `DirectorySysfs(root:)` by default, a fake tree in tests.
    let sysfsFor: (HostEntry) -> SysfsAccess

    public init(sysfsFor: @escaping (HostEntry) -> SysfsAccess = { DirectorySysfs(root: $0.sysfsRoot ?? "/") }) {
        self.sysfsFor = sysfsFor
    }

    func configurator(_ host: HostEntry) throws -> HostConfigurator {
        let sysfs = sysfsFor(host)
        let devices = try SysfsDiscovery(sysfs: sysfs).devices()
        guard let device = devices.first(where: { $0.name == host.device }) ?? devices.first else {
            throw OperatorError("host \(host.name): no RDMA device under \(host.sysfsRoot ?? "/")/sys/class/infiniband")
        }
        return HostConfigurator(sysfs: sysfs, device: device)
    }

    public func actual(_ host: HostEntry) throws -> HostHardware {
        let hca = try configurator(host)
        let device = hca.device
        var hardware = HostHardware(vfCount: device.numVFs ?? device.vfAddresses.count, attached: [:])
        if device.driver == .mlx4 {
            let table = try hca.physicalPKeys()
            for vf in device.vfAddresses.indices {
                let map = try hca.pkeyMap(vf: vf)
                if map.allSatisfy({ $0 == "none" }) { continue }
                let guidText = try hca.sysfs.read("/sys/class/infiniband/\(device.name)/iov/ports/\(hca.port)/admin_guids/\(vf + 1)")
                let guid = UInt64(guidText.dropFirst(2), radix: 16) ?? 0
                // Isolated means: virtual 0 on a tenant pkey, nothing else mapped.
                if map.dropFirst().allSatisfy({ $0 == "none" }), let index = Int(map[0]), index < table.count,
                   table[index] & 0x7fff != 0x7fff, table[index] != 0 {
                    hardware.attached[vf] = VFState(pkey: table[index] & 0x7fff, guid: guid)
                } else {
                    hardware.unisolated.insert(vf)
                }
            }
        } else {
            for vf in device.vfAddresses.indices {
                let settings = try hca.vfSettings(vf: vf)
                guard settings.policy != "Down" else { continue }
                let guid = UInt64(settings.port.replacingOccurrences(of: ":", with: ""), radix: 16) ?? 0
                hardware.attached[vf] = VFState(pkey: nil, guid: guid)
            }
        }
        return hardware
    }

    public func prepare(_ host: HostEntry, vfs: Int) throws -> String? {
        let hca = try configurator(host)
        guard let line = try hca.setVFCount(vfs) else { return nil }
        // mlx4: the count is a module parameter; install the modprobe.d line (it takes effect at the next driver load).
        guard let root = host.sysfsRoot else { return "\(host.name): install in /etc/modprobe.d: \(line)" }
        let etc = (root == "/" ? "" : root) + "/etc/modprobe.d"
        try FileManager.default.createDirectory(atPath: etc, withIntermediateDirectories: true)
        try AtomicFile.write(line + "\n", to: etc + "/hpccloud-mlx4.conf")
        return "\(etc)/hpccloud-mlx4.conf: \(line)"
    }

    public func attach(_ host: HostEntry, vf: Int, pkey: Int, guid: UInt64) throws {
        let hca = try configurator(host)
        if hca.device.driver == .mlx4 {
            try hca.setAliasGUID(vf: vf, guid: guid)
            guard let index = try hca.physicalIndex(of: pkey) else {
                throw OperatorError("host \(host.name): pkey \(String(format: "0x%04x", pkey)) is not in \(hca.device.name) port \(hca.port)'s physical table yet (the subnet manager adds it after the partitions reload); run apply again")
            }
            try hca.mapOnly(vf: vf, physicalIndex: index)
        } else {
            try hca.setVF(vf: vf, nodeGUID: guid, portGUID: guid, policy: "Follow")
        }
    }

    public func detach(_ host: HostEntry, vf: Int) throws {
        let hca = try configurator(host)
        if hca.device.driver == .mlx4 {
            try hca.unmapAll(vf: vf)
        } else {
            try hca.sysfs.writeChecked("/sys/bus/pci/devices/\(hca.device.pciAddress)/sriov/\(vf)/policy", "Down")
        }
    }
}
