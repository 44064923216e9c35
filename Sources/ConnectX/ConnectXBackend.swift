import Foundation
import Operations

/// Real ConnectX HCAs: mlx4 through the PF's paravirtualisation sysfs, mlx5
/// through rtnetlink (iproute2) or MLNX_OFED's sysfs, one sysfs root per host.
public final class ConnectXBackend: Backend {
    public let name = "connectx"
    /// A host's sysfs; `DirectorySysfs(root:)` by default, a fake tree in tests.
    let sysfsFor: (HostEntry) throws -> SysfsAccess
    /// A host's `ip`; the real iproute2 by default (it acts on the machine it runs on).
    let ipFor: (HostEntry) -> IPLinkTool

    public init(sysfsFor: @escaping (HostEntry) throws -> SysfsAccess = { DirectorySysfs(root: $0.sysfsRoot ?? "/") },
                ipFor: @escaping (HostEntry) -> IPLinkTool = { _ in IPRoute2() }) {
        self.sysfsFor = sysfsFor
        self.ipFor = ipFor
    }

    enum Driver {
        case mlx4(MLX4Configurator)
        case mlx5(MLX5Configurator)
    }

    func driver(_ host: HostEntry) throws -> Driver {
        let sysfs = try sysfsFor(host)
        let devices = try SysfsDiscovery(sysfs: sysfs).devices()
        guard let device = devices.first(where: { $0.name == host.device }) ?? (host.device == nil ? devices.first : nil) else {
            throw OperatorError("\(host.name): no RDMA device \(host.device ?? "") under \(host.sysfsRoot ?? "/")/sys/class/infiniband", kind: .environment)
        }
        switch device.driver {
        case .mlx4?: return .mlx4(MLX4Configurator(sysfs: sysfs, device: device, port: host.port))
        case .mlx5?: return .mlx5(MLX5Configurator(sysfs: sysfs, device: device, ip: ipFor(host)))
        case nil: throw OperatorError("\(host.name): \(device.name) is bound to neither mlx4_core nor mlx5_core", kind: .environment)
        }
    }

    public func actual(_ host: HostEntry) throws -> HostHardware {
        let sysfs = try sysfsFor(host)
        func assigned(_ device: HCADevice) -> Set<Int> {
            Set(device.vfAddresses.indices.filter { (try? sysfs.linkTarget("/sys/bus/pci/devices/\(device.vfAddresses[$0])/driver")) == "vfio-pci" })
        }
        switch try driver(host) {
        case .mlx4(let hca):
            var vfs: [Int: VFState] = [:]
            for vf in hca.device.vfAddresses.indices { vfs[vf] = try hca.state(vf: vf) }
            return HostHardware(vfCount: hca.device.vfAddresses.count, vfs: vfs, portPKeys: try hca.physicalTable(), assigned: assigned(hca.device))
        case .mlx5(let hca):
            let settings = try hca.settings()
            var vfs: [Int: VFState] = [:]
            for vf in hca.device.vfAddresses.indices { vfs[vf] = hca.state(of: settings[vf]) }
            // The tenant pkeys live in the VFs' vports, programmed by the subnet manager: the host cannot see them.
            return HostHardware(vfCount: hca.device.vfAddresses.count, vfs: vfs, portPKeys: nil, assigned: assigned(hca.device))
        }
    }

    public func prepare(_ host: HostEntry, vfs: Int) throws -> String? {
        switch try driver(host) {
        case .mlx4(let hca):
            // mlx4: the count is a module parameter (no sriov_configure); install the modprobe.d line for the next driver load.
            let line = MLX4Configurator.modprobeLine(numVFs: vfs, ports: hca.device.ports.count)
            guard let root = host.sysfsRoot else { return "\(host.name): install in /etc/modprobe.d: \(line)" }
            let etc = (root == "/" ? "" : root) + "/etc/modprobe.d"
            try FileManager.default.createDirectory(atPath: etc, withIntermediateDirectories: true)
            try AtomicFile.write(line + "\n", to: etc + "/hpccloud-mlx4.conf")
            return "\(host.name): \(etc)/hpccloud-mlx4.conf: \(line) (takes effect when mlx4_core is next loaded)"
        case .mlx5(let hca):
            try hca.setVFCount(vfs)
            return nil
        }
    }

    public func attach(_ host: HostEntry, vf: Int, _ config: VFConfig) throws -> [String] {
        switch try driver(host) {
        case .mlx4(let hca): return try hca.attach(vf: vf, pkey: config.pkey, guid: config.guid, limitedDefault: config.limitedDefault)
        case .mlx5(let hca):
            try hca.attach(vf: vf, guid: config.guid)
            return []
        }
    }

    public func detach(_ host: HostEntry, vf: Int) throws {
        switch try driver(host) {
        case .mlx4(let hca): try hca.detach(vf: vf)
        case .mlx5(let hca): try hca.detach(vf: vf)
        }
    }

    /// The hosts under a `--sysfs-root`: the directory itself when it holds
    /// `sys/`, else each subdirectory that does (sorted by name).
    public static func discoverHosts(sysfsRoot: String) throws -> [HostEntry] {
        let fm = FileManager.default
        let roots = fm.fileExists(atPath: sysfsRoot + "/sys") ? [sysfsRoot]
            : ((try? fm.contentsOfDirectory(atPath: sysfsRoot)) ?? []).sorted().map { sysfsRoot + "/" + $0 }
                .filter { fm.fileExists(atPath: $0 + "/sys") }
        return try roots.map { root in
            guard let device = try SysfsDiscovery(sysfs: DirectorySysfs(root: root)).devices().first else {
                throw OperatorError("no RDMA device under \(root)/sys/class/infiniband", kind: .environment)
            }
            return host(named: URL(fileURLWithPath: root).lastPathComponent, root: root, device: device)
        }
    }

    /// The inventory entry for a discovered HCA (its index is given when it is recorded).
    public static func host(named name: String, root: String?, device: HCADevice) -> HostEntry {
        let port = device.firstIBPort
        return HostEntry(index: 0, name: name, sysfsRoot: root, device: device.name, driver: device.driver?.rawValue, port: port,
                         nodeGUID: device.nodeGUID, portGUID: device.portGUID(port), membership: device.membership)
    }
}
