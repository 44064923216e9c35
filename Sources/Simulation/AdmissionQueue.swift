import Allocation
import CloudModel

/// Requests waiting for room: the queueing option of SEMANTICS 5 for batch
/// traces (FCFS, or FCFS with EASY backfilling). The engine still decides
/// every placement; the queue only decides when to ask it.
///
/// A pass never re-asks what cannot have changed: a request that did not fit
/// (or would have delayed the head) stays unable to until room is freed or the
/// head changes, since in between the cloud only fills up. Each such change
/// starts a new epoch; a request examined in the current epoch is skipped.
/// Only the `random` policy can tell (it draws fewer numbers).
final class AdmissionQueue {
    typealias Started = (index: Int32, decision: Decision)

    let mode: AdmissionSpec.Mode
    private let requests: [ClusterRequest]
    /// Request indices in arrival order.
    private(set) var waiting: [Int32] = []
    private(set) var peakLength = 0
    /// Started clusters still running: request index -> start + estimate.
    private var plannedEnds: [Int32: Nanoseconds] = [:]
    /// A pristine cloud, to turn away requests no amount of waiting can place.
    private let emptyCloud: AllocationEngine
    private let capacity: Usage
    /// Queued requests, after the head, that one backfill pass considers.
    let backfillDepth: Int
    private var epoch: Int32 = 1
    /// Per request index: the epoch it was last examined in (0: never).
    private var examinedIn: [Int32]

    init(_ admission: AdmissionSpec, requests: [ClusterRequest], cloud: CloudSpec) {
        precondition(admission.mode != .reject, "a reject-mode run has no queue")
        mode = admission.mode
        backfillDepth = admission.backfillDepth
        self.requests = requests
        emptyCloud = AllocationEngine(cloud: cloud)
        capacity = emptyCloud.capacity
        examinedIn = Array(repeating: 0, count: requests.count)
    }

    /// Why `request` could not run even on the empty cloud, or nil if it could.
    /// First-fit decides: for identical VMs on independent hosts it places all
    /// of them whenever any placement can (see README, "Queueing").
    func neverFits(_ request: ClusterRequest) -> RejectionReason? {
        switch emptyCloud.admit(request, policy: FirstFit()) {
        case .accepted:
            emptyCloud.release(cluster: request.id)
            return nil
        case .rejected(let reason): return reason
        case .ignored: return nil
        }
    }

    func enqueue(_ index: Int32) {
        waiting.append(index)
        peakLength = max(peakLength, waiting.count)
    }

    /// Removes a request that waited too long; false if it already started.
    func expire(_ index: Int32) -> Bool {
        guard let position = waiting.firstIndex(of: index) else { return false }
        waiting.remove(at: position)
        if position == 0 { epoch += 1 }
        return true
    }

    /// A cluster ended.
    func departed(_ index: Int32) {
        plannedEnds[index] = nil
        roomFreed()
    }

    /// Resources came back (a departure, a shrink): everything may fit again.
    func roomFreed() { epoch += 1 }

    /// Starts what may start at `now`, in the order started: the head while it
    /// fits, then (EASY) later requests that do not delay the head's reservation.
    /// - Parameter makeRoom: a migration policy's second try for a head rejected as `fragmented`.
    func dispatch(now: Nanoseconds, engine: AllocationEngine, policy: some PlacementPolicy,
                  makeRoom: ((ClusterRequest) -> Decision?)? = nil) -> [Started] {
        var started: [Started] = []
        while let head = waiting.first, examinedIn[Int(head)] != epoch {
            var decision = engine.admit(requests[Int(head)], policy: policy)
            if case .rejected(.fragmented) = decision, let rescued = makeRoom?(requests[Int(head)]) { decision = rescued }
            guard case .accepted = decision else {
                examinedIn[Int(head)] = epoch
                break
            }
            waiting.removeFirst()
            epoch += 1  // a new head
            start(head, decision, now: now, into: &started)
        }
        if mode == .easy && waiting.count > 1 {
            backfill(now: now, engine: engine, policy: policy, into: &started)
        }
        return started
    }

