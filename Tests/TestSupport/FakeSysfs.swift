import ConnectX
import Foundation
import Operations

/// An in-memory sysfs for the ConnectX backend's tests that behaves as the
/// kernel does. Every rule names the upstream line it follows (Linux 6.12
/// unless said otherwise; see ../shared/facts/HARDWARE.md):
/// - PCI SR-IOV `sriov_numvfs` (drivers/pci/iov.c:415-481): EINVAL when not a
///   u16, ERANGE above `sriov_totalvfs`, the current value a no-op, ENOENT
///   without `sriov_configure` (mlx4), EBUSY from one non-zero count to another.
/// - mlx4 paravirtualisation (drivers/infiniband/hw/mlx4/sysfs.c): see `MLX4Model`.
/// - mlx5 VFs: `sriov_numvfs` creates them bound to mlx5_core; MLNX_OFED's
///   `sriov/<vf>/{node,port,policy}` when asked (mlnx-ofa_kernel sriov_sysfs.c);
///   the rtnetlink side is `FakeIPLink`.
/// - driver `bind`/`unbind` (drivers/base/bus.c bind_store/unbind_store): ENODEV
///   unless the device is unbound (bind) or bound to that driver (unbind).
public final class FakeSysfs: SysfsAccess {
    /// A file: what reading shows, and what a write does (nil: mode 0444, EACCES on open).
    struct File {
        var read: () -> String
        var write: ((String) throws -> Void)?
    }

    private var files: [String: File] = [:]
    private var links: [String: String] = [:]
    /// Every accepted write, in order (path, value).
    public private(set) var writes: [(path: String, value: String)] = []
    /// The next write to a path containing this text fails with EIO (a flaky device, for tests).
    public var failNextWrite: String?
    /// Every access fails with EHOSTUNREACH-like ENODEV while set (a host that cannot be reached).
    public var unreachable = false
    public private(set) var mlx4: [String: MLX4Model] = [:]
    public private(set) var mlx5: [String: MLX5Model] = [:]

    public init() {}

    func add(_ path: String, read: @escaping () -> String, write: ((String) throws -> Void)? = nil) {
        files[path] = File(read: read, write: write)
    }

    /// A plain attribute (read-only unless `writable`).
    public func add(_ path: String, _ value: String, writable: Bool = false) {
        var stored = value
        add(path, read: { stored }, write: writable ? { stored = $0 } : nil)
    }

    public func link(_ path: String, to target: String) { links[path] = target }

    /// A guest takes the VF at `address` (its driver becomes vfio-pci).
    public func assignToGuest(_ address: String) { links["/sys/bus/pci/devices/\(address)/driver"] = "vfio-pci" }
    public func unlink(_ path: String) { links[path] = nil }
    public func remove(prefix: String) { for key in files.keys where key.hasPrefix(prefix) { files[key] = nil } }
    public func value(_ path: String) -> String? { files[path]?.read() }

    static func fail(_ code: Int32, _ path: String, _ value: String?) -> SysfsError {
        value.map { SysfsError("write", path: path, value: $0, errno: code) } ?? SysfsError("read", path: path, errno: code)
    }

    public func read(_ path: String) throws -> String {
        if unreachable { throw Self.fail(EHOSTUNREACH, path, nil) }
        guard let file = files[path] else { throw Self.fail(ENOENT, path, nil) }
        return file.read()
    }

    public func write(_ path: String, _ value: String) throws {
        if unreachable { throw Self.fail(EHOSTUNREACH, path, value) }
        if let text = failNextWrite, path.contains(text) {
            failNextWrite = nil
            throw Self.fail(EIO, path, value)
        }
        guard let file = files[path] else { throw Self.fail(ENOENT, path, value) }
        guard let write = file.write else { throw Self.fail(EACCES, path, value) }
        do { try write(value) } catch let code as Errno { throw Self.fail(code.code, path, value) }
        writes.append((path, value))
    }

