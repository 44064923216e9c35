import Foundation
import GRDB
import Reporting
import Testing
import TestSupport

/// What the tool says it wrote is written: full disks, killed runs, resumed sweeps.
@Suite(.serialized) struct DurabilityTests {
    func temporaryDirectory() throws -> String { try Fixtures.scratchDirectory("durability") }

    /// Runs the tool with standard output to `/dev/full` (every write fails with ENOSPC).
    func runIntoAFullDisk(_ arguments: [String]) throws -> (status: Int32, stderr: String) {
        let process = Tool.process(arguments)
        let err = Pipe()
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/full")
        process.standardError = err
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, stderr)
    }

    @Test func aDecisionLogThatCannotBeWrittenFailsTheRunInOneLine() throws {
        let golden = Fixtures.repoRoot + "/Tests/SimulationTests/Golden/"
        for command in [["simulate", "Workloads/seed-testbed.yaml"], ["replay", golden + "golden-trace.csv", "--scenario", golden + "golden.yaml"]] {
            let (status, stderr) = try runIntoAFullDisk(command + ["--decisions", "-", "--no-db"])
            #expect(status == 1, "\(command): \(stderr)")
            #expect(stderr == "hpccloud: error: standard output: cannot write: No space left on device\n", "\(command)")
        }
        let missing = try Tool.run(["simulate", "Workloads/seed-testbed.yaml", "--decisions", "/proc/no-such-dir/d.csv", "--no-db"])
        #expect(missing.status == 1 && missing.stderr.hasPrefix("hpccloud: error: /proc/no-such-dir/d.csv: cannot write: "), "\(missing.stderr)")
    }

    /// `--decisions /dev/null` or a FIFO: written into, never replaced by a rename (as root, a
    /// rename over /dev/null left a regular file there for every process on the machine).
    @Test func aDeviceOrAFIFOIsWrittenInPlaceNeverReplaced() throws {
        let directory = try temporaryDirectory()
        func readFIFO(_ name: String, while command: [String]) throws -> (Tool.Result, String, Bool) {
            let fifo = directory + "/" + name
            #expect(mkfifo(fifo, 0o600) == 0)
            let reader = Process()
            reader.executableURL = URL(fileURLWithPath: "/bin/cat")
            reader.arguments = [fifo]
            let out = Pipe()
            reader.standardOutput = out
            try reader.run()
            let result = try Tool.run(command + [fifo])
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            reader.waitUntilExit()
            var info = stat()
            let stillFIFO = stat(fifo, &info) == 0 && info.st_mode & S_IFMT == S_IFIFO
            return (result, text, stillFIFO)
        }
        let golden = Fixtures.repoRoot + "/Tests/SimulationTests/Golden/"
        let (replay, log, logFIFO) = try readFIFO("decisions", while: ["replay", golden + "golden-trace.csv", "--scenario", golden + "golden.yaml",
                                                                       "--no-db", "--decisions"])
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(log == (try String(contentsOfFile: golden + "golden-decisions.csv", encoding: .utf8)) && logFIFO)
        let db = directory + "/r.sqlite"
        #expect(try Tool.run(["simulate", "Workloads/seed-testbed.yaml", "--horizon", "20", "--db", db]).status == 0)
        let (report, page, pageFIFO) = try readFIFO("page", while: ["report", db, "--html"])
        #expect(report.status == 0 && page.hasPrefix("<!DOCTYPE html>") && pageFIFO, "\(report.stderr)")
    }

    /// A symlinked output stays a link; the file it points to gets the new content.
    @Test func aSymlinkedOutputKeepsItsLink() throws {
        let directory = try temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory + "/real", withIntermediateDirectories: true)
        try "old".write(toFile: directory + "/real/d.csv", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: directory + "/d.csv", withDestinationPath: "real/d.csv")
        let golden = Fixtures.repoRoot + "/Tests/SimulationTests/Golden/"
        let result = try Tool.run(["replay", golden + "golden-trace.csv", "--scenario", golden + "golden.yaml", "--no-db",
                                   "--decisions", directory + "/d.csv"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: directory + "/d.csv") == "real/d.csv")
        #expect(try String(contentsOfFile: directory + "/real/d.csv", encoding: .utf8)
                == String(contentsOfFile: golden + "golden-decisions.csv", encoding: .utf8))
        try FileManager.default.createSymbolicLink(atPath: directory + "/page.html", withDestinationPath: directory + "/real/page.html")
        #expect(try Tool.run(["reproduce", "paper", "--out", directory + "/page.html"]).status == 0)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: directory + "/page.html") == directory + "/real/page.html")
        #expect(FileManager.default.fileExists(atPath: directory + "/real/page.html"))
    }

    /// What commands print for scripts (`report --csv > out.csv`) is checked like any file.
    @Test func standardOutputThatCannotBeWrittenFailsTheCommand() throws {
        let db = try temporaryDirectory() + "/r.sqlite"
        #expect(try Tool.run(["simulate", "Workloads/seed-testbed.yaml", "--horizon", "20", "--db", db]).status == 0)
        for command in [["report", db, "--csv", "request"], ["report", db], ["workload", "stats", "Workloads/traces/lublin_256.swf"],
                        ["limits", "Workloads/seed-testbed.yaml"], ["simulate", "Workloads/seed-testbed.yaml", "--no-db"],
                        ["scenarios"]] {
            let (status, stderr) = try runIntoAFullDisk(command)
            #expect(status == 1, "\(command): \(stderr)")
            let line = try #require(stderr.split(separator: "\n").last.map(String.init), "\(command): nothing on stderr")
            #expect(line.hasPrefix("hpccloud: error: standard output: cannot write: "), "\(command): \(stderr)")
        }
    }

    /// `report` and `merge` read their inputs read-only: not a byte of them changes.
    @Test func readingADatabaseLeavesItByteForByte() throws {
        let directory = try temporaryDirectory()
        let db = directory + "/r.sqlite"
        #expect(try Tool.run(["simulate", "Workloads/seed-testbed.yaml", "--horizon", "20", "--db", db]).status == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: db))
        for command in [["report", db], ["report", db, "--csv", "request"], ["report", db, "--html", directory + "/r.html"],
                        ["merge", db, "--into", directory + "/all.sqlite"]] {
            let result = try Tool.run(command)
            #expect(result.status == 0, "\(command): \(result.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: db)) == before, "\(command) changed its input")
        }
    }

    @Test func aReportThatCannotBeWrittenSaysSo() throws {
        let db = try temporaryDirectory() + "/r.sqlite"
        #expect(try Tool.run(["simulate", "Workloads/seed-testbed.yaml", "--db", db]).status == 0)
        let page = try Tool.run(["report", db, "--html", "/proc/no-such-dir/r.html"])
        #expect(page.status == 1 && page.stderr.hasPrefix("hpccloud: error: /proc/no-such-dir/r.html: cannot write: "), "\(page.stderr)")
        #expect(page.stderr.split(separator: "\n").count == 1)
    }

    /// Counts rows of `table` in a results database another process is writing.
    func count(_ table: String, in path: String) -> Int {
        guard FileManager.default.fileExists(atPath: path), let queue = try? DatabaseQueue(path: path) else { return 0 }
        return (try? queue.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM \(table)") }) .flatMap { $0 } ?? 0
    }

    /// SIGKILL (no handler runs) once the first batch is committed: the batches stay, the run says `running`.
    @Test func aKilledRunKeepsItsCommittedBatches() throws {
        let path = try temporaryDirectory() + "/killed.sqlite"
        let process = Tool.process(["simulate", "Workloads/cx6-vswitch-1024.yaml", "--db", path])
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while count("request", in: path) == 0 && process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(process.isRunning, "the run finished before the kill")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL)
        let rows = count("request", in: path)
        #expect(rows > 0 && rows % 1 == 0)
        let listing = try Tool.run(["report", path])
        #expect(listing.status == 0 && listing.stdout.contains("running (incomplete)"), "\(listing.stdout)")
    }

    /// A sweep killed part way keeps every run it finished; `--resume` runs the
    /// rest, and the database then equals an uninterrupted sweep's, metric for metric.
    @Test func aKilledSweepResumesToTheSameResults() throws {
        let dir = try temporaryDirectory()
        let sweep = ["sweep", "Workloads/cx3-private-cloud-64.yaml", "--vary", "policy=first-fit,worst-fit", "--replications", "5",
                     "--horizon", "96", "--jobs", "2"]
        let killed = dir + "/killed.sqlite"
        let process = Tool.process(sweep + ["--db", killed])
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while count("sweepRun", in: killed) < 2 && process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        #expect(process.isRunning, "the sweep finished before the kill")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let kept = count("sweepRun", in: killed)
        #expect(kept >= 2 && kept < 10, "\(kept) runs kept")

        let again = try Tool.run(sweep + ["--db", killed])
        #expect(again.status == 2 && again.stderr.contains("already holds \(kept) runs of sweep") && again.stderr.contains("--resume"), "\(again.stderr)")
        let changed = try Tool.run(sweep.map { $0 == "policy=first-fit,worst-fit" ? "policy=first-fit,best-fit" : $0 } + ["--db", killed, "--resume"])
        #expect(changed.status == 2 && changed.stderr.contains("was run with --vary policy=first-fit,worst-fit"), "\(changed.stderr)")
        let resumed = try Tool.run(sweep + ["--db", killed, "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(count("sweepRun", in: killed) == 10)

        let whole = dir + "/whole.sqlite"
        #expect(try Tool.run(sweep + ["--db", whole]).status == 0)
        let metrics = { (path: String) in try Tool.run(["report", path, "--csv", "metric"]).stdout }
        #expect(try metrics(killed) == metrics(whole), "the same runs in the same order, with the same numbers")
        let points = { (path: String) in try Tool.run(["report", path, "--csv", "sweepRun"]).stdout }
        #expect(try points(killed) == points(whole))
    }
}
