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
