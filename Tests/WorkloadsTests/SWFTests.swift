import CloudModel
import Foundation
import Testing
import TestSupport
import Workloads

/// SWF import on the shared samples (copied into the repository).
@Suite struct SWFTests {
    static let lublin = Fixtures.repoRoot + "/Workloads/traces/lublin_256.swf"
    static let accasim = Fixtures.repoRoot + "/Tests/WorkloadsTests/Fixtures/accasim_24jobs.swf"

    /// Job lines split on whitespace, independently of the reader under test.
    func jobs(_ path: String) throws -> [[Double]] {
        try String(contentsOfFile: path, encoding: .utf8).split(whereSeparator: \.isNewline)
            .filter { !$0.hasPrefix(";") && !$0.allSatisfy(\.isWhitespace) }
            .map { $0.split(whereSeparator: \.isWhitespace).map { Double($0)! } }
    }

    @Test func lublinCountsAndHeader() throws {
        let log = try SWFImport.read(SWFImportSpec(path: Self.lublin, coresPerVM: 4))
        #expect(log.records == 10_000 && log.inWindow == 10_000 && log.used == 10_000 && log.skippedTotal == 0)
        #expect(log.maxNodes == 256 && log.maxProcs == nil && log.unixStartTime == nil)
        #expect(log.headerValue("MaxRuntime") == "162754")
        let first = log.workload.requests[0]
        // Job 1: submit 5094, run 12072 s, 16 processors -> 4 VMs of 4 cores; user -1.
        #expect(first.id == 1 && first.arrival == 0 && first.vms == 4 && first.shape.vcores == 4)
        #expect(first.duration == 12_072_000_000_000 && first.tenant == "unknown" && first.estimate == first.duration)
        // Job 29: 166 processors -> ceil(166 / 4) = 42 VMs.
        #expect(log.workload.requests[28].vms == 42)
    }

    /// Lublin has no requested times: asking for them skips every job, counted.
    @Test func unusableJobsAreSkippedAndCounted() throws {
        let expected = try jobs(Self.lublin).count { $0[8] < 0 }
        let log = try SWFImport.read(SWFImportSpec(path: Self.lublin, lifetime: .requested))
        #expect(expected == 10_000)
        #expect(log.used == 0 && log.skipped == [.requestedTimeUnknown: expected])
        #expect(log.reportLines.contains("  skipped, requested time unknown: 10000"))
    }

    @Test func accasimFieldsMapToClusters() throws {
        let raw = try jobs(Self.accasim)
        let log = try SWFImport.read(SWFImportSpec(path: Self.accasim, coresPerVM: 8, lifetime: .requested))
        #expect(raw.count == 25)
        #expect(log.records == 25)
        #expect(log.used == 25)
        #expect(log.maxNodes == nil)
        for (job, request) in zip(raw, log.workload.requests) {
            #expect(request.id == Int64(job[0]))
            #expect(request.vms == (Int(job[4]) + 7) / 8)
            #expect(request.tenant == "u\(Int(job[11]))")
            #expect(request.duration == Int64(job[8]) * 1_000_000_000)  // requested time as lifetime
            #expect(request.arrival == Int64(job[1] - raw[0][1]) * 1_000_000_000)
        }
    }

    @Test func windowAndTimeScale() throws {
        let log = try SWFImport.read(SWFImportSpec(path: Self.lublin, timeScaleNano: 500_000_000, skip: 100, limit: 50))
        #expect(log.records == 10_000 && log.inWindow == 50 && log.used == 50)
        #expect(log.workload.requests.map(\.id) == Array(101...150))
        let raw = try jobs(Self.lublin)
        // Gaps halve exactly: arrivals count from job 101's submission.
        #expect(log.workload.requests[1].arrival == Int64((raw[101][1] - raw[100][1]) * 0.5 * 1e9))
        #expect(log.workload.requests[49].arrival == Int64((raw[149][1] - raw[100][1]) * 0.5 * 1e9))
    }

