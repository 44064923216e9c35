import CGSL
import CloudModel
import Foundation
import SimKernel
import Testing
import TestSupport
import Workloads

/// Each generator's samples against its distribution, at a fixed seed: the
/// mean within 3.29 standard errors (0.1% two-sided) and a goodness-of-fit
/// test with GSL's CDFs at 1%. Each family also shows the test has power: a
/// plausible wrong distribution is rejected.
///
/// At 1%, one seed in a hundred fails a correct generator: seed 9's
/// `durations` stream does (KS p = 9e-5 on its uniforms; over seeds 0-299,
/// 4 of 300 p-values fall below 1%, as they should). The suite uses seed 1.
@Suite struct SyntheticWorkloadTests {
    static let n = 20_000

    static func spec(arrivals: ArrivalProcess = .poisson(perHour: 30),
                     vms: CountDistribution = .table([.init(value: 1, weight: 0.5), .init(value: 4, weight: 0.5)]),
                     lifetime: LifetimeDistribution = .exponential(mean: 7200),
                     tenants: Int? = nil, resize: ResizeSpec? = nil, requests: Int = n) -> SyntheticWorkloadSpec {
        SyntheticWorkloadSpec(requests: requests, arrivals: arrivals, vms: vms, vcores: .table([.init(value: 2, weight: 1)]),
                              memoryGiBPerVcore: 4, lifetime: lifetime, commonShare: 0.25, pinnedShare: 0.5,
                              tenants: tenants, resize: resize)
    }

    func generate(_ spec: SyntheticWorkloadSpec, seed: UInt64 = 1) -> Workload {
        try! SyntheticWorkload.generate(spec, streams: RandomStreams(seed: seed))
    }

    func seconds(_ ns: Int64) -> Double { Double(ns) / 1e9 }

    // MARK: Lifetimes

    @Test func exponentialLifetimes() {
        let x = generate(Self.spec()).requests.map { seconds($0.duration) }
        #expect(GoodnessOfFit.meanZ(x, mean: 7200, standardDeviation: 7200) < GoodnessOfFit.z999)
        #expect(GoodnessOfFit.kolmogorovSmirnov(x) { gsl_cdf_exponential_P($0, 7200) }.p > 0.01)
        // Power: a lognormal of the same mean is told apart.
        #expect(GoodnessOfFit.kolmogorovSmirnov(x) { gsl_cdf_lognormal_P($0, log(7200) - 0.5, 1) }.p < 1e-6)
    }

    @Test func lognormalLifetimes() {
        let median = 4 * 3600.0, sigma = 0.97
        let x = generate(Self.spec(lifetime: .lognormal(median: median, sigma: sigma))).requests.map { seconds($0.duration) }
        #expect(GoodnessOfFit.meanZ(x.map { log($0) }, mean: log(median), standardDeviation: sigma) < GoodnessOfFit.z999)
        #expect(GoodnessOfFit.kolmogorovSmirnov(x) { gsl_cdf_lognormal_P($0, log(median), sigma) }.p > 0.01)
        #expect(GoodnessOfFit.kolmogorovSmirnov(x) { gsl_cdf_lognormal_P($0, log(median), sigma * 1.1) }.p < 1e-6)
    }

    @Test func weibullLifetimes() {
        let shape = 0.7, scale = 3 * 3600.0
        let x = generate(Self.spec(lifetime: .weibull(shape: shape, scale: scale))).requests.map { seconds($0.duration) }
        let mean = scale * tgamma(1 + 1 / shape)
        let sd = scale * (tgamma(1 + 2 / shape) - tgamma(1 + 1 / shape) * tgamma(1 + 1 / shape)).squareRoot()
        #expect(abs(LifetimeDistribution.weibull(shape: shape, scale: scale).mean - mean) < 1e-6)
        #expect(GoodnessOfFit.meanZ(x, mean: mean, standardDeviation: sd) < GoodnessOfFit.z999)
        #expect(GoodnessOfFit.kolmogorovSmirnov(x) { gsl_cdf_weibull_P($0, scale, shape) }.p > 0.01)
        #expect(GoodnessOfFit.kolmogorovSmirnov(x) { gsl_cdf_exponential_P($0, mean) }.p < 1e-6)
    }

    // MARK: Arrivals

    @Test func poissonArrivalsHaveExponentialGaps() {
        let times = generate(Self.spec()).requests.map { seconds($0.arrival) }
        let gaps = zip([0] + times, times).map { $1 - $0 }
        #expect(GoodnessOfFit.meanZ(gaps, mean: 120, standardDeviation: 120) < GoodnessOfFit.z999)
        #expect(GoodnessOfFit.kolmogorovSmirnov(gaps) { gsl_cdf_exponential_P($0, 120) }.p > 0.01)
    }

