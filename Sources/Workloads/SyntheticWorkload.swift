import CloudModel
import SimKernel

/// Generates the requests of a `synthetic` workload block.
///
/// Each quantity draws from its own named stream (`arrivals`, `arrival-states`,
/// `sizes`, `vcores`, `durations`, `kinds`, `pinning`, `tenants`, `resizes`,
/// `resize-deltas`), so the arrival sequence for a seed is the same whatever
/// the policy, and adding a quantity later does not shift the others.
public enum SyntheticWorkload {
    /// - Throws: `ArrivalsBeyondTheClock` when the arrivals run past what integer nanoseconds hold.
    public static func generate(_ spec: SyntheticWorkloadSpec, streams: RandomStreams) throws(ArrivalsBeyondTheClock) -> Workload {
        var arrivals = ArrivalSampler(spec.arrivals, gaps: streams.stream("arrivals"), states: streams.stream("arrival-states"))
        let sizes = CountSampler(spec.vms, stream: streams.stream("sizes"))
        let vcoreDraws = CountSampler(spec.vcores, stream: streams.stream("vcores"))
        let durations = streams.stream("durations"), works = streams.stream("work")
        let kinds = streams.stream("kinds"), pinning = streams.stream("pinning")
        let tenants = spec.tenants.map { count in (count, streams.stream("tenants")) }
        let resizes = spec.resize.map { resize in
            (resize, streams.stream("resizes"), CountSampler(resize.delta, stream: streams.stream("resize-deltas")))
        }

        var workload = Workload()
        workload.requests.reserveCapacity(spec.requests)
        for i in 0..<spec.requests {
            let seconds = arrivals.next()
            // Arrivals accumulate: a slow rate times many requests can pass Int64 nanoseconds (292 years).
            guard seconds.isFinite, seconds < Self.latestArrivalSeconds else { throw ArrivalsBeyondTheClock(request: i + 1, seconds: seconds) }
            let arrival = nanoseconds(seconds)
            let vms = sizes.next()
            let vcores = vcoreDraws.next()
            let memoryMiB = Int64((Double(vcores) * spec.memoryGiBPerVcore * 1024).rounded())
            let kind: VMKind = kinds.uniform() < spec.commonShare ? .common : .hpc
            let pin: Pinning = pinning.uniform() < spec.pinnedShare ? .fixed : .dynamic
            // Work-based clusters get their run time when placed; duration 0 until then.
            let duration = spec.lifetime.map { nanoseconds($0.sampleLifetime(durations)) } ?? 0
            let work = spec.work.map { $0.sample(works) }
            let tenant = tenants.map { count, stream in "t\(1 + stream.uniformInt(below: count))" } ?? "synthetic"
            let id = Int64(i + 1)
            workload.requests.append(ClusterRequest(
                id: id, arrival: arrival, tenant: tenant, vms: vms,
                shape: VMShape(vcores: vcores, memoryMiB: memoryMiB, kind: kind, pinning: pin),
                duration: duration, work: work))
            if let (resize, stream, deltas) = resizes, stream.uniform() < resize.probability {
                let grow = stream.uniform() < resize.growShare
                let fraction = resize.lifeFraction.lowerBound
                    + stream.uniform() * (resize.lifeFraction.upperBound - resize.lifeFraction.lowerBound)
                let delta = deltas.next()
                workload.resizes.append(ResizeRequest(id: id, time: arrival + Nanoseconds((Double(duration) * fraction).rounded()),
                                                      delta: grow ? delta : -delta))
            }
        }
        return workload
    }

    /// 250 years: arrivals after it could not carry a lifetime on the clock.
    static let latestArrivalSeconds = 250 * 365.25 * 86_400.0

    /// Seconds drawn as a Double to integer nanoseconds, rounded to nearest.
    static func nanoseconds(_ seconds: Double) -> Nanoseconds {
        Nanoseconds((seconds * Double(Units.nanosecondsPerSecond)).rounded())
    }
}

/// A synthetic workload whose arrivals run past the model's clock.
public struct ArrivalsBeyondTheClock: Error, CustomStringConvertible {
    public var request: Int
    public var seconds: Double
    public var description: String {
        "request \(request) would arrive after \(Int(seconds / 3.15576e7)) years, past the simulated clock's 250: raise perHour or lower requests"
    }
}
