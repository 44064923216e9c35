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
        /// Scale every host group's count, splitting a subnet that no longer fits (`CloudSpec.scaled`).
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

    /// What a step's interval says about the target.
    public enum Verdict: String, Sendable {
        /// The whole 95% interval meets the target (or the one replication's value does).
        case meets
        /// The whole interval misses it.
        case fails
        /// The interval still contains the threshold after the most replications allowed.
        case undecided
    }

    /// One evaluated setting.
    public struct Step: Sendable {
        public var setting: Double
        public var interval: ConfidenceInterval
        public var verdict: Verdict
        public var summaries: [Summary]
        public var meets: Bool { verdict == .meets }
    }

    /// The answer: the bracket's decided ends, and the settings between them
    /// where even the most replications could not tell (the boundary is in the noise there).
    public struct Boundary: Sendable {
        public var meets: Double
        public var fails: Double
        public var undecided: ClosedRange<Double>?
    }

    public let scenario: Scenario
    public let target: Target
    public let dimension: Dimension
    /// Replications a step starts with, and the most it may grow to while its interval contains the threshold.
    public let replications: Int
    public let maxReplications: Int
    public let horizon: Nanoseconds?
    /// How `.hosts` lays out the hosts in subnets (`CloudSpec.scaled`).
    public let subnetFit: SubnetFit
    public let hostsPerSubnet: Int?
    public private(set) var steps: [Step] = []

    /// Replications of one step run in parallel, one per core.
    public init(scenario: Scenario, target: Target, dimension: Dimension, replications: Int, maxReplications: Int? = nil,
                horizon: Nanoseconds? = nil, subnetFit: SubnetFit = .buildTime, hostsPerSubnet: Int? = nil) throws {
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
        self.maxReplications = max(replications, maxReplications ?? replications)
        self.horizon = horizon
        self.subnetFit = subnetFit
        self.hostsPerSubnet = hostsPerSubnet
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
    func scenario(at setting: Double) throws -> Scenario {
        var copy = scenario
        switch dimension {
        case .rate:
            guard case .synthetic(var spec) = copy.workload else { return copy }
            spec.arrivals = spec.arrivals.scaled(by: setting / baseline)
            copy.workload = .synthetic(spec)
        case .hosts:
            do {
                copy.cloud = try copy.cloud.scaled(by: setting / baseline, fit: subnetFit, maxHostsPerSubnet: hostsPerSubnet)
            } catch {
                throw InputError(file: scenario.file, field: "hosts", message: "at \(Int(setting)) hosts: \(error)")
            }
        }
        return copy
    }

    /// The verdict of an interval: decided only when all of it lies on one side of the threshold.
    /// One replication has no interval: its value decides.
    public func verdict(_ interval: ConfidenceInterval) -> Verdict {
        let (low, high) = (target.met(by: interval.lower), target.met(by: interval.upper))
        if low && high { return .meets }
        if !low && !high { return .fails }
        return .undecided
    }

    /// Runs replications at `setting` (in parallel), doubling them while the interval
    /// contains the threshold, up to `maxReplications`, and records the step. Seeds are
    /// the scenario's seed + r at every step: common random numbers across the search.
    mutating func evaluate(_ setting: Double) throws -> Verdict {
        let variant = try scenario(at: setting)
        var results: [Summary] = []
        var wanted = replications
        while true {
            results += try Self.replicate(variant, seeds: scenario.seed, results.count..<wanted, horizon: horizon)
            let interval = ConfidenceInterval(results.map(target.value))
            let verdict = verdict(interval)
            if verdict != .undecided || wanted >= maxReplications {
                steps.append(Step(setting: setting, interval: interval, verdict: verdict, summaries: results))
                return verdict
            }
            wanted = min(maxReplications, wanted * 2)
        }
    }

    private static func replicate(_ variant: Scenario, seeds base: UInt64, _ replications: Range<Int>, horizon: Nanoseconds?) throws -> [Summary] {
        let outcomes = Mutex<[Int: Result<Summary, any Error>]>([:])
        DispatchQueue.concurrentPerform(iterations: replications.count) { i in
            let r = replications.lowerBound + i
            let outcome = Result { try Run(scenario: variant, seed: base &+ UInt64(r), horizon: horizon).simulate() }
            outcomes.withLock { $0[r] = outcome }
        }
        return try outcomes.withLock { all in try replications.map { try all[$0]!.get() } }
    }

    /// Whether `a` is on the worse side of `b` (more load, or fewer hosts).
    private func worse(_ a: Double, than b: Double) -> Bool { dimension == .rate ? a > b : a < b }

    /// Brackets the boundary by doubling or halving from the baseline, then
    /// bisects until the bracket is within `tolerance` of its upper end.
    /// - Returns: nil when every setting up to the edge of the range got the same verdict.
    public mutating func search(tolerance: Double = 0.02) throws -> Boundary? {
        var good: Double?, bad: Double?
        var undecided: [Double] = []
        var setting = min(max(baseline, range.lowerBound), range.upperBound)
        for _ in 0..<64 {
            switch try evaluate(setting) {
            // The meeting setting nearest the boundary is the worst one; the failing one, the best.
            case .meets: good = good.map { worse(setting, than: $0) ? setting : $0 } ?? setting
            case .fails: bad = bad.map { worse($0, than: setting) ? setting : $0 } ?? setting
            case .undecided: undecided.append(setting)
            }
            if let good, let bad { return try bisect(good: good, bad: bad, undecided: undecided, tolerance: tolerance) }
            // Until a failing setting is known, walk toward more load (or fewer hosts) from the worst tried; then back.
            let towardWorse = bad == nil
            let tried = steps.map(\.setting)
            let from = tried.reduce(tried[0]) { worse($1, than: $0) == towardWorse ? $1 : $0 }
            let bigger = towardWorse == (dimension == .rate)
            var next = bigger ? from * 2 : from / 2
            if dimension == .hosts { next = next.rounded() }
            next = min(max(next, range.lowerBound), range.upperBound)
            // At the edge of what a scenario may have (one host, the loader's most, the clock's rates): no boundary inside.
            if tried.contains(next) { return nil }
            setting = next
        }
        return nil
    }

    /// Halves the bracket; once an undecided setting lies inside, narrows the
    /// decided ends toward the undecided ones instead (the noise band stays).
    private mutating func bisect(good: Double, bad: Double, undecided: [Double], tolerance: Double) throws -> Boundary {
        var (good, bad, undecided) = (good, bad, undecided)
        func inside() -> [Double] { undecided.filter { min(good, bad) < $0 && $0 < max(good, bad) } }
        func midpoint(_ a: Double, _ b: Double) -> Double? {
            guard abs(b - a) > tolerance * max(a, b) else { return nil }
            guard dimension == .hosts else { return (a + b) / 2 }
            let middle = ((a + b) / 2).rounded(.down)
            return middle > min(a, b) && middle < max(a, b) ? middle : nil
        }
        while true {
            let band = inside()
            let middle: Double?
            if band.isEmpty {
                middle = midpoint(good, bad)
            } else {
                let nearGood = band.min { abs($0 - good) < abs($1 - good) }!, nearBad = band.min { abs($0 - bad) < abs($1 - bad) }!
                middle = midpoint(good, nearGood) ?? midpoint(nearBad, bad)
            }
            guard let middle else { break }
            switch try evaluate(middle) {
            case .meets: good = middle
            case .fails: bad = middle
            case .undecided: undecided.append(middle)
            }
        }
        let band = inside()
        return Boundary(meets: good, fails: bad, undecided: band.isEmpty ? nil : band.min()!...band.max()!)
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
