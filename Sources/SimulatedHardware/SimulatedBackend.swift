import Foundation
import GRDB
import Operations

/// Rehearsal: the same sequence of changes as on real hardware, recorded in
/// the state database (`hardware` table) instead of written to HCAs. Hosts
/// behave like their SR-IOV mode: a shared-port (mlx4-like) host's fresh VFs
/// map the full default pkey, as the mlx4 driver leaves them, and its port
/// table is what `SimulatedSubnetManager` last programmed.
public final class SimulatedBackend: Backend {
    public let name = "simulated"
    let state: OperatorState

    public init(state: OperatorState) { self.state = state }

    func values(_ host: HostEntry) throws -> [String: String] {
        try state.read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT key, value FROM hardware WHERE host = ?", arguments: [host.index])
                .map { ($0["key"] as String, $0["value"] as String) })
        }
    }

    func set(_ host: HostEntry, _ changes: [String: String?]) throws {
        try state.writeImmediate { db in
            for (key, value) in changes { try Self.store(db, host: host.index, key, value) }
        }
    }

    /// One hardware value of a host (nil removes it).
    static func store(_ db: Database, host: Int, _ key: String, _ value: String?) throws {
        if let value {
            try db.execute(sql: "INSERT INTO hardware (host, key, value) VALUES (?, ?, ?) ON CONFLICT(host, key) DO UPDATE SET value = excluded.value",
                           arguments: [host, key, value])
        } else {
            try db.execute(sql: "DELETE FROM hardware WHERE host = ? AND key = ?", arguments: [host, key])
        }
    }

    public func actual(_ host: HostEntry) throws -> HostHardware {
        let values = try values(host)
        if let reason = values["unreachable"] { throw OperatorError("\(host.name): \(reason)", kind: .environment) }
        let count = Int(values["vfCount"] ?? "0") ?? 0
        var vfs: [Int: VFState] = [:]
        for vf in 0..<count {
            guard let text = values["vf.\(vf)"] else { vfs[vf] = .detached; continue }
            let parts = text.split(separator: ",").map(String.init)
            if parts.count == 3, let pkey = Int(parts[0]), let guid = UInt64(parts[1], radix: 16) {
                vfs[vf] = .attached(pkey: pkey, guid: guid, limitedDefault: host.membership == .physicalPort ? parts[2] == "1" : nil)
            } else {
                vfs[vf] = .other(text)
            }
        }
        let table: [Int]? = host.membership == .physicalPort
            ? (values["port.pkeys"] ?? "").split(separator: ",").compactMap { Int($0, radix: 16) } : nil
        return HostHardware(vfCount: count, vfs: vfs, portPKeys: table)
    }

    public func prepare(_ host: HostEntry, vfs: Int) throws -> String? {
        var changes: [String: String?] = ["vfCount": "\(vfs)"]
        let old = Int(try values(host)["vfCount"] ?? "0") ?? 0
        for vf in 0..<max(old, vfs) {
            changes["vf.\(vf)"] = vf < vfs && host.membership == .physicalPort ? Self.driverDefault : String?.none
        }
        try set(host, changes)
        return nil
    }

    /// What the mlx4 driver gives a fresh VF: virtual index 0 on the full default pkey.
    static let driverDefault = "maps the full default pkey (driver default)"

    public func attach(_ host: HostEntry, vf: Int, _ config: VFConfig) throws -> [String] {
        let have = try actual(host)
        guard vf < have.vfCount else { throw OperatorError("\(host.name): no VF \(vf)", kind: .environment) }
        let limited = config.limitedDefault && (have.portHasLimitedDefault ?? true)
        try set(host, ["vf.\(vf)": "\(config.pkey),\(String(config.guid, radix: 16)),\(limited ? 1 : 0)"])
        return []
    }

    public func detach(_ host: HostEntry, vf: Int) throws { try set(host, ["vf.\(vf)": nil]) }

    // MARK: Rehearsing failures

    /// The host stops answering (`nil`: it answers again).
    public func setUnreachable(_ host: HostEntry, _ reason: String?) throws { try set(host, ["unreachable": reason]) }

    /// The host reboots: its VFs come back in the driver's defaults, its port
    /// table empty until the subnet manager programs it again.
    public func reboot(_ host: HostEntry) throws {
        let count = Int(try values(host)["vfCount"] ?? "0") ?? 0
        var changes: [String: String?] = [:]
        for vf in 0..<count { changes["vf.\(vf)"] = host.membership == .physicalPort ? Self.driverDefault : String?.none }
        try set(host, changes)
    }
}

/// The simulated hardware a controller rehearses on (`Controller(mode: .simulated)`): the
/// backend in the state's own database and partitions.conf beside the state file.
public func simulatedHardware(beside state: OperatorState) -> (Backend, SubnetManager) {
    (SimulatedBackend(state: state), SimulatedSubnetManager(path: state.path + ".partitions.conf", state: state))
}

/// A subnet manager for rehearsals: the same partitions.conf as OpenSM's, and
/// a reload that programs the simulated hosts' port tables at once from it
/// (OpenSM does the same on its next heavy sweep).
public final class SimulatedSubnetManager: SubnetManager {
    let file: OpenSMPartitionsFile
    let state: OperatorState

    public init(path: String, state: OperatorState) {
        file = OpenSMPartitionsFile(path: path, reload: .none)
        self.state = state
    }

    public var location: String { file.path }
    public func read() throws -> String? { try file.read() }
    public func write(_ text: String) throws { try file.write(text) }

    public func reload() throws {
        let statements = PartitionsConfig.parse(try read() ?? "")
        let ports = try state.read(Operator.inventory).filter { $0.membership == .physicalPort }
        let tables = Self.tables(statements, ports: ports.map(\.portGUID))
        try state.writeImmediate { db in
            for port in ports {
                let text = (tables[port.portGUID] ?? []).map { String($0, radix: 16) }.joined(separator: ",")
                try SimulatedBackend.store(db, host: port.index, "port.pkeys", text)
            }
        }
    }

    /// Each port's pkey table from the partition statements: a full member
    /// holds the key with the top bit set, a limited one without, `both` both
    /// (partition-config.txt). The full default key takes index 0
    /// (osm_pkey_mgr.c:461-467), then the others in the order of the statements.
    public static func tables(_ statements: [PartitionStatement], ports: [UInt64]) -> [UInt64: [Int]] {
        var tables: [UInt64: [Int]] = [:]
        let ordered = statements.filter(\.isDefault) + statements.filter { !$0.isDefault }
        for statement in ordered {
            guard let pkey = statement.pkey else { continue }
            for member in statement.members {
                let guids: [UInt64]
                switch member.name {
                case "ALL", "ALL_CAS": guids = ports
                case "SELF", "ALL_SWITCHES", "ALL_ROUTERS": guids = []
                default: guids = UInt64(member.name.lowercased().replacingOccurrences(of: "0x", with: ""), radix: 16).map { [$0] } ?? []
                }
                let keys: [Int] = switch member.type ?? statement.defaultMember {
                case .full: [pkey | 0x8000]
                case .limited: [pkey]
                case .both: [pkey | 0x8000, pkey]
                }
                for guid in guids where ports.contains(guid) {
                    for key in keys where !(tables[guid] ?? []).contains(key) { tables[guid, default: []].append(key) }
                }
            }
        }
        for (guid, table) in tables {
            if let i = table.firstIndex(of: 0xffff), i != 0 { tables[guid] = [0xffff] + table.enumerated().filter { $0.offset != i }.map(\.element) }
        }
        return tables
    }
}
