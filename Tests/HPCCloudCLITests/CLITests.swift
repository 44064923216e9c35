import Foundation
import Reporting
import Simulation
import Testing
import TestSupport

/// Runs the built `hpccloud` binary as a user would.
struct Tool {
    static let binary = Fixtures.product("hpccloud")

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Where runs without --db write their results during the tests (not the repository's Reports/).
    static let reports: String = {
        (try? Fixtures.scratchDirectory("cli-reports")) ?? NSTemporaryDirectory()
    }()

    static func process(_ arguments: [String], in directory: String = Fixtures.repoRoot) -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        // Python policies leave no __pycache__ in the checkout.
        process.environment = ProcessInfo.processInfo.environment.merging(["HPCCLOUD_REPORTS": reports, "PYTHONDONTWRITEBYTECODE": "1"]) { _, new in new }
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        return process
    }

    static func run(_ arguments: [String], in directory: String = Fixtures.repoRoot) throws -> Result {
        let process = process(arguments, in: directory)
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read before waiting so a large output cannot block the child on a full pipe.
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }
}

@Suite(.serialized) struct CLITests {
    let golden = Fixtures.repoRoot + "/Tests/SimulationTests/Golden/"

    func temporaryDirectory() throws -> String { try Fixtures.scratchDirectory("cli") }

