import Allocation
import CloudModel
import Overheads
import SimKernel

/// Drives the allocation engine with a workload's events in the total order of
/// SEMANTICS 1, and measures the run (SEMANTICS 9).
public final class Simulator {
    /// Same-time events run in this order: free before allocating; a queue's
    /// time-outs after the arrivals, and its dispatch pass; a consolidation pass and
    /// a maintenance window's start or end last of all.
    enum EventClass: UInt8 {
        case depart = 0, shrink = 1, extend = 2, arrive = 3, expire = 4, dispatch = 5, consolidate = 6, maintain = 7
    }

    /// Small and reference-free, so scheduling never allocates per event.
    struct Event {
        var eventClass: EventClass
        /// Index into `workload.requests` (arrive, depart, expire) or `workload.resizes`.
        var index: Int32
    }

    public let engine: AllocationEngine
    public let workload: Workload
    public let policy: any PlacementPolicy
    public let admission: AdmissionSpec
    public let steadyState: SteadyStateRule
    private var queue = EventQueue<Event>()
    private var meter: UtilizationMeter
    private var counts = Counts()
    /// Per subnet (clouds of several): the rejected arrivals by that subnet's own reason.
    private var subnetRejections: [[RejectionReason: Int]] = []
    private var spannedHosts = 0
    private let waitingRoom: AdmissionQueue?
    /// When a dispatch pass is already scheduled (queue mode).
    private var dispatchPendingAt: Nanoseconds?
    private var waits: [Nanoseconds] = []
    /// Start time of each started request, by workload index.
    private var starts: [Nanoseconds]
    private var jobs = JobSummary.Accumulator()
    /// Each request's tenant as a dense number, the clusters each tenant has running,
    /// and how many tenants have one: the concurrency a capacity answer is given in.
    private let tenantOf: [Int32]
    private var runningByTenant: [Int32]
    private var tenantsServed = 0
    /// The overhead model, when the run has one: every accepted hpc cluster gets an
    /// efficiency, and work-based clusters their run time from it.
    public let overheads: OverheadModel?
    /// The hpc clusters' network path (common clusters use virtualized Ethernet).
    public let path: NetworkPath
    private var performance = PerformanceRecord()
    /// The efficiency of the cluster started last (for its decision row).
    private var lastEfficiency: Double?
    private let log: SimulationLog?

    /// The run's application profile in the overhead model.
    public let profile: ApplicationProfile?
    /// Per host: the index of its group, whose HCA link, cores per socket and peak per core the model reads.
    private let hostGroupOf: [Int32]
    /// Live migration: the policy that moves VMs and what each move costs (nil: VMs never move).
    public let migration: MigrationSetup?
    private var moves = MigrationTally()
    /// Per request index: how long its cluster stood still for migrations not yet
    /// added to its end (added when its departure comes due). Empty without migration.
    private var stalled: [Nanoseconds] = []
    /// Cluster id to request index, for the stalls (empty without migration).
    private var requestIndex: [Int64: Int32] = [:]
    /// Maintenance windows open per host (a host is drained while it has one).
    private var maintenanceOpen: [Int: Int] = [:]

    struct PerformanceRecord {
        var efficiencies: [Double] = [], stretches: [Double] = []
        var workBased = 0
        /// Each distinct placement of an hpc cluster once, with how often: the model's
        /// intervals are evaluated over these at the end, not per cluster.
        var placements: [Placement: Tally] = [:]
        /// Clusters beyond the measurements, by `Extrapolation.all`, and in all.
        var beyondData = [Int](repeating: 0, count: Extrapolation.all.count)
        var beyondDataClusters = 0
    }

    struct Placement: Hashable {
        var configuration: ClusterConfiguration
        var native: ClusterConfiguration
    }

    struct Tally {
        var count = 0
        /// Sum over work-based clusters of work / (cores x peak): their run time at efficiency 1, in seconds.
        var work = 0.0, workCount = 0

        /// One more cluster, with its run time at efficiency 1 when it is work-based.
        mutating func record(work ideal: Double?) {
            count += 1
            if let ideal {
                work += ideal
                workCount += 1
            }
        }
    }

