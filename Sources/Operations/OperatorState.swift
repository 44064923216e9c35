import Foundation
import GRDB

/// The operator's durable state in SQLite (GRDB, named migrations that are only appended):
/// - `meta`: the cloud's scenario, backend and counters (next VM GUID serial, the random policy's stream);
/// - `inventory`: one row per host (its sysfs root, HCA, port GUID, drain);
/// - `cluster`, `vm`: every placement as decided: host, VF, GUID and pkey per VM.
///   These rows are the truth; the engine is rebuilt from them and never re-decides;
/// - `operation`: the audit trail: who asked what, when, and the outcome;
/// - `journal`: each hardware change, intended and then applied (or failed);
/// - `hardware`: the simulated backend's hardware (key/value per host).
public final class OperatorState: @unchecked Sendable {
    public let path: String
    /// WAL mode (a `DatabasePool`): readers never wait for the one writer, and
    /// a killed process loses no committed transaction.
    public let pool: DatabasePool

    /// A migration a layer above adds to the same database (the control plane's tables).
    public typealias Migration = (identifier: String, body: @Sendable (Database) throws -> Void)

    /// - Parameters:
    ///   - busyTimeout: how long a command waits for another one's write transaction.
    ///   - migrations: appended after the operator's own, in order.
    public init(path: String, busyTimeout: TimeInterval = 30, migrations: [Migration] = []) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            var migrator = Self.migrator
            for migration in migrations { migrator.registerMigration(migration.identifier, migrate: migration.body) }
            try migrator.migrate(pool)
        } catch let error as DatabaseError {
            throw OperatorError.database(error, path: path)
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        // v1 (the first production backend) re-ran its operation log through the
        // engine on every command. v2 records placements; a v1 state with
        // clusters in it cannot be converted without re-deciding them.
        migrator.registerMigration("v1-operator") { db in
            try db.create(table: "meta") { t in
                t.primaryKey("key", .text)
                t.column("value", .text).notNull()
            }
        }
        migrator.registerMigration("v2-recorded-placements") { db in
            if try db.tableExists("operation"), try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM operation WHERE outcome = 'accepted'") ?? 0 > 0 {
                throw OperatorError("this state database was written by hpccloud before v2 (placements replayed, not recorded); "
                                    + "delete its clusters with that version or start a new state", kind: .environment)
            }
            for table in ["inventory", "operation", "cluster", "vm", "journal", "hardware"] where try db.tableExists(table) {
                try db.drop(table: table)
            }
            try db.create(table: "inventory") { t in
                t.primaryKey("host", .integer)
                t.column("name", .text).notNull().unique()
                t.column("sysfsRoot", .text)
                t.column("device", .text)
                t.column("driver", .text)
                t.column("port", .integer).notNull()
                t.column("nodeGUID", .text).notNull()
                t.column("portGUID", .text).notNull()
                t.column("membership", .text).notNull()
                t.column("drained", .boolean).notNull().defaults(to: false)
            }
            try db.create(table: "cluster") { t in
                t.primaryKey("id", .integer)
                t.column("tenant", .text).notNull()
                t.column("vcores", .integer).notNull()
                t.column("memoryMiB", .integer).notNull()
                t.column("kind", .text).notNull()
                t.column("pinning", .text).notNull()
                t.column("pkey", .integer)
                // active | deleting (its VMs are being detached; the pkey is quarantined) | deleted
                t.column("status", .text).notNull()
                t.column("created", .text).notNull()
                t.column("ended", .text)
            }
            try db.create(table: "vm") { t in
                t.column("clusterId", .integer).notNull().references("cluster")
                t.column("seq", .integer).notNull()
                t.column("host", .integer).notNull()
                t.column("vf", .integer)
                t.column("guid", .text)
                // active | retiring (to detach) | detached (VF free on the host; its pkey may still be in the port's table)
                t.column("status", .text).notNull()
                t.primaryKey(["clusterId", "seq"])
            }
            try db.create(index: "vm_host_vf", on: "vm", columns: ["host", "vf"])
            try db.create(table: "operation") { t in
                t.autoIncrementedPrimaryKey("seq")
                t.column("time", .text).notNull()
                t.column("actor", .text).notNull()
                t.column("action", .text).notNull()
                t.column("clusterId", .integer)
                t.column("arguments", .text).notNull()
                t.column("outcome", .text).notNull()
                t.column("detail", .text)
            }
            try db.create(table: "journal") { t in
                t.autoIncrementedPrimaryKey("seq")
                t.column("time", .text).notNull()
                t.column("host", .integer)
                t.column("change", .text).notNull()
                t.column("status", .text).notNull()  // intended | applied | failed
                t.column("error", .text)
            }
            try db.create(table: "hardware") { t in
                t.column("host", .integer).notNull()
                t.column("key", .text).notNull()
                t.column("value", .text).notNull()
                t.primaryKey(["host", "key"])
            }
        }
        // A command reuses the engine it built for the previous one while these
        // records are unchanged: triggers count every change, whoever makes it
        // (the controller, an operator's CLI on the same file, a migration).
        migrator.registerMigration("v3-records-generation") { db in
            try db.execute(sql: """
                CREATE TABLE recordsGeneration (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
                INSERT INTO recordsGeneration (id, value) VALUES (1, 0);
                """)
            for table in ["cluster", "vm", "inventory"] {
                for event in ["INSERT", "UPDATE", "DELETE"] {
                    try db.execute(sql: """
                        CREATE TRIGGER \(table)_\(event.lowercased())_generation AFTER \(event) ON \(table)
                        BEGIN UPDATE recordsGeneration SET value = value + 1; END
                        """)
                }
            }
            // Live clusters without scanning every cluster ever deleted; a tenant's usage without scanning all.
            try db.execute(sql: "CREATE INDEX cluster_live ON cluster(id) WHERE status != 'deleted'")
            try db.execute(sql: "CREATE INDEX cluster_tenant ON cluster(tenant, status)")
        }
        return migrator
    }

    /// How many changes the clusters, VMs and inventory have seen (counted by triggers).
    public static func generation(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM recordsGeneration WHERE id = 1")) ?? 0
    }

    /// Reads in one snapshot; SQLite errors become one-line operator errors.
    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.read(body) } catch let error as DatabaseError { throw OperatorError.database(error, path: path) }
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction: concurrent commands
    /// take turns (waiting up to the busy timeout), so ids and decisions are
    /// taken against the state every other command left.
    public func writeImmediate<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try pool.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch let error as DatabaseError {
            throw OperatorError.database(error, path: path)
        }
    }

    public func meta(_ key: String) throws -> String? {
        try read { try Self.meta(key, in: $0) }
    }

    public static func meta(_ key: String, in db: Database) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = ?"), arguments: [key])
    }

    public static func setMeta(_ values: [String: String], in db: Database) throws {
        for (key, value) in values.sorted(by: { $0.key < $1.key }) {
            try db.cachedStatement(sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
                .execute(arguments: [key, value])
        }
    }

    public func setMeta(_ values: [String: String]) throws {
        try writeImmediate { try Self.setMeta(values, in: $0) }
    }

    /// Holds an exclusive lock on `<state>.lock` while `body` runs, so two
    /// `apply` runs never interleave (the second fails at once, saying so).
    public func withApplyLock<T>(_ body: () throws -> T) throws -> T {
        let lockPath = path + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else { throw OperatorError("cannot open \(lockPath): \(String(cString: strerror(errno)))", kind: .environment) }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            throw OperatorError("another apply holds \(lockPath); wait for it to finish", kind: .environment)
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}

/// An operator-facing failure in one line, with the exit status it means.
public struct OperatorError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Int32, Sendable {
        /// Exit 1: the state, a host or the subnet manager failed.
        case environment = 1
        /// Exit 2: the command's input is wrong.
        case input = 2
        /// Exit 3: the request was understood and refused (rejected, ignored, unknown id).
        case refused = 3
    }

    public var description: String
    public var kind: Kind

    public init(_ description: String, kind: Kind = .input) {
        self.description = description
        self.kind = kind
    }

    public static func database(_ error: DatabaseError, path: String) -> OperatorError {
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            OperatorError("\(path) is busy: another hpccloud command held it past the busy timeout; try again", kind: .environment)
        case .SQLITE_FULL, .SQLITE_IOERR, .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_PERM:
            // Worded as every other file the tool cannot write.
            OperatorError("\(path): cannot write: \(error.message ?? "\(error.resultCode)")", kind: .environment)
        default:
            OperatorError("\(path): \(error.message ?? "\(error.resultCode)")", kind: .environment)
        }
    }
}
