import CGSL

/// Order statistics of a sample, for reports (sizes, lifetimes, waits).
public struct SampleSummary: Equatable, Sendable {
    public let count: Int
    public let mean: Double
    /// Ascending.
    private let sorted: [Double]

    public init(_ values: [Double]) {
        sorted = values.sorted()
        count = values.count
        mean = values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }

    public var minimum: Double { sorted.first ?? 0 }
    public var maximum: Double { sorted.last ?? 0 }

    /// The p-quantile (0...1) by linear interpolation between order statistics
    /// (Hyndman & Fan type 7, R's default); 0 for an empty sample.
    public func quantile(_ p: Double) -> Double {
        precondition((0...1).contains(p), "a quantile needs 0 <= p <= 1")
        guard !sorted.isEmpty else { return 0 }
        let position = p * Double(sorted.count - 1)
        let below = Int(position)
        let above = min(below + 1, sorted.count - 1)
        return sorted[below] + (position - Double(below)) * (sorted[above] - sorted[below])
    }
}

/// A mean with its two-sided 95% confidence interval (Student t, GSL).
public struct ConfidenceInterval: Equatable, Sendable {
    public let mean: Double
    /// Half the interval's width; 0 with fewer than two values.
    public let halfWidth: Double
    public let count: Int

    public init(_ values: [Double], level: Double = 0.95) {
        count = values.count
        let average = values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
        mean = average
        guard values.count >= 2 else {
            halfWidth = 0
            return
        }
        let variance = values.reduce(0) { $0 + ($1 - average) * ($1 - average) } / Double(values.count - 1)
        halfWidth = gsl_cdf_tdist_Pinv(0.5 + level / 2, Double(values.count - 1)) * (variance / Double(values.count)).squareRoot()
    }

    public var lower: Double { mean - halfWidth }
    public var upper: Double { mean + halfWidth }
}
