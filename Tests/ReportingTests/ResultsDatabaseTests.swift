import CloudModel
import Foundation
import GRDB
import Reporting
import Simulation
import Testing
import TestSupport

@Suite struct ResultsDatabaseTests {
    func temporaryPath(_ name: String) -> String {
        NSTemporaryDirectory() + "hpccloud-db-\(UUID().uuidString)-\(name)"
    }

    func run(_ path: String = "/Workloads/cx3-private-cloud-64.yaml", policy: String? = nil) throws -> Run {
        try Run(scenario: try Fixtures.loader().load(path: Fixtures.repoRoot + path), policy: policy, horizon: 48 * 3_600_000_000_000)
    }

    /// Runs `simulation` into `database`, stopping after the first check when `stop` says so.
    func record(_ simulation: Run, into database: ResultsDatabase, stop: Bool = false) throws -> (Summary, RunRecorder) {
        let recorder = try RunRecorder(database: database, run: simulation, scenarioYAML: "yaml as given")
        let summary = try simulation.simulate(record: recorder.record, monitor: RunMonitor(
            sample: { recorder.sample(time: $0, usage: $1, queued: $2) }, shouldStop: { stop }))
        try recorder.finish(summary: summary, title: simulation.title)
        return (summary, recorder)
    }

    @Test func theDatabaseReadsBackAsTheSummary() throws {
        let database = try ResultsDatabase(path: temporaryPath("a.sqlite"))
        let simulation = try run()
        let (summary, recorder) = try record(simulation, into: database)
        try database.queue.read { db in
            let run = try Row.fetchOne(db, sql: "SELECT * FROM run WHERE id = ?", arguments: [recorder.runID])!
            #expect(run["status"] as String == "complete" && run["scenarioYAML"] as String == "yaml as given")
            #expect(run["policy"] as String == "first-fit" && run["seed"] as Int64 == 7 && run["toolVersion"] as String == ToolVersion.string)
            #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM request WHERE runId = ?", arguments: [recorder.runID]) == summary.requests)
            #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM request WHERE outcome = 'accepted'") == summary.accepted)
            for (reason, count) in summary.rejected {
                #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM request WHERE reason = ?", arguments: [reason.rawValue]) == count)
            }
            #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM resize") == summary.resizes)
            // Every accepted request has a start, an end after it, hosts and (hpc) a pkey and an efficiency.
            #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM request WHERE outcome = 'accepted' AND (start IS NULL OR \"end\" < start OR hosts IS NULL)") == 0)
            #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM request WHERE outcome = 'accepted' AND kind = 'hpc' AND (pkey IS NULL OR efficiency IS NULL)") == 0)
            let metric = { (name: String) in try Double.fetchOne(db, sql: "SELECT value FROM metric WHERE name = ?", arguments: [name]) }
            #expect(try metric("accepted") == Double(summary.accepted))
            #expect(try metric("physicalCores.average") == summary.utilization[.physicalCores]!.timeAverage)
            #expect(try metric("vfs.peak") == Double(summary.utilization[.vfs]!.peak))
            // The samples' peaks never exceed the summary's (they are taken after events).
            let peak = try Int.fetchOne(db, sql: "SELECT MAX(physicalCores) FROM sample")!
            #expect(peak <= summary.utilization[.physicalCores]!.peak && peak > 0)
            #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sample")! > 100)
        }
    }

    @Test func severalRunsShareOneDatabaseAndExportAsCSV() throws {
        let database = try ResultsDatabase(path: temporaryPath("b.sqlite"))
        _ = try record(try run(), into: database)
        _ = try record(try run(policy: "worst-fit"), into: database)
        let report = Report(database: database)
        #expect(try database.runIDs() == [1, 2])
        #expect(try report.runs().map(\.policy) == ["first-fit", "worst-fit"])
        let csv = try report.csv(table: "request", runID: 2)
        let lines = csv.split(separator: "\n")
        #expect(lines[0].hasPrefix("runId,id,arrival,tenant,vms,vcores,kind,pinning,outcome,reason"))
        #expect(lines.dropFirst().allSatisfy { $0.hasPrefix("2,") })
        #expect(throws: InputError.self) { try report.csv(table: "users") }
        let html = try report.html(title: "t")
        #expect(html.components(separatedBy: "<svg").count - 1 >= 9)
        #expect(html.contains("run 2: worst-fit") && !html.contains("<script"))
    }

    @Test func anInterruptedRunIsMarkedAndReadable() throws {
        let path = temporaryPath("c.sqlite")
        let (summary, _) = try record(try run("/Workloads/cx6-vswitch-1024.yaml"), into: try ResultsDatabase(path: path), stop: true)
        #expect(summary.interrupted && summary.formatted(title: "t").contains("INTERRUPTED"))
        let reopened = try ResultsDatabase(path: path)
        let info = try Report(database: reopened).runs()[0]
        #expect(info.status == "interrupted")
        #expect(try Report(database: reopened).html(title: "t").contains("interrupted: incomplete"))
    }