    private func start(_ index: Int32, _ decision: Decision, now: Nanoseconds, into started: inout [Started]) {
        plannedEnds[index] = now + requests[Int(index)].estimate
        started.append((index, decision))
    }

    /// EASY backfilling, generalised to per-host resources. The head's
    /// reservation is the earliest planned end after which it fits in a
    /// scratch copy of the cloud (running clusters released in planned-end
    /// order). A later request may start now if it fits now and either ends by
    /// the reservation or, placed where it goes now, still leaves the head
    /// room at the reservation.
    private func backfill(now: Nanoseconds, engine: AllocationEngine, policy: some PlacementPolicy,
                          into started: inout [Started]) {
        let head = requests[Int(waiting[0])]
        var reservation: (time: Nanoseconds, shadow: AllocationEngine)?
        var position = 1, considered = 0
        while position < waiting.count && considered < backfillDepth {
            let index = waiting[position]
            let candidate = requests[Int(index)]
            considered += 1
            guard examinedIn[Int(index)] != epoch else {
                position += 1
                continue
            }
            examinedIn[Int(index)] = epoch
            let decision = mightFit(candidate, used: engine.usage) ? engine.admit(candidate, policy: policy) : .ignored
            guard case .accepted(_, let vms) = decision else {
                position += 1
                continue
            }
            if reservation == nil {
                // Found lazily, at the first candidate that fits: most passes need none.
                let shadow = AllocationEngine(copying: engine)
                shadow.release(cluster: candidate.id)
                guard let time = reserve(head, in: shadow, now: now) else {
                    engine.release(cluster: candidate.id)  // conservative: no reservation, no backfilling
                    return
                }
                reservation = (time, shadow)
            }
            if now + candidate.estimate <= reservation!.time
                || leavesHeadRoom(candidate, at: vms, head: head, shadow: reservation!.shadow) {
                waiting.remove(at: position)
                start(index, decision, now: now, into: &started)
            } else {
                engine.release(cluster: candidate.id)
                position += 1
            }
        }
    }

    /// Releases running clusters from `shadow` in planned-end order until the
    /// head fits, and leaves it placed there. Returns that time, or nil.
    private func reserve(_ head: ClusterRequest, in shadow: AllocationEngine, now: Nanoseconds) -> Nanoseconds? {
        let ends = plannedEnds.map { (end: max($0.value, now), id: requests[Int($0.key)].id) }
            .sorted { ($0.end, $0.id) < ($1.end, $1.id) }
        var next = 0
        while next < ends.count {
            let time = ends[next].end
            while next < ends.count && ends[next].end == time {
                shadow.release(cluster: ends[next].id)
                next += 1
            }
            if case .accepted = shadow.admit(head, policy: FirstFit()) { return time }
        }
        return nil
    }

    /// A necessary condition on cloud-wide totals, O(1): a request that fails it
    /// cannot be placed, so the engine need not try (skipping it never changes a decision).
    private func mightFit(_ request: ClusterRequest, used: Usage) -> Bool {
        let shape = request.shape
        if shape.kind == .hpc && request.vms > capacity.vfs - used.vfs { return false }
        if shape.pinning == .fixed && request.vms * shape.vcores > capacity.physicalCores - used.physicalCores { return false }
        return true
    }

    /// Adds `candidate` on `vms`' hosts to the reservation state and checks the
    /// head still fits; keeps it there if so, restores the state if not.
    private func leavesHeadRoom(_ candidate: ClusterRequest, at vms: [PlacedVM], head: ClusterRequest,
                                shadow: AllocationEngine) -> Bool {
        shadow.release(cluster: head.id)
        if case .accepted = shadow.admit(candidate, policy: ReplayedPlacement(hosts: vms.map(\.host))) {
            if case .accepted = shadow.admit(head, policy: FirstFit()) { return true }
            shadow.release(cluster: candidate.id)
        }
        // The head fitted this state a moment ago; it must again.
        guard case .accepted = shadow.admit(head, policy: FirstFit()) else { preconditionFailure("the head's reservation was lost") }
        return false
    }
}