    public func list(_ path: String) throws -> [String] {
        if unreachable { throw Self.fail(EHOSTUNREACH, path, nil) }
        let prefix = path.hasSuffix("/") ? path : path + "/"
        let names = Set((Array(files.keys) + Array(links.keys)).filter { $0.hasPrefix(prefix) }
            .map { String($0.dropFirst(prefix.count).split(separator: "/")[0]) })
        guard !names.isEmpty else { throw Self.fail(ENOENT, path, nil) }
        return names.sorted()
    }

    public func linkTarget(_ path: String) throws -> String {
        guard !unreachable, let target = links[path] else { throw Self.fail(unreachable ? EHOSTUNREACH : ENOENT, path, nil) }
        return target
    }

    public func exists(_ path: String) -> Bool {
        let prefix = path + "/"
        return files[path] != nil || links[path] != nil || files.keys.contains { $0.hasPrefix(prefix) } || links.keys.contains { $0.hasPrefix(prefix) }
    }

    /// Writes the tree to disk under `root` (files as they read now, and symlinks)
    /// for tools that read a real directory (`--sysfs-root`). The rules stay behind.
    public func materialize(at root: String) throws {
        let fm = FileManager.default
        for (path, file) in files {
            let full = root + path
            try fm.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try (file.read() + "\n").write(toFile: full, atomically: false, encoding: .utf8)
        }
        for (path, target) in links {
            let full = root + path
            try fm.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try? fm.removeItem(atPath: full)
            try fm.createSymbolicLink(atPath: full, withDestinationPath: "../" + target)
        }
    }

    // MARK: Parsing as the kernel does

    /// kstrtou16(buf, 0, ...): decimal, `0x` hex or leading-0 octal, one trailing newline, nothing else.
    static func kstrtou16(_ text: String) -> Int? {
        var t = Substring(text)
        if t.hasSuffix("\n") { t = t.dropLast() }
        let value: Int?
        if t.lowercased().hasPrefix("0x") { value = Int(t.dropFirst(2), radix: 16) } else if t.count > 1 && t.hasPrefix("0") { value = Int(t.dropFirst(), radix: 8) } else { value = Int(t) }
        return value.flatMap { $0 >= 0 && $0 <= 0xffff ? $0 : nil }
    }

    /// sscanf "%i": leading spaces, a sign, then decimal, `0x` hex or leading-0 octal; trailing junk ignored.
    static func scanInt(_ text: String) -> Int? {
        var s = Substring(text).drop { $0 == " " || $0 == "\t" || $0 == "\n" }
        var sign = 1
        if s.first == "-" || s.first == "+" {
            if s.first == "-" { sign = -1 }
            s = s.dropFirst()
        }
        var radix = 10
        if s.lowercased().hasPrefix("0x"), s.dropFirst(2).first?.isHexDigit == true {
            radix = 16
            s = s.dropFirst(2)
        } else if s.hasPrefix("0") && s.count > 1 {
            radix = 8
        }
        let digits = s.prefix { Int(String($0), radix: radix) != nil }
        guard !digits.isEmpty, let value = Int(digits, radix: radix) else { return nil }
        return sign * value
    }

    /// sscanf "%llx": leading spaces, an optional `0x`, hex digits; trailing junk ignored.
    static func scanHex64(_ text: String) -> UInt64? {
        var s = Substring(text).drop { $0 == " " || $0 == "\t" || $0 == "\n" }
        if s.lowercased().hasPrefix("0x") { s = s.dropFirst(2) }
        let digits = s.prefix(while: \.isHexDigit)
        return digits.isEmpty ? nil : UInt64(digits.suffix(16), radix: 16)
    }

    // MARK: Trees

