import Foundation
import Testing
import TestSupport

/// `--json` on every command that prints a summary: what a script reads, the same numbers as the table.
@Suite struct SummaryJSONTests {
    func object(_ result: Tool.Result) throws -> [String: Any] {
        #expect(result.status == 0, "\(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

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
        // The same warm-up as a scenario key, which sweep and capacity take through --set.
        let keyed = try self.object(try Tool.run(["simulate", "Workloads/swf-lublin-mixed.yaml", "--horizon", "50", "--no-db", "--set", "seed=9",
                                             "--set", "steadyState.warmup=0.2", "--json"]))
        #expect((keyed["metrics"] as? [String: Double])?["steadyStart"] == start)
        let bad = try Tool.run(["simulate", "--set", "steadyState.warmup=1.5", "--no-db"])
        #expect(bad.status == 2 && bad.stderr.contains("steadyState.warmup"), "\(bad.stderr)")
    }

    @Test func theScenarioLibraryAndDrainingSpeakJSON() throws {
        let library = try #require(try JSONSerialization.jsonObject(with: Data(try Tool.run(["scenarios", "--json"]).stdout.utf8)) as? [[String: Any]])
        let defrag = try #require(library.first { $0["file"] as? String == "swf-lublin-defrag.yaml" })
        #expect(defrag["hosts"] as? Int == 32 && defrag["migration"] as? String == "defragment" && defrag["admission"] as? String == "reject")
        let dir = try Fixtures.scratchDirectory("cli-json")
        let state = ["--state", dir + "/rehearsal.sqlite", "--hardware", Fixtures.hardwareDirectory]
        // --set on the first operator command records the cloud with it; later, it is refused.
        let created = try Tool.run(["cluster", "create", "--tenant", "alice", "--vms", "1", "--vcores", "2",
                                    "--scenario", "Workloads/seed-testbed.yaml", "--set", "hosts[0].count=3"] + state)
        #expect(created.status == 0, "\(created.stderr)")
        let hosts = try #require(try JSONSerialization.jsonObject(with: Data(try Tool.run(["host", "list", "--json"] + state).stdout.utf8)) as? [Any])
        #expect(hosts.count == 3)
        let again = try Tool.run(["host", "list", "--set", "hosts[0].count=5"] + state)
        #expect(again.status == 3 && again.stderr.contains("fixed at its first command"), "\(again.stderr)")
        let drained = try object(try Tool.run(["host", "drain", "sim2", "--json"] + state))
        #expect(drained["name"] as? String == "sim2" && drained["drained"] as? Bool == true)
        let undrained = try object(try Tool.run(["host", "undrain", "sim2", "--json"] + state))
        #expect(undrained["drained"] as? Bool == false)
        // Emptying sim0 by live migration: the hook sees the VM's GUID; a failing hook exits 1 and the VM stays.
        let migrated = try Tool.run(["host", "drain", "sim0", "--migrate", "--wait", "1", "--hook", "test -n \"$HPCCLOUD_GUID\"", "--json"] + state)
        let moves = try #require(try JSONSerialization.jsonObject(with: Data(migrated.stdout.utf8)) as? [[String: Any]], "\(migrated.stderr)")
        #expect(migrated.status == 0 && moves.count == 1 && moves[0]["outcome"] as? String == "moved")
        #expect((moves[0]["move"] as? [String: Any])?["fromHost"] as? String == "sim0")
        let stuck = try Tool.run(["host", "drain", "sim1", "--migrate", "--wait", "1", "--hook", "exit 7"] + state)
        #expect(stuck.status == 1 && stuck.stderr.contains("the migration hook failed (exit 7)"), "\(stuck.stdout)\(stuck.stderr)")
    }

