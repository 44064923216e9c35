import Allocation
import CloudModel
import Foundation
import Simulation
import Testing
import TestSupport
import Workloads

/// The benchmark's cases decide exactly as the O(H) reference policies (speed
/// never changes decisions), and its checksums are reproducible.
@Suite struct BenchmarkTests {
    @Test(arguments: PlacementPolicies.names)
    func indexedPlacementMatchesTheReference(policy: String) throws {
        let catalog = try Fixtures.catalog()
        let indexed = Benchmark.placement(policy: policy, hosts: 300, operations: 4_000, catalog: catalog)
        let reference = Benchmark.placement(policy: policy, hosts: 300, operations: 4_000, catalog: catalog, reference: true)
        #expect(indexed.checksum == reference.checksum)
        #expect(indexed.events > 0 && indexed.requests == 4_000)
    }

    @Test func simulationChecksumsAreReproducible() throws {
        let catalog = try Fixtures.catalog()
        let a = Benchmark.simulation(policy: "best-fit", hosts: 200, requests: 2_000, catalog: catalog)
        let b = Benchmark.simulation(policy: "best-fit", hosts: 200, requests: 2_000, catalog: catalog)
        #expect(a.checksum == b.checksum && a.events == b.events)
        #expect(Benchmark.simulation(policy: "worst-fit", hosts: 200, requests: 2_000, catalog: catalog).checksum != a.checksum)
        let kernel = Benchmark.eventKernel(events: 100_000)
        #expect(kernel.checksum == Benchmark.eventKernel(events: 100_000).checksum)
    }

    @Test func theReplayCaseReadsItsTraceBackAndLogsEveryDecision() throws {
        let workload = Benchmark.syntheticWorkload(hosts: 40, requests: 600)
        #expect(!workload.resizes.isEmpty)
        let parsed = try TraceCSV.parse(TraceCSV.write(workload), file: "bench trace")
        // The trace keeps microseconds, as the decision log does: arrivals and ends each rounded.
        func micro(_ ns: Int64) -> Int64 { (ns + 500) / 1000 * 1000 }
        #expect(parsed.requests.count == 600 && parsed.resizes.count == workload.resizes.count)
        for (a, b) in zip(parsed.requests, workload.requests) {
            #expect(a.id == b.id && a.arrival == micro(b.arrival) && a.arrival + a.duration == micro(b.arrival + b.duration) && a.tenant == b.tenant
                    && a.vms == b.vms && a.shape == b.shape)
        }
        #expect(parsed.resizes.map(\.delta) == workload.resizes.map(\.delta) && parsed.resizes.map(\.id) == workload.resizes.map(\.id))

        let dir = try Fixtures.scratchDirectory("bench-replay")
        let catalog = try Fixtures.catalog()
        let first = try Benchmark.replay(hosts: 40, requests: 600, catalog: catalog, directory: dir)
        let again = try Benchmark.replay(hosts: 40, requests: 600, catalog: catalog, directory: dir)
        #expect(first.count == 2 && first.allSatisfy { $0.requests == 600 } && first[0].events == first[1].events)
        #expect(first.map(\.checksum) == again.map(\.checksum) && first[0].checksum != first[1].checksum)
        #expect(first[1].note.hasSuffix("x the run without a log"))
        // The trace and the log are the case's own scratch files: nothing is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }
}

/// Each case of a new `hpccloud bench` against the newest committed report.
@Suite struct BenchmarkHistoryTests {
    @Test func aCommittedReportIsReadBackCaseByCase() throws {
        let history = BenchmarkHistory(markdown: try readText(Fixtures.repoRoot + "/Reports/benchmarks/2026-11-21.md"))
        #expect(!history.quick && history.commit == "83221ad1430c739b36f3853cbace705e3b9b6547")
        #expect(history.seconds["placement: first-fit, 1,000 hosts, 300,000 admissions"] == 0.376)
        #expect(history.seconds["simulation: best-fit, 1,000,000 requests, 100,000 hosts"] == 26.824)
        // Only the case table (its separator row has no number); the scaling table below has other headers.
        #expect(history.seconds.count == 24)
        let ratio = try #require(history.ratio("placement: first-fit, 1,000 hosts, 300,000 admissions", seconds: 0.752))
        #expect(abs(ratio - 2) < 1e-12 && history.ratio("a case it never ran", seconds: 1) == nil)
    }

    @Test func theNewestFullReportIsTheOneCompared() throws {
        let dir = try Fixtures.scratchDirectory("bench-history")
        let quick = "# hpccloud bench (quick: cases a tenth the size)\n\n| case | wall (s) | events/s |\n|---|---|---|\n| k | 1.5 | 1M |\n"
        try "# hpccloud bench\n\n| case | wall (s) | events/s |\n|---|---|---|\n| k | 2.0 | 1M |\n".write(toFile: dir + "/2026-01-01.md", atomically: true, encoding: .utf8)
        try quick.write(toFile: dir + "/2026-02-01.md", atomically: true, encoding: .utf8)
        try "not a report".write(toFile: dir + "/2026-02-01-api.md", atomically: true, encoding: .utf8)
        let newest = try #require(BenchmarkHistory.newest(in: dir))
        #expect(newest.path.hasSuffix("/2026-02-01.md") && newest.history.quick && newest.history.seconds == ["k": 1.5])
        // The file this run writes is never its own previous.
        #expect(BenchmarkHistory.newest(in: dir, excluding: dir + "/2026-02-01.md")?.history.seconds == ["k": 2.0])
    }
}
