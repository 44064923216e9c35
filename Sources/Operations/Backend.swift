import Foundation

/// How a host's VMs join their tenant partition in the subnet manager's configuration.
public enum Membership: String, Sendable, Codable {
    /// Shared port (ConnectX-2/3, mlx4): the VFs use the PF's port, so the
    /// hypervisor's port GUID is the member and the host maps the pkey per VF.
    case physicalPort = "port"
    /// vSwitch (ConnectX-4+, mlx5): each VF is its own virtual port, a member by its own GUID.
    case virtualPort = "vport"
}

/// A host as the operator knows it (the `inventory` table).
public struct HostEntry: Equatable, Sendable, Codable {
    public var index: Int
    public var name: String
    /// Where its sysfs lives (`/` on the host itself); nil for simulated hosts.
    public var sysfsRoot: String?
    public var device: String?
    public var driver: String?
    /// The IB port the VMs use (1 or 2).
    public var port: Int
    public var nodeGUID: UInt64
    /// Read from the device (`ports/<p>/gids/0`), never computed.
    public var portGUID: UInt64
    public var membership: Membership
    public var drained: Bool

    /// Whether `name` names this host: its inventory name or its index.
    public func isNamed(_ name: String) -> Bool { self.name == name || "\(index)" == name }

    /// Whether the host's HCA is known (discovered, or registered by its agent):
    /// until then it takes no VMs and is in no partition.
    public var registered: Bool { portGUID != 0 }

    public init(index: Int, name: String, sysfsRoot: String? = nil, device: String? = nil, driver: String? = nil, port: Int = 1,
                nodeGUID: UInt64, portGUID: UInt64, membership: Membership, drained: Bool = false) {
        self.index = index
        self.name = name
        self.sysfsRoot = sysfsRoot
        self.device = device
        self.driver = driver
        self.port = port
        self.nodeGUID = nodeGUID
        self.portGUID = portGUID
        self.membership = membership
        self.drained = drained
    }
}

/// What one VF is configured as.
public enum VFState: Equatable, Sendable {
    /// Maps no pkey and carries no GUID: no VM could use it.
    case detached
    /// Isolated in one tenant partition: the tenant pkey as a full member
    /// (nil where the host cannot read VF pkeys: on mlx5 the subnet manager
    /// holds them), its VM GUID, and whether the limited default pkey is mapped
    /// too (nil where unknown).
    case attached(pkey: Int?, guid: UInt64, limitedDefault: Bool?)
    /// Anything else (a rebooted mlx4 VF maps the full default pkey): detach it.
    case other(String)
}

/// A host's HCA as read back.
public struct HostHardware: Equatable, Sendable {
    public var vfCount: Int
    /// Every VF present, by index.
    public var vfs: [Int: VFState]
    /// The port's pkey table as the subnet manager programmed it (full-member
    /// bit kept), or nil where the host cannot observe it.
    public var portPKeys: [Int]?
    /// VFs a guest holds (bound to vfio-pci), whatever the records say.
    public var assigned: Set<Int>

    public init(vfCount: Int, vfs: [Int: VFState], portPKeys: [Int]?, assigned: Set<Int> = []) {
        self.vfCount = vfCount
        self.vfs = vfs
        self.portPKeys = portPKeys
        self.assigned = assigned
    }

    /// Whether the port's table holds `pkey` (either membership).
    public func portHolds(_ pkey: Int) -> Bool? {
        portPKeys.map { $0.contains { $0 & 0x7fff == pkey & 0x7fff && $0 & 0x7fff != 0 } }
    }

    /// Whether the limited default pkey (0x7fff, top bit clear) is in the port's table.
    public var portHasLimitedDefault: Bool? { portPKeys.map { $0.contains(0x7fff) } }
}

/// One VM's VF as the engine decided it.
public struct VFConfig: Equatable, Sendable {
    public var pkey: Int
    public var guid: UInt64
    /// Map the limited default pkey at virtual index 1 (so the VM reaches the SA).
    public var limitedDefault: Bool

    public init(pkey: Int, guid: UInt64, limitedDefault: Bool) {
        self.pkey = pkey
        self.guid = guid
        self.limitedDefault = limitedDefault
    }
}

/// Carries out the engine's decisions on one vendor's hardware (prepare a
/// host, attach a VM's VF to its partition, detach) and reports what is there.
/// The decisions come from `Allocation` through `Operator`; a backend never decides.
public protocol Backend: AnyObject {
    var name: String { get }
    /// What the host's HCA holds now; throws when the host cannot be reached.
    func actual(_ host: HostEntry) throws -> HostHardware
    /// Sets the host's VF count; returns a note for the operator (mlx4's modprobe.d line).
    func prepare(_ host: HostEntry, vfs: Int) throws -> String?
    /// Gives VF `vf` the VM's GUID and its partition. If this fails part way
    /// the backend detaches the VF before throwing, so a failed attach leaves a
    /// VF that maps nothing.
    /// - Returns: notes for the operator.
    func attach(_ host: HostEntry, vf: Int, _ config: VFConfig) throws -> [String]
    /// Unmaps every pkey of VF `vf` and deletes its GUID.
    func detach(_ host: HostEntry, vf: Int) throws
}

/// The subnet manager's side: its partition configuration and how it is told to re-read it.
public protocol SubnetManager: AnyObject {
    /// Where the configuration lives, for messages.
    var location: String { get }
    /// The configuration file's text, nil when there is none.
    func read() throws -> String?
    /// Replaces the file whole (never half-written).
    func write(_ text: String) throws
    /// Asks the subnet manager to re-read the file; OpenSM does so on its next
    /// heavy sweep, so the effect is asynchronous.
    func reload() throws
}

/// OpenSM's partitions.conf on this machine (`-P`), re-read on SIGHUP or a command.
public final class OpenSMPartitionsFile: SubnetManager {
    public let path: String
    public let reloadMethod: SubnetManagerReload

    public init(path: String, reload: SubnetManagerReload) {
        self.path = path
        reloadMethod = reload
    }

    public var location: String { path }

    public func read() throws -> String? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw OperatorError("cannot read \(path): \(error.localizedDescription)", kind: .environment)
        }
    }

    public func write(_ text: String) throws { try AtomicFile.write(text, to: path) }
    public func reload() throws { try reloadMethod.perform() }
}
