import ArgumentParser
import CloudModel
import Foundation

struct Limits: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a scenario's hard ceilings by arithmetic alone, each with its formula.",
        discussion: """
        VMs by VFs, vCPUs by cores and overcommit, concurrent clusters per host by the pkey
        table and in all by the pkey space, and LIDs at build time and at full VF use, for the
        scenario's SR-IOV modes and as if every host used each mode. No simulation.
        """)

    @Argument(help: ArgumentHelp("Scenario YAML file. Omit for the embedded default.", valueName: "SCENARIO"))
    var scenario: String?

    @Flag(help: "Print the scenario, its host count and every limit (label, value, formula) as one JSON object.")
    var json = false

    @OptionGroup var settings: ScenarioSettings
    @OptionGroup var hardware: HardwareOptions

    struct Report: Encodable {
        var scenario: String, hosts: Int, limits: [CloudLimits.Line]
    }

    func run() throws {
        try reportingInputErrors {
            let loaded = try loadScenario(scenario, hardware: hardware, settings: settings).scenario
            let limits = CloudLimits(cloud: loaded.cloud)
            if json {
                try printJSON(Report(scenario: loaded.name, hosts: loaded.cloud.hostCount, limits: limits.lines))
            } else {
                print(limits.formatted(title: "Limits of \(terminalSafe(loaded.name)) (\(loaded.cloud.hostCount) hosts)"))
            }
        }
    }
}
