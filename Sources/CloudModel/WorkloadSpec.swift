/// Where a scenario's requests come from (the `workload:` block).
public enum WorkloadSpec: Hashable, Sendable {
    /// A trace CSV (SEMANTICS 7), path resolved against the scenario's directory.
    case trace(path: String)
    case synthetic(SyntheticWorkloadSpec)
    /// A Standard Workload Format log (Parallel Workloads Archive).
    case swf(SWFImportSpec)
}

/// A value with a weight, one row of a discrete table.
public struct DiscreteOutcome: Hashable, Sendable {
    public var value: Int
    public var weight: Double

    public init(value: Int, weight: Double) {
        self.value = value
        self.weight = weight
    }
}

/// A distribution over positive integers: cluster sizes, vcores, resize deltas.
public enum CountDistribution: Hashable, Sendable {
    /// `{ value: weight, ... }`; weights need not sum to 1.
    case table([DiscreteOutcome])
    /// Every integer in `min...max` equally likely.
    case uniform(min: Int, max: Int)
    /// P(k) ∝ p (1-p)^(k-1) for k in 1...max, p = 1/mean (the untruncated mean).
    case geometric(mean: Double, max: Int)
    /// Powers of two in `min...max` (both powers of two), each equally likely:
    /// the shape of parallel job sizes in real logs.
    case powersOfTwo(min: Int, max: Int)

    /// The values with positive probability and their probabilities, ascending.
    public var probabilities: [(value: Int, probability: Double)] {
        switch self {
        case .table(let rows):
            let total = rows.reduce(0) { $0 + $1.weight }
            var merged: [Int: Double] = [:]
            for row in rows where row.weight > 0 { merged[row.value, default: 0] += row.weight / total }
            return merged.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        case .uniform(let low, let high):
            return (low...high).map { ($0, 1 / Double(high - low + 1)) }
        case .geometric(let mean, let max):
            let p = 1 / mean
            let weights = (1...max).map { k in p * pow1p(-p, k - 1) }
            let total = weights.reduce(0, +)
            return weights.enumerated().map { ($0.offset + 1, $0.element / total) }
        case .powersOfTwo(let low, let high):
            let values = Array(sequence(first: low) { $0 * 2 }.prefix { $0 <= high })
            return values.map { ($0, 1 / Double(values.count)) }
        }
    }

    public var mean: Double { probabilities.reduce(0) { $0 + Double($1.value) * $1.probability } }
    public var maximum: Int { probabilities.last?.value ?? 0 }

    /// (1 + x)^n by repeated multiplication: exact enough, and no Foundation.
    private func pow1p(_ x: Double, _ n: Int) -> Double {
        var result = 1.0
        for _ in 0..<n { result *= 1 + x }
        return result
    }
}

/// How requests arrive in time.
public enum ArrivalProcess: Hashable, Sendable {
    /// Exponential gaps at a constant rate.
    case poisson(perHour: Double)
    /// A non-homogeneous Poisson process with the rate
    /// `perHour · (1 + amplitude · cos(2π (t − peakHour) / periodHours))`, t in hours.
    case diurnal(perHour: Double, amplitude: Double, peakHour: Double, periodHours: Double)
    /// A Markov-modulated Poisson process: in state i arrivals come at `perHour`;
    /// the state lasts an exponential time of mean `meanHours`, then the process
    /// jumps to one of the other states, uniformly. Bursty traffic.
    case mmpp(states: [MMPPState])

    /// The long-run mean rate.
    public var meanPerHour: Double {
        switch self {
        case .poisson(let rate): return rate
        case .diurnal(let rate, _, _, _): return rate
        case .mmpp(let states):
            // The jump chain is uniform over the other states, so each state is
            // entered equally often and holds a time share proportional to its mean.
            let total = states.reduce(0) { $0 + $1.meanHours }
            return states.reduce(0) { $0 + $1.perHour * $1.meanHours / total }
        }
    }
}

public struct MMPPState: Hashable, Sendable {
    public var perHour: Double
    public var meanHours: Double

