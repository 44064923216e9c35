import Allocation
import ArgumentParser
import CloudModel
import Foundation
import SimKernel
import Simulation

struct Capacity: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find the highest arrival rate (or the fewest hosts) that meets a target, and the limit that binds first.",
        discussion: """
        Each step runs --replications replications (seeds: scenario seed + r, the same at
        every step) and judges the target on their 95% interval: it meets when the whole
        interval does, fails when none of it does; while the interval still contains the
        threshold, the step doubles its replications up to --max-replications, then counts as
        undecided. From the scenario's own rate (or host count) the search doubles or halves
        until it brackets the boundary, then bisects to --tolerance, narrowing around any
        undecided band. Answers: the bracket, the concurrent clusters and tenants served at
        its meeting end, and the rejection mix at both ends; past the boundary, the reason
        with the most rejections names the binding limit: VFs, pkey tables, pkey space, LIDs,
        cores or memory. Targets: rejection<=X, acceptance>=X, wait<=HOURS (queued scenarios).
        """)

    @Argument(help: ArgumentHelp("Scenario YAML file (a synthetic workload for --vary-rate).", valueName: "SCENARIO.yaml"))
    var scenario: String

    @Option(help: ArgumentHelp("The target, such as 'rejection<=0.01'.", valueName: "METRIC<=X"))
    var target: String

    @Flag(name: .customLong("vary-rate"), help: "Search the arrival rate (every rate of the arrival process scaled alike).")
    var varyRate = false

    @Flag(name: .customLong("vary-hosts"), help: "Search the host count (every host group scaled alike, subnets split as --subnet-fit says): the fewest hosts that meet the target.")
    var varyHosts = false

    @OptionGroup var layout: SubnetLayout

    @Option(help: ArgumentHelp("Replications a step starts with.", valueName: "N"))
    var replications: Int = 3

    @Option(name: .customLong("max-replications"),
            help: ArgumentHelp("The most replications a step grows to while its interval contains the threshold (default 4 x --replications).", valueName: "N"))
    var maxReplications: Int?

    @Option(help: ArgumentHelp("Stop when the bracket is within this fraction of its value.", valueName: "F"))
    var tolerance: Double = 0.02

    @Option(help: ArgumentHelp("Keep only the arrivals of the first H simulated hours of each run.", valueName: "H"))
    var horizon: Double?

    @Flag(help: "Print the steps and the answer as one JSON object instead of the table.")
    var json = false

    @OptionGroup var settings: ScenarioSettings
    @OptionGroup var hardware: HardwareOptions

    func validate() throws {
        guard varyRate != varyHosts else { throw ValidationError("give exactly one of --vary-rate or --vary-hosts") }
        guard varyHosts || layout.isDefault else { throw ValidationError("--subnet-fit and --hosts-per-subnet lay out the hosts of --vary-hosts") }
        guard CapacitySearch.Target(parsing: target) != nil else {
            throw ValidationError("--target must be like rejection<=0.01, acceptance>=0.99 (shares 0 to 1) or wait<=2 (hours), got '\(target)'")
        }
        try checkReplications(replications)
        if let maxReplications {
            try checkReplications(maxReplications)
            guard maxReplications >= replications else {
                throw ValidationError("--max-replications (\(maxReplications)) must be at least --replications (\(replications))")
            }
        }
        try checkHorizon(horizon)
        guard tolerance > 0 && tolerance < 1 else { throw ValidationError("--tolerance must be in (0, 1)") }
    }

    func run() throws {
        try reportingInputErrors {
            let loaded = try loadScenario(scenario, hardware: hardware, settings: settings).scenario
            let goal = CapacitySearch.Target(parsing: target)!
            var search = try CapacitySearch(scenario: loaded, target: goal, dimension: varyRate ? .rate : .hosts,
                                            replications: replications, maxReplications: maxReplications ?? min(4 * replications, 100_000),
                                            horizon: horizon.map { Nanoseconds(($0 * 3.6e12).rounded()) },
                                            subnetFit: layout.fit, hostsPerSubnet: layout.hostsPerSubnet)
            if !json {
                print("Capacity of \(terminalSafe(loaded.name)) for \(goal) (\(replications) to \(search.maxReplications) replications per step, "
                      + "seeds from \(loaded.seed))")
            }
            let found = try search.search(tolerance: tolerance)
            let answer = CapacityAnswer(search, found)
            if json { try printJSON(answer) } else { print(answer.formatted(search)) }
        }
    }
}

/// What `capacity` found, for the table and for `--json`.
struct CapacityAnswer: Encodable {
    struct Step: Encodable {
        var setting: Double, mean: Double, halfWidth: Double, replications: Int, verdict: String
    }
    /// Clusters running and tenants served over the steady window, across a step's replications.
    struct Served: Encodable {
        var setting: Double
        var clusters: Estimate, tenants: Estimate
        var peakClusters: Int, peakTenants: Int
    }
    struct Estimate: Encodable {
        var mean: Double, halfWidth: Double
        init(_ values: [Double]) {
            let interval = ConfidenceInterval(values)
            (mean, halfWidth) = (interval.mean, interval.halfWidth)
        }
    }
    struct Boundary: Encodable {
        var meets: Double, fails: Double
        var undecidedFrom: Double?, undecidedTo: Double?
    }

    var scenario: String, target: String, dimension: String, unit: String
    var steps: [Step]
    var boundary: Boundary?
    var served: Served?
    var bindingLimit: String?
    /// Rejections by reason (summed over the step's replications) at the bracket's ends.
    var rejectionsMeeting: [String: Int]?, rejectionsFailing: [String: Int]?
    /// Peak share of each resource at the failing end, the highest over its replications.
    var peakUseFailing: [String: Double]?