    /// The class device and the PCI function every HCA has.
    func addDevice(name: String, pci: String, driver: String, nodeGUID: UInt64, ports: [(port: Int, guid: UInt64, lid: Int, table: () -> [Int])]) {
        let base = "/sys/class/infiniband/\(name)"
        link(base + "/device", to: pci)
        link("/sys/bus/pci/devices/\(pci)/driver", to: driver)
        add(base + "/node_guid", GUIDFormat.colonQuads(nodeGUID))
        add(base + "/sys_image_guid", GUIDFormat.colonQuads(nodeGUID))
        add(base + "/fw_ver", "2.42.5000")
        for port in ports {
            let p = "\(base)/ports/\(port.port)"
            add(p + "/state", "4: ACTIVE")
            add(p + "/lid", String(format: "0x%x", port.lid))
            add(p + "/sm_lid", "0x1")
            add(p + "/rate", "56 Gb/sec (4X FDR)")
            add(p + "/link_layer", "InfiniBand")
            // "%pI6": 8 groups of 4 hex digits (drivers/infiniband/core/sysfs.c:481-506).
            add(p + "/gids/0", "fe80:0000:0000:0000:" + GUIDFormat.colonQuads(port.guid))
            let table = port.table
            // "0x%04x" (core/sysfs.c:525-537).
            for i in 0..<table().count { add("\(p)/pkeys/\(i)", read: { String(format: "0x%04x", table()[i]) }) }
        }
    }

    static func pciFunction(_ pf: String, _ function: Int) -> String {
        "\(pf.prefix(8))\(String(format: "%02d.%d", function / 8, function % 8))"
    }

    /// A ConnectX-2/3 (mlx4) PF with `vfs` VFs from the module parameter.
    @discardableResult
    public func addMLX4(name: String = "mlx4_0", pci: String = "0000:04:00.0", nodeGUID: UInt64 = 0x0002_c903_00a1_b2c0,
                        vfs: Int, totalVFs: Int = 63, physicalLength: Int = 16, ports: Int = 1, pkeys: [Int] = [0xffff],
                        lid: Int = 2, seed: UInt64 = 1) -> MLX4Model {
        let model = MLX4Model(sysfs: self, name: name, pci: pci, nodeGUID: nodeGUID, vfs: vfs, physicalLength: physicalLength,
                              ports: ports, seed: seed)
        for port in 1...ports { model.program(port: port, pkeys) }
        mlx4[name] = model
        addDevice(name: name, pci: pci, driver: "mlx4_core", nodeGUID: nodeGUID,
                  ports: (1...ports).map { p in (p, model.portGUID(p), lid + p - 1, { model.hostView(port: p) }) })
        let pf = "/sys/bus/pci/devices/\(pci)"
        add(pf + "/sriov_totalvfs", "\(totalVFs)")
        // mlx4 has no sriov_configure (mlx4/main.c:4495-4503): any other count is ENOENT (iov.c).
        add(pf + "/sriov_numvfs", read: { "\(vfs)" }, write: { text in
            guard let count = Self.kstrtou16(text) else { throw Errno(EINVAL) }
            guard count <= totalVFs else { throw Errno(ERANGE) }
            guard count == vfs else { throw Errno(ENOENT) }
        })
        for vf in 0..<vfs {
            let address = Self.pciFunction(pci, vf + 1)
            link("\(pf)/virtfn\(vf)", to: address)
            add("/sys/bus/pci/devices/\(address)/device", "0x1004")
        }
        model.addTrees()
        return model
    }

