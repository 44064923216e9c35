import CloudModel
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import GRDB
import Reporting
import Simulation
import Testing
import TestSupport

/// What a researcher takes out of a results database: per-job rows, Batsim's
/// jobs.csv, figures with their data, paired differences and their warnings.
@Suite struct ResearchReportTests {
    /// The mixed Lublin scenario's first 100 hours (a queue, so jobs wait), recorded for two policies.
    func database() throws -> (ResultsDatabase, [Summary]) {
        let path = try Fixtures.scratchDirectory("research") + "/runs.sqlite"
        let database = try ResultsDatabase(path: path)
        let scenario = try Fixtures.loader().load(path: Fixtures.repoRoot + "/Workloads/swf-lublin-mixed.yaml")
        var summaries: [Summary] = []
        for policy in ["first-fit", "worst-fit"] {
            let run = try Run(scenario: scenario, policy: policy, horizon: 100 * 3_600_000_000_000)
            let recorder = try RunRecorder(database: database, run: run, scenarioYAML: "yaml")
            let summary = try run.simulate(record: recorder.record, monitor: RunMonitor(sample: { recorder.sample(time: $0, usage: $1, queued: $2) }))
            try recorder.finish(summary: summary, title: run.title)
            summaries.append(summary)
        }
        return (database, summaries)
    }