    struct Counts {
        var requests = 0, accepted = 0, departures = 0
        var rejected: [RejectionReason: Int] = [:]
        var resizes = 0, resizesAccepted = 0, resizesIgnored = 0
        var resizesRejected: [RejectionReason: Int] = [:]
        var events = 0
        var hpcAccepted = 0
        var queued = 0
    }

    /// - Parameters:
    ///   - steadyState: which part of the run the steady-state averages cover.
    ///   - log: diagnostics by category (nil: none, at the cost of one check per event).
    public init(cloud: CloudSpec, workload: Workload, policy: any PlacementPolicy, admission: AdmissionSpec = .reject,
                overheads: OverheadModel? = nil, path: NetworkPath = .sriovIB, profile: ApplicationProfile? = nil,
                steadyState: SteadyStateRule = .standard, log: SimulationLog? = nil, migration: MigrationSetup? = nil) {
        self.steadyState = steadyState
        self.migration = migration
        self.log = log
        let arrivals = workload.requests.lazy.map(\.arrival)
        meter = UtilizationMeter(steady: steadyState.window(firstArrival: arrivals.min() ?? 0, lastArrival: arrivals.max() ?? 0))
        engine = AllocationEngine(cloud: cloud)
        if cloud.subnets.count > 1 { subnetRejections = Array(repeating: [:], count: cloud.subnets.count) }
        self.workload = workload
        self.policy = log.flatMap { log in log.policy.map { LoggedPolicy(wrapped: policy, log: log, logger: $0) } } ?? policy
        self.admission = admission
        self.overheads = overheads
        self.path = path
        self.profile = profile ?? overheads?.hpl
        hostGroupOf = cloud.groups.enumerated().flatMap { Array(repeating: Int32($0.offset), count: $0.element.count) }
        starts = Array(repeating: 0, count: workload.requests.count)
        var tenantNumbers: [String: Int32] = [:]
        tenantOf = workload.requests.map { request in
            if let number = tenantNumbers[request.tenant] { return number }
            let number = Int32(tenantNumbers.count)
            tenantNumbers[request.tenant] = number
            return number
        }
        runningByTenant = Array(repeating: 0, count: tenantNumbers.count)
        precondition(overheads != nil || workload.requests.allSatisfy { $0.work == nil }, "work-based requests need an overhead model")
        waitingRoom = admission.mode == .reject ? nil
            : AdmissionQueue(admission, requests: workload.requests, cloud: cloud)
        precondition(workload.requests.count < Int32.max && workload.resizes.count < Int32.max, "workload too large")
        for (i, request) in workload.requests.enumerated() {
            queue.schedule(at: request.arrival, eventClass: EventClass.arrive.rawValue, id: request.id,
                           Event(eventClass: .arrive, index: Int32(i)))
        }
        if let migration {
            stalled = Array(repeating: 0, count: workload.requests.count)
            requestIndex = Dictionary(workload.requests.enumerated().map { ($1.id, Int32($0)) }, uniquingKeysWith: { first, _ in first })
            if let period = migration.policy.period, let first = arrivals.min() {
                queue.schedule(at: first + period, eventClass: EventClass.consolidate.rawValue, id: 0, Event(eventClass: .consolidate, index: -1))
            }
            // Event index 2i opens window i, 2i + 1 closes it; windows after the last arrival are left out.
            if let first = arrivals.min(), let last = arrivals.max() {
                for (i, window) in migration.maintenance.enumerated() where first + window.start <= last {
                    let start = first + window.start
                    queue.schedule(at: start, eventClass: EventClass.maintain.rawValue, id: 0, Event(eventClass: .maintain, index: Int32(2 * i)))
                    queue.schedule(at: start + window.length, eventClass: EventClass.maintain.rawValue, id: 0,
                                   Event(eventClass: .maintain, index: Int32(2 * i + 1)))
                }
            }
        }
        for (i, resize) in workload.resizes.enumerated() {
            let eventClass: EventClass = resize.delta < 0 ? .shrink : .extend
            queue.schedule(at: resize.time, eventClass: eventClass.rawValue, id: resize.id,
                           Event(eventClass: eventClass, index: Int32(i)))
        }
    }

