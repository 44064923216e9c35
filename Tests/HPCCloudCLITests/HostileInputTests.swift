import Foundation
import Testing
import TestSupport

/// Input written to attack the sinks it reaches: terminals, shell scripts.
@Suite struct HostileInputTests {
    func temporaryDirectory() throws -> String { try Fixtures.scratchDirectory("hostile") }

    @Test func escapeSequencesNeverReachTheTerminal() throws {
        let dir = try temporaryDirectory()
        let named = dir + "/named.yaml"
        try "name: \"\\e]0;owned\\a\\e[2J\"\nhosts: [ { count: 1, cores: 4, memoryGiB: 8, hca: connectx-3 } ]\n".write(toFile: named, atomically: true, encoding: .utf8)
        let result = try Tool.run(["simulate", named, "--no-db", "--hardware", Fixtures.repoRoot + "/Hardware"])
        #expect(result.status == 2 && result.stderr.contains("name: expected printable text, found the control character U+1B"), "\(result.stderr)")
        #expect(!result.stderr.unicodeScalars.contains("\u{1B}") && !result.stdout.unicodeScalars.contains("\u{1B}"))

        let policy = dir + "/policy.yaml"
        try "policy: \"\\e[2Jx\"\nhosts: [ { count: 1, cores: 4, memoryGiB: 8, hca: connectx-3 } ]\n".write(toFile: policy, atomically: true, encoding: .utf8)
        let echoed = try Tool.run(["simulate", policy, "--no-db", "--hardware", Fixtures.repoRoot + "/Hardware"])
        #expect(echoed.status == 2 && !echoed.stderr.unicodeScalars.contains("\u{1B}"), "\(echoed.stderr)")
    }

    /// A Slurm directory named to run a command: the scripts quote it, and run as Slurm would run them, nothing runs.
    @Test func aSlurmDirectoryNamedLikeACommandStaysAName() throws {
        let dir = try temporaryDirectory()
        let marker = dir + "/pwned"
        let slurm = dir + "/$(touch${IFS}\(marker))"
        let generate = try Tool.run(["sweep", "Workloads/seed-testbed.yaml", "--vary", "policy=first-fit,worst-fit", "--replications", "2",
                                     "--slurm", slurm, "--shards", "1"])
        #expect(generate.status == 0, "\(generate.stderr)")
        let task = Process()
        task.executableURL = URL(fileURLWithPath: "/bin/bash")
        task.arguments = [slurm + "/sweep.sbatch"]
        task.environment = ["SLURM_ARRAY_TASK_ID": "0", "PATH": "/usr/bin:/bin", "HOME": dir]
        task.standardOutput = FileHandle.nullDevice
        task.standardError = FileHandle.nullDevice
        try task.run()
        task.waitUntilExit()
        #expect(task.terminationStatus == 0)
        #expect(FileManager.default.fileExists(atPath: slurm + "/shard-0.sqlite"), "the shard's database is in the directory as named")
        let merge = Process()
        merge.executableURL = URL(fileURLWithPath: "/bin/bash")
        merge.arguments = [slurm + "/merge.sh"]
        merge.standardOutput = FileHandle.nullDevice
        merge.standardError = FileHandle.nullDevice
        try merge.run()
        merge.waitUntilExit()
        #expect(merge.terminationStatus == 0 && FileManager.default.fileExists(atPath: slurm + "/all.sqlite"))
        #expect(!FileManager.default.fileExists(atPath: marker), "no command ran")

        let blank = try Tool.run(["sweep", "Workloads/seed-testbed.yaml", "--vary", "policy=first-fit", "--slurm", dir + "/a b"])
        #expect(blank.status == 2 && blank.stderr.contains("--slurm: expected a directory path without blanks"), "\(blank.stderr)")
    }

    /// Arguments the hostile-input report found crashing, hanging or misreported: each is one line and exit 2 now.
    @Test(arguments: [
        (["simulate", "--seed", "-1"], "The value '-1' is invalid for '--seed <N>'"),
        (["simulate", "--bogus"], "Unknown option '--bogus'"),
        (["capacity", "Workloads/seed-testbed.yaml", "--target", "rejection<=0.01", "--vary-hosts", "--horizon", "nan"], "--horizon must be a positive number"),
        (["sweep", "Workloads/seed-testbed.yaml", "--vary", "policy=first-fit", "--horizon", "inf", "--no-db"], "--horizon must be a positive number"),
        (["capacity", "Workloads/seed-testbed.yaml", "--target", "rejection<=-1", "--vary-rate"], "--target must be like rejection<=0.01"),
        (["sweep", "Workloads/seed-testbed.yaml", "--vary", "policy=first-fit", "--replications", "1000000000000", "--no-db"], "--replications must be 1 to 100000"),
    ])
    func badArgumentsAreOneLineAndExitTwo(arguments: [String], expected: String) throws {
        let result = try Tool.run(arguments)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("hpccloud: error: ") && result.stderr.contains(expected), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
    }

    /// Hardware profiles that used to be accepted and print `-nan`, or silently shadow each other.
    @Test func nonsenseHardwareIsRefused() throws {
        let dir = try temporaryDirectory()
        func hardware(_ edit: (String) -> String, file: String) throws -> String {
            let copy = dir + "/hw-\(UUID().uuidString)"
            try FileManager.default.copyItem(atPath: Fixtures.repoRoot + "/Hardware", toPath: copy)
            let path = copy + "/" + file
            try edit(try String(contentsOfFile: path, encoding: .utf8)).write(toFile: path, atomically: true, encoding: .utf8)
            return copy
        }
        let hostFile = try #require(try FileManager.default.contentsOfDirectory(atPath: Fixtures.repoRoot + "/Hardware/hosts").sorted().first)
        let zeroGHz = try hardware({ $0.replacingOccurrences(of: #"ghz: *[0-9.]+"#, with: "ghz: 0", options: .regularExpression) }, file: "hosts/" + hostFile)
        let ghz = try Tool.run(["simulate", "Workloads/seed-testbed.yaml", "--no-db", "--hardware", zeroGHz])
        #expect(ghz.status == 2 && ghz.stderr.contains("ghz: expected a number in 0.001...1000.0, got 0.0"), "\(ghz.stderr)")

        let twice = try hardware({ $0 }, file: "hosts/" + hostFile)
        try FileManager.default.copyItem(atPath: twice + "/hosts/" + hostFile, toPath: twice + "/hosts/zz-copy-" + hostFile)
        let duplicate = try Tool.run(["simulate", "Workloads/seed-testbed.yaml", "--no-db", "--hardware", twice])
        #expect(duplicate.status == 2 && duplicate.stderr.contains("is also defined in"), "\(duplicate.stderr)")

        let zeroEfficiency = try hardware({ text in
            text.replacingOccurrences(of: #"nativeEfficiency: \{ value: [0-9.]+"#, with: "nativeEfficiency: { value: 0", options: .regularExpression)
        }, file: "overheads.yaml")
        let efficiency = try Tool.run(["simulate", "Workloads/hpl-work-r710.yaml", "--no-db", "--hardware", zeroEfficiency])
        #expect(efficiency.status == 2 && efficiency.stderr.contains("nativeEfficiency.value: expected a number in 1e-06...1.0, got 0.0"), "\(efficiency.stderr)")
    }
}
