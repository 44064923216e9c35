import Allocation
import ArgumentParser
import CloudModel
import Foundation
import Simulation

struct Capacity: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find the highest arrival rate (or the fewest hosts) that meets a target, and the limit that binds first.",
        discussion: """
        Each step runs --replications replications (seeds: scenario seed + r, the same at
        every step) and compares their mean with the target. From the scenario's own rate
        (or host count) the search doubles or halves until it brackets the boundary, then
        bisects to --tolerance. Past the boundary, the rejection reason with the most
        rejections names the binding limit: VFs, pkey tables, pkey space, LIDs, cores or memory.
        Targets: rejection<=X, acceptance>=X, wait<=HOURS (queued scenarios).
        """)

    @Argument(help: ArgumentHelp("Scenario YAML file (a synthetic workload for --vary-rate).", valueName: "SCENARIO.yaml"))
    var scenario: String

    @Option(help: ArgumentHelp("The target, such as 'rejection<=0.01'.", valueName: "METRIC<=X"))
    var target: String

    @Flag(name: .customLong("vary-rate"), help: "Search the arrival rate (every rate of the arrival process scaled alike).")
    var varyRate = false

    @Flag(name: .customLong("vary-hosts"), help: "Search the host count (every host group scaled alike): the fewest hosts that meet the target.")
    var varyHosts = false

    @Option(help: ArgumentHelp("Replications per step.", valueName: "N"))
    var replications: Int = 3

    @Option(help: ArgumentHelp("Stop when the bracket is within this fraction of its value.", valueName: "F"))
    var tolerance: Double = 0.02

    @Option(help: ArgumentHelp("Keep only the arrivals of the first H simulated hours of each run.", valueName: "H"))
    var horizon: Double?

    @OptionGroup var settings: ScenarioSettings
    @OptionGroup var hardware: HardwareOptions

    func validate() throws {
        guard varyRate != varyHosts else { throw ValidationError("give exactly one of --vary-rate or --vary-hosts") }
        guard CapacitySearch.Target(parsing: target) != nil else {
            throw ValidationError("--target must be like rejection<=0.01, acceptance>=0.99 (shares 0 to 1) or wait<=2 (hours), got '\(target)'")
        }
        try checkReplications(replications)
        try checkHorizon(horizon)
        guard tolerance > 0 && tolerance < 1 else { throw ValidationError("--tolerance must be in (0, 1)") }
    }

    func run() throws {
        try reportingInputErrors {
            let loaded = try loadScenario(scenario, hardware: hardware, settings: settings).scenario
            let goal = CapacitySearch.Target(parsing: target)!
            var search = try CapacitySearch(scenario: loaded, target: goal, dimension: varyRate ? .rate : .hosts,
                                            replications: replications, horizon: horizon.map { Nanoseconds(($0 * 3.6e12).rounded()) })
            let unit = varyRate ? "arrivals per hour" : "hosts"
            print("Capacity of \(loaded.name) for \(goal) (\(replications) replications per step, seeds \(loaded.seed)..\(loaded.seed &+ UInt64(replications - 1)))")
            let found = try search.search(tolerance: tolerance)
            print("")
            print(unit.rightPadded(to: 20) + "\(goal.metric.rawValue) (mean ± 95% CI)".leftPadded(to: 30) + "  meets")
            for step in search.steps {
                print(String(format: "%.3f", step.setting).rightPadded(to: 20)
                      + String(format: "%.4f ± %.4f", step.interval.mean, step.interval.halfWidth).leftPadded(to: 30)
                      + (step.meets ? "  yes" : "  no"))
            }
            print("")
            guard let found else {
                let tried = search.steps.map(\.setting)
                print("No boundary found between \(tried.min()!.formatted()) and \(tried.max()!.formatted()) \(unit): the target is "
                      + (search.steps.allSatisfy(\.meets) ? "met" : "missed") + " at every setting tried"
                      + (tried.contains(search.range.upperBound) || tried.contains(search.range.lowerBound) ? " (the search stops at the most and fewest a scenario may have)." : "."))
                return
            }
            let answer = varyRate ? "highest arrival rate" : "fewest hosts"
            print(String(format: "Answer: the %@ meeting %@ lies between %.3f (meets) and %.3f (does not) %@.",
                         answer, goal.description, found.meets, found.fails, unit))
            let failing = search.steps.last { $0.setting == found.fails }!
            let (limit, reasons) = CapacitySearch.bindingLimit(failing)
            let total = max(reasons.reduce(0) { $0 + $1.1 }, 1)
            print("Binding limit just past it: \(limit)")
            print("  rejections by reason: " + reasons.map { String(format: "%@ %.0f%%", $0.0.rawValue, Double($0.1) * 100 / Double(total)) }.joined(separator: ", "))
            let peaks = Resource.allCases.map { resource -> String in
                let fractions = failing.summaries.compactMap { $0.utilization[resource]?.peakFraction }
                return String(format: "%@ %.1f%%", resource.rawValue, (fractions.max() ?? 0) * 100)
            }
            print("  peak use: " + peaks.joined(separator: ", "))
        }
    }
}