    /// Runs to the last event, or until `monitor.shouldStop` says so.
    /// - Parameters:
    ///   - record: called with each decision row, in processing order; pass nil to skip building rows.
    ///   - monitor: samples, progress and interruption (all optional).
    public func run(record: ((DecisionRow) -> Void)? = nil, monitor: RunMonitor = RunMonitor()) -> Summary {
        var interrupted = false
        while let (key, event) = queue.pop() {
            meter.advance(to: key.time, holding: engine.usage, tenants: tenantsServed)
            log?.now = key.time
            process(event, at: key.time, id: key.id, record: record)
            let usage = engine.usage
            meter.observe(usage, tenants: tenantsServed)
            counts.events += 1
            // Sampled once the instant is over: a sample taken between a departure and the
            // dispatch at the same time would show room free that the queue takes at once.
            if let sample = monitor.sample, queue.peekKey()?.time != key.time {
                sample(key.time, usage, waitingRoom?.waiting.count ?? 0)
            }
            if counts.events & RunMonitor.checkMask == 0 {
                monitor.progress?(RunProgress(time: key.time, events: counts.events, arrivals: counts.requests,
                                              totalArrivals: workload.requests.count))
                if monitor.shouldStop?() == true {
                    interrupted = true
                    break
                }
            }
        }
        var result = summary()
        result.interrupted = interrupted
        return result
    }

    private func process(_ event: Event, at time: Nanoseconds, id: Int64, record: ((DecisionRow) -> Void)?) {
        switch event.eventClass {
        case .arrive:
            counts.requests += 1
            let request = workload.requests[Int(event.index)]
            if let waitingRoom {
                if let reason = waitingRoom.neverFits(request) {
                    counts.rejected[reason, default: 0] += 1
                    if let log, let logger = log.queue { log.decided(id, request, .rejected(reason), logger: logger, "arrived, fits no empty cloud") }
                    record?(row(time, id, .arrive, .rejected(reason), request))
                    return
                }
                waitingRoom.enqueue(event.index)
                counts.queued += 1
                if let log, let logger = log.queue {
                    logger.info("cluster \(id) arrived: \(SimulationLog.describe(request)): queued (\(waitingRoom.waiting.count) waiting)", metadata: log.metadata)
                }
                if let maxWait = admission.maxWait {
                    queue.schedule(at: time + maxWait, eventClass: EventClass.expire.rawValue, id: id, event.with(.expire))
                }
                requestDispatch(at: time)
                record?(DecisionRow(time: time, id: id, event: .arrive, outcome: .queued, request: request))
                return
            }
            var decision = engine.admit(request, policy: policy)
            if case .rejected(.fragmented) = decision, let rescued = makeRoom(for: request, at: time, record: record) { decision = rescued }
            if let log, let logger = log.engine { log.decided(id, request, decision, logger: logger) }
            if case .accepted = decision {
                started(event.index, at: time)
            } else if case .rejected(let reason) = decision {
                counts.rejected[reason, default: 0] += 1
                for (s, reason) in engine.subnetReasons.enumerated() { subnetRejections[s][reason, default: 0] += 1 }
            }
            guard let record else { return }
            var arrived = row(time, id, .arrive, decision, request)
            if case .accepted = decision { startedRow(&arrived) }
            record(arrived)
        case .dispatch:
            dispatchPendingAt = nil
            guard let waitingRoom else { return }
            let dispatched = waitingRoom.dispatch(now: time, engine: engine, policy: policy,
                                                  makeRoom: migration == nil ? nil : { self.makeRoom(for: $0, at: time, record: record) })
            if let log, let logger = log.queue {
                logger.debug("dispatch pass: \(dispatched.count) started, \(waitingRoom.waiting.count) waiting", metadata: log.metadata)
            }
            for (index, decision) in dispatched {
                let request = workload.requests[Int(index)]
                started(index, at: time)
                waits.append(time - request.arrival)
                if let log, let logger = log.queue {
                    log.decided(request.id, request, decision, logger: logger, "started after \(Units.formatSeconds(time - request.arrival)) s")
                }
                guard let record else { continue }
                var startRow = row(time, request.id, .start, decision, request)
                startedRow(&startRow)
                record(startRow)
            }
        case .expire:
            guard waitingRoom?.expire(event.index) == true else { return }
            counts.rejected[.maxWait, default: 0] += 1
            if let log, let logger = log.queue { logger.info("cluster \(id) left the queue: waited max-wait", metadata: log.metadata) }
            requestDispatch(at: time)  // a new head may fit
            record?(row(time, id, .expire, .rejected(.maxWait), workload.requests[Int(event.index)]))
        case .shrink, .extend:
            let delta = workload.resizes[Int(event.index)].delta
            counts.resizes += 1
            let decision = delta < 0 ? engine.shrink(cluster: id, by: -delta)
                                     : engine.extend(cluster: id, by: delta, policy: policy)
            switch decision {
            case .accepted:
                counts.resizesAccepted += 1
                if delta < 0 {
                    waitingRoom?.roomFreed()
                    requestDispatch(at: time)
                }
            case .rejected(let reason): counts.resizesRejected[reason, default: 0] += 1
            case .ignored: counts.resizesIgnored += 1
            }
            if let log, let logger = log.engine {
                logger.debug("cluster \(id) resize by \(delta): \(Self.outcome(decision, shrink: delta < 0))", metadata: log.metadata)
            }
            guard let record else { return }
            var resized = row(time, id, .resize, decision, nil)
            if delta < 0 { resized.vms = [] }  // the row lists VMs placed; a shrink places none
            record(resized)
        case .consolidate:
            consolidate(at: time, record: record)
        case .maintain:
            maintain(Int(event.index), at: time, record: record)
        case .depart:
            // Migrations stood the cluster still: its end moves by as much (bulk-synchronous: one VM stalls all).
            if !stalled.isEmpty, stalled[Int(event.index)] > 0 {
                let delay = stalled[Int(event.index)]
                stalled[Int(event.index)] = 0
                let (end, overflow) = time.addingReportingOverflow(delay)
                queue.schedule(at: overflow ? .max : end, eventClass: EventClass.depart.rawValue, id: id, event)
                return
            }
            let departed = engine.release(cluster: id)
            precondition(departed != nil, "departure of cluster \(id), which is not running")
            counts.departures += 1
            let index = Int(event.index)
            let tenant = Int(tenantOf[index])
            runningByTenant[tenant] -= 1
            if runningByTenant[tenant] == 0 { tenantsServed -= 1 }
            jobs.add(JobTimes(arrival: workload.requests[index].arrival, start: starts[index], end: time))
            waitingRoom?.departed(event.index)
            if let log, let logger = log.engine { logger.debug("cluster \(id) ended", metadata: log.metadata) }
            requestDispatch(at: time)
            record?(DecisionRow(time: time, id: id, event: .depart, outcome: .done, pkey: departed?.pkey, request: workload.requests[index]))
        }
    }

