import CloudModel
import Foundation
import GRDB

/// The tool's version, stored with every run.
public enum ToolVersion {
    public static let string = "hpccloud 0.6.0"
}

/// One SQLite file of run results (GRDB, named migrations). Several runs may
/// share a file, keyed by run id. Tables:
/// - `run`: the scenario as given, seed, policy, version, status
///   (`running`, `complete`, `interrupted`), the summary text;
/// - `request`: per request (job): its shape and requested time, outcome, reason, hosts and VFs, pkey,
///   start, end, efficiency, and the per-job metrics (wait, run time, turnaround, slowdown, bounded slowdown);
/// - `resize`: per resize event;
/// - `sample`: utilization at the end of an instant, over time (physical cores, memory, VFs, pkey entries, LIDs, clusters, queue);
/// - `metric`: the summary's numbers by name;
/// - `sweepRun`, `sweepSetting`: a sweep run's point, replication and varied keys;
/// - `sweepPlan`: each sweep's whole plan (its varied values, replications and horizon).
/// Times are seconds (REAL).
public final class ResultsDatabase {
    public let path: String
    public let queue: DatabaseQueue

    public static let tables = ["run", "request", "resize", "sample", "metric", "sweepRun", "sweepSetting", "sweepPlan"]

    /// `PRAGMA application_id` of HPCCloud results databases: "HPCC" (sqlite.org/fileformat.html#application_id).
    public static let applicationID: Int32 = 0x4850_4343
    /// `PRAGMA user_version`: the schema's version (one per migration), for tools that read the file.
    public static let schemaVersion = 4

    /// Opens (creating if needed) and migrates. Refuses, without changing it,
    /// a file that is not an HPCCloud results database (another SQLite
    /// database, such as the operator's state, or not SQLite at all), and one
    /// written by a newer hpccloud.
    /// - Parameters:
    ///   - busyTimeout: how long a write waits for a reader's lock (`hpccloud report` beside a run).
    ///   - readOnly: for readers (`report`, `merge`'s inputs): nothing is written, so a database on a
    ///     read-only disk or an archive can be read; one of an older schema is refused, not upgraded.
    public init(path: String, busyTimeout: TimeInterval = 60, readOnly: Bool = false) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        configuration.readonly = readOnly
        if readOnly {
            do {
                queue = try DatabaseQueue(path: path, configuration: configuration)
                try queue.read { db in
                    try Self.checkIdentity(db, path: path, readOnly: true)
                    guard try Self.migrator.hasCompletedMigrations(db) else {
                        throw InputError(file: path, message: "written by an older hpccloud: open it once with simulate --db or merge (which upgrade it) and read it again")
                    }
                }
            } catch let error as DatabaseError {
                throw InputError(file: path, message: "not a results database (\(error.message ?? "\(error.resultCode)"))")
            } catch let error as InputError {
                throw error
            } catch {
                throw Self.damaged(path, error)
            }
            return
        }
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
            try queue.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    try Self.checkIdentity(db, path: path)
                    return .commit
                }
            }
            try Self.migrator.migrate(queue)
            try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA user_version = \(Self.schemaVersion)") }
        } catch let error as DatabaseError {
            // A disk that cannot take the file is a failed write (exit 1), not bad input (exit 2).
            let reason = error.message ?? "\(error.resultCode)"
            switch error.resultCode {
            case .SQLITE_FULL, .SQLITE_IOERR, .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_NOMEM:
                throw WriteError(path: path, reason: reason)
            default:
                throw InputError(file: path, message: "not a results database (\(reason))")
            }
        } catch let error as InputError {
            throw error
        } catch {
            throw Self.damaged(path, error)
        }
    }

    /// A value of the wrong type where the checks or migrations read one (a NULL migration name, found by fuzzing).
    static func damaged(_ path: String, _ error: any Error) -> InputError {
        InputError(file: path, message: "damaged results database: \(String(describing: error).prefix(200))")
    }

    static func checkIdentity(_ db: Database, path: String, readOnly: Bool = false) throws {
        let application = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
        let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        if application == applicationID {
            let known = Set(migrator.migrations)
            let applied = try db.tableExists("grdb_migrations") ? try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") : []
            if let newer = applied.first(where: { !known.contains($0) }) {
                throw InputError(file: path, message: "written by a newer hpccloud (schema '\(newer)'): use that version or a new file")
            }
            return
        }
        // Files of hpccloud before 0.6 carry no application id: known by their tables.
        var legacy = false
        if application == 0 && tables.contains("run") && tables.contains("grdb_migrations") {
            legacy = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations").contains("v1-runs-requests-samples")
        }
        guard application == 0 && ((tables.isEmpty && !readOnly) || legacy) else {
            let what = application != 0 ? "application id 0x\(String(UInt32(bitPattern: application), radix: 16))"
                : "tables " + tables.prefix(5).joined(separator: ", ") + (tables.count > 5 ? ", ..." : "")
            throw InputError(file: path, message: "not an HPCCloud results database (\(what)); it is left as it is: give a new file")
        }
        if !readOnly { try db.execute(sql: "PRAGMA application_id = \(applicationID)") }
    }

    /// One write transaction; an SQLite failure (a lock held past the busy timeout, a full disk)
    /// is a `WriteError` naming the file: the run fails rather than say it was saved.
    public func writing<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try queue.write(body)
        } catch let error as DatabaseError {
            throw WriteError(path: path, reason: error.message ?? "\(error.resultCode)")
        }
    }

    /// A damaged database (a value of the wrong type, a missing table) as one line naming the file.
    public func reading<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try queue.read(body)
        } catch let error as InputError {
            throw error
        } catch let error as DatabaseError {
            throw InputError(file: path, message: "damaged results database: \(error.message ?? "\(error.resultCode)")")
        } catch {
            throw Self.damaged(path, error)
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
        // A sweep's whole plan (every --vary value, replications, horizon): a resumed or
        // merged sweep must be the same sweep, not only agree on the runs stored so far.
        migrator.registerMigration("v3-sweep-plans") { db in
            try db.create(table: "sweepPlan") { t in
                t.primaryKey("sweep", .text)
                t.column("plan", .text).notNull()
            }
        }
        // Per-job metrics (wait, turnaround, slowdown, bounded slowdown), the shape's memory,
        // the requested time and each VM's VF; memory in the samples. Older runs keep NULLs.
        migrator.registerMigration("v4-job-metrics") { db in
            try db.alter(table: "request") { t in
                t.add(column: "memoryMiB", .integer)
                t.add(column: "requestedTime", .double)
                t.add(column: "vfs", .text)
                t.add(column: "waitTime", .double)
                t.add(column: "runTime", .double)
                t.add(column: "turnaround", .double)
                t.add(column: "slowdown", .double)
                t.add(column: "boundedSlowdown", .double)
            }
            try db.alter(table: "sample") { t in t.add(column: "memoryGiB", .double) }
        }
        return migrator
    }

    /// The run ids, ascending.
    public func runIDs() throws -> [Int64] {
        try reading { db in try Int64.fetchAll(db, sql: "SELECT id FROM run ORDER BY id") }
    }
}