    public init(perHour: Double, meanHours: Double) {
        self.perHour = perHour
        self.meanHours = meanHours
    }
}

/// A positive quantity: how long a cluster lives (seconds), or how much work
/// it carries (GFlop).
public enum LifetimeDistribution: Hashable, Sendable {
    case exponential(mean: Double)
    /// ln(x) is normal with mean ln(median) and standard deviation sigma.
    case lognormal(median: Double, sigma: Double)
    /// GSL's parametrisation: P(X > x) = exp(−(x / scale)^shape).
    case weibull(shape: Double, scale: Double)
}

/// Clusters that change size during their life.
public struct ResizeSpec: Hashable, Sendable {
    /// Chance that a request has one resize.
    public var probability: Double
    /// Chance that the resize grows the cluster (otherwise it shrinks).
    public var growShare: Double
    /// VMs added or removed.
    public var delta: CountDistribution
    /// The resize happens at `arrival + f · duration`, f uniform in this range.
    public var lifeFraction: ClosedRange<Double>

    public init(probability: Double, growShare: Double, delta: CountDistribution, lifeFraction: ClosedRange<Double>) {
        self.probability = probability
        self.growShare = growShare
        self.delta = delta
        self.lifeFraction = lifeFraction
    }
}

/// A synthetic workload: every quantity drawn from its own named random stream.
public struct SyntheticWorkloadSpec: Hashable, Sendable {
    public var requests: Int
    public var arrivals: ArrivalProcess
    /// VMs per cluster.
    public var vms: CountDistribution
    /// vCPUs per VM.
    public var vcores: CountDistribution
    public var memoryGiBPerVcore: Double
    /// Lifetimes in seconds, or nil when the clusters carry `work` instead.
    public var lifetime: LifetimeDistribution?
    /// Work per cluster in GFlop (HPL-like): its runtime then follows from the
    /// cores it gets and the overhead model.
    public var work: LifetimeDistribution?
    /// Fraction of requests that are `common` (no VF, no pkey).
    public var commonShare: Double
    /// Fraction of requests with fixed (pinned) vCPUs.
    public var pinnedShare: Double
    /// Tenants drawn uniformly from `t1...tN`; nil: every request is tenant `synthetic`.
    public var tenants: Int?
    public var resize: ResizeSpec?

    public init(requests: Int, arrivals: ArrivalProcess, vms: CountDistribution, vcores: CountDistribution,
                memoryGiBPerVcore: Double, lifetime: LifetimeDistribution?, commonShare: Double, pinnedShare: Double,
                tenants: Int? = nil, resize: ResizeSpec? = nil, work: LifetimeDistribution? = nil) {
        precondition((lifetime == nil) != (work == nil), "a synthetic workload has a lifetime or work, not both")
        self.requests = requests
        self.arrivals = arrivals
        self.vms = vms
        self.vcores = vcores
        self.memoryGiBPerVcore = memoryGiBPerVcore
        self.lifetime = lifetime
        self.work = work
        self.commonShare = commonShare
        self.pinnedShare = pinnedShare
        self.tenants = tenants
        self.resize = resize
    }
}

/// How an SWF log becomes virtual clusters (documented in the README):
/// processors → `ceil(processors / coresPerVM)` VMs of `coresPerVM` vcores,
/// submit time → arrival, run time (or requested time) → lifetime, user → tenant.
public struct SWFImportSpec: Hashable, Sendable {
    public enum Lifetime: String, CaseIterable, Hashable, Sendable {
        /// Field 4, the run time.
        case runtime
        /// Field 9, the user's requested time (the job's wall-clock limit).
        case requested
        /// Field 4 as the time on bare metal: the job's work is what its cores do
        /// in that time, and its run time follows from where it is placed (the overhead model).
        case work
    }

