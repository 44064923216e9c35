import Allocation
import CloudModel
import Dispatch
import SimKernel
import Synchronization

/// `hpccloud capacity`: the most load (arrival rate) or the fewest hosts that
/// still meet a target such as `rejection<=0.01`, found by bracketing and
/// bisection, each step judged on the mean of replications with common seeds;
/// and which limit binds first just past it.
public struct CapacitySearch {
    public enum Dimension: Sendable {
        /// Scale every arrival rate of a synthetic workload.
        case rate
        /// Scale every host group's count.
        case hosts
    }

    public struct Target: Sendable, CustomStringConvertible {
        public enum Metric: String, CaseIterable, Sendable { case rejection, acceptance, wait }
        public var metric: Metric
        public var atMost: Bool
        public var threshold: Double

        /// `rejection<=0.01`, `acceptance>=0.99`, `wait<=2` (hours).
        public init?(parsing text: String) {
            let op = text.contains("<=") ? "<=" : text.contains(">=") ? ">=" : nil
            guard let op, let range = text.range(of: op) else { return nil }
            guard let metric = Metric(rawValue: text[..<range.lowerBound].trimmingCharacters(in: .whitespaces)),
                  let threshold = Double(text[range.upperBound...].trimmingCharacters(in: .whitespaces)) else { return nil }
            // A share is 0 to 1; a wait is 0 to a million hours: anything else no run can meet or miss.
            guard threshold.isFinite, threshold >= 0, threshold <= (metric == .wait ? 1e6 : 1) else { return nil }
            self.metric = metric
            atMost = op == "<="
            self.threshold = threshold
        }

        public func value(_ summary: Summary) -> Double {
            switch metric {
            case .rejection: summary.requests == 0 ? 0 : Double(summary.rejectedTotal) / Double(summary.requests)
            case .acceptance: summary.acceptanceRatio
            case .wait: summary.queue?.waitHours.mean ?? 0
            }
        }

        public func met(by value: Double) -> Bool { atMost ? value <= threshold : value >= threshold }
        public var description: String { "\(metric.rawValue)\(atMost ? "<=" : ">=")\(threshold)" }
    }

    /// One evaluated setting.
    public struct Step: Sendable {
        public var setting: Double
        public var interval: ConfidenceInterval
        public var meets: Bool
        public var summaries: [Summary]
    }

    public let scenario: Scenario
    public let target: Target
    public let dimension: Dimension
    public let replications: Int
    public let horizon: Nanoseconds?
    public private(set) var steps: [Step] = []

    /// Replications of one step run in parallel, one per core.
    public init(scenario: Scenario, target: Target, dimension: Dimension, replications: Int, horizon: Nanoseconds? = nil) throws {
        if dimension == .rate {
            guard case .synthetic = scenario.workload else {
                throw InputError(file: scenario.file, field: "workload",
                                 message: "--vary-rate needs a synthetic workload (for an SWF log, vary its timeScale with sweep)")
            }
        }
        self.scenario = scenario
        self.target = target
        self.dimension = dimension
        self.replications = replications
        self.horizon = horizon
    }

    /// The scenario's own setting: its mean arrival rate per hour, or its host count.
    public var baseline: Double {
        switch dimension {
        case .rate:
            guard case .synthetic(let spec) = scenario.workload else { return 0 }
            return spec.arrivals.meanPerHour
        case .hosts: return Double(scenario.cloud.hostCount)
        }
    }

    /// The settings a search may try: the host counts and arrival rates the scenario loader accepts.
    public var range: ClosedRange<Double> {
        dimension == .hosts ? 1...Double(CloudLimits.maximumHosts) : WorkloadBounds.ratePerHour
    }

    /// The scenario at `setting` (a rate per hour, or a host count).
    func scenario(at setting: Double) -> Scenario {
        var copy = scenario
        switch dimension {
        case .rate:
            guard case .synthetic(var spec) = copy.workload else { return copy }
            spec.arrivals = spec.arrivals.scaled(by: setting / baseline)
            copy.workload = .synthetic(spec)
        case .hosts:
            let factor = setting / baseline
            for i in copy.cloud.groups.indices where copy.cloud.groups[i].count > 0 {
                copy.cloud.groups[i].count = max(1, Int((Double(copy.cloud.groups[i].count) * factor).rounded()))
            }
        }
        return copy
    }