    /// A ConnectX-4+ (mlx5) PF whose VFs come from `sriov_numvfs` (now `vfs`),
    /// with an IPoIB interface `ib0` for rtnetlink, or MLNX_OFED's sysfs files.
    @discardableResult
    public func addMLX5(name: String = "mlx5_0", pci: String = "0000:81:00.0", nodeGUID: UInt64 = 0x9803_9b03_0012_3400,
                        vfs: Int = 0, totalVFs: Int = 127, lid: Int = 3, ofed: Bool = false, vfDeviceID: String = "0x101c") -> MLX5Model {
        let model = MLX5Model(sysfs: self, pci: pci, totalVFs: totalVFs, ofed: ofed, vfDeviceID: vfDeviceID)
        mlx5[name] = model
        // On ConnectX-4+ the port GUID equals the node GUID (public ibstat output for MT4115/MT4123/MT4129).
        addDevice(name: name, pci: pci, driver: "mlx5_core", nodeGUID: nodeGUID,
                  ports: [(1, nodeGUID, lid, { [0xffff] + Array(repeating: 0, count: 127) })])
        let pf = "/sys/bus/pci/devices/\(pci)"
        add(pf + "/sriov_totalvfs", "\(totalVFs)")
        add(pf + "/net/ib0/type", "32")
        add(pf + "/sriov_numvfs", read: { "\(model.count)" }, write: { text in
            guard let count = Self.kstrtou16(text) else { throw Errno(EINVAL) }
            guard count <= totalVFs else { throw Errno(ERANGE) }
            if count == model.count { return }
            guard model.count == 0 || count == 0 else { throw Errno(EBUSY) }
            // mlx5 does not check for assigned VFs (mlx5/core/sriov.c:215-229): removing a VF that vfio-pci
            // holds for a guest blocks until the guest lets go. A test must never get here.
            guard !(0..<model.count).contains(where: { self.links["/sys/bus/pci/devices/\(model.address(vf: $0))/driver"] == "vfio-pci" }) else {
                throw Errno(EDEADLK)
            }
            model.setCount(count)
        })
        for driver in ["mlx5_core"] {
            add("/sys/bus/pci/drivers/\(driver)/unbind", read: { "" }, write: { text in
                let address = text.trimmingCharacters(in: .whitespacesAndNewlines)
                guard self.links["/sys/bus/pci/devices/\(address)/driver"] == driver else { throw Errno(ENODEV) }
                self.links["/sys/bus/pci/devices/\(address)/driver"] = nil
            })
            add("/sys/bus/pci/drivers/\(driver)/bind", read: { "" }, write: { text in
                let address = text.trimmingCharacters(in: .whitespacesAndNewlines)
                guard self.files["/sys/bus/pci/devices/\(address)/device"] != nil,
                      self.links["/sys/bus/pci/devices/\(address)/driver"] == nil else { throw Errno(ENODEV) }
                self.links["/sys/bus/pci/devices/\(address)/driver"] = driver
                model.bound(address: address)
            })
        }
        if vfs > 0 { try! write(pf + "/sriov_numvfs", "\(vfs)") }
        writes.removeAll()
        return model
    }
}

/// An errno a fake file's write raises.
public struct Errno: Error {
    public var code: Int32
    public init(_ code: Int32) { self.code = code }
}

/// One mlx4 PF's paravirtualisation state, as drivers/infiniband/hw/mlx4 keeps it.
public final class MLX4Model {
    unowned let sysfs: FakeSysfs
    let name: String
    let pci: String
    let nodeGUID: UInt64
    public let vfs: Int
    /// The physical table's length (128 on ConnectX-3); the SM sees one less (mlx4/main.c:2139-2151).
    public let physicalLength: Int
    public let ports: Int
    /// Physical pkey tables per port, as the subnet manager programmed them.
    var physical: [Int: [Int]] = [:]
    /// When set, the physical table of a port is read from here (a real SM's view, in the OpenSM tests).
    public var physicalSource: ((Int) -> [Int])?
    /// virt2phys[slave][port][virtual] = physical index.
    var virt2phys: [Int: [Int: [Int]]] = [:]
    /// Admin alias GUIDs per port and slave.
    var admin: [Int: [UInt64]] = [:]
    /// Pkey-change events sent to each slave (one per pkey_idx write, sysfs.c:476-481).
    public private(set) var events: [Int: Int] = [:]
    var random: UInt64

    init(sysfs: FakeSysfs, name: String, pci: String, nodeGUID: UInt64, vfs: Int, physicalLength: Int, ports: Int, seed: UInt64) {
        self.sysfs = sysfs
        self.name = name
        self.pci = pci
        self.nodeGUID = nodeGUID
        self.vfs = vfs
        self.physicalLength = physicalLength
        self.ports = ports
        random = seed
        boot()
    }

