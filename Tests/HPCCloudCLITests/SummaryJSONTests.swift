import Foundation
import Testing
import TestSupport

/// `simulate --json`: the summary a script reads, the same numbers as the table.
@Suite struct SummaryJSONTests {
    @Test func theJSONSummaryCarriesTheTablesNumbers() throws {
        let arguments = ["simulate", "Workloads/swf-lublin-mixed.yaml", "--horizon", "50", "--no-db", "--set", "seed=9", "--warmup", "0.2"]
        let table = try Tool.run(arguments)
        let json = try Tool.run(arguments + ["--json"])
        #expect(table.status == 0 && json.status == 0, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["policy"] as? String == "first-fit" && object["seed"] as? Int == 9 && object["status"] as? String == "complete")
        let metrics = try #require(object["metrics"] as? [String: Double])
        let requests = Int(try #require(metrics["requests"]))
        #expect(table.stdout.contains("Requests                          \(requests)\n"))
        let wait = try #require(metrics["jobs.wait.mean"])
        #expect(table.stdout.contains(String(format: "  wait (s) mean, p50, p90, max    %.1f,", wait)))
        // The 20% warm-up moved the steady window's start to a fifth of the arrivals' span.
        let start = try #require(metrics["steadyStart"]), end = try #require(metrics["steadyEnd"])
        #expect(start > 0 && start < end && metrics["physicalCores.steadyAverage"] != nil)
        #expect(table.stdout.contains("arrivals after a 20% warm-up"))
    }
}