    /// Time rescaling (Brown et al., 2002): with Λ the integrated rate, the
    /// gaps Λ(t_i) − Λ(t_{i−1}) of a non-homogeneous Poisson process are Exp(1).
    @Test func diurnalArrivalsFollowTheirRate() {
        let process = ArrivalProcess.diurnal(perHour: 30, amplitude: 0.8, peakHour: 14, periodHours: 24)
        let times = generate(Self.spec(arrivals: process)).requests.map { seconds($0.arrival) }
        let rescaled = times.map { process.expectedArrivals(by: $0)! }
        let gaps = zip([0] + rescaled, rescaled).map { $1 - $0 }
        #expect(GoodnessOfFit.meanZ(gaps, mean: 1, standardDeviation: 1) < GoodnessOfFit.z999)
        #expect(GoodnessOfFit.kolmogorovSmirnov(gaps) { gsl_cdf_exponential_P($0, 1) }.p > 0.01)
        // Power: rescaled as if the rate were constant, the same times fail.
        let flat = times.map { ArrivalProcess.poisson(perHour: 30).expectedArrivals(by: $0)! }
        #expect(GoodnessOfFit.kolmogorovSmirnov(zip([0] + flat, flat).map { $1 - $0 }) { gsl_cdf_exponential_P($0, 1) }.p < 1e-6)
        // The busiest hour of the day holds more arrivals than the quietest.
        var byHour = [Int](repeating: 0, count: 24)
        for t in times { byHour[Int(t / 3600) % 24] += 1 }
        #expect(byHour[14] > 3 * byHour[2])
    }

    /// The MMPP's long-run rate by batch means (50 equal time batches, Student t
    /// at 0.1%: t(49) = 3.50), and its burstiness: hourly counts overdispersed.
    @Test func mmppArrivalsHaveTheirLongRunRateAndBursts() {
        let process = ArrivalProcess.mmpp(states: [MMPPState(perHour: 2, meanHours: 6), MMPPState(perHour: 40, meanHours: 0.5)])
        #expect(abs(process.meanPerHour - 32.0 / 6.5) < 1e-12)
        let times = generate(Self.spec(arrivals: process, requests: 40_000)).requests.map { seconds($0.arrival) / 3600 }
        let span = times.last!
        let batches = 50
        var counts = [Double](repeating: 0, count: batches)
        for t in times where t < span { counts[Int(t / span * Double(batches))] += 1 }
        let rates = counts.map { $0 / (span / Double(batches)) }
        let mean = rates.reduce(0, +) / Double(batches)
        let sd = (rates.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(batches - 1)).squareRoot()
        #expect(abs(mean - process.meanPerHour) / (sd / Double(batches).squareRoot()) < 3.50)
        var hourly = [Double](repeating: 0, count: Int(span) + 1)
        for t in times { hourly[Int(t)] += 1 }
        let hourlyMean = hourly.reduce(0, +) / Double(hourly.count)
        let variance = hourly.map { ($0 - hourlyMean) * ($0 - hourlyMean) }.reduce(0, +) / Double(hourly.count - 1)
        #expect(variance / hourlyMean > 2, "a Poisson process has dispersion 1")
    }

    // MARK: Counts

    /// Cells in value order; the tail merged until each expects at least 5.
    func chiSquare(_ values: [Int], _ distribution: CountDistribution) -> Double {
        var cells: [(values: ClosedRange<Int>, probability: Double)] = []
        for (value, probability) in distribution.probabilities {
            if let last = cells.last, last.probability * Double(values.count) < 5 {
                cells[cells.count - 1] = (last.values.lowerBound...value, last.probability + probability)
            } else {
                cells.append((value...value, probability))
            }
        }
        if cells.count > 1, cells.last!.probability * Double(values.count) < 5 {
            let last = cells.removeLast()
            cells[cells.count - 1] = (cells[cells.count - 1].values.lowerBound...last.values.upperBound,
                                      cells[cells.count - 1].probability + last.probability)
        }
        let observed = cells.map { cell in values.count { cell.values.contains($0) } }
        #expect(observed.reduce(0, +) == values.count, "a value outside the distribution's support")
        return GoodnessOfFit.chiSquare(observed: observed, probabilities: cells.map(\.probability)).p
    }

