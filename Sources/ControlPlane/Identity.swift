import Crypto
import Foundation
import GRDB
import Operations

/// Who is calling: a tenant (its own clusters only), an operator (everything),
/// or an agent (its own host's desired state and reports only).
public struct Principal: Sendable, Equatable {
    public enum Role: String, Sendable, Codable, CaseIterable {
        case tenant, `operator`, agent
    }

    public var name: String
    public var role: Role

    public init(name: String, role: Role) {
        self.name = name
        self.role = role
    }
}

/// Bearer tokens: 32 random bytes, shown once, kept as their SHA-256 only.
public enum BearerToken {
    static let prefix = "hpcc_"

    /// A new token (`hpcc_` and 43 base64url characters) from the system's
    /// cryptographic generator (getrandom on Linux).
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let text = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return prefix + text
    }

    /// What the state keeps: the token's SHA-256, in hex.
    public static func hash(_ token: String) -> String {
        // Hex by table: `String(format:)` per byte profiled as 4% of the controller's time (every request hashes).
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for byte in SHA256.hash(data: Data(token.utf8)) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0xf)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
}

/// Names that reach URLs, logs, partitions.conf comments and terminals.
public enum Names {
    /// 1 to 64 of `A-Z a-z 0-9 . _ -`, not starting with a dot or a dash.
    public static func isValid(_ name: String) -> Bool {
        guard (1...64).contains(name.utf8.count), let first = name.utf8.first, first != UInt8(ascii: "."), first != UInt8(ascii: "-") else { return false }
        return name.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
        }
    }
}

/// The control plane's tables, added to the operator's state database.
public enum ControlSchema {
    public static let migrations: [OperatorState.Migration] = [
        ("v3-control-plane", { db in
            // One token per principal; a new one replaces the old.
            try db.create(table: "principal") { t in
                t.column("role", .text).notNull()
                t.column("name", .text).notNull()
                t.column("tokenHash", .text).notNull().unique()
                t.column("created", .text).notNull()
                t.primaryKey(["role", "name"])
            }
            try db.create(table: "tenant") { t in
                t.primaryKey("name", .text)
                t.column("maxClusters", .integer)
                t.column("maxVMs", .integer)
                t.column("maxVFs", .integer)
                t.column("created", .text).notNull()
            }
            // A create or resize answered once per (caller, key): a retry gets the same answer.
            try db.create(table: "idempotency") { t in
                t.column("principal", .text).notNull()
                t.column("key", .text).notNull()
                t.column("request", .text).notNull()
                t.column("status", .integer).notNull()
                t.column("body", .blob).notNull()
                t.column("created", .text).notNull()
                t.primaryKey(["principal", "key"])
            }
            // Per target (`host:<index>` or `sm`): the desired state and its generation, which only grows.
            try db.create(table: "desired") { t in
                t.primaryKey("target", .text)
                t.column("generation", .integer).notNull()
                t.column("body", .blob).notNull()
                t.column("published", .double).notNull()
            }
            // Per target: the agent's registration and its last report.
            try db.create(table: "agent") { t in
                t.primaryKey("target", .text)
                t.column("registration", .blob)
                t.column("report", .blob)
                t.column("generation", .integer)
                t.column("reported", .double)
            }
            // Tenant pkeys the subnet manager has applied: only these are attached to VFs.
            try db.create(table: "readyPKey") { t in
                t.primaryKey("pkey", .integer)
            }
        }),
    ]

    /// Issues a token for `principal`, replacing any earlier one.
    public static func issueToken(_ db: Database, for principal: Principal) throws -> IssuedToken {
        let token = BearerToken.generate()
        try db.execute(sql: """
            INSERT INTO principal (role, name, tokenHash, created) VALUES (?, ?, ?, ?)
            ON CONFLICT(role, name) DO UPDATE SET tokenHash = excluded.tokenHash, created = excluded.created
            """, arguments: [principal.role.rawValue, principal.name, BearerToken.hash(token), Date().formatted(.iso8601)])
        return IssuedToken(name: principal.name, role: principal.role.rawValue, token: token)
    }

    /// The principal a token belongs to, or nil.
    public static func principal(_ db: Database, token: String) throws -> Principal? {
        guard token.hasPrefix(BearerToken.prefix), token.utf8.count < 128 else { return nil }
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT role, name FROM principal WHERE tokenHash = ?"), arguments: [BearerToken.hash(token)]),
              let role = Principal.Role(rawValue: row["role"]) else { return nil }
        return Principal(name: row["name"], role: role)
    }

    /// Issues an agent's token: `name` is a host in the inventory, or `sm`.
    public static func issueAgentToken(_ db: Database, name: String) throws -> IssuedToken {
        guard try name == "sm" || Operator.inventory(db).contains(where: { $0.name == name }) else {
            throw Problem.notFound("no host '\(name)' in the inventory (an agent is named after its host, or sm)")
        }
        return try issueToken(db, for: Principal(name: name, role: .agent))
    }

    /// Adds a tenant (with its quota) and issues its first token.
    public static func addTenant(_ db: Database, name: String, quota: Quota) throws -> IssuedToken {
        guard Names.isValid(name) else {
            throw Problem.badRequest("tenant name '\(name.prefix(80))': expected 1 to 64 of A-Z a-z 0-9 . _ - (not starting with . or -)")
        }
        try checkQuota(quota)
        guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM tenant WHERE name = ?", arguments: [name]) == 0 else {
            throw Problem.conflict("tenant '\(name)' exists: issue it a new token instead")
        }
        try db.execute(sql: "INSERT INTO tenant (name, maxClusters, maxVMs, maxVFs, created) VALUES (?, ?, ?, ?, ?)",
                       arguments: [name, quota.clusters, quota.vms, quota.vfs, Date().formatted(.iso8601)])
        return try issueToken(db, for: Principal(name: name, role: .tenant))
    }

    public static func checkQuota(_ quota: Quota) throws {
        for (field, value) in [("clusters", quota.clusters), ("vms", quota.vms), ("vfs", quota.vfs)] {
            if let value, value < 0 || value > 1_000_000_000 {
                throw Problem.badRequest("quota.\(field) \(value): expected 0 to 1000000000, or null for no limit")
            }
        }
    }

    public static func quota(_ db: Database, tenant: String) throws -> Quota? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT maxClusters, maxVMs, maxVFs FROM tenant WHERE name = ?"), arguments: [tenant]).map {
            Quota(clusters: $0["maxClusters"], vms: $0["maxVMs"], vfs: $0["maxVFs"])
        }
    }

    /// What a tenant holds now: running clusters, and their VMs that are not retiring (with a VF: `vfs`).
    public static func usage(_ db: Database, tenant: String) throws -> TenantUsage {
        let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT (SELECT COUNT(*) FROM cluster WHERE tenant = ?1 AND status = 'active') AS clusters,
                   (SELECT COUNT(*) FROM vm JOIN cluster ON cluster.id = vm.clusterId
                     WHERE cluster.tenant = ?1 AND cluster.status = 'active' AND vm.status = 'active') AS vms,
                   (SELECT COUNT(*) FROM vm JOIN cluster ON cluster.id = vm.clusterId
                     WHERE cluster.tenant = ?1 AND cluster.status = 'active' AND vm.status = 'active' AND vm.vf IS NOT NULL) AS vfs
            """), arguments: [tenant])!
        return TenantUsage(clusters: row["clusters"], vms: row["vms"], vfs: row["vfs"])
    }
}