    public var path: String
    public var coresPerVM: Int
    public var memoryGiBPerCore: Double
    public var lifetime: Lifetime
    /// Inter-arrival scale in parts per billion (exact): 0.5 halves every gap (twice the load).
    public var timeScaleNano: Int64
    /// Job records skipped from the start of the log.
    public var skip: Int
    /// At most this many job records after `skip`; nil for all.
    public var limit: Int?
    public var kind: VMKind
    public var pinning: Pinning

    public init(path: String, coresPerVM: Int = 1, memoryGiBPerCore: Double = 2, lifetime: Lifetime = .runtime,
                timeScaleNano: Int64 = 1_000_000_000, skip: Int = 0, limit: Int? = nil,
                kind: VMKind = .hpc, pinning: Pinning = .fixed) {
        self.path = path
        self.coresPerVM = coresPerVM
        self.memoryGiBPerCore = memoryGiBPerCore
        self.lifetime = lifetime
        self.timeScaleNano = timeScaleNano
        self.skip = skip
        self.limit = limit
        self.kind = kind
        self.pinning = pinning
    }
}

/// What happens to a request that does not fit on arrival (SEMANTICS 5).
public struct AdmissionSpec: Hashable, Sendable {
    public enum Mode: String, CaseIterable, Hashable, Sendable {
        /// An IaaS loss system: reject at once (the default).
        case reject
        /// Wait in arrival order; nobody overtakes the head.
        case fcfs
        /// FCFS plus EASY backfilling: a later request may start early when it
        /// does not delay the head's reservation.
        case easy
    }

    public var mode: Mode
    /// A queued request still waiting after this long is rejected (`max-wait`); nil waits forever.
    public var maxWait: Nanoseconds?
    /// EASY: how many queued requests after the head one pass considers (the
    /// role of Slurm's `bf_max_job_test`); bounds a pass's cost on a long queue.
    public var backfillDepth: Int

    public static let defaultBackfillDepth = 100

    public init(mode: Mode = .reject, maxWait: Nanoseconds? = nil, backfillDepth: Int = AdmissionSpec.defaultBackfillDepth) {
        self.mode = mode
        self.maxWait = maxWait
        self.backfillDepth = backfillDepth
    }

    public static let reject = AdmissionSpec()
}

/// `migration:`: whether and how running VMs move (live migration), an extension
/// of SEMANTICS 5 (absent: never).
public struct MigrationSpec: Hashable, Sendable {
    public enum Policy: String, CaseIterable, Sendable {
        case none, defragment, consolidate
        case defragmentAndConsolidate = "defragment+consolidate"

        /// Whether it runs a periodic pass (and so needs `periodHours`).
        public var consolidates: Bool { self == .consolidate || self == .defragmentAndConsolidate }
    }

    public var policy: Policy
    /// Most migrations to admit one request, or in one consolidation pass.
    public var maxMigrations: Int
    /// Hosts examined per decision.
    public var candidates: Int
    /// Between consolidation passes (read by the consolidating policies only, so a sweep may vary the policy).
    public var period: Nanoseconds?
    /// The VMs' memory dirty rate in pre-copy; nil: `Hardware/migration.yaml`'s.
    public var dirtyMiBPerSecond: Double?
    /// Hosts taken out for maintenance: drained and emptied by migration at `start`, back after `length`.
    public var maintenance: [Maintenance] = []

    public struct Maintenance: Hashable, Sendable {
        public var host: Int
        /// From the run's first arrival.
        public var start: Nanoseconds
        public var length: Nanoseconds

        public init(host: Int, start: Nanoseconds, length: Nanoseconds) {
            self.host = host
            self.start = start
            self.length = length
        }
    }

    public static let none = MigrationSpec(policy: .none)

    public init(policy: Policy, maxMigrations: Int = 4, candidates: Int = 16, period: Nanoseconds? = nil, dirtyMiBPerSecond: Double? = nil,
                maintenance: [Maintenance] = []) {
        self.policy = policy
        self.maxMigrations = maxMigrations
        self.candidates = candidates
        self.period = period
        self.dirtyMiBPerSecond = dirtyMiBPerSecond
        self.maintenance = maintenance
    }
}
