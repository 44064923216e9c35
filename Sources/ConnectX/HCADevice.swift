import CloudModel
import Foundation

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
    /// The physical pkey table, index by index (0 for an empty slot).
    public var pkeys: [Int]

    public init(number: Int, state: String, lid: Int, smLID: Int, rate: String, pkeys: [Int]) {
        self.number = number
        self.state = state
        self.lid = lid
        self.smLID = smLID
        self.rate = rate
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
    /// Nil on mlx4 (no `sriov_numvfs`: VFs come from the module parameter).
    public var numVFs: Int?
    /// PCI addresses of the VFs present (`virtfn<N>`), by VF number.
    public var vfAddresses: [String]
    /// PCI device id of the VFs (`virtfn0/device`), which names the HCA generation.
    public var vfDeviceID: Int?

    public init(name: String, driver: DriverFamily?, pciAddress: String, firmware: String, nodeGUID: UInt64, systemImageGUID: UInt64,
                ports: [PortInfo], totalVFs: Int?, numVFs: Int?, vfAddresses: [String], vfDeviceID: Int?) {
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
    }

    /// The port GUID of port `p`: node GUID + p, as ConnectX firmware assigns them.
    public func portGUID(_ p: Int) -> UInt64 { nodeGUID &+ UInt64(p) }

    /// The HCA profile this device is: the one whose VF PCI id matches.
    public func profile(in catalog: HardwareCatalog) -> HCAProfile? {
        guard let vfDeviceID else { return nil }
        return catalog.hcas.values.sorted { $0.name < $1.name }.first { $0.vfPCIDeviceID == vfDeviceID }
    }
}

/// GUIDs as the kernel prints them.
public enum GUIDFormat {
    /// `0002:c903:0031:8e90` (node_guid, sys_image_guid).
    public static func parseColonQuads(_ text: String) -> UInt64? {
        let hex = text.replacingOccurrences(of: ":", with: "")
        guard hex.count == 16 else { return nil }
        return UInt64(hex, radix: 16)
    }

    public static func colonQuads(_ guid: UInt64) -> String {
        let hex = String(format: "%016llx", guid)
        return stride(from: 0, to: 16, by: 4).map { i in
            String(hex[hex.index(hex.startIndex, offsetBy: i)..<hex.index(hex.startIndex, offsetBy: i + 4)])
        }.joined(separator: ":")
    }

    /// `0x0002c90300318e90` (mlx4 admin_guids, partitions.conf).
    public static func hex(_ guid: UInt64) -> String { String(format: "0x%016llx", guid) }

    /// `00:02:c9:03:00:31:8e:90` (mlx5 sriov/<vf>/node and port).
    public static func colonBytes(_ guid: UInt64) -> String {
        (0..<8).map { String(format: "%02x", (guid >> (56 - 8 * UInt64($0))) & 0xff) }.joined(separator: ":")
    }
}

/// Finds HCAs through sysfs (`/sys/class/infiniband`, `/sys/bus/pci/devices`).
public struct SysfsDiscovery {
    public let sysfs: SysfsAccess

    public init(sysfs: SysfsAccess) { self.sysfs = sysfs }

    static func parseInt(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces)
        return t.hasPrefix("0x") ? Int(t.dropFirst(2), radix: 16) : Int(t)
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
                .flatMap { Self.parseInt($0) })
    }
}
