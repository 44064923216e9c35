import Foundation
import Reporting
import Testing
import TestSupport

/// A sweep through a real Slurm: a single-node cluster (Debian's slurm-wlm and
/// munge, installed by `make test`) started here by `Tests/Slurm/single-node.sh`, the generated job array submitted with sbatch, the shards merged
/// and compared with the whole sweep run on this machine. If Slurm cannot
/// start, the test fails with the reason; it is never skipped.
@Suite(.serialized) struct SlurmTests {
    struct Shell {
        var status: Int32
        var output: String
    }

    /// Runs `command` under bash with `environment` added, output merged, killed after `timeout` s.
    /// Spawned with a clean signal mask, so the daemons it starts can be stopped (see `CleanSpawn`).
    @discardableResult
    static func shell(_ command: String, environment: [String: String] = [:], timeout: TimeInterval = 60) throws -> Shell {
        let result = try CleanSpawn.run("/bin/bash", ["-c", command], environment: environment, timeout: timeout)
        return Shell(status: result.status, output: result.output)
    }

    @Test(.requires(.slurm)) func aShardedSweepOnSlurmEqualsTheWholeRunAsRoot() throws {
        // Under make test the trait does not skip: a missing requirement fails here, saying what it is.
        try #require(ExternalRequirement.slurm.isMet, Comment(rawValue: ExternalRequirement.slurm.missing))
        let dir = try Fixtures.scratchDirectory("slurm")
        try FileManager.default.createDirectory(atPath: "\(dir)/job", withIntermediateDirectories: true)
        // Ports of our own, so a leftover daemon cannot answer for this cluster. The script
        // (shared with Reports/benchmarks/campaign.py) writes slurm.conf and starts munged,
        // slurmctld and slurmd; it is stopped by pid.
        let port = 20_000 + Int(getpid() % 5_000) * 2
        let slurm = Fixtures.repoRoot + "/Tests/Slurm/single-node.sh"
        let env = ["SLURM_CONF": "\(dir)/slurm.conf"]
        defer { try? Self.shell("'\(slurm)' stop '\(dir)'") }
        let start = try Self.shell("'\(slurm)' start '\(dir)' \(port)")
        try #require(start.status == 0, "Slurm did not come up: \(start.output)")
        let logs = { (try? Self.shell("tail -n 20 \(dir)/log/*.log").output) ?? "" }

        let scenario = Fixtures.repoRoot + "/Workloads/seed-testbed.yaml"
        let sweep = ["sweep", scenario, "--vary", "policy=first-fit,worst-fit", "--vary", "hosts[0].count=2,3",
                     "--replications", "3", "--horizon", "200"]
        let generate = try Tool.run(sweep + ["--slurm", "\(dir)/job", "--shards", "4"])
        try #require(generate.status == 0, "\(generate.stderr)")
        let script = try String(contentsOfFile: "\(dir)/job/sweep.sbatch", encoding: .utf8)
        #expect(script.hasPrefix("#!/bin/bash\n") && script.contains("#SBATCH --array=0-3"))

        let submitted = try Self.shell("sbatch --wait \(dir)/job/sweep.sbatch", environment: env, timeout: 240)
        let shardLogs = (try? Self.shell("cat \(dir)/job/shard-*.log").output) ?? ""
        try #require(submitted.status == 0, "the job array failed: \(submitted.output)\n\(shardLogs)\n\(logs())")
        let merged = try Self.shell("\(dir)/job/merge.sh")
        try #require(merged.status == 0, "merge failed: \(merged.output)")
        #expect(merged.output.contains("Merged 12 runs from 4 databases"))

        let whole = try Tool.run(sweep + ["--db", "\(dir)/whole.sqlite"])
        try #require(whole.status == 0, "\(whole.stderr)")
        let fromSlurm = try SweepStore(database: try ResultsDatabase(path: "\(dir)/job/all.sqlite")).runs()
        let fromWhole = try SweepStore(database: try ResultsDatabase(path: "\(dir)/whole.sqlite")).runs()
        #expect(fromSlurm.count == 12 && fromSlurm == fromWhole, "the merged Slurm shards differ from the whole run")
    }
}
