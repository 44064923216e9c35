import Allocation
import ArgumentParser
import CloudModel
import Foundation
import Logging
import Reporting
import Simulation
import Synchronization
import Workloads

struct RunOptions: ParsableArguments {
    // Unconditional: `--seed -1` is a wrong value (said so), not a missing one.
    @Option(parsing: .unconditional, help: ArgumentHelp("Override the scenario's seed, 0 to 18446744073709551615 (the random streams derive from it).", valueName: "N"))
    var seed: UInt64?

    @Option(help: ArgumentHelp("Override the scenario's placement policy: \(PlacementPolicies.names.joined(separator: ", ")), or exec:COMMAND for a program speaking the policy protocol (policies/PROTOCOL.md), such as 'exec:python3 policies/first_fit.py'.",
                               valueName: "P"))
    var policy: String?

    @Option(help: ArgumentHelp("Keep only the arrivals in the first H simulated hours (a short run of a long workload); the clusters admitted run to their ends.",
                               valueName: "H"))
    var horizon: Double?

    @Option(help: ArgumentHelp("Warm-up share of the arrivals' span left out of the steady-state averages, 0 to below 1 (default: the scenario's steadyState.warmup, else 0.1; sweep and capacity take --set steadyState.warmup=F); the drain after the last arrival is always left out.",
                               valueName: "F"))
    var warmup: Double?

    var steadyState: SteadyStateRule? { warmup.map { SteadyStateRule(warmup: $0) } }

    @Option(help: ArgumentHelp("Log these categories to stderr: engine (each decision), queue (queued, started, expired), policy (each VM's answer), or all.",
                               valueName: "C1,C2"))
    var log: String?

    @Option(name: .customLong("log-level"), help: ArgumentHelp("With --log: info (decisions and answers), debug (also departures, resizes, dispatch passes and the hosts that fitted each VM), or trace.",
                                                        valueName: "LEVEL"))
    var logLevel: String = "info"

    /// The categories --log names (every one for `all`); nil when it is not given or names an unknown one.
    var logCategories: Set<SimulationLog.Category>? {
        guard let log else { return [] }
        var categories: Set<SimulationLog.Category> = []
        for name in log.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if name == "all" { categories.formUnion(SimulationLog.Category.allCases); continue }
            guard let category = SimulationLog.Category(rawValue: name) else { return nil }
            categories.insert(category)
        }
        return categories
    }

    /// The log --log asks for, written to stderr with each message's simulated time.
    func simulationLog() -> SimulationLog? {
        guard let categories = logCategories, !categories.isEmpty, let level = Logger.Level(rawValue: logLevel) else { return nil }
        return SimulationLog(categories: categories) { label in
            var logger = Logger(label: label) { SimulationLogHandler(label: $0) }
            logger.logLevel = level
            return logger
        }
    }

    @Flag(help: "Print the summary as one JSON object (scenario, policy, seed, status, and every metric by name) instead of the table.")
    var json = false

    /// The horizon in integer nanoseconds.
    var horizonNanoseconds: Nanoseconds? { horizon.map { Nanoseconds(($0 * 3.6e12).rounded()) } }

    func validate() throws {
        try checkHorizon(horizon)
        if let warmup, !(warmup >= 0 && warmup < 1) { throw ValidationError("--warmup must be a share from 0 to below 1, got \(warmup)") }
        if let policy, let problem = PolicyReference.validate(policy, names: PlacementPolicies.names) { throw ValidationError(problem) }
        guard logCategories != nil else {
            throw ValidationError("--log must list engine, queue, policy or all, separated by commas, got '\(log ?? "")'")
        }
        guard [Logger.Level.trace, .debug, .info].contains(Logger.Level(rawValue: logLevel)) else {
            throw ValidationError("--log-level must be info, debug or trace, got '\(logLevel)'")
        }
    }
}