    /// Counts an admitted cluster and schedules its end (for a work-based
    /// cluster, when the overhead model says its work is done).
    private func started(_ index: Int32, at time: Nanoseconds) {
        let request = workload.requests[Int(index)]
        let record = engine.cluster(request.id)!
        starts[Int(index)] = time
        counts.accepted += 1
        let tenant = Int(tenantOf[Int(index)])
        if runningByTenant[tenant] == 0 { tenantsServed += 1 }
        runningByTenant[tenant] += 1
        if request.shape.kind == .hpc {
            counts.hpcAccepted += 1
            spannedHosts += record.initialSpan
        }
        let runtime = overheads.map { model(request, record, $0) } ?? request.duration
        // Inputs stay within 100 years each (`SimulatedClock`); a stretched run past the clock never departs.
        let (end, overflow) = time.addingReportingOverflow(runtime)
        queue.schedule(at: overflow ? .max : end, eventClass: EventClass.depart.rawValue, id: request.id,
                       Event(eventClass: .depart, index: index))
    }

    /// The cluster's efficiency as placed now, recorded for hpc clusters; its run time.
    private func model(_ request: ClusterRequest, _ record: ClusterRecord, _ overheads: OverheadModel) -> Nanoseconds {
        let profile = profile!, groups = engine.cloud.groups
        let group = groups[Int(hostGroupOf[record.firstHost!])]
        let switchLink = engine.cloud.subnets[group.subnet].switchLink
        let hpc = request.shape.kind == .hpc
        var configuration = ClusterConfiguration(placed: record, in: engine, path: hpc ? path : .virtualEthernet10G)
        configuration.coresPerSocket = group.coresPerSocket
        configuration.hcaLink = group.hca.link
        configuration.switchLink = switchLink
        let efficiency = overheads.efficiency(configuration, profile: profile)
        lastEfficiency = efficiency
        let cores = request.vms * request.shape.vcores
        var ideal: Double?
        if let work = request.work {
            performance.workBased += 1
            // The slowest host's cores set the pace of a bulk-synchronous code.
            var peak = Double.infinity
            for host in record.hosts { peak = min(peak, groups[Int(hostGroupOf[host])].gflopsPerCore!) }
            ideal = work / (Double(cores) * peak)
        }
        if hpc {
            // Stretch: against the same cores on bare metal, on as few hosts as hold them.
            let hostCores = engine.cores(host: record.firstHost!)
            let native = ClusterConfiguration.native(hosts: (cores + hostCores - 1) / hostCores, coresPerHost: hostCores,
                                                     hcaLink: group.hca.link, switchLink: switchLink)
            performance.efficiencies.append(efficiency)
            performance.stretches.append(overheads.efficiency(native, profile: profile) / efficiency)
            let flags = overheads.extrapolation(configuration)
            if !flags.isEmpty {
                performance.beyondDataClusters += 1
                for (i, flag) in Extrapolation.all.enumerated() where flags.contains(flag.0) { performance.beyondData[i] += 1 }
            }
            // One hash of the key, the tally updated in place.
            performance.placements[Placement(configuration: configuration, native: native), default: Tally()].record(work: ideal)
        }
        guard let ideal else { return request.duration }
        return Nanoseconds((min(ideal / efficiency, LifetimeCap.seconds) * 1e9).rounded())
    }

