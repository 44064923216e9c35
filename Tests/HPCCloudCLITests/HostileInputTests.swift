import Foundation
import Testing
import TestSupport

/// Input written to attack the sinks it reaches: terminals, shell scripts.
@Suite struct HostileInputTests {
    func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "hpccloud-hostile-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

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
}
