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
    }

    /// Runs in order: point-major, then replication.
    public var runCount: Int { points.count * replications }

    public func position(ofRun index: Int) -> (point: Int, replication: Int) { (index / replications, index % replications) }

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
    public static func run(_ plan: SweepPlan, indices: [Int], jobs: Int,
                           finished: (@Sendable (Int, Int) -> Void)? = nil) throws -> [SweepRunResult] {
        let results = Mutex<[Int: Result<SweepRunResult, any Error>]>([:])
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: max(1, min(jobs, indices.count))) { _ in
            while true {
                let slot = next.add(1, ordering: .relaxed).oldValue
                guard slot < indices.count else { return }
                let index = indices[slot]
                let (point, replication) = plan.position(ofRun: index)
                let outcome = Result { () throws -> SweepRunResult in
                    let seed = plan.seed(point: point, replication: replication)
                    let simulation = try Run(scenario: plan.points[point].scenario, seed: seed, horizon: plan.horizon)
                    return SweepRunResult(runIndex: index, point: point, replication: replication, seed: seed,
                                          scenario: simulation.scenario, policy: simulation.policyName,
                                          summary: simulation.simulate(), title: simulation.title)
                }
                let done = results.withLock { results -> Int in
                    results[index] = outcome
                    return results.count
                }
                finished?(done, indices.count)
            }
        }
        return try results.withLock { results in try indices.map { try results[$0]!.get() } }
    }
}
