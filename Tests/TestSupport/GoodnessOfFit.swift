import CGSL
import Foundation

/// Goodness-of-fit tests for the generator tests: each returns a p-value, so a
/// test states the significance it checks at (and can fail), not a loose range.
public enum GoodnessOfFit {
    /// One-sample Kolmogorov–Smirnov: the largest gap D between the empirical
    /// CDF of `samples` and `cdf`, and its asymptotic p-value
    /// Q(√n D) with Q(λ) = 2 Σ (-1)^(k-1) exp(-2 k² λ²) (Kolmogorov, 1933),
    /// using Stephens' small-sample correction √n + 0.12 + 0.11/√n.
    public static func kolmogorovSmirnov(_ samples: [Double], cdf: (Double) -> Double) -> (d: Double, p: Double) {
        let sorted = samples.sorted()
        let n = Double(sorted.count)
        var d = 0.0
        for (i, x) in sorted.enumerated() {
            let f = cdf(x)
            d = max(d, f - Double(i) / n, Double(i + 1) / n - f)
        }
        let lambda = (n.squareRoot() + 0.12 + 0.11 / n.squareRoot()) * d
        var q = 0.0
        for k in 1...100 {
            let term = 2 * exp(-2 * Double(k * k) * lambda * lambda)
            q += k % 2 == 1 ? term : -term
            if term < 1e-12 { break }
        }
        return (d, min(max(q, 0), 1))
    }

    /// Pearson's chi-square of observed counts against expected probabilities;
    /// the p-value is GSL's upper tail `gsl_cdf_chisq_Q` with k-1 degrees of freedom.
    /// - Precondition: every expected count is at least 5 (the usual validity rule).
    public static func chiSquare(observed: [Int], probabilities: [Double]) -> (statistic: Double, p: Double) {
        precondition(observed.count == probabilities.count && observed.count >= 2)
        let n = Double(observed.reduce(0, +))
        var statistic = 0.0
        for (count, probability) in zip(observed, probabilities) {
            let expected = n * probability
            precondition(expected >= 5, "expected count \(expected) < 5: merge cells")
            statistic += (Double(count) - expected) * (Double(count) - expected) / expected
        }
        return (statistic, gsl_cdf_chisq_Q(statistic, Double(observed.count - 1)))
    }

    /// |sample mean − μ| in standard errors σ/√n.
    public static func meanZ(_ samples: [Double], mean: Double, standardDeviation: Double) -> Double {
        let sampleMean = samples.reduce(0, +) / Double(samples.count)
        return abs(sampleMean - mean) / (standardDeviation / Double(samples.count).squareRoot())
    }

    /// Two-sided critical z at 0.1% significance: |z| above it fails.
    public static let z999 = 3.29
}
