import Allocation
import ArgumentParser
import CloudModel
import Foundation
import Reporting
import SimKernel
import Simulation

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a scenario over the cross product of varied keys, with replications and 95% confidence intervals.",
        discussion: """
        Any scenario key can be varied by its path: policy, overcommit, hosts[0].count,
        hosts[0].vfs, hosts[0].pkeyTable, hosts[0].sriovMode, hosts[0].hca,
        workload.synthetic.arrivals.perHour, admission.mode, ... Replication r uses seed
        (scenario seed + r) at every point: policies at one point see identical arrivals
        (common random numbers); --baseline KEY=VALUE prints each point's paired differences
        against that point with 95% intervals. A trace or SWF log replays identically under
        every seed, so there replication r replays the r-th of N equal segments of its
        arrival span. Identical replications (degenerate intervals) are warned about.
        Runs use --jobs threads; every run goes into one results
        database. --shard I/N runs one slice; --slurm DIR writes a Slurm job array (one
        task per shard, a database each) and a merge script instead of running.
        """)

    @Argument(help: ArgumentHelp("Scenario YAML file.", valueName: "SCENARIO.yaml"))
    var scenario: String

    @Option(name: .customLong("vary"), help: ArgumentHelp("A key and its values, KEY=V1,V2,...; repeat for a cross product.", valueName: "KEY=V1,V2"))
    var variations: [String] = []

    @Option(help: ArgumentHelp("Replications per point (independent seeds).", valueName: "N"))
    var replications: Int = 5

    @Option(help: ArgumentHelp("Runs at once (threads). Default: the machine's cores.", valueName: "J"))
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: ArgumentHelp("Keep only the arrivals of the first H simulated hours of each run.", valueName: "H"))
    var horizon: Double?

    @Option(help: ArgumentHelp("Run only shard I of N (runs whose index is I modulo N), for a batch system.", valueName: "I/N"))
    var shard: String?

    @Option(help: ArgumentHelp("Write a Slurm job array and merge script into DIR instead of running.", valueName: "DIR"))
    var slurm: String?

    @Option(help: ArgumentHelp("With --slurm: how many array tasks (shards). Default: min(runs, 8).", valueName: "N"))
    var shards: Int?

    @Option(help: ArgumentHelp("Also print each point's paired differences against the point where KEY is VALUE (e.g. policy=best-fit), with 95% intervals.",
                               valueName: "KEY=VALUE"))
    var baseline: String?

    @Flag(help: "Print the points, their intervals, the paired differences and the warnings as one JSON object instead of the tables.")
    var json = false

    @Flag(help: "Continue an interrupted sweep in --db: run only what it does not hold yet (same scenario file and --vary values).")
    var resume = false

    @OptionGroup var results: ResultsOptions
    @OptionGroup var settings: ScenarioSettings
    @OptionGroup var hardware: HardwareOptions

    func validate() throws {
        guard !variations.isEmpty else { throw ValidationError("give at least one --vary KEY=V1,V2,...") }
        try checkReplications(replications)
        try checkHorizon(horizon)
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        if let shard, parseShard(shard) == nil { throw ValidationError("--shard must be I/N with 0 <= I < N, got '\(shard)'") }
        if shard != nil && slurm != nil { throw ValidationError("--shard and --slurm exclude each other") }
        if let shards, shards < 1 { throw ValidationError("--shards must be at least 1") }
        if let baseline, parseBaseline(baseline) == nil { throw ValidationError("--baseline must be KEY=VALUE, got '\(baseline)'") }
        if resume && (results.db == nil || slurm != nil) { throw ValidationError("--resume needs --db FILE (the sweep's database) and no --slurm") }
    }

    func parseBaseline(_ text: String) -> (String, String)? {
        guard let setting = ScenarioOverride.Setting(parsing: text), !setting.value.isEmpty else { return nil }
        return (setting.key, setting.value)
    }

    func parseShard(_ text: String) -> (index: Int, count: Int)? {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, i >= 0, i < n else { return nil }
        return (i, n)
    }

    func parsedVariations() throws -> [SweepPlan.Variation] {
        try variations.map { text in
            guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
                throw InputError(file: scenario, field: "--vary", message: "expected KEY=V1,V2,..., got '\(text)'")
            }
            let values = text[text.index(after: equals)...].split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            guard !values.isEmpty, !values.contains("") else {
                throw InputError(file: scenario, field: String(text[..<equals]), message: "expected one or more comma-separated values")
            }
            return SweepPlan.Variation(key: String(text[..<equals]), values: values)
        }
    }

    func run() throws {
        try reportingInputErrors {
            // --set changes the scenario every point starts from (and the YAML the database keeps).
            let (_, yaml) = try loadScenario(scenario, hardware: hardware, settings: settings)
            let loader = ScenarioLoader(catalog: try hardware.catalog(scenarioPath: scenario), policies: PlacementPolicies.names)
            let plan = try SweepPlan(yaml: yaml, file: scenario, loader: loader, variations: try parsedVariations(),
                                     replications: replications, horizon: horizon.map { Nanoseconds(($0 * 3.6e12).rounded()) })
            if let baseline, let (key, value) = parseBaseline(baseline),
               !plan.variations.contains(where: { $0.key == key && $0.values.contains(value) }) {
                throw InputError(file: scenario, field: "--baseline", message: "expected a varied KEY=VALUE, such as "
                                 + plan.variations.map { "\($0.key)=\($0.values[0])" }.joined(separator: " or ") + ", got '\(baseline)'")
            }
            guard plan.runCount <= 10_000_000 else {
                throw InputError(file: scenario, field: "--vary", message: "\(plan.runCount.formatted()) runs (points x replications): expected at most 10,000,000")
            }
            if let slurm {
                try writeSlurm(directory: slurm, plan: plan)
                return
            }
            let (shardIndex, shardCount) = shard.flatMap(parseShard) ?? (0, 1)
            var indices = plan.runs(shard: shardIndex, of: shardCount)
            let sweepName = "\(plan.points[0].scenario.name): " + plan.variations.map(\.key).joined(separator: " x ")
            let databasePath = try results.path(scenario: plan.points[0].scenario.name + "-sweep")
            let store = try databasePath.map { SweepStore(database: try ResultsDatabase(path: $0)) }
            if let store, let databasePath {
                try store.claim(sweep: sweepName, plan: plan.description)
                let done = try store.resumable(sweep: sweepName, plan: plan, yaml: yaml)
                if !done.isEmpty && !resume {
                    throw InputError(file: databasePath, message: "already holds \(done.count) runs of sweep '\(sweepName)': "
                                     + "give --resume to finish it, or another --db")
                }
                indices.removeAll(where: done.contains)
            }
            let terminal = isatty(STDERR_FILENO) == 1
            let finished: @Sendable (Int, Int) -> Void = { done, total in
                if terminal { FileHandle.standardError.write(Data("\r  sweep: \(done)/\(total) runs done   ".utf8)) }
            }
            // Each run is committed as soon as it and every run before it finished: an
            // interrupted sweep keeps them, and --resume runs the rest.
            let runs = try SweepRunner.run(plan, indices: indices, jobs: jobs, finished: finished,
                                           commit: store.map { store in { try store.record([$0], plan: plan, sweep: sweepName, yaml: yaml) } })
            if terminal { FileHandle.standardError.write(Data("\r\(String(repeating: " ", count: 40))\r".utf8)) }
            var stored: [SweepStore.StoredRun] = []
            if let store {
                stored = try store.runs(sweep: sweepName)
            } else {
                stored = runs.map { SweepStore.StoredRun($0, plan: plan, sweep: sweepName) }
            }
            let statistics = SweepStatistics(stored, keys: plan.variations.map(\.key))
            let against = baseline.flatMap(parseBaseline)
            if json {
                let paired = try against.map { try statistics.paired(against: $0.0, $0.1, file: scenario) }
                try printJSON(SweepJSON(sweep: sweepName, replications: replications, segments: plan.segments,
                                        statistics: statistics, baseline: against, paired: paired, database: databasePath))
                return
            }
            print("Sweep \(terminalSafe(sweepName)): \(plan.points.count) points x \(replications) replications"
                  + (plan.segments ? " (each a segment of the trace: 1/\(replications) of its arrival span)" : "")
                  + (shardCount > 1 ? ", shard \(shardIndex)/\(shardCount): \(indices.count) runs" : ""))
            print(statistics.formatted())
            if let (key, value) = against {
                print("\n" + (try statistics.formattedPaired(against: key, value, file: scenario)))
            }
            if let databasePath { print("Results: \(databasePath)") }
        }
    }

    /// An sbatch job array (one task per shard, a database each) and the merge step.
    func writeSlurm(directory: String, plan: SweepPlan) throws {
        let count = shards ?? min(plan.runCount, 8)
        let dir = URL(fileURLWithPath: directory).standardizedFileURL.path
        // `#SBATCH` lines cannot quote: a path with a blank, a quote, a `%` (sbatch's
        // filename pattern) or a control character would change the directives.
        if let bad = dir.unicodeScalars.first(where: { $0.properties.generalCategory == .control || " \t\"'%\\".unicodeScalars.contains($0) }) {
            throw InputError(file: directory, field: "--slurm",
                             message: "expected a directory path without blanks, quotes, % or control characters (sbatch directives cannot quote them), found U+\(String(bad.value, radix: 16, uppercase: true))")
        }
        try DurableFile.createDirectory(dir)
        let tool = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let scenarioPath = URL(fileURLWithPath: scenario).standardizedFileURL.path
        let hardwareDir = try hardware.catalog(scenarioPath: scenario).directory
        func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        var command = [tool, "sweep", scenarioPath, "--replications", "\(replications)", "--jobs", "1", "--hardware", hardwareDir]
        for variation in variations { command += ["--vary", variation] }
        for setting in settings.values { command += ["--set", setting] }
        if let horizon { command += ["--horizon", "\(horizon)"] }
        let sbatch = """
        #!/bin/bash
        #SBATCH --job-name=hpccloud-sweep
        #SBATCH --array=0-\(count - 1)
        #SBATCH --ntasks=1
        #SBATCH --cpus-per-task=1
        #SBATCH --output=\(dir)/shard-%a.log
        # One shard of the sweep per array task; each writes its own results database.
        set -euo pipefail
        exec \(command.map(quote).joined(separator: " ")) --shard "${SLURM_ARRAY_TASK_ID}/\(count)" --db \(quote(dir))/shard-"${SLURM_ARRAY_TASK_ID}".sqlite

        """
        let merge = """
        #!/bin/bash
        # After the array finishes: one database, equal to a single-machine run of the sweep.
        set -euo pipefail
        exec \(quote(tool)) merge \(quote(dir))/shard-*.sqlite --into \(quote(dir + "/all.sqlite"))

        """
        for (name, text) in [("sweep.sbatch", sbatch), ("merge.sh", merge)] {
            let path = dir + "/" + name
            try DurableFile.write(text, to: path, mode: 0o755)
        }
        print("Wrote \(dir)/sweep.sbatch (\(count) array tasks for \(plan.runCount) runs) and \(dir)/merge.sh")
        print("Submit: sbatch \(dir)/sweep.sbatch; when it finishes: \(dir)/merge.sh")
    }
}

