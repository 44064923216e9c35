import ConnectX
import Foundation

/// An in-memory sysfs for the ConnectX backend's tests that enforces the
/// kernel's rules (HARDWARE.md):
/// - `sriov_numvfs`: ERANGE above `sriov_totalvfs`; EBUSY when changing one
///   non-zero count to another; absent on mlx4 (ENOENT);
/// - mlx4 `pkey_idx/<v>`: an index below the physical table's length, or `none` (else EINVAL);
/// - read-only attributes (EACCES), `admin_guids/0` among them;
/// - mlx5 `sriov/<vf>/policy`: `Down`, `Up` or `Follow` (else EINVAL).
public final class FakeSysfs: SysfsAccess {
    public enum Rule {
        case readOnly
        case readWrite
        case vfCount(total: Int)
        case pkeyIndex(tableLength: Int)
        case policy
        case guid
    }

    struct File {
        var value: String
        var rule: Rule
    }

    private var files: [String: File] = [:]
    private var links: [String: String] = [:]
    /// Every accepted write, in order (path, value).
    public private(set) var writes: [(path: String, value: String)] = []

    public init() {}

    public func add(_ path: String, _ value: String, _ rule: Rule = .readOnly) { files[path] = File(value: value, rule: rule) }
    public func link(_ path: String, to target: String) { links[path] = target }
    public func value(_ path: String) -> String? { files[path]?.value }

    public func read(_ path: String) throws -> String {
        guard let file = files[path] else { throw SysfsError("read", path: path, errno: ENOENT) }
        return file.value
    }

    /// The next write to a path containing this text fails with EIO (a crash or a flaky device, for tests).
    public var failNextWrite: String?

    public func write(_ path: String, _ value: String) throws {
        if let text = failNextWrite, path.contains(text) {
            failNextWrite = nil
            throw SysfsError("write", path: path, value: value, errno: EIO)
        }
        guard var file = files[path] else { throw SysfsError("write", path: path, value: value, errno: ENOENT) }
        let fail = { (code: Int32) in SysfsError("write", path: path, value: value, errno: code) }
        switch file.rule {
        case .readOnly:
            throw fail(EACCES)
        case .readWrite:
            break
        case .vfCount(let total):
            guard let count = Int(value), count >= 0 else { throw fail(EINVAL) }
            guard count <= total else { throw fail(ERANGE) }
            let current = Int(file.value) ?? 0
            guard current == 0 || count == 0 || count == current else { throw fail(EBUSY) }
            setVFs(pf: String(path.dropLast("/sriov_numvfs".count)), count: count)
        case .pkeyIndex(let length):
            guard value == "none" || (Int(value).map { $0 >= 0 && $0 < length } ?? false) else { throw fail(EINVAL) }
        case .policy:
            guard ["Down", "Up", "Follow"].contains(value) else { throw fail(EINVAL) }
        case .guid:
            let bytes = value.split(separator: ":")
            guard bytes.count == 8, bytes.allSatisfy({ $0.count == 2 && UInt8($0, radix: 16) != nil }) else { throw fail(EINVAL) }
        }
        file.value = value
        files[path] = file
        writes.append((path, value))
    }

    public func list(_ path: String) throws -> [String] {
        let prefix = path.hasSuffix("/") ? path : path + "/"
        let names = Set((Array(files.keys) + Array(links.keys)).filter { $0.hasPrefix(prefix) }
            .map { String($0.dropFirst(prefix.count).split(separator: "/")[0]) })
        guard !names.isEmpty else { throw SysfsError("list", path: path, errno: ENOENT) }
        return names.sorted()
    }

    public func linkTarget(_ path: String) throws -> String {
        guard let target = links[path] else { throw SysfsError("readlink", path: path, errno: ENOENT) }
        return target
    }

    public func exists(_ path: String) -> Bool {
        let prefix = path + "/"
        return files[path] != nil || links[path] != nil || files.keys.contains { $0.hasPrefix(prefix) } || links.keys.contains { $0.hasPrefix(prefix) }
    }

    /// Writes the tree to disk under `root` (files and symlinks) for tools
    /// that read a real directory (`--sysfs-root`). The rules stay behind.
    public func materialize(at root: String) throws {
        let fm = FileManager.default
        for (path, file) in files {
            let full = root + path
            try fm.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try (file.value + "\n").write(toFile: full, atomically: false, encoding: .utf8)
        }
        for (path, target) in links {
            let full = root + path
            try fm.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try? fm.removeItem(atPath: full)
            try fm.createSymbolicLink(atPath: full, withDestinationPath: "../" + target)
        }
    }

    /// What the subnet manager does to an mlx4 port: the physical pkey table
    /// (class view and iov view) becomes `pkeys`, the rest empty.
    public func programPhysicalPKeys(device: String, _ pkeys: [Int]) {
        for view in ["/sys/class/infiniband/\(device)/ports/1/pkeys", "/sys/class/infiniband/\(device)/iov/ports/1/pkeys"] {
            let length = files.keys.filter { $0.hasPrefix(view + "/") }.count
            for i in 0..<length { files[view + "/\(i)"]?.value = String(format: "0x%04x", i < pkeys.count ? pkeys[i] : 0) }
        }
    }

    // MARK: Trees