    /// The mean efficiency, stretch and work-based run time of the hpc clusters as
    /// placed, each with its 95% interval from the model's parameter bands
    /// (placements held as they were: the run is not re-simulated).
    private func modelIntervals(_ overheads: OverheadModel) -> PerformanceSummary.Intervals? {
        guard !performance.placements.isEmpty else { return nil }
        // Sorted so the sums run in one order whatever the dictionary's: same bytes out. By the
        // fields, not by a description: describing keys (a Mirror walk each) took 80% of a
        // 400k-request replay inside the comparator, and 16% even once per key.
        let placements = performance.placements.sorted {
            $0.value.count != $1.value.count ? $0.value.count > $1.value.count : Self.precedes($0.key, $1.key)
        }
        let clusters = Double(placements.reduce(0) { $0 + $1.value.count })
        func mean(_ term: @escaping (OverheadModel, ApplicationProfile, Placement, Tally) -> Double) -> ModelInterval {
            let band = overheads.interval(profile: profile!) { model, profile in
                placements.reduce(0) { $0 + term(model, profile, $1.key, $1.value) }
            }
            return ModelInterval(value: band.value, low: band.low, high: band.high)
        }
        let efficiency = mean { model, profile, placement, tally in Double(tally.count) * model.efficiency(placement.configuration, profile: profile) / clusters }
        let stretch = mean { model, profile, placement, tally in
            Double(tally.count) * model.efficiency(placement.native, profile: profile) / model.efficiency(placement.configuration, profile: profile) / clusters
        }
        let workCount = Double(placements.reduce(0) { $0 + $1.value.workCount })
        let hours = workCount == 0 ? nil : mean { model, profile, placement, tally in
            tally.work / model.efficiency(placement.configuration, profile: profile) / workCount / 3600
        }
        return PerformanceSummary.Intervals(efficiency: efficiency, stretch: stretch, workRunHours: hours)
    }

    /// A total order on placements, field by field (configuration, then native). It reads
    /// every stored field of `ClusterConfiguration`: a field left out would let two keys
    /// tie, and ties would sort in the dictionary's order, which changes from run to run.
    static func precedes(_ a: Placement, _ b: Placement) -> Bool {
        a.configuration != b.configuration ? precedes(a.configuration, b.configuration) : precedes(a.native, b.native)
    }

