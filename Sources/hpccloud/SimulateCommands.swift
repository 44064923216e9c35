import Allocation
import ArgumentParser
import CloudModel
import Foundation
import Simulation
import Workloads

struct RunOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Override the scenario's seed (the random streams derive from it).", valueName: "N"))
    var seed: UInt64?

    @Option(help: ArgumentHelp("Override the scenario's placement policy: \(PlacementPolicies.names.joined(separator: ", ")).",
                               valueName: "P"))
    var policy: String?

    @Option(help: ArgumentHelp("Keep only the arrivals in the first H simulated hours (a short run of a long workload); the clusters admitted run to their ends.",
                               valueName: "H"))
    var horizon: Double?

    /// The horizon in integer nanoseconds.
    var horizonNanoseconds: Nanoseconds? { horizon.map { Nanoseconds(($0 * 3.6e12).rounded()) } }

    func validate() throws {
        if let horizon, !(horizon > 0 && horizon < 2_000_000) {
            throw ValidationError("--horizon must be a positive number of hours below 2,000,000, got \(horizon)")
        }
        if let policy, !PlacementPolicies.names.contains(policy) {
            throw ValidationError("unknown policy '\(policy)' (expected one of: \(PlacementPolicies.names.joined(separator: ", ")))")
        }
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
    @OptionGroup var hardware: HardwareOptions

    @Option(help: ArgumentHelp("Also write the decision log (SEMANTICS section 8) here; '-' for stdout.", valueName: "PATH"))
    var decisions: String?

    func run() throws {
        try reportingInputErrors {
            let catalog = try hardware.catalog(scenarioPath: scenario)
            let loader = ScenarioLoader(catalog: catalog, policies: PlacementPolicies.names)
            let loaded = try scenario.map { try loader.load(path: $0) }
                ?? loader.load(yaml: EmbeddedScenarios.defaultYAML, file: EmbeddedScenarios.defaultFile)
            let simulation = try Run(scenario: loaded, policy: options.policy, seed: options.seed,
                                     horizon: options.horizonNanoseconds)
            try execute(simulation, decisions: decisions)
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
    @OptionGroup var hardware: HardwareOptions

    func run() throws {
        try reportingInputErrors {
            let catalog = try hardware.catalog(scenarioPath: scenario)
            let loaded = try ScenarioLoader(catalog: catalog, policies: PlacementPolicies.names).load(path: scenario)
            let workload = try TraceCSV.read(path: trace)
            let simulation = try Run(scenario: loaded, workload: workload, policy: options.policy, seed: options.seed,
                                     horizon: options.horizonNanoseconds)
            try execute(simulation, decisions: decisions)
        }
    }
}

/// Simulates, writing the decision log if asked, and prints the summary
/// (to stderr when the log goes to stdout).
func execute(_ simulation: Run, decisions: String?) throws {
    let writer = try decisions.map { try DecisionLogWriter(path: $0) }
    let summary = simulation.simulate(record: writer.map { w in { w.write($0) } })
    do {
        try writer?.finish()
    } catch {
        writer?.abandon()
        throw InputError(file: decisions ?? "-", message: "cannot write the decision log: \(error.localizedDescription)")
    }
    let text = (simulation.workloadReport + [summary.formatted(title: simulation.title)]).joined(separator: "\n")
    if decisions == "-" { printError(text) } else { print(text) }
    if let decisions, decisions != "-" { print("\nDecision log: \(decisions)") }
}
