import Allocation
import CloudModel
import Simulation
import Testing
import TestSupport

/// Queueing admission (scenario `admission:`) on hand-checked timelines.
@Suite struct AdmissionQueueTests {
    static let second: Int64 = 1_000_000_000

    func cloud(hosts: Int) -> CloudSpec { CloudSpec(groups: [Fixtures.group(hosts, cores: 4, memoryGiB: 64)]) }

    /// (id, vms of 4 pinned vcores, arrival s, duration s)
    func workload(_ rows: [(Int64, Int, Int64, Int64)]) -> Workload {
        Workload(requests: rows.map { id, vms, arrival, duration in
            Fixtures.request(id, vms: vms, Fixtures.shape(vcores: 4), arrival: arrival * Self.second, duration: duration * Self.second)
        })
    }

    func run(_ workload: Workload, hosts: Int, _ admission: AdmissionSpec) -> (rows: [DecisionRow], summary: Summary) {
        var rows: [DecisionRow] = []
        let summary = Simulator(cloud: cloud(hosts: hosts), workload: workload, policy: FirstFit(), admission: admission)
            .run { rows.append($0) }
        return (rows, summary)
    }

    /// Start time in seconds of each request that started, by id.
    func starts(_ rows: [DecisionRow]) -> [Int64: Int64] {
        var starts: [Int64: Int64] = [:]
        for row in rows where row.outcome == .accepted && (row.event == .start || row.event == .arrive) {
            starts[row.id] = row.time / Self.second
        }
        return starts
    }

    /// r2 needs both hosts and waits for r1; r3 is short enough to finish
    /// before r2's reservation (EASY runs it at once; FCFS makes it wait behind
    /// r2); r4 is long and would delay r2, so both disciplines hold it.
    let timeline = [(Int64(1), 1, Int64(0), Int64(10)), (2, 2, 1, 5), (3, 1, 2, 3), (4, 1, 6, 100)]

    @Test func fcfsNeverOvertakesTheHead() {
        let (rows, summary) = run(workload(timeline), hosts: 2, AdmissionSpec(mode: .fcfs))
        #expect(starts(rows) == [1: 0, 2: 10, 3: 15, 4: 15])
        #expect(summary.accepted == 4 && summary.rejectedTotal == 0)
        let queue = summary.queue!
        #expect(queue.queued == 4 && queue.waitHours.count == 4 && queue.peakLength == 3)
        #expect(abs(queue.waitHours.mean * 3600 - (0 + 9 + 13 + 9) / 4.0) < 1e-9)
    }

    @Test func easyBackfillsWhatEndsBeforeTheReservation() {
        let (rows, summary) = run(workload(timeline), hosts: 2, AdmissionSpec(mode: .easy))
        #expect(starts(rows) == [1: 0, 3: 2, 2: 10, 4: 15])
        #expect(abs(summary.queue!.waitHours.mean * 3600 - (0 + 9 + 0 + 9) / 4.0) < 1e-9)
        // Every arrival is logged as queued, every start with its hosts and pkey.
        #expect(rows.filter { $0.event == .arrive }.allSatisfy { $0.outcome == .queued })
        let r3 = rows.first { $0.event == .start && $0.id == 3 }!
        #expect(r3.hosts == [1] && r3.pkey != nil && r3.time == 2 * Self.second)
    }

    /// r3 runs long, but on the host r2's reservation does not need.
    @Test func easyBackfillsALongRequestThatLeavesTheHeadRoom() {
        let requests = workload([(1, 2, 0, 10), (2, 2, 1, 5), (3, 1, 2, 100)])
        #expect(starts(run(requests, hosts: 3, AdmissionSpec(mode: .easy)).rows) == [1: 0, 3: 2, 2: 10])
        #expect(starts(run(requests, hosts: 3, AdmissionSpec(mode: .fcfs)).rows) == [1: 0, 2: 10, 3: 10])
    }

    @Test func aRequestWaitingPastItsMaximumIsRejected() {
        let (rows, summary) = run(workload([(1, 2, 0, 10), (2, 1, 1, 5)]), hosts: 2,
                                  AdmissionSpec(mode: .fcfs, maxWait: 5 * Self.second))
        let expired = rows.first { $0.event == .expire }!
        #expect(expired.id == 2 && expired.time == 6 * Self.second && expired.outcome == .rejected && expired.reason == .maxWait)
        #expect(summary.rejected == [.maxWait: 1] && summary.queue!.expired == 1 && summary.accepted == 1)
        #expect(!rows.contains { $0.event == .start && $0.id == 2 })
    }

    @Test func aRequestNoEmptyCloudHoldsIsRejectedOnArrival() {
        let (rows, summary) = run(workload([(1, 3, 0, 10), (2, 1, 1, 5)]), hosts: 2, AdmissionSpec(mode: .easy))
        #expect(rows[0].event == .arrive && rows[0].outcome == .rejected && rows[0].reason == .cores)
        #expect(summary.queue!.queued == 1 && summary.accepted == 1 && summary.rejected == [.cores: 1])
    }

    /// A random batch workload: every request is accounted for, the engine's
    /// books balance, and the same inputs give the same log.
    @Test(arguments: [AdmissionSpec.Mode.fcfs, .easy])
    func randomWorkloadsBalance(mode: AdmissionSpec.Mode) {
        var random = TestRandom(seed: 5)
        let rows = (1...300).map { id in
            (Int64(id), Int.random(in: 1...6, using: &random), Int64(id) * 30, Int64.random(in: 1...900, using: &random))
        }
        let admission = AdmissionSpec(mode: mode, maxWait: 3_000 * Self.second, backfillDepth: 20)
        let simulator = Simulator(cloud: cloud(hosts: 4), workload: workload(rows), policy: FirstFit(), admission: admission)
        var log: [DecisionRow] = []
        let summary = simulator.run { log.append($0) }
        let queue = summary.queue!
        #expect(summary.accepted + summary.rejectedTotal + queue.stillWaiting == 300)
        #expect(queue.waitHours.count == summary.accepted && summary.departures == summary.accepted)
        #expect(simulator.engine.invariantViolations().isEmpty && simulator.engine.runningClusters == 0)
        #expect(queue.expired > 0 && queue.waitHours.maximum * 3600 <= 3_000)
        #expect(log == run(workload(rows), hosts: 4, admission).rows)
    }
}
