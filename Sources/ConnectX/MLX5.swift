import Foundation
import Operations

/// Runs `ip` (iproute2) and returns its standard output; the seam tests replace.
public protocol IPLinkTool: AnyObject {
    func run(_ arguments: [String]) throws -> String
}

/// The real iproute2 `ip`, run as a process.
public final class IPRoute2: IPLinkTool {
    public let executable: String

    public init(executable: String? = nil) {
        self.executable = executable ?? ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/ip"
    }

    public func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch {
            throw OperatorError("cannot run \(executable): \(error.localizedDescription) (install iproute2)", kind: .environment)
        }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: errors, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw OperatorError("ip \(arguments.joined(separator: " ")): exit \(process.terminationStatus): \(text)", kind: .environment)
        }
        return String(decoding: output, as: UTF8.self)
    }
}

/// ConnectX-4 and later (mlx5): a VF is its own virtual port with its own
/// node and port GUID; its pkeys come from a virtualisation-aware subnet
/// manager, never from the host. The host sets the GUIDs and the VF's link
/// state, one of two ways, chosen by discovery:
/// - in-box kernels: rtnetlink on the PF's IPoIB interface, through iproute2
///   (`ip link set <if> vf N node_guid G`, `port_guid G`, `state ...`;
///   net/core/rtnetlink.c do_setvfinfo -> ipoib_main.c -> hw/mlx5/ib_virt.c);
/// - MLNX_OFED: `/sys/bus/pci/devices/<pf>/sriov/<vf>/{node,port,policy}`.
public struct MLX5Configurator {
    public enum Interface: String, Sendable {
        case netlink, ofedSysfs = "ofed-sysfs"
    }

    public let sysfs: SysfsAccess
    public let device: HCADevice
    public let ip: IPLinkTool
    public let interface: Interface

    public init(sysfs: SysfsAccess, device: HCADevice, ip: IPLinkTool) {
        self.sysfs = sysfs
        self.device = device
        self.ip = ip
        interface = device.ofedSriovFiles ? .ofedSysfs : .netlink
    }

    /// What every tool writes to mean "no GUID" (ib-sriov-cni utils.go DefaultGUID,
    /// networking-mlnx MLNX5_INVALID_GUID); the kernel itself takes any value (ib_virt.c:151-197).
    public static let unsetGUID: UInt64 = ~0

    var pciDir: String { "/sys/bus/pci/devices/\(device.pciAddress)" }

    /// The PF's IPoIB interface, which carries the VF list.
    func netdev() throws -> String {
        guard let name = device.netdevs.first else {
            throw OperatorError("\(device.name): no network interface under \(pciDir)/net: load ib_ipoib so rtnetlink can set VF GUIDs", kind: .environment)
        }
        return name
    }

    // MARK: VF count

    /// `sriov_numvfs`: 0 first when the count changes, as the kernel refuses one
    /// non-zero count over another with EBUSY (drivers/pci/iov.c:415-481).
    public func setVFCount(_ count: Int) throws {
        let path = pciDir + "/sriov_numvfs"
        let current = Int(try sysfs.read(path)) ?? 0
        if current == count { return }
        if current != 0 { try sysfs.writeChecked(path, "0") }
        if count != 0 { try sysfs.writeChecked(path, "\(count)") }
    }

    // MARK: State

    /// One VF as the kernel reports it.
    public struct Settings: Equatable, Sendable {
        public var node: UInt64
        public var port: UInt64
        /// `auto`/`enable`/`disable` (netlink) or `Follow`/`Up`/`Down` (OFED), as the interface names it.
        public var linkState: String
        public var disabled: Bool { linkState == "disable" || linkState == "Down" }
    }

