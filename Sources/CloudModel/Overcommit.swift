/// The vCPU overcommit ratio r = numerator/denominator >= 1, held exactly so that
/// the cores rule `pinned + ceil(dynamic / r) <= cores` never rounds (SEMANTICS 4).
public struct Overcommit: Hashable, Sendable, CustomStringConvertible {
    public let numerator: Int
    public let denominator: Int

    public static let none = Overcommit(reduced: 1, 1)
    /// The largest ratio a scenario may give (1,000,000 cores x 64 fits the engine's 32-bit index).
    public static let maximum: Int64 = 64

    /// - Precondition: numerator >= denominator > 0.
    public init(_ numerator: Int, _ denominator: Int) {
        precondition(denominator > 0 && numerator >= denominator, "overcommit must be >= 1")
        let g = Overcommit.gcd(numerator, denominator)
        self.init(reduced: numerator / g, denominator / g)
    }

    private init(reduced numerator: Int, _ denominator: Int) {
        self.numerator = numerator
        self.denominator = denominator
    }

    /// Parses `2`, `1.5` or `3/2`; nil if malformed or below 1.
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        let n: Int64, d: Int64
        if parts.count == 2 {
            guard let a = Units.parseDecimal(parts[0], scale: 1), !parts[0].contains("."),
                  let b = Units.parseDecimal(parts[1], scale: 1), !parts[1].contains("."), b > 0 else { return nil }
            (n, d) = (a, b)
        } else if parts.count == 1 {
            // Up to 6 decimals, exact: 1.5 -> 1500000/1000000 -> 3/2. More would be rounded: refused.
            let scale: Int64 = 1_000_000
            if let point = parts[0].firstIndex(of: "."), parts[0][parts[0].index(after: point)...].count > 6 { return nil }
            guard let fixed = Units.parseDecimal(parts[0], scale: scale) else { return nil }
            (n, d) = (fixed, scale)
        } else {
            return nil
        }
        // At most 64: beyond it a host's vCPU slack no longer fits the engine's 32-bit capacity index.
        guard n >= d, n <= Self.maximum * d else { return nil }
        self.init(Int(n), Int(d))
    }

    /// Physical cores that `dynamicVcores` need: ceil(dynamic / r).
    @inlinable public func physicalCores(forDynamic dynamicVcores: Int) -> Int {
        (dynamicVcores * denominator + numerator - 1) / numerator
    }

    /// Dynamic vCPUs that `physicalCores` can hold: floor(cores * r).
    @inlinable public func dynamicCapacity(ofPhysical physicalCores: Int) -> Int {
        physicalCores * numerator / denominator
    }

    public var description: String { denominator == 1 ? "\(numerator)" : "\(numerator)/\(denominator)" }

    private static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
}
