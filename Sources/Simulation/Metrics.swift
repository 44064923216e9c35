import Allocation
import CloudModel

/// A resource whose use the summary reports (SEMANTICS 9).
public enum Resource: String, CaseIterable, Sendable {
    case physicalCores = "physical cores"
    case memory = "memory (GiB)"
    case vfs = "VFs"
    case pkeyEntries = "pkey entries"
    case lids = "LIDs"

    /// Memory is integrated in MiB (exact) and reported in GiB: the amount per reported unit.
    var unit: Int { self == .memory ? 1024 : 1 }

    func amount(in usage: Usage) -> Int {
        switch self {
        case .physicalCores: usage.physicalCores
        case .memory: Int(usage.memoryMiB)
        case .vfs: usage.vfs
        case .pkeyEntries: usage.pkeyEntries
        case .lids: usage.lids
        }
    }
}

/// Time-weighted and peak use of one resource.
public struct Utilization: Equatable, Sendable {
    public var capacity: Int
    /// Mean amount in use over the window (0 when the window is empty).
    public var timeAverage: Double
    public var peak: Int
    /// Mean amount in use over the steady-state window (nil when that window is empty).
    public var steadyAverage: Double?

    public var averageFraction: Double { capacity == 0 ? 0 : timeAverage / Double(capacity) }
    public var peakFraction: Double { capacity == 0 ? 0 : Double(peak) / Double(capacity) }
    public var steadyFraction: Double? { steadyAverage.map { capacity == 0 ? 0 : $0 / Double(capacity) } }
}

/// Which part of a run its steady-state averages cover. A cloud starts empty
/// (warm-up) and empties after the last arrival (drain); averages over the
/// whole run mix both in. The steady window runs from the first arrival plus
/// `warmup` of the arrivals' span (first to last arrival) to the last arrival.
public struct SteadyStateRule: Equatable, Sendable {
    /// Share of the arrivals' span dropped at the start, 0 to below 1.
    public var warmup: Double

    /// A tenth of the arrivals' span as warm-up; the drain after the last arrival excluded.
    public static let standard = SteadyStateRule(warmup: 0.1)

    public init(warmup: Double) {
        precondition(warmup >= 0 && warmup < 1, "warm-up share must be in [0, 1)")
        self.warmup = warmup
    }

    /// The window for arrivals spanning `first...last`; empty when they span no time.
    public func window(firstArrival first: Nanoseconds, lastArrival last: Nanoseconds) -> Range<Nanoseconds> {
        let start = first + Nanoseconds((Double(last - first) * warmup).rounded())
        return start..<max(start, last)
    }
}

/// Integrates resource use between events over [first event, last event].
struct UtilizationMeter {
    private var start: Nanoseconds?
    private var last: Nanoseconds = 0
    /// Amount x nanoseconds, exact.
    private var areas = [Int128](repeating: 0, count: Resource.allCases.count)
    private var peaks = [Int](repeating: 0, count: Resource.allCases.count)
    private(set) var peakClusters = 0
    private(set) var peakTenants = 0
    /// Clusters running and tenants with one running, integrated over the steady window.
    private var steadyClusterArea: Int128 = 0, steadyTenantArea: Int128 = 0
    /// The steady-state window and the areas within it.
    let steady: Range<Nanoseconds>
    private var steadyAreas = [Int128](repeating: 0, count: Resource.allCases.count)

    init(steady: Range<Nanoseconds>) { self.steady = steady }

    /// Accounts the time since the previous event at the usage that held during it.
    mutating func advance(to time: Nanoseconds, holding usage: Usage, tenants: Int) {
        guard start != nil else {
            start = time
            last = time
            return
        }
        let span = Int128(time - last)
        if span > 0 {
            let inSteady = Int128(max(0, min(time, steady.upperBound) - max(last, steady.lowerBound)))
            for (i, resource) in Resource.allCases.enumerated() {
                let amount = Int128(resource.amount(in: usage))
                areas[i] += amount * span
                steadyAreas[i] += amount * inSteady
            }
            steadyClusterArea += Int128(usage.clusters) * inSteady
            steadyTenantArea += Int128(tenants) * inSteady
        }
        last = time
    }

    mutating func observe(_ usage: Usage, tenants: Int) {
        for (i, resource) in Resource.allCases.enumerated() { peaks[i] = max(peaks[i], resource.amount(in: usage)) }
        peakClusters = max(peakClusters, usage.clusters)
        peakTenants = max(peakTenants, tenants)
    }

    /// Mean clusters running and tenants served over the steady window; nil when it spans no time.
    var steadyConcurrency: (clusters: Double, tenants: Double)? {
        let length = Double(steady.upperBound - steady.lowerBound)
        guard length > 0 else { return nil }
        return (Double(steadyClusterArea) / length, Double(steadyTenantArea) / length)
    }

    var window: (start: Nanoseconds, end: Nanoseconds) { (start ?? 0, last) }

    func utilization(capacity: Usage) -> [Resource: Utilization] {
        let length = window.end - window.start
        var result: [Resource: Utilization] = [:]
        let steadyLength = steady.upperBound - steady.lowerBound
        for (i, resource) in Resource.allCases.enumerated() {
            let unit = resource.unit
            let average = (length > 0 ? Double(areas[i]) / Double(length) : Double(peaks[i])) / Double(unit)
            result[resource] = Utilization(capacity: resource.amount(in: capacity) / unit, timeAverage: average, peak: peaks[i] / unit,
                                           steadyAverage: steadyLength > 0 ? Double(steadyAreas[i]) / Double(steadyLength) / Double(unit) : nil)
        }
        return result
    }
}
