import Foundation
import GRDB
import Testing
import TestSupport

/// Every writer of the tool against a disk that cannot take its file: full (a
/// tmpfs whose every block a filler holds), read-only (a tmpfs mounted `ro`),
/// and full part way through a run. Each mount lives in a private mount
/// namespace (`unshare -m`), so nothing outlives the command. The rule: one
/// line naming the file, exit status 1, and nothing reported as written.
@Suite(.serialized) struct WriterFaultTests {
    enum Disk: String, CaseIterable, Sendable {
        case full, readOnly
    }

    /// A writer: the arguments, with `OUT` standing for a path on the faulty disk.
    struct Writer: CustomTestStringConvertible, Sendable {
        let name: String
        let arguments: [String]
        /// `apply` reports each change on stdout, a failed one as `FAILED: ...`, and exits 1.
        var reportsOnStandardOutput = false
        var testDescription: String { name }
    }

    /// Inputs the writers read (a results database), made once on a good disk.
    static let inputs: String = {
        let directory = (try? Fixtures.scratchDirectory("writer-inputs")) ?? NSTemporaryDirectory()
        _ = try? Tool.run(["simulate", "Workloads/seed-testbed.yaml", "--horizon", "50", "--db", directory + "/r.sqlite"])
        _ = try? Tool.run(["cluster", "create", "--tenant", "a", "--vms", "2", "--vcores", "1", "--scenario", "Workloads/seed-testbed.yaml",
                           "--state", directory + "/lab.db"])
        return directory
    }()

    static let writers: [Writer] = [
        Writer(name: "simulate --db", arguments: ["simulate", "Workloads/seed-testbed.yaml", "--db", "OUT/r.sqlite"]),
        Writer(name: "simulate --decisions", arguments: ["simulate", "Workloads/seed-testbed.yaml", "--no-db", "--decisions", "OUT/d.csv"]),
        Writer(name: "simulate (default results directory)", arguments: ["simulate", "Workloads/seed-testbed.yaml"]),
        Writer(name: "report --html", arguments: ["report", "IN/r.sqlite", "--html", "OUT/r.html"]),
        Writer(name: "sweep --db", arguments: ["sweep", "Workloads/seed-testbed.yaml", "--vary", "policy=first-fit,worst-fit",
                                               "--replications", "1", "--horizon", "10", "--db", "OUT/s.sqlite"]),
        Writer(name: "sweep --slurm", arguments: ["sweep", "Workloads/seed-testbed.yaml", "--vary", "policy=first-fit,worst-fit",
                                                  "--replications", "1", "--slurm", "OUT/slurm"]),
        Writer(name: "merge --into", arguments: ["merge", "IN/r.sqlite", "--into", "OUT/all.sqlite"]),
        Writer(name: "reproduce all --out", arguments: ["reproduce", "all", "--out", "OUT/p.md"]),
        Writer(name: "apply --partitions", arguments: ["apply", "--state", "IN/lab.db", "--partitions", "OUT/partitions.conf"],
               reportsOnStandardOutput: true),
        Writer(name: "cluster create --state", arguments: ["cluster", "create", "--tenant", "a", "--vms", "1", "--vcores", "1",
                                                           "--scenario", "Workloads/seed-testbed.yaml", "--state", "OUT/lab.db"]),
    ]

