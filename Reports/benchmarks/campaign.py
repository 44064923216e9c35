#!/usr/bin/env python3
"""Campaign scaling: one sweep run with 1, 2 and all cores (threads, `--jobs`), then
as a Slurm job array on a single-node Slurm started here, in a scratch directory;
the efficiency of each, and a model of a million-run campaign on a real cluster
built from the measured costs.

Usage: campaign.py [--hpccloud BIN] [--out FILE]   (as root: it starts munged,
slurmctld and slurmd as the Slurm test does, and stops them by pid)

What the model assumes is printed with it: runs are independent and of equal cost
(the measured mean), a task's start-up and its database are per shard, and the
merge is one sequential pass over every run (as `hpccloud merge` does).
"""
import argparse
import datetime
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCENARIO = os.path.join(ROOT, "Workloads", "cx6-vswitch-1024.yaml")
SWEEP = ["sweep", SCENARIO, "--vary", "policy=first-fit,best-fit,worst-fit,pkey-pack", "--replications", "4",
         "--hardware", os.path.join(ROOT, "Hardware")]
RUNS = 16


def timed(command, env=None):
    start = time.monotonic()
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    seconds = time.monotonic() - start
    if done.returncode != 0:
        sys.exit(f"campaign.py: {' '.join(command)} failed ({done.returncode}):\n{done.stdout[-2000:]}")
    return seconds, done.stdout


