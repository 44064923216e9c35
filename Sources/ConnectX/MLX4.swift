import Foundation
import Operations

/// ConnectX-2/3 (mlx4) VF isolation through the PF's paravirtualisation sysfs
/// (Linux 6.12 drivers/infiniband/hw/mlx4/sysfs.c). Each VF ("slave" s = VF + 1)
/// has an alias GUID (`iov/ports/<p>/admin_guids/<s>`) and a virtual-to-physical
/// pkey map per port (`iov/<fn>/ports/<p>/pkey_idx/<v>`). Isolated means:
/// virtual 0 is the tenant pkey (full member), virtual 1 the limited default
/// pkey so the VM's SA client has a key to reach the SM with
/// (core/sa_query.c:2063-2066, core/device.c:2585-2615), every other index and
/// every other port unmapped; never the full default key.
public struct MLX4Configurator {
    public let sysfs: SysfsAccess
    public let device: HCADevice
    /// The IB port the VMs use.
    public let port: Int

    public init(sysfs: SysfsAccess, device: HCADevice, port: Int = 1) {
        self.sysfs = sysfs
        self.device = device
        self.port = port
    }

    var ibDir: String { "/sys/class/infiniband/\(device.name)" }

    /// The GUID the kernel's `admin_guids` takes to delete an alias GUID (sysfs.c:62-67, mlx4_ib.h:408).
    public static let deleteGUID: UInt64 = ~0

    /// The modprobe.d line: mlx4 has no `sriov_configure` (mlx4/main.c:4495-4503),
    /// so VFs come from `num_vfs` at driver load. One value makes VFs that span
    /// every port (dual-port VFs on a dual-port HCA); `port_type_array` pins VPI
    /// ports to InfiniBand (1) so a firmware default of Ethernet cannot take them
    /// (mlx4/main.c:83-93, 166-170, 3794-3818).
    public static func modprobeLine(numVFs: Int, ports: Int) -> String {
        "options mlx4_core num_vfs=\(numVFs) probe_vf=0" + (ports > 1 ? " port_type_array=" + Array(repeating: "1", count: ports).joined(separator: ",") : "")
    }

    // MARK: Layout

    /// `iov/<fn>`: `"%.8s%.2d.%d"` of the PF's PCI name, slave / 8 and slave % 8,
    /// in decimal (sysfs.c:356-364); slave 0 is the PF, VF n is slave n + 1.
    public func slaveDirectory(vf: Int) -> String {
        let slave = vf + 1
        return "\(ibDir)/iov/\(device.pciAddress.prefix(8))\(String(format: "%02d.%d", slave / 8, slave % 8))"
    }

    /// The slave number, as the kernel says it (`gid_idx/0` prints it, sysfs.c:486-490):
    /// the index of the VF's alias GUID in `admin_guids`.
    public func slave(vf: Int) throws -> Int {
        let text = try sysfs.read("\(slaveDirectory(vf: vf))/ports/\(port)/gid_idx/0")
        guard let slave = Int(text), slave >= 1 else {
            throw SysfsError("read a slave number '\(text)' from", path: "\(slaveDirectory(vf: vf))/ports/\(port)/gid_idx/0", errno: EIO)
        }
        return slave
    }

    /// The VF's ports: both on a dual-port VF, one on a single-port VF (sysfs.c:733-740).
    public func ports(vf: Int) throws -> [Int] {
        try sysfs.list("\(slaveDirectory(vf: vf))/ports").compactMap(Int.init).sorted()
    }

    /// The physical pkey table (`iov/ports/<p>/pkeys`, physical length - 1
    /// entries shown `0x%04x`; sysfs.c:140-157, 304).
    public func physicalTable(port: Int? = nil) throws -> [Int] {
        let dir = "\(ibDir)/iov/ports/\(port ?? self.port)/pkeys"
        return try sysfs.list(dir).compactMap(Int.init).sorted().map { SysfsDiscovery.parseInt(try sysfs.read("\(dir)/\($0)")) ?? 0 }
    }

    /// The VF's map on `port`: a physical index per virtual index, nil for
    /// `none` (shown when it maps to the reserved last slot, sysfs.c:446-451).
    public func pkeyMap(vf: Int, port: Int? = nil) throws -> [Int?] {
        let dir = "\(slaveDirectory(vf: vf))/ports/\(port ?? self.port)/pkey_idx"
        return try sysfs.list(dir).compactMap(Int.init).sorted().map { v in
            let text = try sysfs.read("\(dir)/\(v)")
            return text == "none" ? nil : Int(text)
        }
    }

    // MARK: Alias GUIDs

    /// The admin alias GUID: the kernel prints `%llx`, no `0x`, no padding (sysfs.c:59).
    public func aliasGUID(slave: Int) throws -> UInt64 {
        let path = "\(ibDir)/iov/ports/\(port)/admin_guids/\(slave)"
        let text = try sysfs.read(path)
        guard let guid = Self.parseGUID(text) else { throw SysfsError("read a GUID '\(text)' from", path: path, errno: EIO) }
        return guid
    }

    /// Sets an alias GUID. The store parses `%llx` (`0x` accepted, sysfs.c:88)
    /// and never fails, so the read-back compares numbers. Slave 0 (the PF's)
    /// is read-only and silently ignored (sysfs.c:83-85): never asked.
    public func setAliasGUID(slave: Int, _ guid: UInt64) throws {
        precondition(slave >= 1, "admin_guids/0 is the PF's own GUID")
        let path = "\(ibDir)/iov/ports/\(port)/admin_guids/\(slave)"
        try sysfs.writeChecked(path, GUIDFormat.hex(guid), matches: { Self.parseGUID($0) == guid })
    }

