import Foundation
import Reporting
import Testing
import TestSupport

/// A sweep through a real Slurm: a single-node cluster (Debian's slurm-wlm and
/// munge, installed by `make test`) started here with a slurm.conf written by
/// the test, the generated job array submitted with sbatch, the shards merged
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
        for sub in ["state", "spool", "log", "job"] {
            try FileManager.default.createDirectory(atPath: "\(dir)/\(sub)", withIntermediateDirectories: true)
        }
        // munged, once per machine: its socket directory and key.
        let munge = try Self.shell("""
            set -e
            if ! munge -n >/dev/null 2>&1; then
              mkdir -p /run/munge /etc/munge /var/log/munge /var/lib/munge
              [ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null
              chown -R munge:munge /run/munge /etc/munge /var/log/munge /var/lib/munge
              chmod 700 /etc/munge; chmod 400 /etc/munge/munge.key
              runuser -u munge -- /usr/sbin/munged
              sleep 1
            fi
            munge -n | unmunge >/dev/null
            """)
        try #require(munge.status == 0, "munged did not start: \(munge.output)")

        // Ports of our own, so a leftover daemon cannot answer for this cluster.
        let port = 20_000 + Int(getpid() % 5_000) * 2
        let host = try Self.shell("hostname -s").output.trimmingCharacters(in: .whitespacesAndNewlines)
        let conf = """
        ClusterName=hpccloudtest
        SlurmctldHost=\(host)
        SlurmUser=root
        SlurmdUser=root
        AuthType=auth/munge
        ProctrackType=proctrack/linuxproc
        TaskPlugin=task/none
        SelectType=select/cons_tres
        SelectTypeParameters=CR_Core
        MpiDefault=none
        SlurmctldPort=\(port)
        SlurmdPort=\(port + 1)
        StateSaveLocation=\(dir)/state
        SlurmdSpoolDir=\(dir)/spool
        SlurmctldPidFile=\(dir)/slurmctld.pid
        SlurmdPidFile=\(dir)/slurmd.pid
        SlurmctldLogFile=\(dir)/log/slurmctld.log
        SlurmdLogFile=\(dir)/log/slurmd.log
        JobCompType=jobcomp/none
        AccountingStorageType=accounting_storage/none
        ReturnToService=2
        NodeName=\(host) CPUs=\(ProcessInfo.processInfo.activeProcessorCount) State=UNKNOWN
        PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP

        """
        try conf.write(toFile: "\(dir)/slurm.conf", atomically: true, encoding: .utf8)
        let env = ["SLURM_CONF": "\(dir)/slurm.conf"]
        defer { try? Self.shell("kill $(cat \(dir)/slurmd.pid \(dir)/slurmctld.pid 2>/dev/null) 2>/dev/null", environment: env) }
        let start = try Self.shell("""
            /usr/sbin/slurmctld && /usr/sbin/slurmd || exit 1
            for i in $(seq 1 60); do
              sinfo -h -o %T 2>/dev/null | grep -q idle && exit 0
              sleep 0.5
            done
            exit 1
            """, environment: env)
        let logs = { (try? Self.shell("tail -n 20 \(dir)/log/*.log").output) ?? "" }
        try #require(start.status == 0, "Slurm did not come up: \(start.output)\n\(logs())")

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
