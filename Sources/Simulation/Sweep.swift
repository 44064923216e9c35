import Allocation
import CloudModel
import Dispatch
import Foundation
import SimKernel
import Synchronization

/// The runs of a sweep: the cross product of the varied keys (the first key
/// varies slowest), each point run `replications` times. Replication r uses
/// seed `base + r` at every point, so policies and other variants at one point
/// see the same random numbers (common random numbers).
public struct SweepPlan: Sendable {
    public struct Variation: Sendable {
        public var key: String
        public var values: [String]

        public init(key: String, values: [String]) {
            self.key = key
            self.values = values
        }
    }

    public struct Point: Sendable {
        public var index: Int
        public var settings: [ScenarioOverride.Setting]
        public var scenario: Scenario
        public var label: String { settings.map(\.description).joined(separator: " ") }
    }

    public let file: String
    public let variations: [Variation]
    public let replications: Int
    public let horizon: Nanoseconds?
    public let points: [Point]
    /// Replications replay segments of a trace (`Workload.segment`): a trace, unlike
    /// a synthetic workload, would replay identically under every seed.
    public let segments: Bool

    /// Loads and validates every point's scenario (a bad value fails before anything runs).
    public init(yaml: String, file: String, loader: ScenarioLoader, variations: [Variation], replications: Int,
                horizon: Nanoseconds? = nil) throws {
        precondition(replications >= 1)
        self.file = file
        self.variations = variations
        self.replications = replications
        self.horizon = horizon
        var combinations: [[ScenarioOverride.Setting]] = [[]]
        for variation in variations {
            combinations = combinations.flatMap { prefix in variation.values.map { prefix + [ScenarioOverride.Setting(key: variation.key, value: $0)] } }
        }
        points = try combinations.enumerated().map { index, settings in
            let text = try ScenarioOverride.apply(settings, to: yaml, file: file)
            return Point(index: index, settings: settings, scenario: try loader.load(yaml: text, file: file))
        }
        segments = replications > 1 && points.allSatisfy { point in
            if case .synthetic = point.scenario.workload { false } else { point.scenario.workload != nil }
        }
    }

    /// The plan in one line (every varied value, replications, horizon): what makes two sweeps the same.
    public var description: String {
        "--vary " + variations.map { "\($0.key)=\($0.values.joined(separator: ","))" }.joined(separator: " --vary ")
            + " --replications \(replications)" + (horizon.map { " --horizon \(Double($0) / 3.6e12)" } ?? "")
    }

    /// Runs in order: point-major, then replication.
    public var runCount: Int { points.count * replications }

    public func position(ofRun index: Int) -> (point: Int, replication: Int) { (index / replications, index % replications) }

    /// The inverse of `position(ofRun:)`.
    public func runIndex(point: Int, replication: Int) -> Int { point * replications + replication }

    /// The runs shard `shard` of `shards` takes: every run index congruent to it.
    public func runs(shard: Int = 0, of shards: Int = 1) -> [Int] {
        Array(stride(from: shard, to: runCount, by: shards))
    }

    public func seed(point: Int, replication: Int) -> UInt64 { points[point].scenario.seed &+ UInt64(replication) }
}

/// One finished run of a sweep.
public struct SweepRunResult: Sendable {
    public var runIndex: Int
    public var point: Int
    public var replication: Int
    public var seed: UInt64
    public var scenario: Scenario
    public var policy: String
    public var summary: Summary
    public var title: String
}

public enum SweepRunner {
    /// Runs `indices` of `plan` on `jobs` threads; results come back in index order.
    /// - Parameters:
    ///   - commit: called with each finished run, in index order, as soon as every
    ///     run before it has finished (one at a time): a results database stores
    ///     each run as it finishes, in the same order whatever the threads did, so an
    ///     interrupted sweep keeps all but the runs still going. A throw stops the sweep.
    public static func run(_ plan: SweepPlan, indices: [Int], jobs: Int,
                           finished: (@Sendable (Int, Int) -> Void)? = nil,
                           commit: ((SweepRunResult) throws -> Void)? = nil) throws -> [SweepRunResult] {
        struct Progress {
            var results: [Int: Result<SweepRunResult, any Error>] = [:]
            /// Slots (positions in `indices`) committed so far.
            var committed = 0
            var failure: (any Error)?
        }
        let progress = Mutex(Progress())
        let next = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        // `commit` runs under the lock, one call at a time; the closure itself is the caller's.
        nonisolated(unsafe) let commit = commit
        DispatchQueue.concurrentPerform(iterations: max(1, min(jobs, indices.count))) { _ in
            while !stop.load(ordering: .relaxed) {
                let slot = next.add(1, ordering: .relaxed).oldValue
                guard slot < indices.count else { return }
                let index = indices[slot]
                let (point, replication) = plan.position(ofRun: index)
                let outcome = Result { () throws -> SweepRunResult in
                    let seed = plan.seed(point: point, replication: replication)
                    let simulation = try Run(scenario: plan.points[point].scenario, seed: seed, horizon: plan.horizon,
                                             segment: plan.segments ? (replication, plan.replications) : nil)
                    return SweepRunResult(runIndex: index, point: point, replication: replication, seed: seed,
                                          scenario: simulation.scenario, policy: simulation.policyName,
                                          summary: try simulation.simulate(), title: simulation.title)
                }
                let done = progress.withLock { p -> Int in
                    p.results[index] = outcome
                    while p.failure == nil, p.committed < indices.count, let ready = p.results[indices[p.committed]] {
                        do {
                            if let commit { try commit(try ready.get()) }
                            p.committed += 1
                        } catch {
                            p.failure = error
                            stop.store(true, ordering: .relaxed)
                        }
                    }
                    return p.results.count
                }
                finished?(done, indices.count)
            }
        }
        return try progress.withLock { p in
            if let failure = p.failure { throw failure }
            return try indices.map { try p.results[$0]!.get() }
        }
    }
}