def sh(script, env=None, check=True):
    done = subprocess.run(["bash", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if check and done.returncode != 0:
        sys.exit(f"campaign.py: shell step failed:\n{script}\n{done.stdout[-2000:]}")
    return done.stdout


SLURM = os.path.join(ROOT, "Tests", "Slurm", "single-node.sh")


def start_slurm(scratch):
    """A single-node Slurm on ports of our own, started as the Slurm test starts it."""
    sh(f"'{SLURM}' start '{scratch}' {24000 + (os.getpid() % 4000) * 2}")
    return dict(os.environ, SLURM_CONF=os.path.join(scratch, "slurm.conf"))


def stop_slurm(scratch):
    sh(f"'{SLURM}' stop '{scratch}'", check=False)


def runs_in(database):
    with sqlite3.connect(database) as db:
        return db.execute("select count(*) from run").fetchone()[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hpccloud", default=os.path.join(ROOT, ".build", "release", "hpccloud"))
    parser.add_argument("--out", help="also write the Markdown report here")
    args = parser.parse_args()
    tool = os.path.abspath(args.hpccloud)
    cores = os.cpu_count()
    scratch = tempfile.mkdtemp(prefix="hpccloud-campaign-")
    lines = []
    try:
        # Threads on this machine: the same sweep, a database each (what a campaign keeps).
        threads = []
        for jobs in sorted({1, 2, cores}):
            db = os.path.join(scratch, f"threads-{jobs}.sqlite")
            seconds, _ = timed([tool] + SWEEP + ["--jobs", str(jobs), "--db", db])
            assert runs_in(db) == RUNS, f"expected {RUNS} runs in {db}"
            threads.append((jobs, seconds))
        serial = threads[0][1]
        per_run = serial / RUNS

        # A Slurm job array: shards of one core each, then the merge.
        env = start_slurm(scratch)
        slurm = []
        try:
            for shards in sorted({cores, 2 * cores, RUNS}):
                job = os.path.join(scratch, f"array-{shards}")
                timed([tool] + SWEEP + ["--slurm", job, "--shards", str(shards)])
                submitted = time.time()
                waited, _ = timed(["sbatch", "--wait", os.path.join(job, "sweep.sbatch")], env=env)
                # The array ends with its last task's last write; `sbatch --wait` returns later, on its
                # own poll (about 30 s here whatever the work), so its time is reported apart.
                outputs = [os.path.join(job, f"shard-{i}.{ext}") for i in range(shards) for ext in ("sqlite", "log")]
                array = max(os.path.getmtime(path) for path in outputs) - submitted
                merge, _ = timed([os.path.join(job, "merge.sh")])
                assert runs_in(os.path.join(job, "all.sqlite")) == RUNS
                size = sum(os.path.getsize(os.path.join(job, f"shard-{i}.sqlite")) for i in range(shards))
                slurm.append((shards, array, merge, size, waited))
        finally:
            stop_slurm(scratch)

        lines += ["# Campaign scaling", "",
                  f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}",
                  f"- machine: {platform.processor() or platform.machine()}, {cores} cores",
                  f"- campaign: `hpccloud {' '.join(SWEEP[:1] + ['Workloads/cx6-vswitch-1024.yaml'] + SWEEP[2:-2])}`: "
                  f"{RUNS} runs of 1,024 hosts and 120,000 requests, each into a results database",
                  "- efficiency: the one-core time over (cores used x wall time); 1 is perfect", "",
                  "| how | cores | wall (s) | per run (s) | speed-up | efficiency |", "|---|---|---|---|---|---|"]
        for jobs, seconds in threads:
            lines.append(f"| threads (`--jobs {jobs}`) | {jobs} | {seconds:.2f} | {seconds / RUNS:.3f} | "
                         f"{serial / seconds:.2f} | {serial / (jobs * seconds):.2f} |")
        for shards, array, merge, _, waited in slurm:
            used = min(shards, cores)
            total = array + merge
            lines.append(f"| Slurm array, {shards} shards (submit to last write, then merge {merge:.2f} s; "
                         f"`sbatch --wait` returned at {waited:.0f} s) | {used} | {total:.2f} | "
                         f"{total / RUNS:.3f} | {serial / total:.2f} | {serial / (used * total):.2f} |")

        # The model: costs per run, per shard and per merged run, from the largest array.
        shards, array, merge, size, _ = slurm[-1]
        used = min(shards, cores)
        waves = -(-shards // used)
        shard_overhead = max(0.0, (array - waves * (RUNS / shards) * per_run) / waves)
        merge_per_run = merge / RUNS
        bytes_per_run = size / RUNS
        lines += ["", "## A million runs on a cluster (model)", "",
                  f"Measured here: {per_run:.3f} s per run on one core, {shard_overhead:.2f} s per array task beyond its runs "
                  f"(scheduling, start-up, database), {merge_per_run * 1000:.1f} ms per run to merge, "
                  f"{bytes_per_run / 1024:.0f} KiB of results database per run.", "",
                  "Layout: one array task per core, each running runs/cores runs with `--jobs 1`; slurm.conf(5) sets MaxArraySize to 1001 by default, "
                  "so tasks beyond it go in separate arrays. Wall = runs per task x run time + task "
                  "overhead, then the merge, which is sequential.", "",
                  "| nodes x cores | tasks | runs per task | compute (h) | merge (h) | wall (h) | results (GiB) |",
                  "|---|---|---|---|---|---|---|"]
        million = 1_000_000
        merged = million * merge_per_run
        binds = None
        for nodes, per_node in ((1, cores), (10, 64), (100, 64), (1000, 64)):
            tasks = nodes * per_node
            per_task = -(-million // tasks)
            compute = per_task * per_run + shard_overhead
            if binds is None and merged > compute:
                binds = f"{nodes} x {per_node}"
            lines.append(f"| {nodes} x {per_node} | {tasks:,} | {per_task:,} | {compute / 3600:.2f} | {merged / 3600:.2f} | "
                         f"{(compute + merged) / 3600:.2f} | {million * bytes_per_run / 2**30:.1f} |")
        lines.append("")
        if binds:
            lines.append(f"From {binds} up the merge takes longer than the runs: it is one pass over every run's rows. "
                         "Merging in a tree (each node merges its own tasks first) would divide it by the tree's fan-in; "
                         "`hpccloud merge` takes any number of databases, so that is a script, not a new command.")
        else:
            lines.append("The runs take longer than the merge at every size here.")
        lines.append("")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report = "\n".join(lines)
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)


if __name__ == "__main__":
    main()