    static func precedes(_ a: ClusterConfiguration, _ b: ClusterConfiguration) -> Bool {
        if a.vmsPerHost != b.vmsPerHost { return a.vmsPerHost < b.vmsPerHost }
        if a.hostsSpanned != b.hostsSpanned { return a.hostsSpanned < b.hostsSpanned }
        if a.pinning != b.pinning { return a.pinning.rawValue < b.pinning.rawValue }
        if a.sharing != b.sharing { return a.sharing < b.sharing }
        if a.path != b.path { return a.path.rawValue < b.path.rawValue }
        if a.ranksPerVM != b.ranksPerVM { return a.ranksPerVM < b.ranksPerVM }
        if a.coresPerSocket != b.coresPerSocket { return (a.coresPerSocket ?? -1) < (b.coresPerSocket ?? -1) }
        if a.routedShare != b.routedShare { return a.routedShare < b.routedShare }
        if a.routerLatencyMicroseconds != b.routerLatencyMicroseconds { return a.routerLatencyMicroseconds < b.routerLatencyMicroseconds }
        if a.routerGoodput != b.routerGoodput { return a.routerGoodput < b.routerGoodput }
        if a.hcaLink != b.hcaLink { return precedes(a.hcaLink, b.hcaLink) }
        return precedes(a.switchLink, b.switchLink)
    }

    /// Links by generation, lanes, then lane rate; no link first.
    static func precedes(_ a: LinkSpec?, _ b: LinkSpec?) -> Bool {
        guard let a, let b else { return a == nil && b != nil }
        if a.generation != b.generation { return a.generation < b.generation }
        if a.lanes != b.lanes { return a.lanes < b.lanes }
        return a.gbpsPerLane < b.gbpsPerLane
    }

    /// A `fragmented` rejection handed to the migration policy: the admission it
    /// achieved after moving VMs (rows and costs recorded), or nil.
    private func makeRoom(for request: ClusterRequest, at time: Nanoseconds, record: ((DecisionRow) -> Void)?) -> Decision? {
        guard let migration, migration.policy.makesRoom else { return nil }
        guard let (decision, migrations) = migration.policy.makeRoom(for: request, in: engine, placement: policy) else {
            moves.unrescued += 1
            return nil
        }
        moves.rescued += 1
        migrated(migrations, at: time, record: record)
        return decision
    }

    /// One consolidation pass, and the next one if anything is left to happen.
    private func consolidate(at time: Nanoseconds, record: ((DecisionRow) -> Void)?) {
        guard let migration, let period = migration.policy.period else { return }
        let migrations = migration.policy.consolidate(engine)
        moves.passes += 1
        migrated(migrations, at: time, record: record)
        moves.hostsEmptied += Set(migrations.map(\.from.host)).filter(engine.isEmpty(host:)).count
        if !migrations.isEmpty {
            // Room for a large request may now exist on one host.
            waitingRoom?.roomFreed()
            requestDispatch(at: time)
        }
        if queue.peekKey() != nil {
            let (next, overflow) = time.addingReportingOverflow(period)
            if !overflow { queue.schedule(at: next, eventClass: EventClass.consolidate.rawValue, id: 0, Event(eventClass: .consolidate, index: -1)) }
        }
    }

    /// Opens (even index) or closes (odd) maintenance window `index / 2`. Opening
    /// drains its host and empties it where best-fit puts each VM (`planDrain`), or,
    /// when some VM fits nowhere, moves nothing: what runs there finishes there.
    /// Closing returns the host to service once no other window holds it.
    private func maintain(_ index: Int, at time: Nanoseconds, record: ((DecisionRow) -> Void)?) {
        guard let migration else { return }
        let host = migration.maintenance[index / 2].host
        if index % 2 == 1 {
            maintenanceOpen[host, default: 1] -= 1
            guard maintenanceOpen[host] == 0 else { return }
            engine.setDrained(host: host, false)
            waitingRoom?.roomFreed()
            requestDispatch(at: time)
            return
        }
        maintenanceOpen[host, default: 0] += 1
        engine.setDrained(host: host, true)
        guard case .success(let plan) = engine.planDrain(host: host, policy: BestFit()) else {
            moves.maintenanceBlocked += 1
            return
        }
        for step in plan {
            let decision = engine.migrate(cluster: step.cluster, vm: step.vm, to: step.to.host)
            precondition(decision == .accepted(pkey: engine.cluster(step.cluster)!.pkey, vms: [step.to]), "a drain plan replays as planned")
        }
        moves.maintenanceEmptied += 1
        migrated(plan, at: time, record: record)
    }