    /// Runs `arguments` with OUT on a fresh tmpfs of `kib` KiB (filled first when `fill`, mounted
    /// read-only when `readOnly`), IN at the inputs; copies what OUT holds to `keep` afterwards.
    static func run(_ arguments: [String], kib: Int = 256, fill: Bool, readOnly: Bool, keep: String? = nil,
                    showStandardOutput: Bool = false) throws -> (status: Int32, output: String, out: String) {
        let scratch = try Fixtures.scratchDirectory("writer-fault")
        let out = scratch + "/disk"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let command = ([Tool.binary] + arguments.map {
            $0.replacingOccurrences(of: "OUT", with: out).replacingOccurrences(of: "IN/", with: inputs + "/")
        }).map(quote).joined(separator: " ")
        let script = """
            mount -t tmpfs -o size=\(kib)k\(readOnly ? ",ro" : "") hpccloud-test \(quote(out)) || exit 99
            \(fill ? "dd if=/dev/zero of=\(quote(out))/filler bs=4k >/dev/null 2>&1" : ":")
            \(command)\(showStandardOutput ? "" : " >/dev/null")
            status=$?
            \(keep.map { "cp -a \(quote(out))/. \(quote($0))/ 2>/dev/null" } ?? ":")
            exit $status
            """
        let result = try CleanSpawn.run("/usr/bin/unshare", ["-m", "/bin/sh", "-c", script],
                                        environment: ["HPCCLOUD_REPORTS": out], timeout: 300, directory: Fixtures.repoRoot)
        try? FileManager.default.removeItem(atPath: scratch)
        #expect(result.status != 99, "could not mount a tmpfs: \(result.output)")
        return (result.status, result.output, out)
    }

    @Test(.requires(.rootWithMounts), arguments: writers, Disk.allCases)
    func aWriterThatCannotWriteSaysSoInOneLineAsRoot(_ writer: Writer, disk: Disk) throws {
        let (status, output, out) = try Self.run(writer.arguments, fill: disk == .full, readOnly: disk == .readOnly,
                                                 showStandardOutput: writer.reportsOnStandardOutput)
        #expect(status == 1, "\(writer.name) on a \(disk) disk: exit \(status): \(output)")
        if writer.reportsOnStandardOutput {
            let failures = output.split(separator: "\n").filter { $0.hasPrefix("FAILED: ") }
            #expect(failures.count == 1 && failures[0].contains("\(out)/partitions.conf: cannot write"), "\(writer.name) on a \(disk) disk: \(output)")
            // Nothing was waited for: the subnet manager never got its configuration.
            #expect(!output.contains("waiting for the subnet manager"), "\(output)")
            return
        }
        let lines = output.split(separator: "\n")
        #expect(lines.count == 1 && output.hasPrefix("hpccloud: error: \(out)") && output.contains("cannot write"),
                "\(writer.name) on a \(disk) disk: \(output)")
    }

    /// Reading writes nothing: `report` reads a database on a read-only disk (an archive, a mounted share).
    @Test(.requires(.rootWithMounts))
    func aReportReadsADatabaseOnAReadOnlyDiskAsRoot() throws {
        let scratch = try Fixtures.scratchDirectory("writer-fault-ro")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try FileManager.default.createDirectory(atPath: scratch + "/disk", withIntermediateDirectories: true)
        let script = """
            mount -t tmpfs hpccloud-test '\(scratch)/disk' && cp '\(Self.inputs)/r.sqlite' '\(scratch)/disk/' &&
            mount -o remount,ro '\(scratch)/disk' && '\(Tool.binary)' report '\(scratch)/disk/r.sqlite' --csv run
            """
        let result = try CleanSpawn.run("/usr/bin/unshare", ["-m", "/bin/sh", "-c", script], timeout: 60, directory: Fixtures.repoRoot)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.hasPrefix("id,scenario,"), "\(result.output)")
    }

    /// A disk that fills part way through a run: the run fails, and what was committed says it is not complete.
    @Test(.requires(.rootWithMounts))
    func aDiskThatFillsDuringARunFailsItAsRoot() throws {
        let keep = try Fixtures.scratchDirectory("writer-fault-kept")
        defer { try? FileManager.default.removeItem(atPath: keep) }
        let (status, output, out) = try Self.run(["simulate", "--db", "OUT/r.sqlite"], kib: 192, fill: false, readOnly: false, keep: keep)
        #expect(status == 1, "exit \(status): \(output)")
        #expect(output.split(separator: "\n").count == 1 && output.hasPrefix("hpccloud: error: \(out)/r.sqlite: cannot write: "), "\(output)")
        let database = try DatabaseQueue(path: keep + "/r.sqlite")
        let runs = try database.read { try Row.fetchAll($0, sql: "SELECT status FROM run") }
        #expect(runs.count == 1)
        #expect(runs.allSatisfy { ($0["status"] as String?) != "complete" }, "\(runs)")
    }
}