    /// The port GUID: ConnectX-3 gives port p the node GUID + p (firmware), which the device reports in gids/0.
    public func portGUID(_ port: Int) -> UInt64 { nodeGUID + UInt64(port) }

    /// What the driver sets at load: every VF maps virtual 0 to physical 0 (the
    /// full default key) and nothing else (hw/mlx4/main.c:2392-2421); VFs get
    /// random, locally administered unicast alias GUIDs (mlx4/main.c:2709-2722).
    public func boot() {
        for slave in 0...vfs {
            for port in 1...ports {
                virt2phys[slave, default: [:]][port] = (0..<physicalLength).map { slave == 0 || $0 == 0 ? $0 : physicalLength - 1 }
            }
        }
        for port in 1...ports {
            admin[port] = (0..<128).map { slave in
                guard slave != 0 else { return portGUID(port) }
                random &+= 0x9e37_79b9_7f4a_7c15
                var z = random
                z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
                z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
                return ((z ^ (z >> 31)) & ~(1 << 56)) | (1 << 57)
            }
        }
    }

    /// What the subnet manager does: programs port `port`'s physical table (the rest 0).
    public func program(port: Int, _ pkeys: [Int]) {
        physical[port] = Array((pkeys + Array(repeating: 0, count: physicalLength)).prefix(physicalLength))
    }

    func table(_ port: Int) -> [Int] {
        if let source = physicalSource {
            return Array((source(port) + Array(repeating: 0, count: physicalLength)).prefix(physicalLength))
        }
        return physical[port] ?? Array(repeating: 0, count: physicalLength)
    }

    /// The PF's own view (identity map, physical length - 1 entries; hw/mlx4/main.c:694).
    func hostView(port: Int) -> [Int] { Array(table(port).prefix(physicalLength - 1)) }

    public func map(vf: Int, port: Int = 1) -> [String] {
        (virt2phys[vf + 1]?[port] ?? []).prefix(physicalLength - 1).map { $0 >= physicalLength - 1 ? "none" : "\($0)" }
    }

    public func aliasGUID(vf: Int, port: Int = 1) -> UInt64 { admin[port]![vf + 1] }

    func addTrees() {
        let ib = "/sys/class/infiniband/\(name)/iov"
        for port in 1...ports {
            let p = "\(ib)/ports/\(port)"
            for i in 0..<physicalLength - 1 {  // sysfs.c:304: pkey_tbl_len = physical length - 1
                sysfs.add("\(p)/pkeys/\(i)", read: { [unowned self] in String(format: "0x%04x", table(port)[i]) })
            }
            for n in 0..<128 {  // sysfs.c:267: one per GUID table entry (128 on ConnectX-3)
                sysfs.add("\(p)/admin_guids/\(n)", read: { [unowned self] in String(admin[port]![n], radix: 16) }, write: { [unowned self] text in
                    // sysfs.c:68-109: entry 0 is read-only but the write "succeeds"; the scan result is not
                    // checked (an unparsable value stores 0, as with CONFIG_INIT_STACK_ALL_ZERO); never an errno.
                    guard n != 0 else { return }
                    admin[port]![n] = FakeSysfs.scanHex64(text) ?? 0
                })
            }
        }
        for slave in 0...vfs {
            let fn = "\(ib)/\(FakeSysfs.pciFunction(pci, slave))"
            for port in 1...ports {
                let dir = "\(fn)/ports/\(port)"
                sysfs.add("\(dir)/gid_idx/0", "\(slave)")  // sysfs.c:486-490
                for v in 0..<physicalLength - 1 {  // sysfs.c:641-645: caps.pkey_table_len entries
                    sysfs.add("\(dir)/pkey_idx/\(v)", read: { [unowned self] in
                        let key = virt2phys[slave]![port]![v]
                        return key >= physicalLength - 1 ? "none" : "\(key)"  // sysfs.c:446-451
                    }, write: { [unowned self] text in
                        guard slave != 0 else { throw Errno(EINVAL) }  // sysfs.c:463-464: the PF's own tree
                        let index: Int
                        if text.lowercased().hasPrefix("no") {  // sysfs.c:466-467
                            index = physicalLength - 1
                        } else {
                            guard let parsed = FakeSysfs.scanInt(text), parsed >= 0, parsed < physicalLength - 1 else { throw Errno(EINVAL) }  // 468-471
                            index = parsed
                        }
                        virt2phys[slave]![port]![v] = index
                        events[slave, default: 0] += 1  // 476-481: mlx4_gen_pkey_eqe
                    })
                }
            }
        }
    }
}

