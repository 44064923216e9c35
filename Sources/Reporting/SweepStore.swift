import CloudModel
import Foundation
import GRDB
import SimKernel
import Simulation

/// Sweep runs in a results database: each run's row and metrics, plus its
/// point, replication and settings (`sweepRun`, `sweepSetting`).
public struct SweepStore {
    public let database: ResultsDatabase

    public init(database: ResultsDatabase) { self.database = database }

    /// Stores finished runs in one transaction, in the order given.
    public func record(_ results: [SweepRunResult], plan: SweepPlan, sweep: String, yaml: String) throws {
        try database.writing { db in
            for result in results {
                let settings = plan.points[result.point].settings
                try insert(db, sweep: sweep, point: result.point, replication: result.replication, settings: settings.map { ($0.key, $0.value) },
                           run: [result.scenario.name, result.scenario.file, yaml, Int64(bitPattern: result.seed), result.policy,
                                 result.scenario.admission.mode.rawValue, result.scenario.cloud.hostCount, ToolVersion.string,
                                 RunRecorder.timestamp(), RunRecorder.timestamp(), result.summary.interrupted ? "interrupted" : "complete",
                                 result.summary.formatted(title: result.title)],
                           metrics: RunRecorder.metrics(result.summary))
            }
        }
    }

    private func insert(_ db: Database, sweep: String, point: Int, replication: Int, settings: [(String, String)],
                        run: [DatabaseValueConvertible?], metrics: [(String, Double)]) throws {
        try db.execute(sql: """
            INSERT INTO run (scenario, scenarioFile, scenarioYAML, seed, policy, admission, hosts, toolVersion, startedAt, finishedAt, status, summary)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: StatementArguments(run))
        let runID = db.lastInsertedRowID
        try db.execute(sql: "INSERT INTO sweepRun (runId, sweep, point, replication) VALUES (?, ?, ?, ?)",
                       arguments: [runID, sweep, point, replication])
        for (key, value) in settings {
            try db.execute(sql: "INSERT INTO sweepSetting (runId, key, value) VALUES (?, ?, ?)", arguments: [runID, key, value])
        }
        for (name, value) in metrics {
            try db.execute(sql: "INSERT INTO metric (runId, name, value) VALUES (?, ?, ?)", arguments: [runID, name, value])
        }
    }

    /// Records `sweep`'s plan, or checks it against the one recorded: one name, one sweep.
    public func claim(sweep: String, plan: String) throws {
        try database.writing { db in try Self.claim(db, sweep: sweep, plan: plan, file: database.path) }
    }

    static func claim(_ db: Database, sweep: String, plan: String, file: String) throws {
        if let recorded = try String.fetchOne(db, sql: "SELECT plan FROM sweepPlan WHERE sweep = ?", arguments: [sweep]) {
            guard recorded == plan else {
                throw InputError(file: file, message: "sweep '\(sweep)' was run with \(recorded), not \(plan): give the same values, or another --db")
            }
        } else {
            try db.execute(sql: "INSERT INTO sweepPlan (sweep, plan) VALUES (?, ?)", arguments: [sweep, plan])
        }
    }

    /// Whether stored runs of `sweep` can be continued by `plan` from `yaml`: the
    /// same scenario text and, at every stored point, the same settings.
    /// - Returns: the plan's run indices already stored.
    public func resumable(sweep: String, plan: SweepPlan, yaml: String) throws -> Set<Int> {
        var done = Set<Int>()
        for run in try runs(sweep: sweep) {
            guard run.run["scenarioYAML"] == yaml else {
                throw InputError(file: database.path, message: "its runs of sweep '\(sweep)' were made from another scenario text: "
                                 + "--resume needs the same scenario file, unchanged")
            }
            let expected = run.point < plan.points.count
                ? Dictionary(plan.points[run.point].settings.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }) : nil
            guard expected == run.settings, run.replication < plan.replications else {
                throw InputError(file: database.path, message: "its run at point \(run.point) of sweep '\(sweep)' has settings \(run.settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")), "
                                 + "not this sweep's: --resume needs the same --vary values and --replications")
            }
            done.insert(plan.runIndex(point: run.point, replication: run.replication))
        }
        return done
    }

    /// One stored sweep run, as read back.
    public struct StoredRun: Equatable, Sendable {
        public var sweep: String
        public var point: Int
        public var replication: Int
        public var settings: [String: String]
        /// The run row's fields but its id and wall-clock times.
        public var run: [String: String]
        public var metrics: [String: Double]

        public init(sweep: String, point: Int, replication: Int, settings: [String: String], run: [String: String], metrics: [String: Double]) {
            self.sweep = sweep
            self.point = point
            self.replication = replication
            self.settings = settings
            self.run = run
            self.metrics = metrics
        }
    }

    /// Reads the runs of `sweep` (all sweeps when nil), in run order.
    public func runs(sweep: String? = nil) throws -> [StoredRun] {
        try allRuns().filter { sweep == nil || $0.sweep == sweep }
    }

    private func allRuns() throws -> [StoredRun] {
        try database.reading { db in
            try Row.fetchAll(db, sql: """
                SELECT run.*, sweepRun.sweep, sweepRun.point, sweepRun.replication FROM run
                JOIN sweepRun ON sweepRun.runId = run.id ORDER BY run.id
                """).map { row in
                let id: Int64 = try row.decode(forColumn: "id")
                var fields: [String: String] = [:]
                for column in ["scenario", "scenarioFile", "scenarioYAML", "seed", "policy", "admission", "hosts", "toolVersion", "status", "summary"] {
                    fields[column] = (row[column] as DatabaseValue).plainText
                }
                let settings = try Row.fetchAll(db, sql: "SELECT key, value FROM sweepSetting WHERE runId = ?", arguments: [id])
                let metrics = try Row.fetchAll(db, sql: "SELECT name, value FROM metric WHERE runId = ?", arguments: [id])
                return StoredRun(sweep: try row.decode(forColumn: "sweep"), point: try row.decode(forColumn: "point"),
                                 replication: try row.decode(forColumn: "replication"),
                                 settings: Dictionary(try settings.map { (try $0.decode(String.self, forColumn: "key"), try $0.decode(String.self, forColumn: "value")) },
                                                      uniquingKeysWith: { a, _ in a }),
                                 run: fields,
                                 metrics: Dictionary(try metrics.map { (try $0.decode(String.self, forColumn: "name"), try $0.decode(Double.self, forColumn: "value")) },
                                                     uniquingKeysWith: { a, _ in a }))
            }
        }
    }

    /// Copies the sweep runs of `inputs` into `output`, in (sweep, point,
    /// replication) order, so the merged file equals a single-machine run of
    /// the same sweep, run for run.
    public static func merge(_ inputs: [String], into output: String) throws -> Int {
        var all: [(StoredRun, key: String)] = []
        for input in inputs {
            guard FileManager.default.fileExists(atPath: input) else { throw InputError(file: input, message: "no such results database") }
            for run in try SweepStore(database: try ResultsDatabase(path: input, readOnly: true)).runs() {
                all.append((run, "\(run.sweep)#\(run.point)#\(run.replication)"))
            }
        }
        if let duplicate = Dictionary(grouping: all, by: \.key).first(where: { $0.value.count > 1 }) {
            throw InputError(file: inputs.joined(separator: " "), message: "run \(duplicate.key) appears \(duplicate.value.count) times (a shard merged twice?)")
        }
        all.sort { ($0.0.sweep, $0.0.point, $0.0.replication) < ($1.0.sweep, $1.0.point, $1.0.replication) }
        var plans: [(String, String)] = []
        for input in inputs {
            plans += try ResultsDatabase(path: input, readOnly: true).reading { db in
                try Row.fetchAll(db, sql: "SELECT sweep, plan FROM sweepPlan ORDER BY sweep").map {
                    (try $0.decode(String.self, forColumn: "sweep"), try $0.decode(String.self, forColumn: "plan"))
                }
            }
        }
        let target = SweepStore(database: try ResultsDatabase(path: output))
        try target.database.writing { db in
            for (sweep, plan) in plans { try claim(db, sweep: sweep, plan: plan, file: output) }
            for (run, _) in all {
                let f = run.run
                try target.insert(db, sweep: run.sweep, point: run.point, replication: run.replication,
                                  settings: run.settings.sorted { $0.key < $1.key },
                                  run: [f["scenario"], f["scenarioFile"], f["scenarioYAML"], Int64(f["seed"] ?? "0"), f["policy"],
                                        f["admission"], Int(f["hosts"] ?? "0"), f["toolVersion"], RunRecorder.timestamp(), RunRecorder.timestamp(),
                                        f["status"], f["summary"]],
                                  metrics: run.metrics.sorted { $0.key < $1.key })
            }
        }
        return all.count
    }
}

extension SweepStore.StoredRun {
    /// A finished run as it would read back (without the run row's fields).
    public init(_ result: SweepRunResult, plan: SweepPlan, sweep: String) {
        self.init(sweep: sweep, point: result.point, replication: result.replication,
                  settings: Dictionary(plan.points[result.point].settings.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }),
                  run: [:], metrics: Dictionary(RunRecorder.metrics(result.summary), uniquingKeysWith: { a, _ in a }))
    }
}

/// Each metric's mean and 95% confidence interval per sweep point, paired
/// differences against a baseline point, and warnings about intervals that say nothing.
public struct SweepStatistics {
    public static let metrics: [(name: String, label: String, scale: Double)] = [
        ("acceptanceRatio", "accepted %", 100), ("physicalCores.steadyAverage", "cores steady", 1),
        ("memoryGiB.steadyAverage", "memory GiB steady", 1),
        ("vfs.steadyAverage", "VFs steady", 1), ("pkeyEntries.steadyAverage", "pkey entries steady", 1),
        ("efficiency.mean", "efficiency %", 100),
        ("jobs.wait.mean", "wait s", 1), ("jobs.boundedSlowdown.mean", "bounded slowdown", 1),
        ("migration.count", "migrations", 1), ("migration.downtime.mean", "downtime s", 1),
        ("migration.stallHours", "stalled h", 1), ("migration.smps", "SMPs", 1), ("migration.pathQueries", "path queries", 1),
    ]

    public struct Row {
        public var point: Int
        public var settings: [String: String]
        public var intervals: [String: ConfidenceInterval]
        /// Each metric's value by replication.
        public var values: [String: [Int: Double]]
    }

    /// A point against the baseline: per metric, the interval of the per-replication differences.
    public struct Paired {
        public var point: Int
        public var settings: [String: String]
        public var differences: [String: ConfidenceInterval]
    }

    public let keys: [String]
    public let rows: [Row]

    public init(_ runs: [SweepStore.StoredRun], keys: [String]) {
        self.keys = keys
        rows = Dictionary(grouping: runs, by: \.point).sorted { $0.key < $1.key }.map { point, runs in
            var intervals: [String: ConfidenceInterval] = [:], values: [String: [Int: Double]] = [:]
            for metric in Self.metrics {
                let measured = runs.compactMap { run in run.metrics[metric.name].map { (run.replication, $0 * metric.scale) } }
                guard measured.count == runs.count else { continue }
                intervals[metric.name] = ConfidenceInterval(measured.map(\.1))
                values[metric.name] = Dictionary(measured, uniquingKeysWith: { a, _ in a })
            }
            return Row(point: point, settings: runs[0].settings, intervals: intervals, values: values)
        }
    }

    /// Metrics some point has.
    var shown: [(name: String, label: String, scale: Double)] {
        Self.metrics.filter { metric in rows.contains { $0.intervals[metric.name] != nil } }
    }

    /// Metrics with a difference at some point of `paired` (a metric the baseline lacks, such as
    /// its migrations when it migrates nothing, has none).
    func shown(in paired: [Paired]) -> [(name: String, label: String, scale: Double)] {
        shown.filter { metric in paired.contains { $0.differences[metric.name] != nil } }
    }

    /// Differences against the point whose `key` is `value` and whose other keys
    /// are the same, replication by replication: replication r of both used the
    /// same seed (common random numbers), so the pairs share their randomness and
    /// the interval of the differences is narrower than the two intervals apart.
    /// - Throws: `InputError` when `key` is not varied or has no such value.
    public func paired(against key: String, _ value: String, file: String) throws -> [Paired] {
        guard keys.contains(key) else {
            throw InputError(file: file, field: "--baseline", message: "'\(key)' is not a varied key (varied: \(keys.joined(separator: ", ")))")
        }
        guard rows.contains(where: { $0.settings[key] == value }) else {
            let values = Array(Set(rows.compactMap { $0.settings[key] })).sorted()
            throw InputError(file: file, field: "--baseline", message: "no point has \(key)=\(value) (values: \(values.joined(separator: ", ")))")
        }
        let others = keys.filter { $0 != key }
        return rows.compactMap { row in
            guard row.settings[key] != value,
                  let base = rows.first(where: { candidate in
                      candidate.settings[key] == value && others.allSatisfy { candidate.settings[$0] == row.settings[$0] }
                  })
            else { return nil }
            var differences: [String: ConfidenceInterval] = [:]
            for metric in shown {
                guard let mine = row.values[metric.name], let theirs = base.values[metric.name] else { continue }
                let pairs = mine.keys.sorted().compactMap { r in theirs[r].map { mine[r]! - $0 } }
                if !pairs.isEmpty { differences[metric.name] = ConfidenceInterval(pairs) }
            }
            return Paired(point: row.point, settings: row.settings, differences: differences)
        }
    }

    /// What makes the intervals say nothing: replications that are copies of one
    /// another, or a single replication.
    public var warnings: [String] {
        let replicated = rows.filter { ($0.intervals.values.first?.count ?? 0) > 1 }
        if rows.contains(where: { ($0.intervals.values.first?.count ?? 0) == 1 }) {
            return ["one replication per point: no confidence interval (give --replications 2 or more)"]
        }
        let identical = replicated.filter { row in row.intervals.values.allSatisfy { $0.halfWidth == 0 } }
        guard !identical.isEmpty else { return [] }
        return ["replications are identical at \(identical.count) of \(rows.count) points: every interval there is degenerate (± 0); "
                + "the runs share all their inputs (a trace replayed whole, a policy that draws nothing)"]
    }

    /// Paired differences that say nothing: the same difference in every replication
    /// (± 0), most often 0 because both settings made the same decisions there.
    public func pairedWarnings(_ paired: [Paired]) -> [String] {
        shown(in: paired).compactMap { metric in
            let degenerate = paired.filter { row in row.differences[metric.name].map { $0.count > 1 && $0.halfWidth == 0 } ?? false }
            guard !degenerate.isEmpty else { return nil }
            let zero = degenerate.allSatisfy { $0.differences[metric.name]!.mean == 0 }
            return "paired \(metric.label) is the same in every replication at \(degenerate.count) of \(paired.count) points (± 0): "
                + (zero ? "identical to the baseline there, so this metric cannot tell the two apart"
                        : "a constant difference, whose interval says nothing")
        }
    }

    /// A text table: one row per point, `mean ± half-width` per metric.
    public func formatted() -> String {
        let cells = rows.map { row in shown.map { metric in row.intervals[metric.name].map { Self.interval($0) } ?? "" } }
        var lines = table(rows.map(\.settings), counts: rows.map { $0.intervals.values.first?.count ?? 0 }, metrics: shown, cells: cells)
        lines.append("(mean ± half-width of the 95% confidence interval, Student t over the replications; steady: warm-up and drain left out)")
        return (lines + warnings.map { "warning: " + $0 }).joined(separator: "\n")
    }

    /// The paired table: one row per point but the baseline's, `difference ± half-width` per metric.
    public func formattedPaired(against key: String, _ value: String, file: String) throws -> String {
        let paired = try paired(against: key, value, file: file)
        let metrics = shown(in: paired)
        let cells = paired.map { row in
            metrics.map { metric in
                // A star: the interval excludes 0 (a difference at the 95% level).
                row.differences[metric.name].map { Self.interval($0) + ($0.lower > 0 || $0.upper < 0 ? "*" : "") } ?? ""
            }
        }
        var lines = ["Paired differences against \(key)=\(value) (same replication, same seed):"]
        lines += table(paired.map(\.settings), counts: paired.map { $0.differences.values.first?.count ?? 0 }, metrics: metrics, cells: cells)
        lines.append("(this point minus the baseline, replication by replication; * : the 95% interval excludes 0)")
        return (lines + pairedWarnings(paired).map { "warning: " + $0 }).joined(separator: "\n")
    }

    /// Columns as wide as their widest cell: the keys' values left-aligned, then n, then the metrics.
    private func table(_ settings: [[String: String]], counts: [Int], metrics: [(name: String, label: String, scale: Double)],
                       cells: [[String]]) -> [String] {
        let labels = metrics.map(\.label)
        let keyWidths = keys.map { key in max(key.count, settings.map { ($0[key] ?? "").count }.max() ?? 0) + 2 }
        let widths = labels.indices.map { c in max(labels[c].count, cells.map { $0[c].count }.max() ?? 0) + 2 }
        func line(_ keyTexts: [String], _ n: String, _ texts: [String]) -> String {
            zip(keyTexts, keyWidths).map { $0.rightPadded(to: $1) }.joined() + n.leftPadded(to: 3)
                + zip(texts, widths).map { $0.leftPadded(to: $1) }.joined()
        }
        let header = line(keys, "n", labels)
        var lines = [header, String(repeating: "-", count: header.count)]
        for (i, row) in settings.enumerated() {
            lines.append(line(keys.map { row[$0] ?? "" }, String(counts[i]), cells[i]))
        }
        return lines
    }

    /// `mean ± half-width` with as many decimals as the magnitude needs (3 below 100, none from 10,000).
    static func interval(_ interval: ConfidenceInterval) -> String {
        let magnitude = max(abs(interval.mean), abs(interval.halfWidth))
        let format = magnitude < 100 ? "%.3f ± %.3f" : magnitude < 10_000 ? "%.1f ± %.1f" : "%.0f ± %.0f"
        return String(format: format, interval.mean, interval.halfWidth)
    }

}
