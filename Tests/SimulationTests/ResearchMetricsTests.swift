import Allocation
import CloudModel
import Simulation
import Testing
import TestSupport

/// Per-job metrics, the steady-state window, samples at the end of an instant,
/// and trace segments, on hand-checked timelines.
@Suite struct ResearchMetricsTests {
    static let second: Int64 = 1_000_000_000

    static func cloud(hosts: Int) -> CloudSpec { CloudSpec(groups: [Fixtures.group(hosts, cores: 4, memoryGiB: 64)]) }

    /// (id, vms of 4 pinned vcores, arrival s, duration s)
    static func workload(_ rows: [(Int64, Int, Int64, Int64)]) -> Workload {
        Workload(requests: rows.map { id, vms, arrival, duration in
            Fixtures.request(id, vms: vms, Fixtures.shape(vcores: 4), arrival: arrival * second, duration: duration * second)
        })
    }

    /// The FCFS timeline of AdmissionQueueTests: starts at 0, 10, 15, 15.
    static let timeline = workload([(1, 1, 0, 10), (2, 2, 1, 5), (3, 1, 2, 3), (4, 1, 6, 100)])

    @Test func jobMetricsFollowTheirDefinitions() {
        let summary = Simulator(cloud: Self.cloud(hosts: 2), workload: Self.timeline, policy: FirstFit(), admission: AdmissionSpec(mode: .fcfs)).run()
        let jobs = summary.jobs
        #expect(jobs.wait.count == 4)
        #expect(abs(jobs.wait.mean - (0 + 9 + 13 + 9) / 4.0) < 1e-9)
        // Turnarounds 10, 14, 16, 109 s; bounded slowdowns 10/10, 14/max(5, 10), 16/max(3, 10), 109/100.
        #expect(abs(jobs.turnaround.mean - (10 + 14 + 16 + 109) / 4.0) < 1e-9)
        #expect(abs(jobs.boundedSlowdown.mean - (1 + 1.4 + 1.6 + 1.09) / 4) < 1e-9)
        #expect(abs(jobs.boundedSlowdown.maximum - 1.6) < 1e-9)
        let short = JobTimes(arrival: 0, start: 5 * Self.second, end: 6 * Self.second)
        #expect(short.slowdown == 6 && short.boundedSlowdown == 1, "1 s of run time is bounded to 10 s: 6/10 -> 1")
        #expect(JobTimes(arrival: 0, start: 1, end: nil).boundedSlowdown == nil)
    }

    @Test func samplesAreTakenOnceAnInstantIsOver() {
        var samples: [(time: Int64, cores: Int, queued: Int)] = []
        let monitor = RunMonitor(sample: { samples.append(($0, $1.physicalCores, $2)) })
        _ = Simulator(cloud: Self.cloud(hosts: 2), workload: Self.timeline, policy: FirstFit(), admission: AdmissionSpec(mode: .fcfs))
            .run(monitor: monitor)
        #expect(zip(samples, samples.dropFirst()).allSatisfy { $0.time < $1.time }, "one sample per instant")
        // At 10 s r1 departs and the queue's head r2 starts at once: the sample shows r2, never the idle cloud between.
        let atTen = samples.first { $0.time == 10 * Self.second }!
        #expect(atTen.cores == 8 && atTen.queued == 2)
        #expect(!samples.contains { $0.cores == 0 && $0.queued > 0 })
    }

    @Test func steadyAveragesLeaveOutWarmUpAndDrain() {
        // r1 runs only in the warm-up (0-10 s); r2 arrives last (100 s) and runs through the drain.
        let workload = Self.workload([(1, 1, 0, 10), (2, 1, 100, 1000)])
        let summary = Simulator(cloud: Self.cloud(hosts: 1), workload: workload, policy: FirstFit()).run()
        #expect(summary.steadyWindow == 10 * Self.second..<100 * Self.second)
        let cores = summary.utilization[.physicalCores]!
        #expect(cores.steadyAverage == 0)
        #expect(abs(cores.timeAverage - 4.0 * 1010 / 1100) < 1e-9)
        let none = Simulator(cloud: Self.cloud(hosts: 1), workload: workload, policy: FirstFit(), steadyState: SteadyStateRule(warmup: 0)).run()
        #expect(none.steadyWindow == 0..<100 * Self.second)
        #expect(abs(none.utilization[.physicalCores]!.steadyAverage! - 0.4) < 1e-12, "4 cores for 10 of 100 s")
        let memory = summary.utilization[.memory]!
        #expect(memory.capacity == 64 && memory.peak == 1, "memory in GiB: 1 GiB per VM")
    }

    @Test func segmentsPartitionATrace() {
        let workload = Workload(requests: (0..<10).map { Fixtures.request(Int64($0), vms: 1, Fixtures.shape(vcores: 1), arrival: Int64($0) * Self.second) },
                                resizes: [ResizeRequest(id: 3, time: 20 * Self.second, delta: 1), ResizeRequest(id: 7, time: 30 * Self.second, delta: -1)])
        let parts = (0..<3).map { workload.segment($0, of: 3) }
        // The span 0..9 s in three equal thirds: [0, 3), [3, 6), [6, 9].
        #expect(parts.map { $0.requests.map(\.id) } == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]])
        #expect(parts.map { $0.resizes.map(\.id) } == [[], [3], [7]])
        #expect(workload.segment(0, of: 1).requests.count == 10)
    }
}