/// One mlx5 PF's VFs: their count, host driver binding, GUIDs and link policy.
public final class MLX5Model {
    unowned let sysfs: FakeSysfs
    let pci: String
    let totalVFs: Int
    public let ofed: Bool
    let vfDeviceID: String
    public private(set) var count = 0
    /// Configured node/port GUIDs (the driver's cache; 0 until set, hw/mlx5/ib_virt.c:210-224) and policy.
    public var node: [UInt64] = []
    public var port: [UInt64] = []
    /// MLX5_POLICY_*: Down / Up / Follow.
    public var policy: [String] = []
    /// The port GUID the VF's GID 0 carries: it follows `port` when the VF's driver binds.
    public var live: [UInt64] = []
    public private(set) var rebinds = 0

    init(sysfs: FakeSysfs, pci: String, totalVFs: Int, ofed: Bool, vfDeviceID: String) {
        self.sysfs = sysfs
        self.pci = pci
        self.totalVFs = totalVFs
        self.ofed = ofed
        self.vfDeviceID = vfDeviceID
    }

    public func address(vf: Int) -> String { FakeSysfs.pciFunction(pci, vf + 1) }

    /// The PCI core creates the VFs, which mlx5_core probes (and removes them at 0).
    func setCount(_ newCount: Int) {
        let pf = "/sys/bus/pci/devices/\(pci)"
        for vf in 0..<count {
            sysfs.unlink("\(pf)/virtfn\(vf)")
            sysfs.unlink("/sys/bus/pci/devices/\(address(vf: vf))/driver")
            sysfs.remove(prefix: "/sys/bus/pci/devices/\(address(vf: vf))/")
        }
        sysfs.remove(prefix: "\(pf)/sriov/")
        count = newCount
        node = Array(repeating: 0, count: newCount)
        port = Array(repeating: 0, count: newCount)
        live = Array(repeating: 0, count: newCount)
        policy = Array(repeating: "Down", count: newCount)
        for vf in 0..<newCount {
            sysfs.link("\(pf)/virtfn\(vf)", to: address(vf: vf))
            sysfs.add("/sys/bus/pci/devices/\(address(vf: vf))/device", vfDeviceID)
            sysfs.link("/sys/bus/pci/devices/\(address(vf: vf))/driver", to: "mlx5_core")
            guard ofed else { continue }
            let dir = "\(pf)/sriov/\(vf)"
            // mlnx-ofa_kernel sriov_sysfs.c: node/port take "%02x:...:%02x" (8 values, else EINVAL, 216-245, 340-370);
            // `port` shows the live GID 0 (196-214); policy takes Down/Up/Follow exactly (407-452).
            sysfs.add(dir + "/node", read: { [unowned self] in GUIDFormat.colonBytes(node[vf]) }, write: { [unowned self] text in
                guard let guid = GUIDFormat.parseColonBytes(text.trimmingCharacters(in: .newlines)) else { throw Errno(EINVAL) }
                node[vf] = guid
            })
            sysfs.add(dir + "/port", read: { [unowned self] in GUIDFormat.colonBytes(live[vf]) }, write: { [unowned self] text in
                guard let guid = GUIDFormat.parseColonBytes(text.trimmingCharacters(in: .newlines)) else { throw Errno(EINVAL) }
                port[vf] = guid
            })
            sysfs.add(dir + "/policy", read: { [unowned self] in policy[vf] }, write: { [unowned self] text in
                let value = text.hasSuffix("\n") ? String(text.dropLast()) : text
                guard ["Down", "Up", "Follow"].contains(value) else { throw Errno(EINVAL) }
                policy[vf] = value
            })
        }
    }

