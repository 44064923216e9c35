import CloudModel
import Foundation
import Operations

/// The two driver families (HARDWARE.md): mlx4 for ConnectX-2/3, mlx5 for ConnectX-4 and later.
public enum DriverFamily: String, Sendable {
    case mlx4 = "mlx4_core"
    case mlx5 = "mlx5_core"
}

/// One InfiniBand port, as the kernel (or libibverbs) reports it.
public struct PortInfo: Equatable, Sendable {
    public var number: Int
    /// `ACTIVE`, `DOWN`, ...
    public var state: String
    public var lid: Int
    public var smLID: Int
    public var rate: String
    /// `InfiniBand` or `Ethernet` (a VPI port may be either).
    public var linkLayer: String
    /// The port GUID, read from the device (`gids/0`), never computed.
    public var guid: UInt64
    /// The pkey table, index by index (0 for an empty slot).
    public var pkeys: [Int]

    public init(number: Int, state: String, lid: Int, smLID: Int, rate: String, linkLayer: String = "InfiniBand", guid: UInt64, pkeys: [Int]) {
        self.number = number
        self.state = state
        self.lid = lid
        self.smLID = smLID
        self.rate = rate
        self.linkLayer = linkLayer
        self.guid = guid
        self.pkeys = pkeys
    }
}

/// An HCA found on a host: its RDMA device and its PCI function.
public struct HCADevice: Equatable, Sendable {
    public var name: String
    public var driver: DriverFamily?
    public var pciAddress: String
    public var firmware: String
    public var nodeGUID: UInt64
    public var systemImageGUID: UInt64
    public var ports: [PortInfo]
    public var totalVFs: Int?
    /// `sriov_numvfs`: shown on every SR-IOV PF, mlx4 included (drivers/pci/iov.c:554-568).
    public var numVFs: Int?
    /// PCI addresses of the VFs present (`virtfn<N>`), by VF number.
    public var vfAddresses: [String]
    /// PCI device id of the VFs (`virtfn0/device`), which names the HCA generation.
    public var vfDeviceID: Int?
    /// The PF's network interfaces (IPoIB on an IB port): where rtnetlink sets VF GUIDs.
    public var netdevs: [String]
    /// MLNX_OFED's `sriov/<vf>/{node,port,policy}` exists (in-box kernels have none).
    public var ofedSriovFiles: Bool

    public init(name: String, driver: DriverFamily?, pciAddress: String, firmware: String, nodeGUID: UInt64, systemImageGUID: UInt64,
                ports: [PortInfo], totalVFs: Int?, numVFs: Int?, vfAddresses: [String], vfDeviceID: Int?, netdevs: [String] = [],
                ofedSriovFiles: Bool = false) {
        self.name = name
        self.driver = driver
        self.pciAddress = pciAddress
        self.firmware = firmware
        self.nodeGUID = nodeGUID
        self.systemImageGUID = systemImageGUID
        self.ports = ports
        self.totalVFs = totalVFs
        self.numVFs = numVFs
        self.vfAddresses = vfAddresses
        self.vfDeviceID = vfDeviceID
        self.netdevs = netdevs
        self.ofedSriovFiles = ofedSriovFiles
    }

    /// The port GUID of port `p` as the device reports it (0 when unknown).
    public func portGUID(_ p: Int) -> UInt64 { ports.first { $0.number == p }?.guid ?? 0 }

    /// The first InfiniBand port (a VPI HCA may run a port as Ethernet).
    public var firstIBPort: Int { ports.first { $0.linkLayer == "InfiniBand" }?.number ?? 1 }

    /// The HCA profile this device is: the one whose VF PCI id matches.
    public func profile(in catalog: HardwareCatalog) -> HCAProfile? {
        guard let vfDeviceID else { return nil }
        return catalog.hcas.values.sorted { $0.name < $1.name }.first { $0.vfPCIDeviceID == vfDeviceID }
    }

    /// How this HCA's VMs join partitions: mlx4 VFs share the PF's port; mlx5 VFs are vports.
    public var membership: Membership { driver == .mlx5 ? .virtualPort : .physicalPort }
}

