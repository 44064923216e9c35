import Foundation
import GRDB

/// The operator's state in SQLite (GRDB, named migrations):
/// - `meta`: the cloud's scenario, backend and paths;
/// - `inventory`: one row per host (its sysfs root, HCA, GUIDs);
/// - `operation`: every create, resize and delete as asked, in order, with
///   the engine's answer (the engine's state is these operations replayed);
/// - `cluster`, `vm`: the clusters, VMs, VF assignments, pkeys and GUIDs now (derived);
/// - `journal`: each hardware change, intended and then applied (or failed);
/// - `hardware`: the simulated backend's hardware (key/value per host).
public final class OperatorState {
    public let path: String
    public let queue: DatabaseQueue

    public init(path: String) throws {
        self.path = path
        queue = try DatabaseQueue(path: path)
        try Self.migrator.migrate(queue)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-operator") { db in
            try db.create(table: "meta") { t in
                t.primaryKey("key", .text)
                t.column("value", .text).notNull()
            }
            try db.create(table: "inventory") { t in
                t.primaryKey("host", .integer)
                t.column("name", .text).notNull()
                t.column("sysfsRoot", .text)
                t.column("device", .text)
                t.column("driver", .text)
                t.column("pci", .text)
                t.column("nodeGUID", .text).notNull()
                t.column("portGUID", .text).notNull()
            }
            try db.create(table: "operation") { t in
                t.autoIncrementedPrimaryKey("seq")
                t.column("time", .text).notNull()
                t.column("action", .text).notNull()
                t.column("clusterId", .integer).notNull()
                t.column("tenant", .text)
                t.column("vms", .integer)
                t.column("vcores", .integer)
                t.column("memoryMiB", .integer)
                t.column("kind", .text)
                t.column("pinning", .text)
                t.column("policy", .text)
                t.column("delta", .integer)
                t.column("outcome", .text).notNull()
                t.column("reason", .text)
            }
            try db.create(table: "cluster") { t in
                t.primaryKey("id", .integer)
                t.column("tenant", .text).notNull()
                t.column("pkey", .text)
                t.column("vms", .integer).notNull()
                t.column("vcores", .integer).notNull()
                t.column("kind", .text).notNull()
            }
            try db.create(table: "vm") { t in
                t.column("clusterId", .integer).notNull()
                t.column("idx", .integer).notNull()
                t.column("host", .integer).notNull()
                t.column("vf", .integer)
                t.column("guid", .text)
                t.primaryKey(["clusterId", "idx"])
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
        return migrator
    }

    public func meta(_ key: String) throws -> String? {
        try queue.read { try String.fetchOne($0, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) }
    }

    public func setMeta(_ values: [String: String]) throws {
        try queue.write { db in
            for (key, value) in values {
                try db.execute(sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                               arguments: [key, value])
            }
        }
    }

    /// Holds an exclusive lock on `<state>.lock` while `body` runs, so two
    /// `apply` runs never interleave (the second fails at once, saying so).
    public func withApplyLock<T>(_ body: () throws -> T) throws -> T {
        let lockPath = path + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else { throw SysfsError("open the lock", path: lockPath, errno: errno) }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            throw OperatorError("another apply holds \(lockPath); wait for it to finish")
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}

/// An operator-facing failure, in one line.
public struct OperatorError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