    @Test(arguments: [
        CountDistribution.table([.init(value: 1, weight: 0.4), .init(value: 2, weight: 0.4), .init(value: 8, weight: 0.2)]),
        .uniform(min: 3, max: 9),
        .geometric(mean: 4, max: 32),
        .powersOfTwo(min: 1, max: 64),
    ])
    func clusterSizes(_ distribution: CountDistribution) {
        let sizes = generate(Self.spec(vms: distribution)).requests.map(\.vms)
        let variance = distribution.probabilities.reduce(0) { $0 + $1.probability * pow(Double($1.value) - distribution.mean, 2) }
        #expect(GoodnessOfFit.meanZ(sizes.map(Double.init), mean: distribution.mean, standardDeviation: variance.squareRoot())
                < GoodnessOfFit.z999)
        #expect(chiSquare(sizes, distribution) > 0.01)
    }

    @Test func geometricSizesAreNotUniform() {
        let sizes = generate(Self.spec(vms: .geometric(mean: 4, max: 8))).requests.map(\.vms)
        #expect(chiSquare(sizes, .uniform(min: 1, max: 8)) < 1e-6)
    }

    @Test func sharesAndTenants() {
        let requests = generate(Self.spec(tenants: 10)).requests
        func z(_ count: Int, _ p: Double) -> Double {
            abs(Double(count) - Double(Self.n) * p) / (Double(Self.n) * p * (1 - p)).squareRoot()
        }
        #expect(z(requests.count { $0.shape.kind == .common }, 0.25) < GoodnessOfFit.z999)
        #expect(z(requests.count { $0.shape.pinning == .fixed }, 0.5) < GoodnessOfFit.z999)
        let tenants = (1...10).map { k in requests.count { $0.tenant == "t\(k)" } }
        #expect(tenants.reduce(0, +) == Self.n)
        #expect(GoodnessOfFit.chiSquare(observed: tenants, probabilities: Array(repeating: 0.1, count: 10)).p > 0.01)
        #expect(requests.allSatisfy { $0.shape.memoryMiB == 8192 && $0.shape.vcores == 2 })
    }

    @Test func resizes() {
        let resize = ResizeSpec(probability: 0.2, growShare: 0.6,
                                delta: .table([.init(value: 1, weight: 0.7), .init(value: 3, weight: 0.3)]),
                                lifeFraction: 0.1...0.9)
        let workload = generate(Self.spec(resize: resize))
        let byID = Dictionary(uniqueKeysWithValues: workload.requests.map { ($0.id, $0) })
        let count = workload.resizes.count
        #expect(abs(Double(count) - 0.2 * Double(Self.n)) / (Double(Self.n) * 0.2 * 0.8).squareRoot() < GoodnessOfFit.z999)
        let grows = workload.resizes.count { $0.delta > 0 }
        #expect(abs(Double(grows) - 0.6 * Double(count)) / (Double(count) * 0.6 * 0.4).squareRoot() < GoodnessOfFit.z999)
        #expect(chiSquare(workload.resizes.map { abs($0.delta) }, resize.delta) > 0.01)
        let fractions = workload.resizes.map { r in
            let request = byID[r.id]!
            return Double(r.time - request.arrival) / Double(request.duration)
        }
        #expect(GoodnessOfFit.kolmogorovSmirnov(fractions) { min(max(($0 - 0.1) / 0.8, 0), 1) }.p > 0.01)
        #expect(Set(workload.resizes.map(\.id)).count == count, "at most one resize per request")
    }

    // MARK: Streams

    @Test func sameSeedSameRequestsAndDifferentSeedDifferentRequests() {
        let spec = Self.spec(requests: 2_000)
        let a = generate(spec)
        #expect(a.requests == generate(spec).requests)
        #expect(a.requests != generate(spec, seed: 2).requests)
    }

    /// Named streams: adding resizes or tenants draws from their own streams
    /// and leaves arrivals, sizes and lifetimes exactly as they were.
    @Test func addingAQuantityDoesNotShiftTheOthers() {
        let plain = generate(Self.spec(requests: 2_000)).requests
        let richer = generate(Self.spec(tenants: 7, resize: ResizeSpec(probability: 0.5, growShare: 0.5,
                                                                         delta: .uniform(min: 1, max: 2), lifeFraction: 0.2...0.8),
                                        requests: 2_000)).requests
        #expect(plain.map(\.arrival) == richer.map(\.arrival))
        #expect(plain.map(\.vms) == richer.map(\.vms))
        #expect(plain.map(\.duration) == richer.map(\.duration))
    }
}
