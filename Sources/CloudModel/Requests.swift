/// Whether a VM reaches the InfiniBand fabric (SEMANTICS 3).
public enum VMKind: String, CaseIterable, Sendable {
    /// Needs a VF and the cluster's pkey.
    case hpc
    /// No VF, no pkey.
    case common
}

/// Fixed vCPUs own physical cores; dynamic ones share the rest at the overcommit ratio.
public enum Pinning: String, CaseIterable, Sendable {
    case fixed
    case dynamic
}

/// The shape shared by every VM of one request.
public struct VMShape: Hashable, Sendable {
    public var vcores: Int
    public var memoryMiB: Int64
    public var kind: VMKind
    public var pinning: Pinning

    public init(vcores: Int, memoryMiB: Int64, kind: VMKind, pinning: Pinning) {
        self.vcores = vcores
        self.memoryMiB = memoryMiB
        self.kind = kind
        self.pinning = pinning
    }
}

/// A tenant's request for a virtual cluster of `vms` identical VMs.
public struct ClusterRequest: Hashable, Sendable {
    public var id: Int64
    public var arrival: Nanoseconds
    public var tenant: String
    public var vms: Int
    public var shape: VMShape
    public var duration: Nanoseconds
    /// HPL-like work in GFlop, or nil: with work, the run time follows from the
    /// cores the cluster gets and the overhead model, and `duration` is only a hint.
    public var work: Double?
    /// The run time the tenant announced (an SWF job's requested time); a
    /// backfilling queue plans with it. Equals `duration` unless a trace says otherwise.
    public var estimate: Nanoseconds

    public init(id: Int64, arrival: Nanoseconds, tenant: String, vms: Int, shape: VMShape, duration: Nanoseconds,
                estimate: Nanoseconds? = nil, work: Double? = nil) {
        self.id = id
        self.arrival = arrival
        self.tenant = tenant
        self.vms = vms
        self.shape = shape
        self.duration = duration
        self.estimate = estimate ?? duration
        self.work = work
    }
}

/// Grow (`delta > 0`) or shrink (`delta < 0`) a running cluster at `time`.
public struct ResizeRequest: Hashable, Sendable {
    public var id: Int64
    public var time: Nanoseconds
    public var delta: Int

    public init(id: Int64, time: Nanoseconds, delta: Int) {
        self.id = id
        self.time = time
        self.delta = delta
    }
}

/// Everything a run replays, in input order (the order breaks exact ties, SEMANTICS 1).
public struct Workload: Sendable {
    public var requests: [ClusterRequest]
    public var resizes: [ResizeRequest]

    public init(requests: [ClusterRequest] = [], resizes: [ResizeRequest] = []) {
        self.requests = requests
        self.resizes = resizes
    }

    /// The requests arriving at or before `horizon`, and the resizes of those
    /// requests up to it (a short run of a long workload; the clusters it
    /// admitted still run to their ends).
    /// Segment `index` of `count` equal spans of the arrival times: the requests
    /// arriving in it, with their resizes. Replications of a trace: the trace
    /// would replay identically, so replication r replays its r-th segment.
    public func segment(_ index: Int, of count: Int) -> Workload {
        guard count > 1, let first = requests.map(\.arrival).min(), let last = requests.map(\.arrival).max() else { return self }
        let span = Int128(last - first) + 1
        let lower = first + Nanoseconds(span * Int128(index) / Int128(count))
        let upper = first + Nanoseconds(span * Int128(index + 1) / Int128(count))
        let kept = requests.filter { $0.arrival >= lower && $0.arrival < upper }
        let ids = Set(kept.map(\.id))
        return Workload(requests: kept, resizes: resizes.filter { ids.contains($0.id) })
    }

    public func prefix(through horizon: Nanoseconds) -> Workload {
        let kept = requests.filter { $0.arrival <= horizon }
        let ids = Set(kept.map(\.id))
        return Workload(requests: kept, resizes: resizes.filter { $0.time <= horizon && ids.contains($0.id) })
    }
}