    @Test func simulateWithNoScenarioRunsTheEmbeddedDefault() throws {
        let result = try Tool.run(["simulate"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("default-64-host-cx3: 64 hosts, policy first-fit, seed 42"))
        for label in ["Requests", "  accepted", "  rejected", "physical cores", "VFs", "pkey entries", "LIDs",
                      "Concurrent clusters", "Concurrent tenants", "Mean hosts per hpc cluster"] {
            #expect(result.stdout.contains(label), "summary lacks \(label)")
        }
        // Seed and policy overrides take effect and show in the title.
        let other = try Tool.run(["simulate", "--seed", "5", "--policy", "worst-fit"])
        #expect(other.status == 0 && other.stdout.hasPrefix("default-64-host-cx3: 64 hosts, policy worst-fit, seed 5"))
    }

    @Test func benchRepeatsACaseAndShowsItsSpreadAndOutcome() throws {
        let dir = try temporaryDirectory()
        // "placement best" picks the best-fit placement cases: a prefix of the case's words.
        let result = try Tool.run(["bench", "--quick", "--only", "placement best", "--repeat", "3", "--json", "--out", dir + "/bench.md"])
        #expect(result.status == 0, "\(result.stderr)")
        struct Report: Decodable {
            struct Case: Decodable { var name: String, seconds: Double, minSeconds: Double?, maxSeconds: Double?, checksum: String, outcome: String, note: String }
            struct Target: Decodable { var text: String, met: Bool }
            var cases: [Case], targets: [Target]
        }
        let report = try JSONDecoder().decode(Report.self, from: Data(result.stdout.utf8))
        #expect(report.cases.map(\.name) == ["1,000", "10,000", "100,000"].map { "placement: best-fit, \($0) hosts, 30,000 admissions" })
        for c in report.cases {
            // The median lies within the spread; the outcome says what was decided; the decisions did not vary.
            let low = try #require(c.minSeconds), high = try #require(c.maxSeconds)
            #expect(low <= c.seconds && c.seconds <= high, "\(c)")
            #expect(c.outcome.hasSuffix("accepted") || c.outcome.contains("accepted; rejected: "), "\(c)")
            #expect(c.checksum.count == 16 && !c.note.contains("VARIES"))
        }
        #expect(report.targets.map(\.text) == ["checksums equal the O(H) reference policies at 1k hosts: all 1"] && report.targets.allSatisfy(\.met))
        // --out still writes the Markdown report.
        let markdown = try String(contentsOfFile: dir + "/bench.md", encoding: .utf8)
        #expect(markdown.contains("- runs: wall is the median run, min / max the fastest and slowest"))
        // --only takes a policy name; one that matches nothing is an error.
        let none = try Tool.run(["bench", "--quick", "--only", "nothing-like-this"])
        #expect(none.status != 0 && none.stderr.contains("no case matches 'nothing-like-this'"))
    }

    @Test func aBenchScenarioMakesTheBenchsDecisionsAndItsExportReplaysThem() throws {
        let dir = try temporaryDirectory()
        let scenario = Fixtures.repoRoot + "/Workloads/bench/synthetic-1k.yaml"
        let simulated = try Tool.run(["simulate", scenario, "--no-db", "--decisions", dir + "/simulated.csv"])
        #expect(simulated.status == 0, "\(simulated.stderr)")
        // The bench checksums each row's CSV bytes (FNV-1a), without the header and the line ends.
        let log = try String(contentsOfFile: dir + "/simulated.csv", encoding: .utf8)
        var checksum: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in log.split(separator: "\n").dropFirst().joined().utf8 {
            checksum = (checksum ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        let bench = Benchmark.simulation(policy: "first-fit", hosts: 1_000, requests: 10_000, catalog: try Fixtures.catalog())
        #expect(checksum == bench.checksum, "the scenario decides otherwise than the bench case it reproduces")

        // Its workload as a trace CSV, replayed on its cloud: the same log, byte for byte.
        let exported = try Tool.run(["workload", "export", scenario, "--out", dir + "/trace.csv"])
        #expect(exported.status == 0, "\(exported.stderr)")
        let replayed = try Tool.run(["replay", dir + "/trace.csv", "--scenario", scenario, "--no-db", "--decisions", dir + "/replayed.csv"])
        #expect(replayed.status == 0, "\(replayed.stderr)")
        #expect(try String(contentsOfFile: dir + "/replayed.csv", encoding: .utf8) == log)
    }

    @Test func replayToStdoutWritesExactlyTheGoldenLog() throws {
        let result = try Tool.run(["replay", golden + "golden-trace.csv", "--scenario", golden + "golden.yaml", "--decisions", "-"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == (try String(contentsOfFile: golden + "golden-decisions.csv", encoding: .utf8)))
        #expect(result.stderr.contains("Requests"))  // the summary moves to stderr
    }

    @Test func replayToAFileWritesItWhole() throws {
        let directory = try temporaryDirectory()
        let out = directory + "/decisions.csv"
        let result = try Tool.run(["replay", golden + "golden-trace.csv", "--scenario", golden + "golden.yaml", "--decisions", out])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try String(contentsOfFile: out, encoding: .utf8) == (try String(contentsOfFile: golden + "golden-decisions.csv", encoding: .utf8)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["decisions.csv"])  // no temp file left
        #expect(result.stdout.contains("Decision log: \(out)"))
    }

    @Test(arguments: [
        ("hosts: [ { count: 1, cores: 4, memoryGiB: 8, hca: connectx-3, colour: red } ]\nworkload: { trace: t.csv }", "s.yaml:1:63: hosts[0].colour: unknown key"),
        ("hosts: [ { count: 1, cores: 4, memoryGiB: 8, hca: connectx-99 } ]\nworkload: { trace: t.csv }", "s.yaml:1:51: hosts[0].hca: unknown HCA profile 'connectx-99'"),
        ("hosts: [ { count: -1, cores: 4, memoryGiB: 8, hca: connectx-3 } ]\nworkload: { trace: t.csv }", "s.yaml:1:19: hosts[0].count: expected a host count in 0...10000000, got -1"),
        ("hosts: [ { count: 400, cores: 4, memoryGiB: 8, hca: connectx-6, vfs: 127, sriovMode: vswitch-prepopulated } ]\nworkload: { trace: t.csv }", "s.yaml:1:8: subnet.lidSpace: infeasible LID budget: build-time LIDs 51201 (1 switches + 400 PF ports + 50800 prepopulated VF LIDs) exceed the LID space of 49151"),
        ("hosts: [ { count: 1, cores: 4\nworkload: [", "s.yaml:2:9: malformed YAML"),
        ("hosts: [ { count: 1, cores: 4, memoryGiB: 8, hca: connectx-3 } ]", "s.yaml: workload: missing: this scenario has no workload to simulate"),
    ])
    func badScenariosFailInOneLineWithStatus2(yaml: String, expected: String) throws {
        let directory = try temporaryDirectory()
        try yaml.write(toFile: directory + "/s.yaml", atomically: true, encoding: .utf8)
        let result = try Tool.run(["simulate", "s.yaml", "--hardware", Fixtures.hardwareDirectory], in: directory)
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("hpccloud: error: \(directory)/\(expected)") || result.stderr.hasPrefix("hpccloud: error: s.yaml"),
                "\(result.stderr)")
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        #expect(result.stderr.filter { $0 == "\n" }.count == 1, "not one line: \(result.stderr)")
    }

    @Test(arguments: [
        ("1,0,a,2,1,1,hpc,fixed\n", "t.csv:2: expected 9 fields as in the header, got 8"),
        ("1,0,a,2,1,1x,hpc,fixed,10\n", "t.csv:2:6: mem_gib: expected a non-negative decimal number of GiB, got '1x'"),
        ("1,0,a,2,1,1,hpc,fixed,-4\n", "t.csv:2:9: duration: negative value -4"),
        ("1,0,a,2,1,1,vm,fixed,4\n", "t.csv:2:7: kind: unknown kind 'vm' (expected hpc or common)"),
    ])
    func badTracesFailInOneLineWithStatus2(rows: String, expected: String) throws {
        let directory = try temporaryDirectory()
        try ("id,arrival,tenant,vms,vcores,mem_gib,kind,pinning,duration\n" + rows).write(toFile: directory + "/t.csv", atomically: true, encoding: .utf8)
        let result = try Tool.run(["replay", "t.csv", "--scenario", golden + "golden.yaml", "--decisions", directory + "/out.csv"], in: directory)
        #expect(result.status == 2)
        #expect(result.stderr == "hpccloud: error: \(expected)\n")
        #expect(!FileManager.default.fileExists(atPath: directory + "/out.csv"))
    }

    @Test func missingFilesAreReportedNotCrashedOn() throws {
        let result = try Tool.run(["replay", "/nonexistent/t.csv", "--scenario", golden + "golden.yaml", "--decisions", "-"])
        #expect(result.status == 2 && result.stderr == "hpccloud: error: /nonexistent/t.csv: cannot read the trace (missing or unreadable)\n")
        let scenario = try Tool.run(["simulate", "/nonexistent/s.yaml", "--hardware", Fixtures.hardwareDirectory])
        #expect(scenario.status == 2 && scenario.stderr.contains("/nonexistent/s.yaml: cannot read the file"))
    }

    @Test func helpExplainsEveryFlag() throws {
        let simulate = try Tool.run(["simulate", "--help"])
        for flag in ["--seed", "--policy", "--hardware", "--decisions", "--horizon", "SCENARIO", "first-fit", "best-fit", "worst-fit", "pkey-pack", "random"] {
            #expect(simulate.stdout.contains(flag), "simulate --help lacks \(flag)")
        }
        let replay = try Tool.run(["replay", "--help"])
        for flag in ["--scenario", "--decisions", "--policy", "--seed", "--hardware", "TRACE.csv"] {
            #expect(replay.stdout.contains(flag), "replay --help lacks \(flag)")
        }
        let unknownPolicy = try Tool.run(["simulate", "--policy", "fastest"])
        #expect(unknownPolicy.status != 0 && unknownPolicy.stderr.contains("unknown policy 'fastest'"))
    }

    @Test func scenariosListsTheLibraryWithItsPurposes() throws {
        let result = try Tool.run(["scenarios"])
        #expect(result.status == 0, "\(result.stderr)")
        for (file, purpose) in [("seed-testbed.yaml", "2-host ConnectX-2 testbed"),
                                ("cx3-private-cloud-64.yaml", "64-host ConnectX-3 private cloud"),
                                ("cx6-vswitch-1024.yaml", "LIDs or pkeys become the limit"),
                                ("swf-lublin-256.yaml", "SWF replay of the Lublin 256-node log")] {
            let line = result.stdout.split(separator: "\n").first { $0.hasPrefix(file) }
            #expect(line?.contains(purpose) == true, "scenarios lacks \(file): \(purpose)")
        }
    }

    @Test func workloadStatsDescribesScenariosAndLogs() throws {
        let scenario = try Tool.run(["workload", "stats", "Workloads/swf-lublin-256.yaml"])
        #expect(scenario.status == 0, "\(scenario.stderr)")
        for text in ["10000 job records", "MaxNodes 256", "Requests                      10000", "VMs per cluster",
                     "lifetime (h)", "physical cores at r=1", "of 256)", "VFs"] {
            #expect(scenario.stdout.contains(text), "stats lacks \(text)")
        }
        let log = try Tool.run(["workload", "stats", "Tests/WorkloadsTests/Fixtures/accasim_24jobs.swf", "--cores-per-vm", "4",
                                "--skip", "5", "--limit", "10"])
        #expect(log.status == 0 && log.stdout.contains("25 job records; window 10 (skip 5, limit 10); used 10, skipped 0"))
    }

    @Test func aMalformedSWFLineIsOneLineAndExitTwo() throws {
        let directory = try temporaryDirectory()
        let path = directory + "/bad.swf"
        try "; MaxNodes: 4\n1 0 -1 10 1 -1 -1 1 10 -1 1 1 -1 -1 -1 -1 -1 -1\n2 5 -1 10 1 -1 -1 1\n".write(toFile: path, atomically: true, encoding: .utf8)
        let result = try Tool.run(["workload", "stats", path])
        #expect(result.status == 2)
        #expect(result.stderr == "hpccloud: error: \(path):3: expected 18 whitespace-separated fields (SWF 2.2), got 8\n")
    }

    @Test func aQueuedSWFRunReportsTheLogAndTheWaits() throws {
        let result = try Tool.run(["simulate", "Workloads/swf-lublin-256.yaml", "--horizon", "24"])
        #expect(result.status == 0, "\(result.stderr)")
        for text in ["SWF log", "used 10000, skipped 0", "queue, FCFS with EASY backfilling", "wait (h) mean, p50, p90, p99, max"] {
            #expect(result.stdout.contains(text), "output lacks \(text)")
        }
        let help = try Tool.run(["workload", "stats", "--help"])
        for flag in ["--cores-per-vm", "--lifetime", "--time-scale", "--skip", "--limit", "--seed", "--hardware", "SOURCE"] {
            #expect(help.stdout.contains(flag), "workload stats --help lacks \(flag)")
        }
    }

    @Test func reproducePrintsEveryPointAndRefusesAMissingOne() throws {
        let paper = try Tool.run(["reproduce", "paper"])
        #expect(paper.status == 0, "\(paper.stderr)")
        for row in ["2 nodes, native", "4 VMs x 4 vCores, dynamic", "4 VMs x 4 vCores, fixed", "8 VMs x 2 vCores, dynamic",
                    "8 VMs x 2 vCores, fixed", "Largest error on the calibration points", "virtualJitter"] {
            #expect(paper.stdout.contains(row), "reproduce paper lacks \(row)")
        }
        let scale = try Tool.run(["reproduce", "scale", "--hold-out-hosts", "16", "64", "128"])
        #expect(scale.status == 0, "\(scale.stderr)")
        for row in ["| 1 host, virtual vs native |", "| 128 hosts, virtual vs native |", "Held out, CloudCom 2014 scale: largest error", "passthrough"] {
            #expect(scale.stdout.contains(row), "reproduce scale lacks \(row)")
        }
        let all = try Tool.run(["reproduce", "all"])
        for row in ["EC2", "VNET/P", "What moves the model", "links SDR 1x", "MPI point to point"] {
            #expect(all.stdout.contains(row), "reproduce all lacks \(row)")
        }
        let bad = try Tool.run(["reproduce", "paper", "--hold-out", "9"])
        #expect(bad.status == 2 && bad.stderr.contains("no row 9 to hold out"))
        let badHosts = try Tool.run(["reproduce", "scale", "--hold-out-hosts", "3"])
        #expect(badHosts.status == 2 && badHosts.stderr.contains("no point at 3 hosts to hold out"))
    }

    @Test func anUnknownNetworkPathIsNamed() throws {
        let directory = try temporaryDirectory()
        let path = directory + "/s.yaml"
        try """
        hosts: [ { count: 1, model: dell-r710 } ]
        overheads: { path: carrier-pigeon }
        workload: { trace: \(golden)golden-trace.csv }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try Tool.run(["simulate", path, "--hardware", Fixtures.hardwareDirectory])
        #expect(result.status == 2 && result.stderr.contains("overheads.path: unknown network path 'carrier-pigeon'"))
    }

    @Test func aScenarioNamesItsApplicationProfileOrGivesItsOwn() throws {
        func efficiency(_ set: [String]) throws -> (status: Int32, mean: String, stderr: String) {
            let result = try Tool.run(["simulate", "Workloads/hpl-work-r710.yaml", "--no-db", "--horizon", "50"] + set)
            let line = result.stdout.split(separator: "\n").first { $0.hasPrefix("Efficiency (hpc") }
            return (result.status, line.map(String.init) ?? "", result.stderr)
        }
        let hpl = try efficiency([])
        #expect(hpl.status == 0 && hpl.mean.contains("sriov-ib, hpl)"), "\(hpl.stderr)")
        let latency = try efficiency(["--set", "overheads.profile=latency-bound"])
        #expect(latency.status == 0 && latency.mean.contains("sriov-ib, latency-bound)") && latency.mean != hpl.mean.replacingOccurrences(of: "hpl)", with: "latency-bound)"))
        let own = try efficiency(["--set", "overheads.profile.commRatio=0.5", "--set", "overheads.profile.growth=1",
                                  "--set", "overheads.profile.messageBytes=64"])
        #expect(own.status == 0 && own.mean.contains("sriov-ib, custom)"), "\(own.stderr)")
        let unknown = try efficiency(["--set", "overheads.profile=stencil"])
        #expect(unknown.status == 2 && unknown.stderr.contains("overheads.profile: unknown profile 'stencil' (expected one of: bandwidth-bound, hpl, latency-bound"), "\(unknown.stderr)")
    }

    @Test func simulateWritesAResultsDatabaseByDefaultAndReportReadsIt() throws {
        let result = try Tool.run(["simulate", "Workloads/seed-testbed.yaml"])
        #expect(result.status == 0, "\(result.stderr)")
        let line = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("Results: ") })
        let path = String(line.dropFirst("Results: ".count).split(separator: " ")[0])
        #expect(path.hasPrefix(Tool.reports + "/seed-testbed-") && path.hasSuffix(".sqlite"))
        let listing = try Tool.run(["report", path])
        #expect(listing.stdout.hasPrefix("run 1: seed-testbed, policy first-fit, seed 1, 2 hosts, complete"))
        let listed = try Tool.run(["report", path, "--json"])
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        #expect(runs.count == 1 && runs[0]["status"] as? String == "complete" && runs[0]["hosts"] as? Int == 2)
        #expect(((runs[0]["metrics"] as? [String: Double])?["requests"] ?? 0) > 0)
        let csv = try Tool.run(["report", path, "--csv", "metric"])
        #expect(csv.status == 0 && csv.stdout.hasPrefix("runId,name,value\n") && csv.stdout.contains("1,accepted,"))
        let bad = try Tool.run(["report", path, "--csv", "users"])
        #expect(bad.status == 2 && bad.stderr.contains("unknown table 'users'"))
        let html = try temporaryDirectory() + "/r.html"
        let page = try Tool.run(["report", path, "--html", html])
        #expect(page.status == 0 && FileManager.default.fileExists(atPath: html))
        let none = try Tool.run(["simulate", "Workloads/seed-testbed.yaml", "--no-db"])
        #expect(none.status == 0 && !none.stdout.contains("Results: "))
    }

    /// Ctrl-C: the run stops, commits what it has, marks the run interrupted, exits 130.
    @Test func ctrlCLeavesAMarkedDatabase() throws {
        let path = try temporaryDirectory() + "/big.sqlite"
        let process = Tool.process(["simulate", "Workloads/cx6-vswitch-1024.yaml", "--db", path])
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        // Wait until the run row exists (the run has started), then interrupt.
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: path) { Thread.sleep(forTimeInterval: 0.05) }
        Thread.sleep(forTimeInterval: 0.5)
        #expect(process.isRunning, "the run finished before it could be interrupted")
        process.interrupt()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130, "\(stderr)")
        #expect(stderr.contains("interrupted; the results database marks the run incomplete"))
        let listing = try Tool.run(["report", path])
        #expect(listing.stdout.contains("interrupted (incomplete)"), "\(listing.stdout)")
    }

    @Test func versionIsTheOneRunsRecord() throws {
        let result = try Tool.run(["--version"])
        #expect(result.status == 0 && result.stdout == ToolVersion.string + "\n", "\(result.stdout)\(result.stderr)")
    }

    @Test func capacityOnThe64HostScenarioNamesTheBindingLimit() throws {
        let result = try Tool.run(["capacity", "Workloads/cx3-private-cloud-64.yaml", "--target", "rejection<=0.01", "--vary-rate"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("Answer: the highest arrival rate meeting rejection<=0.01 lies between"))
        #expect(result.stdout.contains("Binding limit just past it: cores"))
        let limits = try Tool.run(["limits", "Workloads/cx6-vswitch-1024.yaml"])
        #expect(limits.status == 0 && limits.stdout.contains("EXCEEDS the LID space of 49151"))
        // The planner's question: 200,000 such hosts, a LID for every VF in use.
        let plan = try Tool.run(["limits", "Workloads/cx6-vswitch-1024.yaml", "--hosts", "200000", "--subnet-fit", "full-vf-use", "--json"])
        #expect(plan.status == 0, "\(plan.stderr)")
        #expect(plan.stdout.contains("\"hosts\" : 200000") && plan.stdout.contains("\"subnets\" : 523"))
        let bad = try Tool.run(["limits", "Workloads/cx6-vswitch-1024.yaml", "--subnet-fit", "full"])
        #expect(bad.status != 0 && bad.stderr.contains("--subnet-fit must be one of: build, full-vf-use"))
        let slurm = try Tool.run(["sweep", "Workloads/seed-testbed.yaml", "--vary", "policy=first-fit", "--slurm", "/dev/null/x"])
        #expect(slurm.status == 1 && slurm.stderr == "hpccloud: error: /dev/null/x: cannot write: Not a directory\n", "\(slurm.stderr)")
        let badKey = try Tool.run(["sweep", "Workloads/seed-testbed.yaml", "--vary", "hosts[0].sriovMode=vswitch", "--no-db"])
        #expect(badKey.status == 2 && badKey.stderr.contains("unknown SR-IOV mode 'vswitch'"))
    }

    /// Real libibverbs: on this machine (no RDMA device) discovery says so in one line.
    @Test func fabricDiscoverCallsLibibverbsForReal() throws {
        let result = try Tool.run(["fabric", "discover"])
        // The oracle is the kernel's, not the code under test: libibverbs lists the uverbs
        // devices the kernel exposes under /sys/class/infiniband_verbs (rdma-core libibverbs/init.c).
        let uverbs = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/infiniband_verbs"))?.filter { $0.hasPrefix("uverbs") } ?? []
        if uverbs.isEmpty {
            #expect(result.status == 2 && result.stderr == "hpccloud: error: libibverbs: no RDMA devices found\n")
        } else {
            #expect(result.status == 0 && result.stdout.contains("hosts:"))
        }
    }

    @Test func fabricDiscoverReadsASysfsTreeAndPrintsAScenarioEntry() throws {
        let root = try temporaryDirectory()
        let fake = FakeSysfs()
        fake.addMLX4(vfs: 7, pkeys: [0xffff, 0x8001])
        fake.addMLX5(vfs: 4)
        try fake.materialize(at: root)
        let result = try Tool.run(["fabric", "discover", "--sysfs-root", root])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("mlx4_0: mlx4_core at 0000:04:00.0, fw 2.42.5000, node GUID 0x0002c90300a1b2c0, 7 VFs present of 63, profile connectx-3"))
        #expect(result.stdout.contains("mlx5_0: mlx5_core at 0000:81:00.0") && result.stdout.contains("4 VFs present of 127, profile connectx-6"))
        #expect(result.stdout.contains("port 1: InfiniBand ACTIVE, GUID 0x0002c90300a1b2c1"), "the port GUID comes from gids/0")
        #expect(result.stdout.contains("hca: connectx-3, vfs: 7, pkeyTable: 15"), "mlx4 shows the SM one entry less than the physical table")
        let empty = try temporaryDirectory()
        let none = try Tool.run(["fabric", "discover", "--sysfs-root", empty])
        #expect(none.status == 2 && none.stderr.contains("no RDMA devices found"))
    }

    @Test func operatorCommandsRehearseThenDriveASysfsTree() throws {
        let dir = try temporaryDirectory()
        let scenario = dir + "/cloud.yaml"
        try "hosts:\n  - { count: 2, cores: 8, memoryGiB: 32, hca: connectx-6, vfs: 4 }\n".write(toFile: scenario, atomically: true, encoding: .utf8)
        // Rehearsal on the simulated backend.
        let state = ["--state", dir + "/rehearsal.sqlite", "--hardware", Fixtures.hardwareDirectory]
        let create = try Tool.run(["cluster", "create", "--tenant", "alice", "--vms", "3", "--vcores", "4", "--scenario", scenario] + state)
        #expect(create.status == 0 && create.stdout == "cluster 1 (alice): accepted, pkey 0x0001: host 0 VF 0, host 0 VF 1, host 1 VF 0\n", "\(create.stderr)")
        // Draining sim0 would need room for two 4-vCPU VMs on sim1, which has one: refused, nothing changes.
        let drain = try Tool.run(["host", "drain", "sim0", "--plan"] + state)
        #expect(drain.status == 3 && drain.stderr == "hpccloud: error: host sim0 cannot be emptied: VM 1 of cluster 1 (alice) fits no other host (cores)\n",
                "\(drain.stderr)")
        let plan = try Tool.run(["plan"] + state)
        #expect(plan.stdout.contains("sim1: set the VF count to 4"), "\(plan.stdout)")
        #expect(try Tool.run(["apply"] + state).status == 0)
        #expect(try Tool.run(["apply"] + state).stdout == "nothing to do: the hardware matches the recorded placements\n")
        let partitions = try Tool.run(["partitions"] + state)
        #expect(partitions.stdout.contains("hpccloud_c1=0x0001, ipoib : 0x0200000000000001=full, 0x0200000000000002=full, 0x0200000000000003=full ;"),
                "vSwitch VFs are members by their own GUIDs: \(partitions.stdout)")

        // Exit status: 3 for a refusal, 2 for bad input; the documented `--by -3` works.
        let clamped = try Tool.run(["cluster", "resize", "--id", "1", "--by", "-3"] + state)
        #expect(clamped.status == 3 && clamped.stdout.contains("keeps at least one VM"), "\(clamped.stdout)\(clamped.stderr)")
        let shrink = try Tool.run(["cluster", "resize", "--id", "1", "--by", "-2"] + state)
        #expect(shrink.status == 0 && shrink.stdout == "cluster 1: shrunk by 2: host 0 VF 1, host 1 VF 0\n", "\(shrink.stderr)")
        // One VM left, on sim0: sim1 takes it.
        let drain0 = try Tool.run(["host", "drain", "sim0", "--plan", "--json"] + state)
        #expect(drain0.status == 0 && drain0.stdout.contains("\"toHost\" : \"sim1\"") && drain0.stdout.contains("\"tenant\" : \"alice\""),
                "\(drain0.stdout)\(drain0.stderr)")
        #expect(try Tool.run(["cluster", "delete", "--id", "9223372036854775807"] + state).status == 3)
        #expect(try Tool.run(["cluster", "show", "--id", "42"] + state).status == 3)
        let huge = try Tool.run(["cluster", "create", "--tenant", "bob", "--vms", "9223372036854775807", "--vcores", "1"] + state)
        #expect(huge.status == 2 && huge.stderr.contains("expected 1 to 8"), "\(huge.stderr)")
        let rejected = try Tool.run(["cluster", "create", "--tenant", "bob", "--vms", "8", "--vcores", "8"] + state)
        #expect(rejected.status == 3 && rejected.stdout.contains("rejected: "), "\(rejected.stdout)")
        let json = try Tool.run(["cluster", "show", "--id", "1", "--json"] + state)
        let shown = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(shown?["pkey"] as? Int == 1 && (shown?["vms"] as? [[String: Any]])?.first?["guid"] as? String == "0x0200000000000001")
        let both = try Tool.run(["cluster", "create", "--tenant", "carol", "--vms", "1", "--vcores", "1", "--apply", "--json"] + state)
        let object = try JSONSerialization.jsonObject(with: Data(both.stdout.utf8)) as? [String: Any]
        #expect(both.status == 0 && (object?["outcome"] as? [String: Any])?["outcome"] as? String == "accepted"
                && (object?["apply"] as? [String: Any])?["changes"] != nil, "one JSON object: \(both.stdout)")
        let audit = try Tool.run(["journal", "--audit", "--json"] + state)
        let rows = try JSONSerialization.jsonObject(with: Data(audit.stdout.utf8)) as? [[String: String]] ?? []
        #expect(rows.map { $0["outcome"] ?? "" } == ["accepted", "rejected", "accepted", "ignored", "rejected", "accepted"], "\(rows)")

        // The same walk-through on the connectx backend: a ConnectX-3 (mlx4) and a ConnectX-6 under MLNX_OFED, as trees on disk.
        let mixed = dir + "/mixed.yaml"
        try """
        hosts:
          - { count: 1, cores: 8, memoryGiB: 32, hca: connectx-3, vfs: 4, pkeyTable: 15 }
          - { count: 1, cores: 8, memoryGiB: 32, hca: connectx-6, vfs: 4 }
        """.write(toFile: mixed, atomically: true, encoding: .utf8)
        let root = dir + "/hosts"
        let a = FakeSysfs(), b = FakeSysfs()
        a.addMLX4(vfs: 4, pkeys: [0xffff, 0x7fff])
        b.addMLX5(nodeGUID: 0x9803_9b03_0000_0000, vfs: 4, totalVFs: 8, ofed: true)
        try a.materialize(at: root + "/h0")
        try b.materialize(at: root + "/h1")
        let hw = ["--state", dir + "/hw.sqlite", "--backend", "connectx", "--sysfs-root", root, "--hardware", Fixtures.hardwareDirectory,
                  "--partitions", dir + "/partitions.conf"]
        let first = try Tool.run(["cluster", "create", "--tenant", "alice", "--vms", "2", "--vcores", "8", "--scenario", mixed,
                                  "--apply", "--wait", "0"] + hw)
        #expect(first.status == 1 && first.stdout.contains("waiting: h0: pkey 0x0001 is not in port 1's table yet"), "\(first.stdout)\(first.stderr)")
        // The subnet manager's part: the PF's physical table now holds the tenant key.
        try "0x8001\n".write(toFile: root + "/h0/sys/class/infiniband/mlx4_0/iov/ports/1/pkeys/2", atomically: false, encoding: .utf8)
        let second = try Tool.run(["apply", "--wait", "0"] + hw)
        #expect(second.status == 0 && second.stdout.contains("applied: h0: VF 0: attach to pkey 0x0001 with GUID 0x0200000000000001"), "\(second.stdout)")
        #expect(first.stdout.contains("applied: h1: VF 0: attach to pkey 0x0001 with GUID 0x0200000000000002"), "the mlx5 host did not wait for the mlx4 one")
        let node = try String(contentsOfFile: root + "/h1/sys/bus/pci/devices/0000:81:00.0/sriov/0/node", encoding: .utf8)
        #expect(node == "02:00:00:00:00:00:00:02\n")
        let map = try (0..<3).map { try String(contentsOfFile: root + "/h0/sys/class/infiniband/mlx4_0/iov/0000:04:00.1/ports/1/pkey_idx/\($0)", encoding: .utf8) }
        #expect(map == ["2\n", "1\n", "none\n"], "tenant key at 0, the limited default at 1, nothing else: \(map)")
        let deleted = try Tool.run(["cluster", "delete", "--id", "1", "--apply", "--wait", "0"] + hw)
        #expect(deleted.stdout.contains("applied: h0: VF 0: detach"), "\(deleted.stdout)")
        let guid = try String(contentsOfFile: root + "/h0/sys/class/infiniband/mlx4_0/iov/ports/1/admin_guids/1", encoding: .utf8)
        #expect(guid == "0xffffffffffffffff\n", "a detached VF's alias GUID is deleted")
        let mismatch = try Tool.run(["cluster", "list", "--backend", "simulated"] + hw.filter { $0 != "connectx" && $0 != "--backend" })
        #expect(mismatch.status == 2 && mismatch.stderr.contains("drives the connectx backend"))
    }
}