/// `sweep --json`: every point's intervals (in the metrics' own units, not the table's percent), the
/// paired differences against the baseline, and the warnings.
struct SweepJSON: Encodable {
    struct Interval: Encodable {
        var mean: Double, halfWidth: Double
        /// Paired differences only: the 95% interval excludes 0.
        var excludesZero: Bool?
    }
    struct Point: Encodable {
        var point: Int, settings: [String: String], replications: Int
        var metrics: [String: Interval]
    }
    struct Baseline: Encodable { var key: String, value: String }

    var sweep: String, replications: Int, segments: Bool
    var points: [Point]
    var baseline: Baseline?
    var paired: [Point]?
    var warnings: [String]
    var database: String?

    init(sweep: String, replications: Int, segments: Bool, statistics: SweepStatistics, baseline: (String, String)?,
         paired: [SweepStatistics.Paired]?, database: String?) {
        (self.sweep, self.replications, self.segments, self.database) = (sweep, replications, segments, database)
        let scales = Dictionary(uniqueKeysWithValues: SweepStatistics.metrics.map { ($0.name, $0.scale) })
        func unscaled(_ intervals: [String: ConfidenceInterval], paired: Bool) -> [String: Interval] {
            intervals.reduce(into: [:]) { out, entry in
                let scale = scales[entry.key] ?? 1
                out[entry.key] = Interval(mean: entry.value.mean / scale, halfWidth: entry.value.halfWidth / scale,
                                          excludesZero: paired ? entry.value.lower > 0 || entry.value.upper < 0 : nil)
            }
        }
        points = statistics.rows.map { row in
            Point(point: row.point, settings: row.settings, replications: row.intervals.values.first?.count ?? 0,
                  metrics: unscaled(row.intervals, paired: false))
        }
        self.baseline = baseline.map { Baseline(key: $0.0, value: $0.1) }
        self.paired = paired?.map { row in
            Point(point: row.point, settings: row.settings, replications: row.differences.values.first?.count ?? 0,
                  metrics: unscaled(row.differences, paired: true))
        }
        warnings = statistics.warnings + (paired.map(statistics.pairedWarnings) ?? [])
    }
}

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge sweep shard databases into one, in run order (equal to a whole run of the sweep).")

    @Argument(help: ArgumentHelp("Shard databases.", valueName: "SHARD.sqlite"))
    var inputs: [String]

    @Option(help: ArgumentHelp("The merged database (must not exist yet).", valueName: "ALL.sqlite"))
    var into: String

    func run() throws {
        try reportingInputErrors {
            guard !inputs.isEmpty else { throw InputError(file: into, message: "no shard databases given") }
            guard !FileManager.default.fileExists(atPath: into) else {
                throw InputError(file: into, message: "already exists; merge into a new file")
            }
            let count = try SweepStore.merge(inputs, into: into)
            print("Merged \(count) runs from \(inputs.count) databases into \(into)")
        }
    }
}