    @Test func limitsAndWorkloadStatsInJSONCarryMemory() throws {
        let limits = try object(try Tool.run(["limits", "Workloads/seed-testbed.yaml", "--json"]))
        let lines = try #require(limits["limits"] as? [[String: Any]])
        let memory = try #require(lines.first { ($0["label"] as? String) == "GiB of VM memory at once" })
        // 2 hosts x 64 GiB, as the table says.
        #expect(memory["value"] as? Int == 128 && limits["hosts"] as? Int == 2)
        let table = try Tool.run(["limits", "Workloads/seed-testbed.yaml"])
        #expect(table.stdout.contains("128   floor(sum of count x memory) = floor(2 x 64)"))

        let stats = try object(try Tool.run(["workload", "stats", "Workloads/seed-testbed.yaml", "--json"]))
        #expect(stats["requests"] as? Int == 500 && stats["tenants"] as? Int == 5)
        let perVM = try #require(stats["memoryGiBPerVM"] as? [String: Double])
        let offered = try #require(stats["offered"] as? [String: Double]), cloud = try #require(stats["cloud"] as? [String: Any])
        #expect(perVM["min"]! >= 1 && perVM["max"]! >= perVM["p50"]! && cloud["memoryGiB"] as? Double == 128)
        let text = try Tool.run(["workload", "stats", "Workloads/seed-testbed.yaml"])
        #expect(text.stdout.contains(String(format: "  memory (GiB)                %.1f (", offered["memoryGiB"]!)), "\(text.stdout)")
        #expect(text.stdout.contains(String(format: "  memory per VM (GiB)   %9.3f", perVM["mean"]!)))
    }

    @Test func sweepJSONHasThePointsThePairedDifferencesAndTheWarnings() throws {
        let sweep = try object(try Tool.run(["sweep", "Workloads/seed-testbed.yaml", "--vary", "policy=first-fit,best-fit", "--replications", "3",
                                             "--baseline", "policy=first-fit", "--no-db", "--json"]))
        let points = try #require(sweep["points"] as? [[String: Any]])
        #expect(points.count == 2 && points.allSatisfy { $0["replications"] as? Int == 3 })
        // In the metric's own unit: a share, not the table's percent.
        let accepted = try #require((points[0]["metrics"] as? [String: [String: Any]])?["acceptanceRatio"])
        #expect((accepted["mean"] as? Double).map { $0 > 0 && $0 <= 1 } == true)
        let paired = try #require(sweep["paired"] as? [[String: Any]])
        #expect(paired.count == 1 && (paired[0]["settings"] as? [String: String])?["policy"] == "best-fit")
        let difference = try #require((paired[0]["metrics"] as? [String: [String: Any]])?["acceptanceRatio"])
        #expect(difference["excludesZero"] is Bool && (sweep["warnings"] as? [String]) == [])
    }

    @Test func capacityJSONHasEveryStepAndTheAnswer() throws {
        let capacity = try object(try Tool.run(["capacity", "Workloads/seed-testbed.yaml", "--target", "rejection<=0.2", "--vary-rate",
                                                "--replications", "2", "--max-replications", "4", "--tolerance", "0.1", "--json"]))
        let steps = try #require(capacity["steps"] as? [[String: Any]])
        #expect(steps.allSatisfy { [2, 4].contains($0["replications"] as? Int ?? 0) })
        #expect(steps.allSatisfy { ["meets", "fails", "undecided"].contains($0["verdict"] as? String ?? "") })
        let boundary = try #require(capacity["boundary"] as? [String: Double])
        #expect(boundary["meets"]! < boundary["fails"]!)
        let served = try #require(capacity["served"] as? [String: Any])
        #expect(served["setting"] as? Double == boundary["meets"] && ((served["clusters"] as? [String: Double])?["mean"] ?? 0) > 0)
        #expect(capacity["bindingLimit"] as? String == "cores" && (capacity["rejectionsFailing"] as? [String: Int])?["cores"] != nil)
    }

