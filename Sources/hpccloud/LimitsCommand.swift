import ArgumentParser
import CloudModel

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

    @OptionGroup var settings: ScenarioSettings
    @OptionGroup var hardware: HardwareOptions

    func run() throws {
        try reportingInputErrors {
            let loaded = try loadScenario(scenario, hardware: hardware, settings: settings).scenario
            print(CloudLimits(cloud: loaded.cloud).formatted(title: "Limits of \(loaded.name) (\(loaded.cloud.hostCount) hosts)"))
        }
    }
}
