import CloudModel
import Foundation
import GRDB

/// The tool's version, stored with every run.
public enum ToolVersion {
    public static let string = "hpccloud 0.5.0"
}

/// One SQLite file of run results (GRDB, named migrations). Several runs may
/// share a file, keyed by run id. Tables:
/// - `run`: the scenario as given, seed, policy, version, status
///   (`running`, `complete`, `interrupted`), the summary text;
/// - `request`: per request: arrival, outcome, reason, hosts, pkey, start, end, efficiency;
/// - `resize`: per resize event;
/// - `sample`: utilization over time (physical cores, VFs, pkey entries, LIDs, clusters, queue);
/// - `metric`: the summary's numbers by name;
/// - `sweepRun`, `sweepSetting`: a sweep run's point, replication and varied keys.
/// Times are seconds (REAL).
public final class ResultsDatabase {
    public let path: String
    public let queue: DatabaseQueue

    public static let tables = ["run", "request", "resize", "sample", "metric", "sweepRun", "sweepSetting"]

    /// Opens (creating if needed) and migrates.
    public init(path: String) throws {
        self.path = path
        do {
            queue = try DatabaseQueue(path: path)
            try Self.migrator.migrate(queue)
        } catch let error as DatabaseError {
            throw InputError(file: path, message: "not a results database (\(error.message ?? "\(error.resultCode)"))")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-runs-requests-samples") { db in
            try db.create(table: "run") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("scenario", .text).notNull()
                t.column("scenarioFile", .text).notNull()
                t.column("scenarioYAML", .text).notNull()
                t.column("seed", .integer).notNull()
                t.column("policy", .text).notNull()
                t.column("admission", .text).notNull()
                t.column("hosts", .integer).notNull()
                t.column("toolVersion", .text).notNull()
                t.column("startedAt", .text).notNull()
                t.column("finishedAt", .text)
                t.column("status", .text).notNull()
                t.column("summary", .text)
            }
            try db.create(table: "request") { t in
                t.column("runId", .integer).notNull().references("run", onDelete: .cascade)
                t.column("id", .integer).notNull()
                t.column("arrival", .double).notNull()
                t.column("tenant", .text).notNull()
                t.column("vms", .integer).notNull()
                t.column("vcores", .integer).notNull()
                t.column("kind", .text).notNull()
                t.column("pinning", .text).notNull()
                t.column("outcome", .text).notNull()
                t.column("reason", .text)
                t.column("decidedAt", .double)
                t.column("hosts", .text)
                t.column("span", .integer)
                t.column("pkey", .text)
                t.column("start", .double)
                t.column("end", .double)
                t.column("efficiency", .double)
                t.primaryKey(["runId", "id"])
            }
            try db.create(table: "resize") { t in
                t.column("runId", .integer).notNull().references("run", onDelete: .cascade)
                t.column("id", .integer).notNull()
                t.column("time", .double).notNull()
                t.column("outcome", .text).notNull()
                t.column("reason", .text)
                t.column("hosts", .text)
            }
            try db.create(table: "sample") { t in
                t.column("runId", .integer).notNull().references("run", onDelete: .cascade)
                t.column("time", .double).notNull()
                t.column("physicalCores", .integer).notNull()
                t.column("vfs", .integer).notNull()
                t.column("pkeyEntries", .integer).notNull()
                t.column("lids", .integer).notNull()
                t.column("clusters", .integer).notNull()
                t.column("queued", .integer).notNull()
            }
            try db.create(table: "metric") { t in
                t.column("runId", .integer).notNull().references("run", onDelete: .cascade)
                t.column("name", .text).notNull()
                t.column("value", .double).notNull()
                t.primaryKey(["runId", "name"])
            }
        }
        migrator.registerMigration("v2-sweeps") { db in
            try db.create(table: "sweepRun") { t in
                t.column("runId", .integer).primaryKey().references("run", onDelete: .cascade)
                t.column("sweep", .text).notNull()
                t.column("point", .integer).notNull()
                t.column("replication", .integer).notNull()
            }
            try db.create(table: "sweepSetting") { t in
                t.column("runId", .integer).notNull().references("run", onDelete: .cascade)
                t.column("key", .text).notNull()
                t.column("value", .text).notNull()
            }
        }
        return migrator
    }

    /// The run ids, ascending.
    public func runIDs() throws -> [Int64] {
        try queue.read { db in try Int64.fetchAll(db, sql: "SELECT id FROM run ORDER BY id") }
    }
}