    /// Accounts migrations the engine made: each one's cost from the migration
    /// model, the stall it puts on its cluster, a decision row and a log line.
    private func migrated(_ migrations: [Migration], at time: Nanoseconds, record: ((DecisionRow) -> Void)?) {
        guard let migration else { return }
        let groups = engine.cloud.groups
        // Each row shows its cluster as that move left it: the VMs as now, later moves of the batch undone.
        var placed: [Int64: [PlacedVM]] = [:]
        if record != nil {
            for move in migrations.reversed() {
                placed[move.cluster, default: engine.cluster(move.cluster)!.vms][move.vm] = move.from
            }
        }
        for move in migrations {
            let cluster = engine.cluster(move.cluster)!
            let source = groups[Int(hostGroupOf[move.from.host])], destination = groups[Int(hostGroupOf[move.to.host])]
            // The memory goes over the slower of the two HCAs' links; the destination's SR-IOV mode decides the addressing.
            let cost = migration.model.cost(memoryMiB: cluster.shape.memoryMiB, dirtyMiBPerSecond: migration.dirtyMiBPerSecond,
                                            linkGbps: min(source.hca.link.gbps, destination.hca.link.gbps), mode: destination.sriovMode,
                                            switches: engine.cloud.subnets[destination.subnet].switches, peers: cluster.vms.count - 1,
                                            withVF: move.from.virtualFunction != nil)
            let stall = move.from.virtualFunction != nil ? cost.totalSeconds : cost.downtimeSeconds
            moves.add(cost, stall: stall)
            if let index = requestIndex[move.cluster] {
                stalled[Int(index)] += Nanoseconds((min(stall, LifetimeCap.seconds) * 1e9).rounded())
            }
            if let log, let logger = log.engine {
                let times = "downtime \(String(format: "%.3f", cost.downtimeSeconds)) s, stalled \(String(format: "%.3f", stall)) s"
                logger.info("cluster \(move.cluster) VM \(move.vm) migrated from host \(move.from.host) to host \(move.to.host): \(times)",
                            metadata: log.metadata)
            }
            if let record {
                placed[move.cluster]![move.vm] = move.to
                record(DecisionRow(time: time, id: move.cluster, event: .migrate, outcome: .accepted, vms: placed[move.cluster]!, pkey: cluster.pkey))
            }
        }
    }

    /// Schedules one dispatch pass at `time`, after every other event then, if
    /// requests are waiting: all that frees room at an instant frees it first.
    private func requestDispatch(at time: Nanoseconds) {
        guard let waitingRoom, !waitingRoom.waiting.isEmpty, dispatchPendingAt != time else { return }
        dispatchPendingAt = time
        queue.schedule(at: time, eventClass: EventClass.dispatch.rawValue, id: 0, Event(eventClass: .dispatch, index: -1))
    }

    private func row(_ time: Nanoseconds, _ id: Int64, _ event: DecisionRow.Event, _ decision: Decision,
                     _ request: ClusterRequest?) -> DecisionRow {
        switch decision {
        case .accepted(let pkey, let vms):
            DecisionRow(time: time, id: id, event: event, outcome: .accepted, vms: vms, pkey: pkey, request: request)
        case .rejected(let reason):
            DecisionRow(time: time, id: id, event: event, outcome: .rejected, reason: reason, request: request)
        case .ignored:
            DecisionRow(time: time, id: id, event: event, outcome: .ignored, request: request)
        }
    }

    private static func outcome(_ decision: Decision, shrink: Bool) -> String {
        switch decision {
        case .accepted(_, let vms): vms.isEmpty ? "accepted" : (shrink ? "removed from " : "accepted on ") + SimulationLog.describe(vms, pkey: nil)
        case .rejected(let reason): "rejected (\(reason.rawValue))"
        case .ignored: "ignored (the cluster is not running)"
        }
    }