    /// --set works on every command that reads a scenario.
    @Test func setChangesTheScenarioOfEveryCommandThatReadsOne() throws {
        let limits = try object(try Tool.run(["limits", "Workloads/seed-testbed.yaml", "--set", "hosts[0].count=5", "--json"]))
        #expect(limits["hosts"] as? Int == 5)
        let stats = try object(try Tool.run(["workload", "stats", "Workloads/seed-testbed.yaml", "--set", "hosts[0].memoryGiB=32", "--json"]))
        #expect((stats["cloud"] as? [String: Any])?["memoryGiB"] as? Double == 64)
        let swf = try Tool.run(["workload", "stats", "Workloads/traces/lublin_256.swf", "--set", "seed=3"])
        #expect(swf.status == 2 && swf.stderr.contains("--set: sets a scenario key: give a scenario (.yaml) as SOURCE"))
        let golden = "Tests/SimulationTests/Golden/"
        let replay = try object(try Tool.run(["replay", golden + "golden-trace.csv", "--scenario", golden + "golden.yaml", "--decisions", "-",
                                              "--no-db", "--json", "--set", "hosts[0].count=1"]).withStdoutFromStderr())
        #expect(replay["hosts"] as? Int == 2, "1 host in the first group, 1 in the second")
        let db = try Fixtures.scratchDirectory("set") + "/sweep.sqlite"
        let sweep = try Tool.run(["sweep", "Workloads/seed-testbed.yaml", "--vary", "policy=first-fit", "--replications", "2", "--horizon", "20",
                                  "--set", "hosts[0].count=3", "--db", db])
        #expect(sweep.status == 0, "\(sweep.stderr)")
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(try Tool.run(["report", db, "--json"]).stdout.utf8)) as? [[String: Any]])
        #expect(runs.count == 2 && runs.allSatisfy { $0["hosts"] as? Int == 3 })
    }

    /// SQLite keeps a seed's bits in a signed integer: the listing shows the seed as given.
    @Test func theLargestSeedIsListedAsGiven() throws {
        let db = try Fixtures.scratchDirectory("seed") + "/r.sqlite"
        #expect(try Tool.run(["simulate", "Workloads/seed-testbed.yaml", "--seed", "18446744073709551615", "--horizon", "5", "--db", db]).status == 0)
        let listing = try Tool.run(["report", db])
        #expect(listing.stdout.contains("seed 18446744073709551615,"), "\(listing.stdout)")
        #expect(try Tool.run(["report", db, "--json"]).stdout.contains("\"seed\" : 18446744073709551615"))
    }

    /// --log: the engine's decisions, the queue and the policy's answers, on stderr with simulated times.
    @Test func logCategoriesShowTheDecisionsAndTheAnswers() throws {
        let golden = "Tests/SimulationTests/Golden/"
        let result = try Tool.run(["replay", golden + "golden-trace.csv", "--scenario", golden + "golden.yaml", "--decisions", "/dev/null",
                                   "--no-db", "--log", "engine,policy", "--log-level", "debug"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n").map(String.init)
        // As the golden decision log has it: cluster 1 on hosts 0;0;1 with pkey 0x0001, cluster 3 rejected for cores.
        #expect(lines.contains("t=0.000000 engine info: cluster 1 arrived: 3 x (1 vcores, 2 GiB, hpc fixed) for alice: accepted on hosts 0,0,1 (VFs 0,1,0), pkey 0x0001"))
        #expect(lines.contains("t=10.000000 engine info: cluster 3 arrived: 1 x (8 vcores, 8 GiB, hpc fixed) for carol: rejected (cores)"))
        #expect(lines.contains("t=0.000000 policy info: cluster 1 VM 3: host 1"))
        #expect(lines.contains("t=0.000000 policy debug: cluster 1 VM 3: fits 2 hosts: 1,2 (its hosts so far: 0)"))
        #expect(lines.contains("t=40.000000 engine debug: cluster 2 resize by -1: removed from hosts 2 (VFs 0)"))
        #expect(!lines.contains { $0.contains(" queue ") })
        let quiet = try Tool.run(["replay", golden + "golden-trace.csv", "--scenario", golden + "golden.yaml", "--decisions", "/dev/null", "--no-db"])
        #expect(quiet.status == 0 && !quiet.stderr.contains("engine info"))
        let bad = try Tool.run(["simulate", "--log", "engine,disk"])
        #expect(bad.status == 2 && bad.stderr.contains("--log must list engine, queue, policy or all"))
    }
}

extension Tool.Result {
    /// The summary of a run whose decision log went to stdout is on stderr.
    func withStdoutFromStderr() -> Tool.Result { Tool.Result(status: status, stdout: stderr, stderr: "") }
}