    /// Values the reader used to trap on (a scaled arrival past Int64, 10^17 processors): one error naming the job.
    @Test func numbersPastTheClockOrAnyMachineAreErrors() throws {
        let late = "1 0 -1 100 4 -1 -1 4 200 -1 1 3 -1 -1 -1 -1 -1 -1\n2 9000000000 -1 100 4 -1 -1 4 200 -1 1 3 -1 -1 -1 -1 -1 -1\n"
        #expect { try SWFImport.parse(late, file: "t.swf", spec: SWFImportSpec(path: "t.swf", timeScaleNano: 1_000_000 * 1_000_000_000)) } throws: {
            "\($0)" == "t.swf: job 2: its arrival (scaled by timeScale) or its runtime time is more than 100 years: past the simulated clock"
        }
        let huge = "1 0 -1 100 1000000000000000 -1 -1 4 200 -1 1 3 -1 -1 -1 -1 -1 -1\n"
        #expect { try SWFImport.parse(huge, file: "t.swf", spec: SWFImportSpec(path: "t.swf")) } throws: {
            "\($0)" == "t.swf: job 1: 1000000000000000 processors: expected at most 100000000"
        }
    }

    @Test func runtimeUnknownAndNoProcessorsAreCountedByReason() throws {
        let text = """
        ; MaxProcs: 64
        ; UnixStartTime: 1000000000
        1 0 -1 100 4 -1 -1 4 200 -1 1 3 -1 -1 -1 -1 -1 -1
        2 5 -1 -1 4 -1 -1 4 200 -1 1 3 -1 -1 -1 -1 -1 -1
        3 9 -1 50 -1 -1 -1 -1 200 -1 1 3 -1 -1 -1 -1 -1 -1
        4 12 -1 50 -1 -1 -1 2 -1 -1 1 3 -1 -1 -1 -1 -1 -1
        1 15 -1 50 2 -1 -1 2 -1 -1 1 3 -1 -1 -1 -1 -1 -1
        """
        let log = try SWFImport.parse(text, file: "t.swf", spec: SWFImportSpec(path: "t.swf"))
        #expect(log.records == 5 && log.used == 2)
        #expect(log.skipped == [.runtimeUnknown: 1, .processorsUnknown: 1, .duplicateJob: 1])
        #expect(log.workload.requests.map(\.vms) == [4, 2])  // job 4: requested processors when allocated is unknown
        #expect(log.maxProcs == 64 && log.unixStartTime == 1_000_000_000)
        #expect(log.workload.requests[0].estimate == 200_000_000_000)
    }

    @Test(arguments: [
        ("1 0 -1 100 4 -1 -1 4 200 -1 1 3 -1 -1 -1 -1 -1", "t.swf:3: expected 18 whitespace-separated fields (SWF 2.2), got 17"),
        ("1 0 -1 100 4 -1 -1 4 200 -1 1 3 -1 -1 -1 -1 -1 -1 7", "t.swf:3: expected 18 whitespace-separated fields (SWF 2.2), got more"),
        ("1 0 -1 1O0 4 -1 -1 4 200 -1 1 3 -1 -1 -1 -1 -1 -1", "t.swf:3:4: run time: expected a number, got '1O0'"),
    ])
    func malformedLinesNameTheirLine(line: String, message: String) {
        let text = "; Version: 2.2\n2 0 -1 10 1 -1 -1 1 10 -1 1 1 -1 -1 -1 -1 -1 -1\n" + line + "\n"
        #expect(throws: InputError.self) { try SWFImport.parse(text, file: "t.swf", spec: SWFImportSpec(path: "t.swf")) }
        do {
            _ = try SWFImport.parse(text, file: "t.swf", spec: SWFImportSpec(path: "t.swf"))
        } catch {
            #expect("\(error)" == message)
        }
    }
}