    /// What a row that starts a cluster adds: the model's efficiency and the hosts it spans.
    private func startedRow(_ row: inout DecisionRow) {
        row.efficiency = lastEfficiency
        row.span = engine.cluster(row.id)?.initialSpan
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
            steadyWindow: meter.steady,
            steadyState: steadyState,
            utilization: meter.utilization(capacity: engine.capacity),
            peakConcurrentClusters: meter.peakClusters,
            peakConcurrentTenants: meter.peakTenants,
            steadyConcurrency: meter.steadyConcurrency.map { SteadyConcurrency(clusters: $0.clusters, tenants: $0.tenants) },
            meanHostsSpanned: counts.hpcAccepted == 0 ? 0 : Double(spannedHosts) / Double(counts.hpcAccepted),
            buildTimeLIDs: engine.cloud.buildTimeLIDs.total,
            jobs: jobs.summary,
            performance: overheads.map { overheads in
                PerformanceSummary(path: path, profile: profile!.name, efficiency: SampleSummary(performance.efficiencies),
                                   stretch: SampleSummary(performance.stretches), workBased: performance.workBased,
                                   intervals: modelIntervals(overheads),
                                   beyondData: Dictionary(uniqueKeysWithValues: zip(Extrapolation.all.map(\.1), performance.beyondData)),
                                   beyondDataClusters: performance.beyondDataClusters)
            },
            queue: waitingRoom.map { room in
                QueueSummary(mode: room.mode, maxWait: admission.maxWait, queued: counts.queued,
                             expired: counts.rejected[.maxWait] ?? 0, peakLength: room.peakLength,
                             stillWaiting: room.waiting.count,
                             waitHours: SampleSummary(waits.map { Double($0) / 3.6e12 }))
            },
            migration: migration.map { moves.summary(policy: $0.policy.name) },
            subnets: engine.subnetCount == 1 ? [] : (0..<engine.subnetCount).map { s in
                SubnetSummary(name: engine.cloud.subnets[s].name, hosts: engine.hosts(ofSubnet: s).count, capacity: engine.capacity(subnet: s),
                              peak: engine.subnetPeaks[s], buildTimeLIDs: engine.cloud.buildTimeLIDs(subnet: s).total,
                              rejections: subnetRejections[s])
            })
    }
}

/// Optional hooks into a running simulation.
public struct RunMonitor {
    /// After the last event of each instant: its time, the usage then, and the queue length.
    public var sample: ((Nanoseconds, Usage, Int) -> Void)?
    /// Every 2^14 events.
    public var progress: ((RunProgress) -> Void)?
    /// Asked every 2^14 events; true ends the run early (the summary says so).
    public var shouldStop: (() -> Bool)?

    static let checkMask = (1 << 14) - 1

    public init(sample: ((Nanoseconds, Usage, Int) -> Void)? = nil, progress: ((RunProgress) -> Void)? = nil,
                shouldStop: (() -> Bool)? = nil) {
        self.sample = sample
        self.progress = progress
        self.shouldStop = shouldStop
    }
}

/// How far a run has got.
public struct RunProgress: Sendable {
    public var time: Nanoseconds
    public var events: Int
    public var arrivals: Int
    public var totalArrivals: Int
}

extension ClusterConfiguration {
    /// The overhead model's view of a cluster as the engine placed it.
    public init(placed record: ClusterRecord, in engine: AllocationEngine, path: NetworkPath) {
        self.init(vmsPerHost: record.mostVMsOnOneHost, hostsSpanned: record.hostsSpanned, pinning: record.shape.pinning,
                  sharing: engine.busiestDynamicSharing(of: record), path: path, ranksPerVM: record.shape.vcores)
        // A cluster across subnets: the host pairs in different subnets talk through a router.
        let h = record.hostsSpanned
        guard engine.subnetCount > 1, h > 1, path.isInfiniBand else { return }
        var perSubnet: [Int: Int] = [:]
        for host in record.hosts { perSubnet[engine.subnet(of: host), default: 0] += 1 }
        guard perSubnet.count > 1 else { return }
        let samePairs = perSubnet.values.reduce(0) { $0 + $1 * ($1 - 1) }
        let routers = engine.cloud.routers
        routedShare = 1 - Double(samePairs) / Double(h * (h - 1))
        routerLatencyMicroseconds = routers.hopLatencyMicroseconds
        routerGoodput = routers.goodputFactor
    }
}

extension Simulator.Event {
    func with(_ eventClass: Simulator.EventClass) -> Simulator.Event {
        Simulator.Event(eventClass: eventClass, index: index)
    }
}
