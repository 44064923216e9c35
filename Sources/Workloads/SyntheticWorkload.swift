import CloudModel
import SimKernel

/// Generates the requests of a `synthetic` workload block.
///
/// Each quantity draws from its own named stream (`arrivals`, `sizes`,
/// `vcores`, `durations`, `kinds`, `pinning`), so the arrival sequence for a
/// seed is the same whatever the policy, and adding a quantity later does not
/// shift the others.
public enum SyntheticWorkload {
    public static func generate(_ spec: SyntheticWorkloadSpec, streams: RandomStreams) -> Workload {
        let arrivals = streams.stream("arrivals"), sizes = streams.stream("sizes")
        let vcoreDraws = streams.stream("vcores"), durations = streams.stream("durations")
        let kinds = streams.stream("kinds"), pinning = streams.stream("pinning")
        let sizeTable = cumulative(spec.vms), vcoreTable = cumulative(spec.vcores)
        let meanGapSeconds = 3600.0 / spec.arrivalsPerHour
        let meanDurationSeconds = spec.meanDurationHours * 3600

        var requests: [ClusterRequest] = []
        requests.reserveCapacity(spec.requests)
        var now: Nanoseconds = 0
        for i in 0..<spec.requests {
            now += nanoseconds(arrivals.exponential(mean: meanGapSeconds))
            let vms = spec.vms[sizes.discreteIndex(cumulativeWeights: sizeTable)].value
            let vcores = spec.vcores[vcoreDraws.discreteIndex(cumulativeWeights: vcoreTable)].value
            let memoryMiB = Int64((Double(vcores) * spec.memoryGiBPerVcore * 1024).rounded())
            let kind: VMKind = kinds.uniform() < spec.commonShare ? .common : .hpc
            let pin: Pinning = pinning.uniform() < spec.pinnedShare ? .fixed : .dynamic
            requests.append(ClusterRequest(
                id: Int64(i + 1), arrival: now, tenant: "synthetic", vms: vms,
                shape: VMShape(vcores: vcores, memoryMiB: memoryMiB, kind: kind, pinning: pin),
                duration: nanoseconds(durations.exponential(mean: meanDurationSeconds))))
        }
        return Workload(requests: requests)
    }

    static func cumulative(_ table: [SyntheticWorkloadSpec.DiscreteOutcome]) -> [Double] {
        var sum = 0.0
        return table.map { sum += $0.weight; return sum }
    }

    /// Seconds drawn as a Double to integer nanoseconds, rounded to nearest.
    static func nanoseconds(_ seconds: Double) -> Nanoseconds {
        Nanoseconds((seconds * Double(Units.nanosecondsPerSecond)).rounded())
    }
}

/// Loads a scenario's workload, whatever its source.
public enum WorkloadLoader {
    public static func load(_ spec: WorkloadSpec, seed: UInt64) throws -> Workload {
        switch spec {
        case .trace(let path): try TraceCSV.read(path: path)
        case .synthetic(let synthetic): SyntheticWorkload.generate(synthetic, streams: RandomStreams(seed: seed))
        }
    }
}
