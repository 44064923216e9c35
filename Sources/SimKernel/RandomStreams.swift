import CGSL

/// One named, seeded stream of random numbers (GSL's mt19937).
///
/// Each consumer of randomness (arrivals, sizes, placement, ...) draws from its
/// own stream, derived from the run seed and the stream's name, so changing how
/// one consumer draws never shifts another's numbers. This is what lets two
/// policies see identical arrivals from one seed (common random numbers).
public final class RandomStream {
    public let name: String
    public let seed: UInt64
    @usableFromInline let rng: UnsafeMutablePointer<gsl_rng>

    /// - Parameters:
    ///   - seed: the run seed.
    ///   - name: the stream's name; the GSL seed is a hash of (seed, name).
    public init(seed: UInt64, name: String) {
        hpccloud_gsl_disable_abort()
        guard let rng = gsl_rng_alloc(hpccloud_gsl_rng_mt19937()) else {
            preconditionFailure("gsl_rng_alloc failed: out of memory")
        }
        self.rng = rng
        self.name = name
        self.seed = seed
        gsl_rng_set(rng, UInt(RandomStream.derivedSeed(seed: seed, name: name)))
    }

    deinit { gsl_rng_free(rng) }

    /// The 32-bit GSL seed of a stream: FNV-1a of the name, mixed with the run
    /// seed by splitmix64. Stable across platforms and Swift versions (unlike `Hasher`).
    public static func derivedSeed(seed: UInt64, name: String) -> UInt32 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        var z = seed &+ hash &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        z ^= z >> 31
        // mt19937 treats seed 0 as its default seed 4357; avoid aliasing two streams.
        let folded = UInt32(truncatingIfNeeded: z ^ (z >> 32))
        return folded == 0 ? 1 : folded
    }

    /// Uniform on [0, 1).
    @inlinable public func uniform() -> Double { gsl_rng_uniform(rng) }

    /// Uniform on (0, 1): never returns 0, for inverse-CDF sampling with logarithms.
    @inlinable public func uniformPositive() -> Double { gsl_rng_uniform_pos(rng) }

    /// Uniform integer in 0..<n.
    /// - Precondition: 0 < n <= 2^32 (mt19937's range).
    @inlinable public func uniformInt(below n: Int) -> Int {
        precondition(n > 0 && n <= Int(UInt32.max) + 1, "uniformInt(below:) needs 0 < n <= 2^32")
        return Int(gsl_rng_uniform_int(rng, UInt(n)))
    }

    /// Exponential with the given mean (GSL's `gsl_ran_exponential`).
    @inlinable public func exponential(mean: Double) -> Double { gsl_ran_exponential(rng, mean) }

    /// Log-normal: ln(x) is normal with mean `zeta` and standard deviation `sigma` (`gsl_ran_lognormal`).
    @inlinable public func lognormal(zeta: Double, sigma: Double) -> Double { gsl_ran_lognormal(rng, zeta, sigma) }

    /// Weibull with P(X > x) = exp(-(x / scale)^shape) (`gsl_ran_weibull`).
    @inlinable public func weibull(scale: Double, shape: Double) -> Double { gsl_ran_weibull(rng, scale, shape) }

    /// Geometric on 1, 2, ...: P(k) = p (1 - p)^(k - 1) (`gsl_ran_geometric`).
    @inlinable public func geometric(p: Double) -> Int { Int(gsl_ran_geometric(rng, p)) }

    /// Index drawn from a discrete distribution with the given weights (GSL's
    /// Walker alias tables are faster for many draws; a cumulative scan keeps
    /// the draw-to-index mapping obvious and costs one uniform per draw).
    public func discreteIndex(cumulativeWeights: [Double]) -> Int {
        precondition(!cumulativeWeights.isEmpty, "empty distribution")
        let u = uniform() * cumulativeWeights[cumulativeWeights.count - 1]
        var low = 0, high = cumulativeWeights.count - 1
        while low < high {
            let mid = (low + high) / 2
            if cumulativeWeights[mid] > u { high = mid } else { low = mid + 1 }
        }
        return low
    }
}

/// The named streams of one run, created on first use.
public final class RandomStreams {
    public let seed: UInt64
    private var streams: [String: RandomStream] = [:]

    public init(seed: UInt64) { self.seed = seed }

    /// The stream called `name`; the same name always returns the same stream.
    public func stream(_ name: String) -> RandomStream {
        if let existing = streams[name] { return existing }
        let created = RandomStream(seed: seed, name: name)
        streams[name] = created
        return created
    }
}