/// One line per message on stderr: `t=SECONDS category level: message`, control characters made visible.
struct SimulationLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let time = merged["t"].map { "t=\($0) " } ?? ""
        let others = merged.filter { $0.key != "t" }.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
        let category = label.hasPrefix("hpccloud.") ? String(label.dropFirst("hpccloud.".count)) : label
        let line = "\(time)\(category) \(event.level): \(event.message)\(others)"
        FileHandle.standardError.write(Data((TerminalText.visible(line, keepingNewlines: false) + "\n").utf8))
    }
}

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a scenario and print its summary.",
        discussion: """
        With no SCENARIO, runs the embedded default: a 64-host ConnectX-3 cloud
        (16 cores, 128 GiB, 15 VFs per host) under a synthetic arrival stream heavy
        enough to reject some requests.
        """)

    @Argument(help: ArgumentHelp("Scenario YAML file (SEMANTICS section 10). Omit for the embedded default.", valueName: "SCENARIO"))
    var scenario: String?

    @OptionGroup var options: RunOptions
    @OptionGroup var settings: ScenarioSettings
    @OptionGroup var hardware: HardwareOptions
    @OptionGroup var results: ResultsOptions

    @Option(help: ArgumentHelp("Also write the decision log (SEMANTICS section 8) here; '-' for stdout.", valueName: "PATH"))
    var decisions: String?

    func run() throws {
        try reportingInputErrors {
            let (loaded, yaml) = try loadScenario(scenario, hardware: hardware, settings: settings)
            var simulation = try Run(scenario: loaded, policy: options.policy, seed: options.seed,
                                     horizon: options.horizonNanoseconds, steadyState: options.steadyState)
            simulation.log = options.simulationLog()
            try execute(simulation, scenarioYAML: yaml, decisions: decisions, results: results, json: options.json)
        }
    }
}

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a trace CSV on a scenario's cloud and write the decision log.",
        discussion: """
        TRACE columns: id,arrival,tenant,vms,vcores,mem_gib,kind,pinning,duration[,op]
        (SEMANTICS section 7). The decision log has one row per processed event:
        time,id,event,outcome,reason,hosts,pkey (SEMANTICS section 8). The scenario's
        own workload, if any, is not used.
        """)

    @Argument(help: ArgumentHelp("Trace CSV to replay.", valueName: "TRACE.csv"))
    var trace: String

    @Option(help: ArgumentHelp("Scenario YAML giving the cloud (hosts, overcommit, subnet) and default policy.", valueName: "S.yaml"))
    var scenario: String

    @Option(help: ArgumentHelp("Where to write the decision log; '-' writes it to stdout (the summary then goes to stderr).",
                               valueName: "OUT.csv"))
    var decisions: String

    @OptionGroup var options: RunOptions
    @OptionGroup var settings: ScenarioSettings
    @OptionGroup var hardware: HardwareOptions
    @OptionGroup var results: ResultsOptions

    func run() throws {
        try reportingInputErrors {
            let (loaded, yaml) = try loadScenario(scenario, hardware: hardware, settings: settings)
            let workload = try TraceCSV.read(path: trace)
            var simulation = try Run(scenario: loaded, workload: workload, policy: options.policy, seed: options.seed,
                                     horizon: options.horizonNanoseconds, steadyState: options.steadyState)
            simulation.log = options.simulationLog()
            try execute(simulation, scenarioYAML: yaml, decisions: decisions, results: results, json: options.json)
        }
    }
}

/// Where a run's results database goes.
struct ResultsOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Results database (SQLite) to add this run to; created if missing. Default: Reports/<scenario>-<UTC time>.sqlite.",
                               valueName: "PATH"))
    var db: String?

    @Flag(name: .customLong("no-db"), help: "Write no results database.")
    var noDB = false

    func validate() throws {
        if noDB && db != nil { throw ValidationError("--db and --no-db exclude each other") }
    }

    /// The database path for a run of `scenario`, or nil with --no-db.
    func path(scenario: String) throws -> String? {
        if noDB { return nil }
        if let db { return db }
        let directory = (try? ProjectDirectory.locate("Reports", containing: "README.md", environment: "HPCCLOUD_REPORTS",
                                                      searchFrom: toolSearchStarts(), flag: "--db"))
            ?? FileManager.default.currentDirectoryPath + "/Reports"
        try DurableFile.createDirectory(directory)
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        let safeName = scenario.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" }
        return "\(directory)/\(String(safeName))-\(formatter.string(from: Date())).sqlite"
    }
}

/// `--horizon H` (hours): positive and finite, below 2,000,000 hours (the clock holds 2.5 million).
func checkHorizon(_ horizon: Double?) throws {
    if let horizon, !(horizon > 0 && horizon < 2_000_000) {
        throw ValidationError("--horizon must be a positive number of hours below 2,000,000, got \(horizon)")
    }
}

/// `--replications N`: at least one, at most 100,000.
func checkReplications(_ replications: Int) throws {
    guard (1...100_000).contains(replications) else { throw ValidationError("--replications must be 1 to 100000, got \(replications)") }
}