/// Finds HCAs through sysfs (`/sys/class/infiniband`, `/sys/bus/pci/devices`).
public struct SysfsDiscovery {
    public let sysfs: SysfsAccess

    public init(sysfs: SysfsAccess) { self.sysfs = sysfs }

    /// Decimal, or `0x` hex.
    static func parseInt(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces)
        return t.hasPrefix("0x") ? Int(t.dropFirst(2), radix: 16) : Int(t)
    }

    /// The interface id (low 64 bits) of a GID printed with `%pI6`: eight
    /// groups of four hex digits (drivers/infiniband/core/sysfs.c:481-506).
    static func interfaceID(ofGID text: String) -> UInt64? {
        let groups = text.split(separator: ":")
        guard groups.count == 8, groups.allSatisfy({ $0.count == 4 }) else { return nil }
        return UInt64(groups[4...].joined(), radix: 16)
    }

    public func devices() throws -> [HCADevice] {
        let classDir = "/sys/class/infiniband"
        guard sysfs.exists(classDir) else { return [] }
        return try sysfs.list(classDir).map(device)
    }

    func device(_ name: String) throws -> HCADevice {
        let base = "/sys/class/infiniband/\(name)"
        let pci = try sysfs.linkTarget(base + "/device")
        let pciDir = "/sys/bus/pci/devices/\(pci)"
        let driver = (try? sysfs.linkTarget(pciDir + "/driver")).flatMap(DriverFamily.init(rawValue:))
        var ports: [PortInfo] = []
        for port in try sysfs.list(base + "/ports").compactMap(Int.init).sorted() {
            let p = "\(base)/ports/\(port)"
            let pkeyNames = try sysfs.list(p + "/pkeys").compactMap(Int.init).sorted()
            ports.append(PortInfo(number: port, state: (try? sysfs.read(p + "/state"))?.split(separator: " ").last.map(String.init) ?? "?",
                                  lid: Self.parseInt((try? sysfs.read(p + "/lid")) ?? "") ?? 0,
                                  smLID: Self.parseInt((try? sysfs.read(p + "/sm_lid")) ?? "") ?? 0,
                                  rate: (try? sysfs.read(p + "/rate")) ?? "?",
                                  linkLayer: (try? sysfs.read(p + "/link_layer")) ?? "InfiniBand",
                                  guid: (try? sysfs.read(p + "/gids/0")).flatMap(Self.interfaceID(ofGID:)) ?? 0,
                                  pkeys: try pkeyNames.map { Self.parseInt(try sysfs.read("\(p)/pkeys/\($0)")) ?? 0 }))
        }
        let vfLinks = (try? sysfs.list(pciDir))?.filter { $0.hasPrefix("virtfn") }
            .sorted { Int($0.dropFirst(6)) ?? 0 < Int($1.dropFirst(6)) ?? 0 } ?? []
        return HCADevice(
            name: name, driver: driver, pciAddress: pci,
            firmware: (try? sysfs.read(base + "/fw_ver")) ?? "?",
            nodeGUID: GUIDFormat.parseColonQuads(try sysfs.read(base + "/node_guid")) ?? 0,
            systemImageGUID: GUIDFormat.parseColonQuads((try? sysfs.read(base + "/sys_image_guid")) ?? "") ?? 0,
            ports: ports,
            totalVFs: (try? sysfs.read(pciDir + "/sriov_totalvfs")).flatMap { Self.parseInt($0) },
            numVFs: sysfs.exists(pciDir + "/sriov_numvfs") ? (try? sysfs.read(pciDir + "/sriov_numvfs")).flatMap { Self.parseInt($0) } : nil,
            vfAddresses: try vfLinks.map { try sysfs.linkTarget("\(pciDir)/\($0)") },
            vfDeviceID: vfLinks.first.flatMap { try? sysfs.read("/sys/bus/pci/devices/\(try sysfs.linkTarget("\(pciDir)/\($0)"))/device") }
                .flatMap { Self.parseInt($0) },
            netdevs: (try? sysfs.list(pciDir + "/net")) ?? [],
            ofedSriovFiles: sysfs.exists(pciDir + "/sriov"))
    }
}