    /// VF functions appear and disappear with the count, as the PCI core makes them.
    private func setVFs(pf: String, count: Int) {
        let pfAddress = String(pf.split(separator: "/").last!)
        for name in links.keys where name.hasPrefix(pf + "/virtfn") { links[name] = nil }
        for key in files.keys where key.hasPrefix(pf + "/sriov/") { files[key] = nil }
        let deviceID = files[pf + "/vf_device_id_for_fake"]?.value ?? "0x101c"
        for vf in 0..<count {
            let address = Self.vfAddress(pf: pfAddress, vf: vf)
            links["\(pf)/virtfn\(vf)"] = address
            add("/sys/bus/pci/devices/\(address)/device", deviceID)
            add("\(pf)/sriov/\(vf)/node", "00:00:00:00:00:00:00:00", .guid)
            add("\(pf)/sriov/\(vf)/port", "00:00:00:00:00:00:00:00", .guid)
            add("\(pf)/sriov/\(vf)/policy", "Down", .policy)
        }
    }

    static func vfAddress(pf: String, vf: Int) -> String {
        let function = vf + 1
        return "\(pf.prefix(8))\(String(format: "%02d.%d", function / 8, function % 8))"
    }

    /// The common part of an HCA: class device, PCI function, one port.
    private func addDevice(name: String, pci: String, driver: String, nodeGUID: UInt64, pkeys: [Int], lid: Int) {
        let base = "/sys/class/infiniband/\(name)"
        link(base + "/device", to: pci)
        link("/sys/bus/pci/devices/\(pci)/driver", to: driver)
        add(base + "/node_guid", GUIDFormat.colonQuads(nodeGUID))
        add(base + "/sys_image_guid", GUIDFormat.colonQuads(nodeGUID))
        add(base + "/fw_ver", "2.42.5000")
        add(base + "/ports/1/state", "4: ACTIVE")
        add(base + "/ports/1/lid", String(format: "0x%x", lid))
        add(base + "/ports/1/sm_lid", "0x1")
        add(base + "/ports/1/rate", "40 Gb/sec (4X QDR)")
        for (i, pkey) in pkeys.enumerated() { add(base + "/ports/1/pkeys/\(i)", String(format: "0x%04x", pkey)) }
    }

    /// A ConnectX-3 (mlx4) with `vfs` VFs from the module parameter: physical
    /// pkey table of `tableLength` entries holding `pkeys` (the rest 0), alias
    /// GUID slots and per-VF pkey maps in their kernel defaults (virtual 0 ->
    /// physical 0, the rest `none`).
    public func addMLX4(name: String = "mlx4_0", pci: String = "0000:04:00.0", nodeGUID: UInt64 = 0x0002_c903_00a1_b2c0,
                        vfs: Int, totalVFs: Int = 63, tableLength: Int = 16, pkeys: [Int] = [0xffff], lid: Int = 2) {
        let table = pkeys + Array(repeating: 0, count: tableLength - pkeys.count)
        addDevice(name: name, pci: pci, driver: "mlx4_core", nodeGUID: nodeGUID, pkeys: table, lid: lid)
        let pf = "/sys/bus/pci/devices/\(pci)"
        add(pf + "/sriov_totalvfs", "\(totalVFs)")
        let base = "/sys/class/infiniband/\(name)"
        for (i, pkey) in table.enumerated() { add("\(base)/iov/ports/1/pkeys/\(i)", String(format: "0x%04x", pkey)) }
        add("\(base)/iov/ports/1/admin_guids/0", GUIDFormat.hex(nodeGUID &+ 1))
        let configurator = HostConfigurator(sysfs: self, device: HCADevice(
            name: name, driver: .mlx4, pciAddress: pci, firmware: "", nodeGUID: nodeGUID, systemImageGUID: nodeGUID,
            ports: [], totalVFs: totalVFs, numVFs: nil, vfAddresses: [], vfDeviceID: nil))
        for vf in 0..<vfs {
            let address = Self.vfAddress(pf: pci, vf: vf)
            link("\(pf)/virtfn\(vf)", to: address)
            add("/sys/bus/pci/devices/\(address)/device", "0x1004")
            add("\(base)/iov/ports/1/admin_guids/\(vf + 1)", "0x0000000000000000", .readWrite)
            for v in 0..<tableLength {
                add("\(configurator.slaveDirectory(vf: vf))/ports/1/pkey_idx/\(v)", v == 0 ? "0" : "none", .pkeyIndex(tableLength: tableLength))
            }
        }
    }

    /// A ConnectX-6 (mlx5) whose VFs come from `sriov_numvfs` (now `vfs`).
    public func addMLX5(name: String = "mlx5_0", pci: String = "0000:81:00.0", nodeGUID: UInt64 = 0x9803_9b03_0012_3400,
                        vfs: Int = 0, totalVFs: Int = 127, lid: Int = 3) {
        addDevice(name: name, pci: pci, driver: "mlx5_core", nodeGUID: nodeGUID, pkeys: [0xffff] + Array(repeating: 0, count: 127), lid: lid)
        let pf = "/sys/bus/pci/devices/\(pci)"
        add(pf + "/sriov_totalvfs", "\(totalVFs)")
        add(pf + "/vf_device_id_for_fake", "0x101c")
        add(pf + "/sriov_numvfs", "0", .vfCount(total: totalVFs))
        if vfs > 0 { try! write(pf + "/sriov_numvfs", "\(vfs)") }
        writes.removeAll()
    }
}