/// Set by Ctrl-C; the run stops at its next check and saves what it has.
let interruptRequested = Atomic<Bool>(false)

func installInterruptHandler() {
    // A parent may have spawned us with SIGINT blocked (its threads' mask is inherited): unblock it.
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
    signal(SIGINT) { _ in
        interruptRequested.store(true, ordering: .relaxed)
        signal(SIGINT, SIG_DFL)  // a second Ctrl-C ends the process at once
    }
}

/// A one-line progress display on stderr, only when stderr is a terminal.
final class ProgressLine {
    private let start = Date()
    private var lastDraw = Date.distantPast
    let enabled = isatty(STDERR_FILENO) == 1

    func update(_ progress: RunProgress) {
        guard enabled, Date().timeIntervalSince(lastDraw) >= 0.25 else { return }
        lastDraw = Date()
        let elapsed = Date().timeIntervalSince(start)
        let done = Double(progress.arrivals) / Double(max(progress.totalArrivals, 1))
        let eta = done > 0 ? elapsed * (1 - done) / done : 0
        let text = String(format: "\r  simulated %.1f h, %.2fM events/s, %.0f%% of arrivals, ETA %.0f s   ",
                          Double(progress.time) / 3.6e12, Double(progress.events) / max(elapsed, 1e-9) / 1e6, done * 100, eta)
        FileHandle.standardError.write(Data(text.utf8))
    }

    func clear() {
        guard enabled, lastDraw != .distantPast else { return }
        FileHandle.standardError.write(Data(("\r" + String(repeating: " ", count: 79) + "\r").utf8))
    }
}

/// Simulates, writing the decision log and the results database if asked,
/// and prints the summary (to stderr when the log goes to stdout).
func execute(_ simulation: Run, scenarioYAML: String, decisions: String?, results: ResultsOptions, json: Bool = false) throws {
    // Before anything is created: a Ctrl-C once the database file exists must find the handler
    // (opening and migrating a database can take a second on a slow disk).
    installInterruptHandler()
    let writer = try decisions.map { try DecisionLogWriter(path: $0) }
    let databasePath = try results.path(scenario: simulation.scenario.name)
    let recorder = try databasePath.map { path in
        try RunRecorder(database: try ResultsDatabase(path: path), run: simulation, scenarioYAML: scenarioYAML)
    }
    let progress = ProgressLine()
    let monitor = RunMonitor(sample: recorder.map { r in { r.sample(time: $0, usage: $1, queued: $2) } },
                             progress: progress.update,
                             shouldStop: { interruptRequested.load(ordering: .relaxed) })
    let summary = try simulation.simulate(record: writer == nil && recorder == nil ? nil : { row in
        writer?.write(row)
        recorder?.record(row)
    }, monitor: monitor)
    progress.clear()
    // A failed write fails the run (exit 1): nothing is reported written that is not.
    if summary.interrupted { writer?.abandon() } else { try writer?.finish() }
    try recorder?.finish(summary: summary, title: simulation.title)
    let text = json ? try summaryJSON(simulation, summary, database: databasePath, runID: recorder?.runID)
        : (simulation.workloadReport + [summary.formatted(title: simulation.title)]).joined(separator: "\n")
    if decisions == "-" { printError(text) } else { print(text) }
    if json {
        if summary.interrupted { throw ExitCode(130) }
        return
    }
    if let decisions, decisions != "-", !summary.interrupted { print("\nDecision log: \(decisions)") }
    if let databasePath, let recorder {
        let line = "Results: \(databasePath) (run \(recorder.runID))"
        if decisions == "-" { printError(line) } else { print(line) }
    }
    if summary.interrupted {
        printError("hpccloud: interrupted; the results database marks the run incomplete")
        throw ExitCode(130)
    }
}

/// The summary for scripts: one JSON object, keys sorted, every metric of the results database by name.
func summaryJSON(_ simulation: Run, _ summary: Summary, database: String?, runID: Int64?) throws -> String {
    var metrics: [String: Double] = [:]
    for (name, value) in RunRecorder.metrics(summary) where value.isFinite { metrics[name] = value }
    var object: [String: Any] = [
        "scenario": simulation.scenario.name, "policy": simulation.policyName, "seed": simulation.seed,
        "hosts": summary.hosts, "status": summary.interrupted ? "interrupted" : "complete", "metrics": metrics,
        "tool": ToolVersion.string,
    ]
    if let database { object["database"] = database }
    if let runID { object["run"] = runID }
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    return String(decoding: data, as: UTF8.self)
}