    init(_ search: CapacitySearch, _ found: CapacitySearch.Boundary?) {
        scenario = search.scenario.name
        target = search.target.description
        dimension = search.dimension == .rate ? "rate" : "hosts"
        unit = search.dimension == .rate ? "arrivals per hour" : "hosts"
        steps = search.steps.map { Step(setting: $0.setting, mean: $0.interval.mean, halfWidth: $0.interval.halfWidth,
                                        replications: $0.interval.count, verdict: $0.verdict.rawValue) }
        guard let found else { return }
        boundary = Boundary(meets: found.meets, fails: found.fails, undecidedFrom: found.undecided?.lowerBound, undecidedTo: found.undecided?.upperBound)
        let meeting = search.steps.last { $0.setting == found.meets }!, failing = search.steps.last { $0.setting == found.fails }!
        let summaries = meeting.summaries
        served = Served(setting: found.meets,
                        clusters: Estimate(summaries.compactMap { $0.steadyConcurrency?.clusters }),
                        tenants: Estimate(summaries.compactMap { $0.steadyConcurrency?.tenants }),
                        peakClusters: summaries.map(\.peakConcurrentClusters).max() ?? 0,
                        peakTenants: summaries.map(\.peakConcurrentTenants).max() ?? 0)
        bindingLimit = CapacitySearch.bindingLimit(failing).limit
        rejectionsMeeting = Self.rejections(meeting)
        rejectionsFailing = Self.rejections(failing)
        peakUseFailing = Dictionary(uniqueKeysWithValues: Resource.allCases.map { resource in
            (resource.metricName, failing.summaries.compactMap { $0.utilization[resource]?.peakFraction }.max() ?? 0)
        })
    }

    static func rejections(_ step: CapacitySearch.Step) -> [String: Int] {
        Dictionary(CapacitySearch.bindingLimit(step).reasons.map { ($0.0.rawValue, $0.1) }, uniquingKeysWith: +)
    }

    /// The table a planner reads.
    func formatted(_ search: CapacitySearch) -> String {
        var lines = ["", unit.rightPadded(to: 20) + "\(search.target.metric.rawValue) (mean ± 95% CI)".leftPadded(to: 30) + "runs".leftPadded(to: 6) + "  verdict"]
        for step in steps {
            lines.append(String(format: "%.3f", step.setting).rightPadded(to: 20)
                         + String(format: "%.4f ± %.4f", step.mean, step.halfWidth).leftPadded(to: 30)
                         + "\(step.replications)".leftPadded(to: 6) + "  " + step.verdict)
        }
        lines.append("")
        let undecided = steps.filter { $0.verdict == CapacitySearch.Verdict.undecided.rawValue }
        guard let boundary, let served else {
            let tried = steps.map(\.setting)
            let verdicts = Set(steps.map(\.verdict))
            let what = verdicts == ["meets"] ? "met" : verdicts == ["fails"] ? "missed" : "not decided either way"
            lines.append("No boundary found between \(tried.min()!.formatted()) and \(tried.max()!.formatted()) \(unit): the target is "
                         + what + " at every setting tried"
                         + (tried.contains(search.range.upperBound) || tried.contains(search.range.lowerBound) ? " (the search stops at the most and fewest a scenario may have)." : "."))
            if !undecided.isEmpty {
                lines.append("Cannot decide: at \(undecided.count) setting(s) the interval still contains \(search.target.threshold) after \(search.maxReplications) replications.")
            }
            return lines.joined(separator: "\n")
        }
        let answer = search.dimension == .rate ? "highest arrival rate" : "fewest hosts"
        lines.append(String(format: "Answer: the %@ meeting %@ lies between %.3f (meets) and %.3f (does not) %@.",
                            answer, target, boundary.meets, boundary.fails, unit))
        if let from = boundary.undecidedFrom, let to = boundary.undecidedTo {
            lines.append(String(format: "Cannot decide inside it: from %.3f to %.3f the interval still contains %@ after %d replications;",
                                from, to, "\(search.target.threshold)", search.maxReplications)
                         + " more replications (--max-replications) would narrow the bracket.")
        }
        lines.append(String(format: "Served at %.3f: %.1f ± %.1f concurrent clusters for %.1f ± %.1f tenants (steady mean), peaks %d and %d.",
                            served.setting, served.clusters.mean, served.clusters.halfWidth, served.tenants.mean, served.tenants.halfWidth,
                            served.peakClusters, served.peakTenants))
        lines.append("Binding limit just past it: \(bindingLimit ?? "")")
        lines.append("  rejections at \(String(format: "%.3f", boundary.meets)): " + Self.mix(rejectionsMeeting ?? [:]))
        lines.append("  rejections at \(String(format: "%.3f", boundary.fails)): " + Self.mix(rejectionsFailing ?? [:]))
        lines.append("  peak use: " + Resource.allCases.map { resource in
            String(format: "%@ %.1f%%", resource.rawValue, (peakUseFailing?[resource.metricName] ?? 0) * 100)
        }.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }

    /// `cores 97%, fragmented 3%` (most first), or `none`.
    static func mix(_ counts: [String: Int]) -> String {
        let total = counts.values.reduce(0, +)
        guard total > 0 else { return "none" }
        return counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }
            .map { String(format: "%@ %.0f%%", $0.key, Double($0.value) * 100 / Double(total)) }.joined(separator: ", ")
    }
}
