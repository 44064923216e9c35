import Foundation

/// Configures one HCA's Virtual Functions through sysfs, for both driver
/// families (HARDWARE.md). Every write is read back.
public struct HostConfigurator {
    public let sysfs: SysfsAccess
    public let device: HCADevice
    public let port: Int

    public init(sysfs: SysfsAccess, device: HCADevice, port: Int = 1) {
        self.sysfs = sysfs
        self.device = device
        self.port = port
    }

    var pciDir: String { "/sys/bus/pci/devices/\(device.pciAddress)" }
    var ibDir: String { "/sys/class/infiniband/\(device.name)" }

    // MARK: VF count

    /// mlx4 takes its VF count from the `mlx4_core` module parameter, never from sysfs.
    public static func modprobeLine(numVFs: Int) -> String {
        "options mlx4_core num_vfs=\(numVFs) probe_vf=0"
    }

    /// Sets the VF count: on mlx5 through `sriov_numvfs` (0 first when it
    /// changes, as the kernel refuses one non-zero count over another); on mlx4
    /// by returning the modprobe.d line to install (nil when nothing to do).
    public func setVFCount(_ count: Int) throws -> String? {
        switch device.driver {
        case .mlx4?:
            return Self.modprobeLine(numVFs: count)
        default:
            let path = pciDir + "/sriov_numvfs"
            let current = Int(try sysfs.read(path)) ?? 0
            if current == count { return nil }
            if current != 0 { try sysfs.writeChecked(path, "0") }
            if count != 0 { try sysfs.writeChecked(path, "\(count)") }
            return nil
        }
    }

    // MARK: mlx4 (ConnectX-2/3): alias GUIDs and the VF pkey mapping

    /// The per-slave directory of mlx4's pkey virtualization: the PF's PCI name
    /// up to the bus, then slave/8 and slave%8 (kernel drivers/infiniband/hw/mlx4/sysfs.c).
    /// Slave 0 is the PF; VF n is slave n+1.
    public func slaveDirectory(vf: Int) -> String {
        let slave = vf + 1
        return "\(ibDir)/iov/\(device.pciAddress.prefix(8))\(String(format: "%02d.%d", slave / 8, slave % 8))"
    }

    /// Sets the alias GUID the subnet manager gives VF `vf` (mlx4 `admin_guids`; index 0 is the PF's).
    public func setAliasGUID(vf: Int, guid: UInt64) throws {
        try sysfs.writeChecked("\(ibDir)/iov/ports/\(port)/admin_guids/\(vf + 1)", GUIDFormat.hex(guid))
    }

    /// The physical pkey table (mlx4 `iov/ports/<p>/pkeys`).
    public func physicalPKeys() throws -> [Int] {
        let dir = "\(ibDir)/iov/ports/\(port)/pkeys"
        return try sysfs.list(dir).compactMap(Int.init).sorted().map { SysfsDiscovery.parseInt(try sysfs.read("\(dir)/\($0)")) ?? 0 }
    }

    /// The index of `pkey` in the physical table (full or limited member), or nil.
    public func physicalIndex(of pkey: Int) throws -> Int? {
        try physicalPKeys().firstIndex { $0 & 0x7fff == pkey & 0x7fff && $0 != 0 }
    }

    /// The VF's virtual-to-physical pkey map (`pkey_idx/<v>`: a physical index or `none`).
    public func pkeyMap(vf: Int) throws -> [String] {
        let dir = "\(slaveDirectory(vf: vf))/ports/\(port)/pkey_idx"
        return try sysfs.list(dir).compactMap(Int.init).sorted().map { try sysfs.read("\(dir)/\($0)") }
    }

    /// Isolation: virtual index 0 maps to the physical index of the cluster's
    /// pkey and every other virtual index is unmapped, so the VM sees its
    /// partition only (not even the default one).
    public func mapOnly(vf: Int, physicalIndex: Int) throws {
        let dir = "\(slaveDirectory(vf: vf))/ports/\(port)/pkey_idx"
        for v in try sysfs.list(dir).compactMap(Int.init).sorted() {
            try sysfs.writeChecked("\(dir)/\(v)", v == 0 ? "\(physicalIndex)" : "none")
        }
    }

    /// A VF with no VM: every virtual index unmapped.
    public func unmapAll(vf: Int) throws {
        let dir = "\(slaveDirectory(vf: vf))/ports/\(port)/pkey_idx"
        for v in try sysfs.list(dir).compactMap(Int.init).sorted() where try sysfs.read("\(dir)/\(v)") != "none" {
            try sysfs.writeChecked("\(dir)/\(v)", "none")
        }
    }

    // MARK: mlx5 (ConnectX-4+): VF GUIDs and link policy

    /// `sriov/<vf>/{node,port,policy}` (HARDWARE.md: the host sets these only;
    /// the pkeys come from a virtualization-aware subnet manager).
    public func setVF(vf: Int, nodeGUID: UInt64, portGUID: UInt64, policy: String) throws {
        let dir = "\(pciDir)/sriov/\(vf)"
        try sysfs.writeChecked(dir + "/node", GUIDFormat.colonBytes(nodeGUID))
        try sysfs.writeChecked(dir + "/port", GUIDFormat.colonBytes(portGUID))
        try sysfs.writeChecked(dir + "/policy", policy)
    }

    public func vfSettings(vf: Int) throws -> (node: String, port: String, policy: String) {
        let dir = "\(pciDir)/sriov/\(vf)"
        return (try sysfs.read(dir + "/node"), try sysfs.read(dir + "/port"), try sysfs.read(dir + "/policy"))
    }
}
