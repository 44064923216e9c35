import Allocation
import ArgumentParser
import CloudModel
import Foundation
import SimKernel
import Simulation
import Workloads

struct Scenarios: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the scenario library (Workloads/*.yaml) with each scenario's purpose.",
        discussion: "Each line: the file, its hosts, its workload source and admission, and the question it answers (its description).")

    @Option(help: ArgumentHelp("The scenario library. Default: $HPCCLOUD_WORKLOADS, else the first Workloads/ found above the working directory or the executable.",
                               valueName: "DIR"))
    var dir: String?

    @OptionGroup var hardware: HardwareOptions
    @OptionGroup var output: JSONOption

    struct Entry: Encodable {
        var file: String, name: String, hosts: Int, workload: String, admission: String, migration: String, description: String?
    }

    func run() throws {
        try reportingInputErrors {
            let directory = try dir ?? ProjectDirectory.locate(
                "Workloads", containing: ScenarioLibrary.marker, environment: "HPCCLOUD_WORKLOADS",
                searchFrom: toolSearchStarts(), flag: "--dir")
            let loader = ScenarioLoader(catalog: try hardware.catalog(scenarioPath: directory + "/"), policies: PlacementPolicies.names)
            let scenarios = try ScenarioLibrary.load(directory: directory, loader: loader)
            if output.json {
                return try printJSON(scenarios.map { scenario in
                    Entry(file: URL(fileURLWithPath: scenario.file).lastPathComponent, name: scenario.name, hosts: scenario.cloud.hostCount,
                          workload: workloadKind(scenario.workload), admission: scenario.admission.mode.rawValue,
                          migration: scenario.migration.policy.rawValue, description: scenario.description)
                })
            }
            print("Scenarios in \(directory)\n")
            for scenario in scenarios {
                let file = URL(fileURLWithPath: scenario.file).lastPathComponent
                let admission = scenario.admission.mode == .reject ? "reject" : "queue " + scenario.admission.mode.rawValue
                print(file.rightPadded(to: 26) + "\(scenario.cloud.hostCount) hosts".leftPadded(to: 12)
                      + "  " + workloadKind(scenario.workload).rightPadded(to: 10) + admission.rightPadded(to: 12)
                      + (scenario.description ?? "(no description)"))
            }
        }
    }

    func workloadKind(_ spec: WorkloadSpec?) -> String {
        switch spec {
        case .synthetic?: "synthetic"
        case .trace?: "trace CSV"
        case .swf?: "SWF"
        case nil: "none"
        }
    }
}

struct WorkloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workload",
        abstract: "Inspect workloads without simulating them, or write one out as a trace CSV.",
        subcommands: [Stats.self, Export.self])

    static let sourceDiscussion = """
        SOURCE is a scenario (.yaml: its workload, and its cloud for comparison), a
        trace CSV (.csv, SEMANTICS section 7) or an SWF log (.swf; mapped to clusters
        with the --cores-per-vm, --lifetime, --time-scale, --skip and --limit options,
        as a scenario's `workload: { swf: ... }` block would).
        """

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print what a workload looks like: request count, arrival rate, size and lifetime quantiles, offered load.",
            discussion: WorkloadCommand.sourceDiscussion)

        @OptionGroup var source: WorkloadSource

        @Flag(help: "Print the statistics as one JSON object (quantiles by name, offered load, the cloud's capacity for a scenario).")
        var json = false

        func run() throws {
            try reportingInputErrors {
                let (loaded, cloud) = try source.load()
                let stats = WorkloadStats(loaded.workload)
                if json {
                    try printJSON(WorkloadStatsJSON(source: source.path, notes: loaded.reportLines, stats, cloud: cloud))
                    return
                }
                for line in loaded.reportLines { print(line) }
                print(stats.formatted(title: "Workload: \(terminalSafe(source.path))", cloud: cloud))
            }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a workload as a trace CSV that `replay` reads: a scenario's synthetic workload, an SWF log's clusters.",
            discussion: WorkloadCommand.sourceDiscussion + """


            The trace has the required columns, `op` (arrive, resize) and `work_gflop` when
            some cluster has work. Memory is exact GiB. Times are rounded to the microsecond,
            as in the decision log, so `replay TRACE --scenario S.yaml` of a scenario's own
            export decides as `simulate S.yaml` does unless two of its events fall within
            one microsecond. An SWF log's requested times (backfilling estimates) are not
            kept: the trace format has no column for them.
            """)

        @OptionGroup var source: WorkloadSource

        @Option(help: ArgumentHelp("Write the trace here (atomically) instead of to standard output.", valueName: "FILE"))
        var out: String?

        func run() throws {
            try reportingInputErrors {
                let bytes = try TraceCSV.write(try source.load().loaded.workload)
                if let out {
                    try DurableFile.write(bytes, to: out)
                } else {
                    FileHandle.standardOutput.write(Data(bytes))
                }
            }
        }
    }
}

/// SOURCE and how to read it, for `workload stats` and `workload export`.
struct WorkloadSource: ParsableArguments {
    @Argument(help: ArgumentHelp("A scenario .yaml, a trace .csv or an SWF .swf file.", valueName: "SOURCE"))
    var path: String

    @Option(parsing: .unconditional, help: ArgumentHelp("Scenario only: override its seed, 0 to 18446744073709551615 (synthetic workloads depend on it).", valueName: "N"))
    var seed: UInt64?

    @Option(name: .customLong("cores-per-vm"), help: ArgumentHelp("SWF only: vcores per VM; a job of P processors becomes ceil(P / C) VMs.", valueName: "C"))
    var coresPerVM: Int = 1

    @Option(help: ArgumentHelp("SWF only: 'runtime' (field 4) or 'requested' (field 9) as the lifetime.", valueName: "L"))
    var lifetime: String = "runtime"

    @Option(name: .customLong("time-scale"), help: ArgumentHelp("SWF only: multiply every inter-arrival gap by F (0.5 = twice the load).", valueName: "F"))
    var timeScale: String = "1"

    @Option(help: ArgumentHelp("SWF only: skip the first N job records.", valueName: "N"))
    var skip: Int = 0

    @Option(help: ArgumentHelp("SWF only: read at most N job records after --skip.", valueName: "N"))
    var limit: Int?

    @OptionGroup var settings: ScenarioSettings
    @OptionGroup var hardware: HardwareOptions

    func validate() throws {
        guard coresPerVM >= 1 else { throw ValidationError("--cores-per-vm must be at least 1, got \(coresPerVM)") }
        guard SWFImportSpec.Lifetime(rawValue: lifetime) != nil else {
            throw ValidationError("--lifetime must be runtime or requested, got '\(lifetime)'")
        }
        guard skip >= 0 else { throw ValidationError("--skip must be >= 0, got \(skip)") }
        if let limit, limit < 1 { throw ValidationError("--limit must be >= 1, got \(limit)") }
        guard let scale = Units.parseDecimal(Substring(timeScale), scale: 1_000_000_000), scale > 0, scale <= 1_000_000 * 1_000_000_000 else {
            throw ValidationError("--time-scale must be a number in (0, 1000000] such as 0.5, got '\(timeScale)'")
        }
    }

    /// The workload, and for a scenario its cloud.
    func load() throws -> (loaded: LoadedWorkload, cloud: CloudSpec?) {
        if path.hasSuffix(".yaml") || path.hasSuffix(".yml") {
            let scenario = try loadScenario(path, hardware: hardware, settings: settings).scenario
            guard let spec = scenario.workload else {
                throw InputError(file: path, field: "workload", message: "missing: this scenario has no workload")
            }
            return (try WorkloadLoader.load(spec, seed: seed ?? scenario.seed, file: path), scenario.cloud)
        }
        if !settings.values.isEmpty {
            throw InputError(file: path, field: "--set", message: "sets a scenario key: give a scenario (.yaml) as SOURCE")
        }
        if path.hasSuffix(".swf") {
            let spec = SWFImportSpec(path: path, coresPerVM: coresPerVM, lifetime: SWFImportSpec.Lifetime(rawValue: lifetime)!,
                                     timeScaleNano: Units.parseDecimal(Substring(timeScale), scale: 1_000_000_000)!,
                                     skip: skip, limit: limit)
            return (try WorkloadLoader.load(.swf(spec), seed: 0, file: path), nil)
        }
        return (try WorkloadLoader.load(.trace(path: path), seed: 0, file: path), nil)
    }
}

/// `workload stats --json`: the numbers of the table, by name.
struct WorkloadStatsJSON: Encodable {
    struct Quantiles: Encodable {
        var mean, min, p50, p90, p99, max: Double
        init(_ s: SampleSummary) {
            (mean, min, p50, p90, p99, max) = (s.mean, s.minimum, s.quantile(0.5), s.quantile(0.9), s.quantile(0.99), s.maximum)
        }
    }
    struct Offered: Encodable {
        var pinnedVcores, dynamicVcores, vfs, memoryGiB: Double
        /// Physical cores at the cloud's overcommit (1 without a cloud).
        var physicalCores: Double
    }
    struct Capacity: Encodable {
        var cores: Int, vfs: Int, memoryGiB: Double, overcommit: String
    }
    var source: String
    /// What loading the workload said (an SWF log's mapping, lines skipped).
    var notes: [String]
    var requests: Int, resizes: Int, tenants: Int
    var firstArrivalSeconds: Double, lastArrivalSeconds: Double, arrivalsPerHour: Double
    var commonShare: Double, pinnedShare: Double
    var vmsPerCluster: Quantiles, vcoresPerVM: Quantiles, memoryGiBPerVM: Quantiles, lifetimeHours: Quantiles
    var offered: Offered
    var cloud: Capacity?

    init(source: String, notes: [String], _ stats: WorkloadStats, cloud: CloudSpec?) {
        self.source = source
        self.notes = notes
        (requests, resizes, tenants) = (stats.requests, stats.resizes, stats.tenants)
        firstArrivalSeconds = Double(stats.firstArrival) / 1e9
        lastArrivalSeconds = Double(stats.lastArrival) / 1e9
        arrivalsPerHour = stats.arrivalsPerHour
        (commonShare, pinnedShare) = (stats.commonShare, stats.pinnedShare)
        vmsPerCluster = Quantiles(stats.vms)
        vcoresPerVM = Quantiles(stats.vcoresPerVM)
        memoryGiBPerVM = Quantiles(stats.memoryGiBPerVM)
        lifetimeHours = Quantiles(stats.lifetimeHours)
        offered = Offered(pinnedVcores: stats.offeredPinnedVcores, dynamicVcores: stats.offeredDynamicVcores, vfs: stats.offeredVFs,
                          memoryGiB: stats.offeredMemoryGiB, physicalCores: stats.offeredPhysicalCores(overcommit: cloud?.overcommit ?? .none))
        self.cloud = cloud.map { cloud in
            Capacity(cores: cloud.groups.reduce(0) { $0 + $1.count * $1.cores }, vfs: cloud.groups.reduce(0) { $0 + $1.count * $1.vfs },
                     memoryGiB: cloud.memoryGiB, overcommit: "\(cloud.overcommit)")
        }
    }
}

/// Where the tool looks for its project directories: the working directory, then its own.
func toolSearchStarts() -> [String] {
    [FileManager.default.currentDirectoryPath,
     URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path]
}