    /// Runs the replications at `setting` (in parallel) and records the step.
    mutating func evaluate(_ setting: Double) throws -> Bool {
        let variant = scenario(at: setting)
        let summaries = Mutex<[Int: Result<Summary, any Error>]>([:])
        let (base, horizon, count) = (scenario.seed, horizon, replications)
        DispatchQueue.concurrentPerform(iterations: replications) { r in
            let outcome = Result { try Run(scenario: variant, seed: base &+ UInt64(r), horizon: horizon).simulate() }
            summaries.withLock { $0[r] = outcome }
        }
        let results = try summaries.withLock { all in try (0..<count).map { try all[$0]!.get() } }
        let interval = ConfidenceInterval(results.map(target.value))
        let meets = target.met(by: interval.mean)
        steps.append(Step(setting: setting, interval: interval, meets: meets, summaries: results))
        return meets
    }

    /// Brackets the boundary by doubling or halving from the baseline, then
    /// bisects until the bracket is within `tolerance` of its upper end.
    /// - Returns: (the best setting that meets the target, the nearest that does not).
    public mutating func search(tolerance: Double = 0.02) throws -> (meets: Double, fails: Double)? {
        // More rate makes things worse; more hosts makes them better.
        let worseUp = dimension == .rate
        var good: Double?, bad: Double?
        var setting = min(max(baseline, range.lowerBound), range.upperBound)
        for _ in 0..<64 {
            if try evaluate(setting) { good = setting } else { bad = setting }
            if let good, let bad { return try bisect(good: good, bad: bad, tolerance: tolerance) }
            let goBigger = (good != nil) == worseUp
            var next = goBigger ? setting * 2 : setting / 2
            if dimension == .hosts { next = next.rounded() }
            next = min(max(next, range.lowerBound), range.upperBound)
            // At the edge of what a scenario may have (one host, the loader's most, the clock's rates): no boundary inside.
            if next == setting { return nil }
            setting = next
        }
        return nil
    }

    private mutating func bisect(good: Double, bad: Double, tolerance: Double) throws -> (meets: Double, fails: Double) {
        var (good, bad) = (good, bad)
        while abs(bad - good) > tolerance * max(good, bad) {
            var middle = (good + bad) / 2
            if dimension == .hosts {
                middle = middle.rounded(.down)
                if middle == min(good, bad) || abs(bad - good) <= 1 { break }
            }
            if try evaluate(middle) { good = middle } else { bad = middle }
        }
        return (good, bad)
    }

    /// The limit that binds first at a failing step: the rejection reason with
    /// the most rejections over its replications, named as a resource.
    public static func bindingLimit(_ step: Step) -> (limit: String, reasons: [(RejectionReason, Int)]) {
        var totals: [RejectionReason: Int] = [:]
        for summary in step.summaries {
            for (reason, count) in summary.rejected { totals[reason, default: 0] += count }
        }
        let ranked = totals.sorted { ($0.value, $1.key.rawValue) > ($1.value, $0.key.rawValue) }
        guard let top = ranked.first?.key else { return ("none (no rejections)", []) }
        return (Self.limitName(top), ranked.map { ($0.key, $0.value) })
    }

    public static func limitName(_ reason: RejectionReason) -> String {
        switch reason {
        case .vf: "VFs"
        case .pkeyTable: "pkey tables"
        case .pkeySpace: "pkey space"
        case .lid: "LIDs"
        case .cores: "cores"
        case .memory: "memory"
        case .fragmented: "fragmentation (every resource is free somewhere, never all on one host)"
        case .infeasible: "host size (a VM fits no empty host)"
        case .maxWait: "queue wait"
        }
    }
}

extension ArrivalProcess {
    /// The same process with every rate multiplied by `factor`.
    public func scaled(by factor: Double) -> ArrivalProcess {
        switch self {
        case .poisson(let rate): .poisson(perHour: rate * factor)
        case .diurnal(let rate, let amplitude, let peak, let period): .diurnal(perHour: rate * factor, amplitude: amplitude, peakHour: peak, periodHours: period)
        case .mmpp(let states): .mmpp(states: states.map { MMPPState(perHour: $0.perHour * factor, meanHours: $0.meanHours) })
        }
    }
}