    func bound(address: String) {
        guard let vf = (0..<count).first(where: { self.address(vf: $0) == address }) else { return }
        live[vf] = port[vf]
        rebinds += 1
    }
}

/// iproute2's `ip` over the kernel's rtnetlink for an mlx5 PF's IPoIB
/// interface `ib0`, in memory: the argument parsing of ip/iplink.c and
/// lib/utils.c get_guid, the kernel's do_setvfinfo order (rtnetlink.c:2447-2611:
/// link state first, then the node GUID, which returns before a port GUID in
/// the same request is looked at), mlx5's link policies (ib_virt.c:78-118) and
/// the JSON of ip/ipaddress.c print_vfinfo (`vfinfo_list`, `"node guid"`,
/// `"port guid"`, `"link_state"`).
public final class FakeIPLink: IPLinkTool {
    let model: MLX5Model
    public private(set) var calls: [[String]] = []

    public init(_ model: MLX5Model) { self.model = model }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// lib/utils.c get_guid: exactly 23 characters, colons at every third, two hex digits a byte.
    static func getGUID(_ text: String) -> UInt64? {
        guard text.count == 23 else { return nil }
        return GUIDFormat.parseColonBytes(text)
    }

    public func run(_ arguments: [String]) throws -> String {
        calls.append(arguments)
        if arguments == ["-j", "link", "show", "dev", "ib0"] { return show() }
        guard arguments.count >= 6, arguments[0...2] == ["link", "set", "dev"], arguments[3] == "ib0", arguments[4] == "vf",
              let vf = Int(arguments[5]) else {
            throw OperatorError("ip \(arguments.joined(separator: " ")): exit 1: Command line is not complete", kind: .environment)
        }
        var state: String?
        var nodeGUID: UInt64?
        var portGUID: UInt64?
        var i = 6
        while i + 1 < arguments.count {
            let (key, value) = (arguments[i], arguments[i + 1])
            switch key {
            case "state":
                // iplink.c:496-510: matches() is a prefix test.
                guard let s = ["auto", "enable", "disable"].first(where: { $0.hasPrefix(value) && !value.isEmpty }) else {
                    throw OperatorError("ip: exit 1: Invalid \"state\" value", kind: .environment)
                }
                state = s
            case "node_guid", "port_guid":
                guard let guid = Self.getGUID(value) else { throw OperatorError("ip: exit 1: Invalid GUID format", kind: .environment) }
                if key == "node_guid" { nodeGUID = guid } else { portGUID = guid }
            default: throw OperatorError("ip: exit 1: Unknown vf parameter \(key)", kind: .environment)
            }
            i += 2
        }
        guard vf >= 0 && vf < model.count else { throw OperatorError("ip: exit 2: RTNETLINK answers: Invalid argument", kind: .environment) }
        if let state { model.policy[vf] = ["auto": "Follow", "enable": "Up", "disable": "Down"][state]! }
        if let nodeGUID {
            model.node[vf] = nodeGUID
            return ""  // rtnetlink.c:2592-2600: returns here; a port GUID in the same request is dropped
        }
        if let portGUID { model.port[vf] = portGUID }
        return ""
    }

    func show() -> String {
        var link: [String: Any] = ["ifindex": 5, "ifname": "ib0", "link_type": "infiniband"]
        if model.count > 0 {
            link["num_vf"] = model.count
            link["vfinfo_list"] = (0..<model.count).map { vf -> [String: Any] in
                ["vf": vf, "link_type": "infiniband", "spoofchk": false,
                 "node guid": GUIDFormat.colonBytes(model.node[vf]), "port guid": GUIDFormat.colonBytes(model.port[vf]),
                 "link_state": ["Follow": "auto", "Up": "enable", "Down": "disable"][model.policy[vf]]!, "trust": false, "query_rss_en": false]
            }
        }
        let data = try! JSONSerialization.data(withJSONObject: [link], options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
