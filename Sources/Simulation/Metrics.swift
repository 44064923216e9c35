import Allocation
import CloudModel

/// A resource whose use the summary reports (SEMANTICS 9).
public enum Resource: String, CaseIterable, Sendable {
    case physicalCores = "physical cores"
    case vfs = "VFs"
    case pkeyEntries = "pkey entries"
    case lids = "LIDs"

    func amount(in usage: Usage) -> Int {
        switch self {
        case .physicalCores: usage.physicalCores
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

    public var averageFraction: Double { capacity == 0 ? 0 : timeAverage / Double(capacity) }
    public var peakFraction: Double { capacity == 0 ? 0 : Double(peak) / Double(capacity) }
}

/// Integrates resource use between events over [first event, last event].
struct UtilizationMeter {
    private var start: Nanoseconds?
    private var last: Nanoseconds = 0
    /// Amount x nanoseconds, exact.
    private var areas = [Int128](repeating: 0, count: Resource.allCases.count)
    private var peaks = [Int](repeating: 0, count: Resource.allCases.count)
    private(set) var peakClusters = 0

    /// Accounts the time since the previous event at the usage that held during it.
    mutating func advance(to time: Nanoseconds, holding usage: Usage) {
        guard start != nil else {
            start = time
            last = time
            return
        }
        let span = Int128(time - last)
        if span > 0 {
            for (i, resource) in Resource.allCases.enumerated() { areas[i] += Int128(resource.amount(in: usage)) * span }
        }
        last = time
    }

    mutating func observe(_ usage: Usage) {
        for (i, resource) in Resource.allCases.enumerated() { peaks[i] = max(peaks[i], resource.amount(in: usage)) }
        peakClusters = max(peakClusters, usage.clusters)
    }

    var window: (start: Nanoseconds, end: Nanoseconds) { (start ?? 0, last) }

    func utilization(capacity: Usage) -> [Resource: Utilization] {
        let length = window.end - window.start
        var result: [Resource: Utilization] = [:]
        for (i, resource) in Resource.allCases.enumerated() {
            let average = length > 0 ? Double(areas[i]) / Double(length) : Double(peaks[i])
            result[resource] = Utilization(capacity: resource.amount(in: capacity), timeAverage: average, peak: peaks[i])
        }
        return result
    }
}
