import CIBVerbs
import Foundation
import Operations

/// Finds HCAs through libibverbs (rdma-core): devices, firmware, GUIDs,
/// `max_pkeys`, ports and their pkey tables. PCI address, driver and VFs come
/// from sysfs (`SysfsDiscovery`), merged by device name.
public enum VerbsDiscovery {
    /// The devices libibverbs lists; empty on a machine without RDMA hardware
    /// (rdma-core then returns NULL or an empty list).
    public static func devices() -> [HCADevice] {
        var count: Int32 = 0
        guard let list = ibv_get_device_list(&count) else { return [] }
        defer { ibv_free_device_list(list) }
        var result: [HCADevice] = []
        for i in 0..<Int(max(count, 0)) {
            guard let device = list[i], let context = ibv_open_device(device) else { continue }
            defer { ibv_close_device(context) }
            var attributes = ibv_device_attr()
            guard ibv_query_device(context, &attributes) == 0 else { continue }
            let firmware = withUnsafeBytes(of: attributes.fw_ver) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            var ports: [PortInfo] = []
            for port in 1...max(Int(attributes.phys_port_cnt), 1) {
                var info = ibv_port_attr()
                guard hpccloud_ibv_query_port(context, UInt8(port), &info) == 0 else { continue }
                var pkeys: [Int] = []
                for index in 0..<Int(attributes.max_pkeys) {
                    var pkey: UInt16 = 0
                    guard ibv_query_pkey(context, UInt8(port), Int32(index), &pkey) == 0 else { break }
                    pkeys.append(Int(UInt16(bigEndian: pkey)))
                }
                // The port GUID is GID 0's interface id (rdma-core libibverbs/verbs.h ibv_query_gid), never node GUID + port.
                var gid = ibv_gid()
                let guid = ibv_query_gid(context, UInt8(port), 0, &gid) == 0
                    ? withUnsafeBytes(of: gid.raw) { raw in raw[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) } } : 0
                ports.append(PortInfo(number: port, state: stateName(info.state.rawValue), lid: Int(info.lid), smLID: Int(info.sm_lid),
                                      rate: "width code \(info.active_width), speed code \(info.active_speed)",
                                      linkLayer: info.link_layer == 2 ? "Ethernet" : "InfiniBand", guid: guid, pkeys: pkeys))
            }
            result.append(HCADevice(name: String(cString: ibv_get_device_name(device)), driver: nil, pciAddress: "",
                                    firmware: firmware, nodeGUID: UInt64(bigEndian: attributes.node_guid),
                                    systemImageGUID: UInt64(bigEndian: attributes.sys_image_guid), ports: ports,
                                    totalVFs: nil, numVFs: nil, vfAddresses: [], vfDeviceID: nil))
        }
        return result
    }

    /// IBV_PORT_DOWN = 1 ... IBV_PORT_ACTIVE = 4 (HARDWARE.md).
    static func stateName(_ state: UInt32) -> String {
        switch state {
        case 1: "DOWN"
        case 2: "INIT"
        case 3: "ARMED"
        case 4: "ACTIVE"
        case 5: "ACTIVE_DEFER"
        default: "NOP"
        }
    }

    /// Verbs' view with sysfs' PCI, driver and VF facts added, by device name.
    public static func merge(_ verbs: [HCADevice], _ sysfs: [HCADevice]) -> [HCADevice] {
        verbs.map { device in
            guard let other = sysfs.first(where: { $0.name == device.name }) else { return device }
            var merged = device
            merged.driver = other.driver
            merged.pciAddress = other.pciAddress
            merged.totalVFs = other.totalVFs
            merged.numVFs = other.numVFs
            merged.vfAddresses = other.vfAddresses
            merged.vfDeviceID = other.vfDeviceID
            merged.netdevs = other.netdevs
            merged.ofedSriovFiles = other.ofedSriovFiles
            return merged
        }
    }
}

/// What `fabric discover` prints: one line per device, then a `hosts:` entry
/// that a scenario can use to simulate this cloud.
public enum Inventory {
    public static func format(_ devices: [HCADevice], profiles: [String?], cores: Int, memoryGiB: Int) -> String {
        var lines: [String] = []
        for (device, profile) in zip(devices, profiles) {
            let vfs = "\(device.vfAddresses.count) VFs present"
            lines.append("\(device.name): \(device.driver?.rawValue ?? "driver ?") at \(device.pciAddress.isEmpty ? "?" : device.pciAddress), "
                         + "fw \(device.firmware), node GUID \(GUIDFormat.hex(device.nodeGUID)), \(vfs) of \(device.totalVFs.map(String.init) ?? "?"), "
                         + "profile \(profile ?? "unknown")")
            for port in device.ports {
                let used = port.pkeys.filter { $0 != 0 }.map { String(format: "0x%04x", $0) }
                lines.append("  port \(port.number): \(port.linkLayer) \(port.state), GUID \(GUIDFormat.hex(port.guid)), LID \(port.lid), SM LID \(port.smLID), \(port.rate), "
                             + "pkey table \(port.pkeys.count) entries: \(used.joined(separator: " "))")
            }
        }
        lines.append("")
        lines.append("# As a scenario's hosts: (one entry per HCA generation found on this host)")
        lines.append("hosts:")
        for (device, profile) in zip(devices, profiles) {
            let vfs = device.vfAddresses.count
            let table = device.ports.first?.pkeys.count ?? 0
            lines.append("  - { count: 1, cores: \(cores), memoryGiB: \(memoryGiB), hca: \(profile ?? "UNKNOWN"), vfs: \(vfs)"
                         + (table > 0 ? ", pkeyTable: \(table)" : "") + " }")
        }
        return lines.joined(separator: "\n")
    }
}