    /// Every VF's settings. Netlink: `ip -j link show dev <if>`, whose
    /// `vfinfo_list` entries carry `"node guid"`, `"port guid"` and
    /// `"link_state"` (iproute2 ip/ipaddress.c:483-519; the kernel reports both
    /// GUIDs, 0 when never set, rtnetlink.c:1384-1392, ib_virt.c:210-224).
    public func settings() throws -> [Int: Settings] {
        switch interface {
        case .netlink:
            let text = try ip.run(["-j", "link", "show", "dev", try netdev()])
            guard let links = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]], let link = links.first else {
                throw OperatorError("\(device.name): cannot read 'ip -j link show' output", kind: .environment)
            }
            var result: [Int: Settings] = [:]
            for entry in link["vfinfo_list"] as? [[String: Any]] ?? [] {
                guard let vf = entry["vf"] as? Int else { continue }
                result[vf] = Settings(node: (entry["node guid"] as? String).flatMap(GUIDFormat.parseColonBytes) ?? 0,
                                      port: (entry["port guid"] as? String).flatMap(GUIDFormat.parseColonBytes) ?? 0,
                                      linkState: entry["link_state"] as? String ?? "auto")
            }
            return result
        case .ofedSysfs:
            var result: [Int: Settings] = [:]
            for vf in device.vfAddresses.indices {
                let dir = "\(pciDir)/sriov/\(vf)"
                // `port` reads the VF's live GID, `node` the configured node GUID (OFED sriov_sysfs.c:196-214, 284-311).
                result[vf] = Settings(node: GUIDFormat.parseColonBytes(try sysfs.read(dir + "/node")) ?? 0,
                                      port: GUIDFormat.parseColonBytes(try sysfs.read(dir + "/port")) ?? 0,
                                      linkState: try sysfs.read(dir + "/policy"))
            }
            return result
        }
    }

    public func state(of settings: Settings?) -> VFState {
        guard let settings else { return .other("not listed by the kernel") }
        let unset = { (guid: UInt64) in guid == 0 || guid == Self.unsetGUID }
        if settings.disabled { return unset(settings.node) ? .detached : .other("link disabled but keeps node GUID \(GUIDFormat.hex(settings.node))") }
        guard !unset(settings.node) else { return .other("link \(settings.linkState) without a VM GUID") }
        // OFED's `port` is the live GID, which follows a new GUID only once the VF restarts: compare the node GUID there.
        guard interface == .ofedSysfs || settings.port == settings.node else { return .other("node and port GUID differ") }
        return .attached(pkey: nil, guid: settings.node, limitedDefault: nil)
    }

    // MARK: Changes

    /// Sets the VM's GUID as node and port GUID (on ConnectX-4+ the port GUID
    /// equals the node GUID) and the link to follow the port. Node and port
    /// GUID go in two requests: in one, rtnetlink applies only the node GUID
    /// (rtnetlink.c:2592-2611 returns after it). The VF is disabled first and
    /// rebound after, as ib-sriov-cni does, so the GUID takes effect.
    public func attach(vf: Int, guid: UInt64) throws {
        do {
            try setLink(vf: vf, enabled: false)
            try setGUIDs(vf: vf, guid)
            try rebind(vf: vf)
            try setLink(vf: vf, enabled: true)
        } catch {
            try? detach(vf: vf)
            throw error
        }
    }

    /// Disables the VF's link and resets its GUIDs to all ones, then rebinds it (ib-sriov-cni ResetVFConfig).
    public func detach(vf: Int) throws {
        try setLink(vf: vf, enabled: false)
        try setGUIDs(vf: vf, Self.unsetGUID)
        try rebind(vf: vf)
    }

    func setLink(vf: Int, enabled: Bool) throws {
        switch interface {
        case .netlink: _ = try ip.run(["link", "set", "dev", try netdev(), "vf", "\(vf)", "state", enabled ? "auto" : "disable"])
        case .ofedSysfs: try sysfs.writeChecked("\(pciDir)/sriov/\(vf)/policy", enabled ? "Follow" : "Down")
        }
    }

    func setGUIDs(vf: Int, _ guid: UInt64) throws {
        let text = GUIDFormat.colonBytes(guid)  // iproute2 get_guid: exactly xx:xx:xx:xx:xx:xx:xx:xx (lib/utils.c:1469-1500)
        switch interface {
        case .netlink:
            let dev = try netdev()
            _ = try ip.run(["link", "set", "dev", dev, "vf", "\(vf)", "node_guid", text])
            _ = try ip.run(["link", "set", "dev", dev, "vf", "\(vf)", "port_guid", text])
            guard let back = try settings()[vf], back.node == guid, back.port == guid else {
                throw OperatorError("\(dev) VF \(vf): GUIDs did not read back as \(text)", kind: .environment)
            }
        case .ofedSysfs:
            let dir = "\(pciDir)/sriov/\(vf)"
            try sysfs.writeChecked(dir + "/node", text)
            try sysfs.write(dir + "/port", text)  // reads back the live GID, not what was written
        }
    }

    /// Unbinds and binds the VF's host driver so a new GUID takes effect; a VF
    /// passed to a VM (vfio-pci) or unbound needs none (ib-sriov-cni RebindVf).
    func rebind(vf: Int) throws {
        guard vf < device.vfAddresses.count else { return }
        let address = device.vfAddresses[vf]
        guard (try? sysfs.linkTarget("/sys/bus/pci/devices/\(address)/driver")) == "mlx5_core" else { return }
        try sysfs.write("/sys/bus/pci/drivers/mlx5_core/unbind", address)
        try sysfs.write("/sys/bus/pci/drivers/mlx5_core/bind", address)
    }
}
