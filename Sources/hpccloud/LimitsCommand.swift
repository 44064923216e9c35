import ArgumentParser
import CloudModel
import Foundation

struct Limits: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a scenario's hard ceilings by arithmetic alone, each with its formula.",
        discussion: """
        VMs by VFs, vCPUs by cores and overcommit, concurrent clusters per host by the pkey
        table and in all by the pkey space, and LIDs at build time and at full VF use, for the
        scenario's SR-IOV modes and as if every host used each mode; per subnet, the hpc VMs
        and clusters it can hold at once and the limit that binds them. No simulation.

        Planning: --hosts N scales every host group to N hosts in all and splits each subnet
        that no longer fits its LID space (--subnet-fit) into the fewest alike subnets, so
        `limits SCENARIO --hosts 200000` answers how many subnets (and, with
        routers.spanning, router boxes) that many hosts take, and what binds in each.
        """)

    @Argument(help: ArgumentHelp("Scenario YAML file. Omit for the embedded default.", valueName: "SCENARIO"))
    var scenario: String?

    @Flag(help: "Print the scenario, its host count and every limit (label, value, formula) as one JSON object.")
    var json = false

    @Option(help: ArgumentHelp("Scale the cloud to this many hosts first (every group alike), splitting subnets as --subnet-fit says.",
                               valueName: "N"))
    var hosts: Int?

    @OptionGroup var layout: SubnetLayout

    @OptionGroup var settings: ScenarioSettings
    @OptionGroup var hardware: HardwareOptions

    struct Report: Encodable {
        var scenario: String, hosts: Int, subnets: Int, limits: [CloudLimits.Line]
    }

    func validate() throws {
        if let hosts { guard (1...CloudLimits.maximumHosts).contains(hosts) else { throw ValidationError("--hosts must be 1 to \(CloudLimits.maximumHosts)") } }
        guard hosts != nil || layout.isDefault else {
            throw ValidationError("--subnet-fit and --hosts-per-subnet lay out the hosts of --hosts: give --hosts too")
        }
    }

    func run() throws {
        try reportingInputErrors {
            let loaded = try loadScenario(scenario, hardware: hardware, settings: settings).scenario
            var cloud = loaded.cloud
            if let hosts {
                do {
                    cloud = try cloud.scaled(by: Double(hosts) / Double(cloud.hostCount), fit: layout.fit, maxHostsPerSubnet: layout.hostsPerSubnet)
                } catch {
                    throw ValidationError("cannot lay out \(hosts) hosts: \(error)")
                }
            }
            let limits = CloudLimits(cloud: cloud)
            if json {
                try printJSON(Report(scenario: loaded.name, hosts: cloud.hostCount, subnets: cloud.subnets.count, limits: limits.lines))
            } else {
                let subnets = cloud.subnets.count == 1 ? "" : " in \(cloud.subnets.count) subnets"
                print(limits.formatted(title: "Limits of \(terminalSafe(loaded.name)) (\(cloud.hostCount) hosts\(subnets))"))
            }
        }
    }
}

/// How a scaled cloud's hosts are laid out in subnets (`limits --hosts`, `capacity --vary-hosts`).
struct SubnetLayout: ParsableArguments {
    @Option(name: .customLong("subnet-fit"),
            help: ArgumentHelp("When the cloud is scaled, a subnet past its LIDs is split into alike subnets: 'build' (its build-time LIDs "
                               + "fit) or 'full-vf-use' (a LID for every VF in use fits too: LIDs never bind).", valueName: "FIT"))
    var subnetFit: String = SubnetFit.buildTime.rawValue

    @Option(name: .customLong("hosts-per-subnet"), help: ArgumentHelp("When the cloud is scaled, also split a subnet past this many hosts.", valueName: "M"))
    var hostsPerSubnet: Int?

    func validate() throws {
        guard SubnetFit(rawValue: subnetFit) != nil else {
            throw ValidationError("--subnet-fit must be one of: \(SubnetFit.allCases.map(\.rawValue).joined(separator: ", ")), got '\(subnetFit)'")
        }
        if let hostsPerSubnet { guard hostsPerSubnet >= 1 else { throw ValidationError("--hosts-per-subnet must be at least 1") } }
    }

    var fit: SubnetFit { SubnetFit(rawValue: subnetFit) ?? .buildTime }
    var isDefault: Bool { hostsPerSubnet == nil && fit == .buildTime }
}