    /// `%llx` as the kernel prints it; a `0x` is tolerated (a copied tree keeps what was written).
    static func parseGUID(_ text: String) -> UInt64? {
        UInt64(text.hasPrefix("0x") ? String(text.dropFirst(2)) : text, radix: 16)
    }

    // MARK: Maps

    /// Writes only the virtual indices whose value changes: each write sends
    /// the VF a pkey-change event (sysfs.c:476-481). `none` unmaps (any `no`
    /// prefix, sysfs.c:466-467); an index is written in decimal (`%i`, 468-471).
    func writeMap(vf: Int, port: Int, _ want: [Int?]) throws {
        let dir = "\(slaveDirectory(vf: vf))/ports/\(port)/pkey_idx"
        let have = try pkeyMap(vf: vf, port: port)
        for (v, target) in want.enumerated() where v < have.count && have[v] != target {
            try sysfs.writeChecked("\(dir)/\(v)", target.map(String.init) ?? "none")
        }
    }

    /// What the VF is now.
    public func state(vf: Int) throws -> VFState {
        let slave = try slave(vf: vf)
        let guid = try aliasGUID(slave: slave)
        var maps: [Int: [Int?]] = [:]
        for p in try ports(vf: vf) { maps[p] = try pkeyMap(vf: vf, port: p) }
        let mapsNothing = maps.values.allSatisfy { $0.allSatisfy { $0 == nil } }
        if mapsNothing {
            return guid == Self.deleteGUID ? .detached : .other("maps nothing but keeps alias GUID \(GUIDFormat.hex(guid))")
        }
        if maps.contains(where: { $0.key != port && $0.value.contains { $0 != nil } }) {
            return .other("maps pkeys on port \(maps.first { $0.key != port && $0.value.contains { $0 != nil } }!.key)")
        }
        let map = maps[port] ?? []
        let table = try physicalTable()
        func key(_ index: Int?) -> Int? { index.flatMap { $0 < table.count ? table[$0] : nil } }
        guard let tenant = key(map.first ?? nil), tenant & 0x8000 != 0, tenant & 0x7fff != 0x7fff, tenant & 0x7fff != 0 else {
            let first = key(map.first ?? nil)
            return .other(first.map { $0 & 0x7fff == 0x7fff ? "maps the \($0 & 0x8000 != 0 ? "full" : "limited") default pkey at index 0"
                                        : String(format: "maps pkey 0x%04x at index 0", $0) } ?? "maps pkeys but not at index 0")
        }
        let second = map.count > 1 ? map[1] : nil
        guard second == nil || key(second) == 0x7fff else { return .other(String(format: "maps pkey 0x%04x at index 1", key(second) ?? 0)) }
        guard map.dropFirst(2).allSatisfy({ $0 == nil }) else { return .other("maps more than its tenant and the limited default pkey") }
        guard guid != 0, guid != Self.deleteGUID else { return .other("maps a tenant pkey without a VM GUID") }
        return .attached(pkey: tenant & 0x7fff, guid: guid, limitedDefault: second != nil)
    }

    /// Gives VF `vf` its VM's GUID, maps the tenant pkey (full member) at
    /// virtual 0 and, when asked and present, the limited default at 1;
    /// unmaps everything else on every port of the VF.
    /// - Returns: notes (no limited default key in the port's table).
    public func attach(vf: Int, pkey: Int, guid: UInt64, limitedDefault: Bool) throws -> [String] {
        let table = try physicalTable()
        guard let tenant = table.firstIndex(of: pkey & 0x7fff | 0x8000) else {
            throw OperatorError("\(device.name) port \(port): pkey \(String(format: "0x%04x", pkey & 0x7fff)) is not in the physical table as a full member yet "
                                + "(the subnet manager adds it after it re-reads its partitions)", kind: .environment)
        }
        var notes: [String] = []
        var limited: Int?
        if limitedDefault {
            limited = table.firstIndex(of: 0x7fff)
            if limited == nil {
                notes.append("\(device.name) port \(port): no limited default pkey (0x7fff) in the physical table, so VF \(vf)'s VM cannot reach the SA "
                             + "(make the hypervisor port 'both' in Default and start OpenSM with allow_both_pkeys TRUE)")
            }
        }
        let slave = try slave(vf: vf)
        do {
            try setAliasGUID(slave: slave, guid)
            for p in try ports(vf: vf) {
                let length = try pkeyMap(vf: vf, port: p).count
                var want = [Int?](repeating: nil, count: length)
                if p == port {
                    want[0] = tenant
                    if length > 1 { want[1] = limited }
                }
                try writeMap(vf: vf, port: p, want)
            }
        } catch {
            try? detach(vf: vf)  // fail closed: a half-attached VF maps nothing
            throw error
        }
        return notes
    }

    /// Unmaps every pkey of the VF on every port and deletes its alias GUID.
    public func detach(vf: Int) throws {
        for p in try ports(vf: vf) {
            try writeMap(vf: vf, port: p, [Int?](repeating: nil, count: try pkeyMap(vf: vf, port: p).count))
        }
        let slave = try slave(vf: vf)
        if try aliasGUID(slave: slave) != Self.deleteGUID { try setAliasGUID(slave: slave, Self.deleteGUID) }
    }
}