    /// A process killed mid-run leaves its committed batches and status `running`.
    @Test func notADatabaseIsAnInputError() throws {
        let path = temporaryPath("e.sqlite")
        try "not sqlite".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: InputError.self) { try ResultsDatabase(path: path) }
    }

    /// A reader's lock (`hpccloud report` beside a run) held past the busy timeout:
    /// the batches wait in memory and go once it is gone; none is lost.
    @Test func aBatchThatCannotCommitStaysUntilItCan() throws {
        let path = temporaryPath("lock.sqlite")
        let simulation = try run()
        let recorder = try RunRecorder(database: try ResultsDatabase(path: path, busyTimeout: 0.01), run: simulation, scenarioYAML: "",
                                       batchSize: 50)
        // Another connection holds the lock on its own thread until told to let go.
        let blocker = try DatabaseQueue(path: path)
        let locked = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), released = DispatchSemaphore(value: 0)
        Thread {
            try? blocker.writeWithoutTransaction { db in
                try db.inTransaction(.exclusive) {
                    locked.signal()
                    release.wait()
                    return .commit
                }
            }
            released.signal()
        }.start()
        locked.wait()
        var rows = 0
        let summary = try simulation.simulate(record: { row in
            recorder.record(row)
            rows += 1
        }, monitor: RunMonitor(sample: { recorder.sample(time: $0, usage: $1, queued: $2) }))
        #expect(throws: WriteError.self, "the lock is still held: the run fails, it does not say complete") {
            try recorder.finish(summary: summary, title: simulation.title)
        }
        release.signal()
        released.wait()
        try recorder.finish(summary: summary, title: simulation.title)
        let database = try ResultsDatabase(path: path)
        #expect(try database.queue.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM request") } == summary.requests)
        #expect(try Report(database: database).runs()[0].status == "complete")
        #expect(rows > 100, "batches of 50 were tried while the lock was held")
    }

    @Test func aForeignDatabaseIsRefusedAndLeftAsItIs() throws {
        let path = temporaryPath("state.sqlite")
        let foreign = try DatabaseQueue(path: path)
        try foreign.write { try $0.execute(sql: "CREATE TABLE inventory (host INTEGER PRIMARY KEY)") }
        #expect { try ResultsDatabase(path: path) } throws: { error in
            "\(error)".contains("not an HPCCloud results database (tables inventory)")
        }
        #expect(try foreign.read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") } == ["inventory"])
        #expect(try foreign.read { try Int32.fetchOne($0, sql: "PRAGMA application_id") } == 0)

        let other = temporaryPath("other.sqlite")
        try DatabaseQueue(path: other).writeWithoutTransaction { try $0.execute(sql: "PRAGMA application_id = 7") }
        #expect(throws: InputError.self) { try ResultsDatabase(path: other) }
    }

    @Test func ourDatabasesCarryTheApplicationIDAndANewerSchemaIsRefused() throws {
        let path = temporaryPath("ours.sqlite")
        let database = try ResultsDatabase(path: path)
        #expect(try database.queue.read { try Int32.fetchOne($0, sql: "PRAGMA application_id") } == ResultsDatabase.applicationID)
        #expect(try database.queue.read { try Int.fetchOne($0, sql: "PRAGMA user_version") } == ResultsDatabase.schemaVersion)
        try database.queue.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v9-from-the-future')") }
        #expect { try ResultsDatabase(path: path) } throws: { "\($0)".contains("written by a newer hpccloud") }
    }

    /// A text where a number belongs: a clear one-line error naming the file, not a trap.
    @Test func aTamperedValueIsAnErrorNotACrash() throws {
        let path = temporaryPath("tampered.sqlite")
        let database = try ResultsDatabase(path: path)
        _ = try record(try run(), into: database)
        try database.queue.write { try $0.execute(sql: "UPDATE run SET hosts = 'many'") }
        #expect { try Report(database: database).runs() } throws: { "\($0)".hasPrefix("\(path): damaged results database") }
        try database.queue.write { try $0.execute(sql: "UPDATE run SET hosts = 64; UPDATE sample SET vfs = 'x' WHERE rowid = 1") }
        #expect(throws: InputError.self) { try Report(database: database).html(title: "t") }
    }

    @Test func aTextASpreadsheetWouldRunIsQuotedInCSV() throws {
        let database = try ResultsDatabase(path: temporaryPath("csv.sqlite"))
        _ = try record(try run(), into: database)
        try database.queue.write { try $0.execute(sql: "UPDATE request SET tenant = '=HYPERLINK(\"http://x\",\"y\")' WHERE rowid = 1") }
        let csv = try Report(database: database).csv(table: "request")
        #expect(csv.contains(",\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\","))
        #expect(!csv.contains(",=HYPERLINK"))
    }

    /// Every real in a CSV reads back as the stored double (9 significant digits lost whole seconds late in a run).
    @Test func realsInCSVKeepEveryDigit() throws {
        let database = try ResultsDatabase(path: temporaryPath("digits.sqlite"))
        _ = try record(try run(), into: database)
        let values: [Double] = [1_635_674.575160123, 0.1, 1.0 / 3.0, 123_456_789.123_456_7, 2.5e-7, 1e300]
        for (i, value) in values.enumerated() {
            try database.queue.write { try $0.execute(sql: "UPDATE request SET arrival = ? WHERE rowid = ?", arguments: [value, i + 1]) }
        }
        let lines = try Report(database: database).csv(table: "request").split(separator: "\n")
        let column = try #require(lines[0].split(separator: ",").firstIndex(of: "arrival"))
        for (i, value) in values.enumerated() {
            let field = String(lines[i + 1].split(separator: ",", omittingEmptySubsequences: false)[column])
            #expect(Double(field) == value, "\(field) for \(value)")
        }
    }

    @Test func textFromTheDatabaseIsEscapedInHTML() throws {
        let database = try ResultsDatabase(path: temporaryPath("html.sqlite"))
        _ = try record(try run(), into: database)
        try database.queue.write {
            try $0.execute(sql: "UPDATE run SET policy = '<script>alert(1)</script>', admission = '<img src=x onerror=alert(2)>', status = '<b>x</b>'")
        }
        let page = try Report(database: database).html(title: "t")
        #expect(!page.contains("<script>alert") && !page.contains("<img src=x") && !page.contains("<b>x</b>"))
        #expect(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && page.contains("&lt;b&gt;x&lt;/b&gt;: incomplete"))
    }
}
