import CloudModel
import Foundation
import SimKernel

/// Draws from a `CountDistribution` with one stream.
struct CountSampler {
    let distribution: CountDistribution
    let stream: RandomStream
    private let values: [Int]
    private let cumulative: [Double]

    init(_ distribution: CountDistribution, stream: RandomStream) {
        self.distribution = distribution
        self.stream = stream
        switch distribution {
        case .geometric:
            values = []
            cumulative = []
        case .table(let rows):
            // The table's own order: the draw-to-value mapping follows the file.
            values = rows.map(\.value)
            var sum = 0.0
            cumulative = rows.map { sum += $0.weight; return sum }
        case .uniform, .powersOfTwo:
            let outcomes = distribution.probabilities
            values = outcomes.map(\.value)
            var sum = 0.0
            cumulative = outcomes.map { sum += $0.probability; return sum }
        }
    }

    func next() -> Int {
        if case .geometric(let mean, let max) = distribution {
            // Truncation by rejection keeps the shape of GSL's geometric below `max`.
            while true {
                let k = stream.geometric(p: 1 / mean)
                if k <= max { return k }
            }
        }
        return values[stream.discreteIndex(cumulativeWeights: cumulative)]
    }
}

/// Draws of lifetimes (seconds) and work (GFlop).
extension LifetimeDistribution {
    func sample(_ stream: RandomStream) -> Double {
        switch self {
        case .exponential(let mean): stream.exponential(mean: mean)
        case .lognormal(let median, let sigma): stream.lognormal(zeta: log(median), sigma: sigma)
        case .weibull(let shape, let scale): stream.weibull(scale: scale, shape: shape)
        }
    }

    /// A lifetime in seconds, capped at `LifetimeCap.seconds`.
    func sampleLifetime(_ stream: RandomStream) -> Double { min(sample(stream), LifetimeCap.seconds) }

    /// The untruncated mean in seconds.
    public var mean: Double {
        switch self {
        case .exponential(let mean): mean
        case .lognormal(let median, let sigma): median * exp(sigma * sigma / 2)
        case .weibull(let shape, let scale): scale * tgamma(1 + 1 / shape)
        }
    }
}

/// Successive arrival times of an `ArrivalProcess`, in seconds from 0.
struct ArrivalSampler {
    let process: ArrivalProcess
    /// Gaps, and the thinning draws of the diurnal process.
    let gaps: RandomStream
    /// MMPP state sojourns and jumps.
    let states: RandomStream
    private(set) var now = 0.0
    private var state = 0
    private var stateEnds = 0.0

    init(_ process: ArrivalProcess, gaps: RandomStream, states: RandomStream) {
        self.process = process
        self.gaps = gaps
        self.states = states
        if case .mmpp(let list) = process {
            // Start in the stationary state mix (time share ∝ mean sojourn), so
            // the process has its long-run rate from t = 0.
            var sum = 0.0
            state = states.discreteIndex(cumulativeWeights: list.map { sum += $0.meanHours; return sum })
            stateEnds = states.exponential(mean: list[state].meanHours * 3600)
        }
    }

    mutating func next() -> Double {
        switch process {
        case .poisson(let perHour):
            now += gaps.exponential(mean: 3600 / perHour)
        case .diurnal(let perHour, let amplitude, let peakHour, let periodHours):
            // Lewis–Shedler thinning: candidates at the peak rate, each kept
            // with probability rate(t) / peak.
            let peak = perHour * (1 + amplitude)
            while true {
                now += gaps.exponential(mean: 3600 / peak)
                let phase = 2 * Double.pi * (now / 3600 - peakHour) / periodHours
                if gaps.uniform() * peak < perHour * (1 + amplitude * cos(phase)) { break }
            }
        case .mmpp(let list):
            while true {
                let rate = list[state].perHour
                // Memoryless: a gap that crosses the state's end is redrawn in the next state.
                if rate > 0 {
                    let candidate = now + gaps.exponential(mean: 3600 / rate)
                    if candidate < stateEnds {
                        now = candidate
                        break
                    }
                }
                now = stateEnds
                let jump = states.uniformInt(below: list.count - 1)
                state = jump >= state ? jump + 1 : jump
                stateEnds = now + states.exponential(mean: list[state].meanHours * 3600)
            }
        }
        return now
    }
}

extension ArrivalProcess {
    /// The expected number of arrivals in [0, t] (seconds): the integrated
    /// rate, for the time-rescaling test. Nil for the MMPP, whose count depends
    /// on its random state path.
    public func expectedArrivals(by seconds: Double) -> Double? {
        switch self {
        case .poisson(let perHour):
            return perHour * seconds / 3600
        case .diurnal(let perHour, let amplitude, let peakHour, let periodHours):
            let hours = seconds / 3600
            let omega = 2 * Double.pi / periodHours
            return perHour * (hours + amplitude / omega * (sin(omega * (hours - peakHour)) + sin(omega * peakHour)))
        case .mmpp:
            return nil
        }
    }
}
