import CloudModel
import SimKernel

/// One job's (cluster's) times and the usual per-job scheduling metrics, as
/// Feitelson defines them ("Metrics for Parallel Job Scheduling and their
/// Convergence", JSSPP 2001) and Batsim's `jobs.csv` reports them: wait =
/// start - submission; turnaround (response) = end - submission; slowdown =
/// turnaround / run time; bounded slowdown = max(1, turnaround / max(run time, 10 s)),
/// the bound keeping very short jobs from dominating a mean.
public struct JobTimes: Equatable, Sendable {
    /// The bound of the bounded slowdown: 10 s, the customary value.
    public static let boundedSlowdownThreshold: Nanoseconds = 10_000_000_000

    public var arrival: Nanoseconds
    public var start: Nanoseconds?
    public var end: Nanoseconds?

    public init(arrival: Nanoseconds, start: Nanoseconds?, end: Nanoseconds?) {
        self.arrival = arrival
        self.start = start
        self.end = end
    }

    public var wait: Nanoseconds? { start.map { $0 - arrival } }
    public var runTime: Nanoseconds? { start.flatMap { start in end.map { $0 - start } } }
    public var turnaround: Nanoseconds? { end.map { $0 - arrival } }

    /// Nil for a job that did not finish or ran for no time.
    public var slowdown: Double? {
        guard let runTime, runTime > 0, let turnaround else { return nil }
        return Double(turnaround) / Double(runTime)
    }

    public var boundedSlowdown: Double? {
        guard let runTime, let turnaround else { return nil }
        return max(1, Double(turnaround) / Double(max(runTime, Self.boundedSlowdownThreshold)))
    }
}

/// The per-job metrics of the clusters that finished in a run.
public struct JobSummary: Equatable, Sendable {
    /// Seconds.
    public var wait: SampleSummary
    /// Seconds.
    public var turnaround: SampleSummary
    public var boundedSlowdown: SampleSummary

    /// Accumulates finished jobs (no per-job allocation beyond three doubles).
    struct Accumulator {
        var wait: [Double] = [], turnaround: [Double] = [], boundedSlowdown: [Double] = []

        mutating func add(_ job: JobTimes) {
            guard let w = job.wait, let t = job.turnaround, let b = job.boundedSlowdown else { return }
            wait.append(Double(w) / 1e9)
            turnaround.append(Double(t) / 1e9)
            boundedSlowdown.append(b)
        }

        var summary: JobSummary {
            JobSummary(wait: SampleSummary(wait), turnaround: SampleSummary(turnaround), boundedSlowdown: SampleSummary(boundedSlowdown))
        }
    }
}
