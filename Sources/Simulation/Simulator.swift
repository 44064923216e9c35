import Allocation
import CloudModel
import SimKernel

/// Drives the allocation engine with a workload's events in the total order of
/// SEMANTICS 1, and measures the run (SEMANTICS 9).
public final class Simulator {
    /// Same-time events run in this order: free before allocating.
    enum EventClass: UInt8 {
        case depart = 0, shrink = 1, extend = 2, arrive = 3
    }

    /// Small and reference-free, so scheduling never allocates per event.
    struct Event {
        var eventClass: EventClass
        /// Index into `workload.requests` (arrive, depart) or `workload.resizes`.
        var index: Int32
    }

    public let engine: AllocationEngine
    public let workload: Workload
    public let policy: any PlacementPolicy
    private var queue = EventQueue<Event>()
    private var meter = UtilizationMeter()
    private var counts = Counts()
    private var spannedHosts = 0

    struct Counts {
        var requests = 0, accepted = 0, departures = 0
        var rejected: [RejectionReason: Int] = [:]
        var resizes = 0, resizesAccepted = 0, resizesIgnored = 0
        var resizesRejected: [RejectionReason: Int] = [:]
        var events = 0
        var hpcAccepted = 0
    }

    public init(cloud: CloudSpec, workload: Workload, policy: any PlacementPolicy) {
        engine = AllocationEngine(cloud: cloud)
        self.workload = workload
        self.policy = policy
        precondition(workload.requests.count < Int32.max && workload.resizes.count < Int32.max, "workload too large")
        for (i, request) in workload.requests.enumerated() {
            queue.schedule(at: request.arrival, eventClass: EventClass.arrive.rawValue, id: request.id,
                           Event(eventClass: .arrive, index: Int32(i)))
        }
        for (i, resize) in workload.resizes.enumerated() {
            let eventClass: EventClass = resize.delta < 0 ? .shrink : .extend
            queue.schedule(at: resize.time, eventClass: eventClass.rawValue, id: resize.id,
                           Event(eventClass: eventClass, index: Int32(i)))
        }
    }

    /// Runs to the last event.
    /// - Parameter record: called with each processed event's decision row, in order;
    ///   pass nil to skip building rows.
    public func run(record: ((DecisionRow) -> Void)? = nil) -> Summary {
        while let (key, event) = queue.pop() {
            meter.advance(to: key.time, holding: engine.usage)
            let row = process(event, at: key.time, id: key.id, wantRow: record != nil)
            if let row { record?(row) }
            meter.observe(engine.usage)
            counts.events += 1
        }
        return summary()
    }

    private func process(_ event: Event, at time: Nanoseconds, id: Int64, wantRow: Bool) -> DecisionRow? {
        switch event.eventClass {
        case .arrive:
            let request = workload.requests[Int(event.index)]
            counts.requests += 1
            let decision = engine.admit(request, policy: policy)
            if case .accepted = decision {
                counts.accepted += 1
                if request.shape.kind == .hpc {
                    counts.hpcAccepted += 1
                    spannedHosts += engine.cluster(request.id)!.initialSpan
                }
                queue.schedule(at: time + request.duration, eventClass: EventClass.depart.rawValue, id: id, event.with(.depart))
            } else if case .rejected(let reason) = decision {
                counts.rejected[reason, default: 0] += 1
            }
            return wantRow ? row(time, id, .arrive, decision) : nil
        case .shrink, .extend:
            let delta = workload.resizes[Int(event.index)].delta
            counts.resizes += 1
            let decision = delta < 0 ? engine.shrink(cluster: id, by: -delta)
                                     : engine.extend(cluster: id, by: delta, policy: policy)
            switch decision {
            case .accepted: counts.resizesAccepted += 1
            case .rejected(let reason): counts.resizesRejected[reason, default: 0] += 1
            case .ignored: counts.resizesIgnored += 1
            }
            guard wantRow else { return nil }
            var resized = row(time, id, .resize, decision)
            if delta < 0 { resized.hosts = [] }  // the row lists VMs placed; a shrink places none
            return resized
        case .depart:
            let departed = engine.release(cluster: id)
            precondition(departed != nil, "departure of cluster \(id), which is not running")
            counts.departures += 1
            guard wantRow else { return nil }
            return DecisionRow(time: time, id: id, event: .depart, outcome: .done, reason: nil, hosts: [], pkey: departed?.pkey)
        }
    }

    private func row(_ time: Nanoseconds, _ id: Int64, _ event: DecisionRow.Event, _ decision: Decision) -> DecisionRow {
        switch decision {
        case .accepted(let pkey, let vms):
            DecisionRow(time: time, id: id, event: event, outcome: .accepted, reason: nil, hosts: vms.map(\.host), pkey: pkey)
        case .rejected(let reason):
            DecisionRow(time: time, id: id, event: event, outcome: .rejected, reason: reason, hosts: [], pkey: nil)
        case .ignored:
            DecisionRow(time: time, id: id, event: event, outcome: .ignored, reason: nil, hosts: [], pkey: nil)
        }
    }

    private func summary() -> Summary {
        let window = meter.window
        return Summary(
            hosts: engine.hostCount,
            requests: counts.requests,
            accepted: counts.accepted,
            rejected: counts.rejected,
            resizes: counts.resizes,
            resizesAccepted: counts.resizesAccepted,
            resizesRejected: counts.resizesRejected,
            resizesIgnored: counts.resizesIgnored,
            departures: counts.departures,
            events: counts.events,
            windowStart: window.start,
            windowEnd: window.end,
            utilization: meter.utilization(capacity: engine.capacity),
            peakConcurrentClusters: meter.peakClusters,
            meanHostsSpanned: counts.hpcAccepted == 0 ? 0 : Double(spannedHosts) / Double(counts.hpcAccepted),
            buildTimeLIDs: engine.cloud.buildTimeLIDs.total)
    }
}

extension Simulator.Event {
    func with(_ eventClass: Simulator.EventClass) -> Simulator.Event {
        Simulator.Event(eventClass: eventClass, index: index)
    }
}