    @Test func perJobRowsAgreeWithTheSummaryAndTheirDefinitions() throws {
        let (database, summaries) = try database()
        try database.queue.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT arrival, start, "end", waitTime, runTime, turnaround, slowdown, boundedSlowdown, requestedTime, memoryMiB, vfs, vms
                FROM request WHERE runId = 1 AND "end" IS NOT NULL
                """)
            #expect(rows.count == summaries[0].jobs.wait.count && rows.count > 100)
            var waits: [Double] = []
            for row in rows {
                let arrival: Double = row["arrival"], start: Double = row["start"], end: Double = row["end"]
                let wait: Double = row["waitTime"], runTime: Double = row["runTime"], turnaround: Double = row["turnaround"]
                #expect(abs(wait - (start - arrival)) < 1e-6 && abs(runTime - (end - start)) < 1e-6 && abs(turnaround - (end - arrival)) < 1e-6)
                let bounded: Double = row["boundedSlowdown"]
                #expect(abs(bounded - max(1, turnaround / max(runTime, 10))) < 1e-9)
                #expect((row["memoryMiB"] as Int64) == 4096 && (row["requestedTime"] as Double?) != nil)
                let vfs = (row["vfs"] as String).split(separator: ";")
                #expect(vfs.count == row["vms"] as Int, "one VF per hpc VM")
                waits.append(wait)
            }
            #expect(abs(waits.reduce(0, +) / Double(waits.count) - summaries[0].jobs.wait.mean) < 1e-6)
            #expect(try Double.fetchOne(db, sql: "SELECT value FROM metric WHERE runId = 1 AND name = 'jobs.boundedSlowdown.mean'")
                    == summaries[0].jobs.boundedSlowdown.mean)
            #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sample WHERE memoryGiB IS NULL") == 0)
        }
    }

    @Test func batsimJobsHaveBatsimsColumnsAndConsistentTimes() throws {
        let (database, summaries) = try database()
        let csv = try Report(database: database).batsimJobs(runID: 2)
        let lines = csv.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        #expect(lines[0] == Report.batsimColumns)
        #expect(lines.count - 1 == summaries[1].jobs.wait.count)
        let column = Dictionary(uniqueKeysWithValues: Report.batsimColumns.enumerated().map { ($1, $0) })
        for fields in lines.dropFirst() {
            let value = { (name: String) in Double(fields[column[name]!])! }
            #expect(fields.count == Report.batsimColumns.count)
            #expect(abs(value("finish_time") - value("starting_time") - value("execution_time")) < 1e-6)
            #expect(abs(value("turnaround_time") - value("waiting_time") - value("execution_time")) < 1e-6)
            #expect(fields[column["final_state"]!] == "COMPLETED_SUCCESSFULLY" && fields[column["workload_name"]!] == "swf-lublin-mixed")
            #expect(fields[column["allocated_resources"]!].allSatisfy { $0.isNumber || $0 == "-" || $0 == " " })
        }
        #expect(throws: InputError.self) { try Report(database: database).batsimJobs(runID: 9) }
    }

    @Test func intervalSetsAreBatsims() {
        #expect(Report.intervalSet([0, 1, 2, 3, 7, 9, 10]) == "0-3 7 9-10")
        #expect(Report.intervalSet([]) == "" && Report.intervalSet([5]) == "5")
    }

    @Test func figuresAreStandaloneSVGsWithTheirData() throws {
        let (database, _) = try database()
        let directory = try Fixtures.scratchDirectory("figures")
        let (paths, pdf) = try Figures(report: Report(database: database)).write(to: directory)
        let svgs = paths.filter { $0.hasSuffix(".svg") }
        #expect(svgs.count == 8)
        for svg in svgs {
            let text = try String(contentsOfFile: svg, encoding: .utf8)
            #expect(text.hasPrefix("<?xml") && text.contains("<style>") && !text.contains("HPCCLOUD-CHART-HEIGHT"))
            // Well-formed XML, so any SVG tool reads it.
            #expect(throws: Never.self) { try XMLDocument(data: Data(text.utf8)) }
            let csv = try String(contentsOfFile: String(svg.dropLast(4)) + ".csv", encoding: .utf8)
            #expect(csv.split(separator: "\n").count > 1, "\(svg) has data")
        }
        #expect(pdf == (Figures.pdfConverter() != nil))
        if pdf {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: directory + "/wait-cdf.pdf"))
            #expect(bytes.starts(with: Array("%PDF".utf8)))
        }
        // The binned series is a time-weighted mean: 0 for 1 s then 10 for 3 s, in one bin, is 7.5.
        let binned = Figures.binnedMean([(0, 0), (1, 10), (4, 10)], bins: 1)
        #expect(binned.count == 1 && abs(binned[0].mean - 7.5) < 1e-12)
    }

    @Test func pairedDifferencesAreTakenReplicationByReplication() throws {
        func run(_ policy: String, _ replication: Int, _ acceptance: Double) -> SweepStore.StoredRun {
            SweepStore.StoredRun(sweep: "s", point: policy == "a" ? 0 : 1, replication: replication, settings: ["policy": policy],
                                 run: [:], metrics: ["acceptanceRatio": acceptance])
        }
        // Between replications the acceptance varies a lot; b is a steady 0.01 above a.
        let runs = [run("a", 0, 0.5), run("a", 1, 0.7), run("a", 2, 0.9), run("b", 0, 0.51), run("b", 1, 0.71), run("b", 2, 0.91)]
        let statistics = SweepStatistics(runs, keys: ["policy"])
        let paired = try statistics.paired(against: "policy", "a", file: "test")
        #expect(paired.count == 1 && paired[0].settings["policy"] == "b")
        let difference = paired[0].differences["acceptanceRatio"]!
        #expect(abs(difference.mean - 1) < 1e-9 && difference.halfWidth < 1e-9, "in percent: exactly 1 point, every replication")
        #expect(statistics.rows[0].intervals["acceptanceRatio"]!.halfWidth > 20, "apart, the two intervals overlap widely")
        #expect(try statistics.formattedPaired(against: "policy", "a", file: "test").contains("1.000 ± 0.000"))
        #expect(throws: InputError.self) { try statistics.paired(against: "policy", "c", file: "test") }
        #expect(throws: InputError.self) { try statistics.paired(against: "seed", "a", file: "test") }
        #expect(statistics.warnings.isEmpty)
        let copies = SweepStatistics([run("a", 0, 0.5), run("a", 1, 0.5)], keys: ["policy"])
        #expect(copies.warnings.first?.contains("replications are identical at 1 of 1 points") == true)
        #expect(copies.formatted().contains("warning: replications are identical"))
        // Paired: b equals a in every replication (its own intervals are wide): the difference says nothing.
        let same = SweepStatistics([run("a", 0, 0.5), run("a", 1, 0.7), run("b", 0, 0.5), run("b", 1, 0.7)], keys: ["policy"])
        #expect(same.warnings.isEmpty)
        let warnings = same.pairedWarnings(try same.paired(against: "policy", "a", file: "test"))
        #expect(warnings == ["paired accepted % is the same in every replication at 1 of 1 points (± 0): "
                             + "identical to the baseline there, so this metric cannot tell the two apart"])
        #expect(try same.formattedPaired(against: "policy", "a", file: "test").hasSuffix("warning: " + warnings[0]))
        #expect(statistics.pairedWarnings(paired).first?.contains("a constant difference") == true)
    }
}
