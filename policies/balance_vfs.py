"""Keep each cluster's partition on few hosts, and VF-rich hosts for hpc VMs.

An hpc VM takes a VF, and on a host that does not hold its cluster yet, a pkey
table entry too. It goes to a candidate that already holds its cluster if there
is one (no new pkey entry, and the partition stays on few hosts' tables);
among those, or among all candidates when none holds the cluster, to the one
with the most VFs left after placing it, so that no HCA runs out of VFs while
others sit idle (ties: the most free cores left, then the lowest index).

A common VM takes no VF: it goes to the candidate with the fewest free cores
left (best fit; ties: the lowest index), which packs common VMs and leaves
the room on the other hosts to hpc clusters.
"""

from hpccloud_policy import Policy, run


class BalanceVFs(Policy):
    name = "balance-vfs"

    def choose(self, query):
        candidates = query.raw_candidates
        if not candidates:
            return None
        if not query.is_hpc:
            return min(candidates, key=lambda c: (c[1], c[0]))[0]
        own = set(query.cluster_hosts)
        # [host, free cores, free memory, free VFs]: the cluster's hosts first, then most VFs, most cores, lowest index.
        return min(candidates, key=lambda c: (c[0] not in own, -c[3], -c[1], c[0]))[0]


if __name__ == "__main__":
    run(BalanceVFs())
