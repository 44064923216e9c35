"""Keep a cluster's partition on few hosts, and VF-rich hosts for hpc VMs.

For an hpc VM: a host that already holds the cluster if one fits (its pkey is
already in that host's table, so no new entry is used); otherwise the host with
the most VFs left after placing it (ties: most free cores, then lowest index),
which spreads VF use so no HCA runs out while others sit idle. For a common VM
(no VF): the host with the fewest free cores left (best fit, ties lowest
index), leaving the VF-rich room to hpc clusters.
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
        for candidate in candidates:
            if candidate[0] in own:
                return candidate[0]
        return min(candidates, key=lambda c: (-c[3], -c[1], c[0]))[0]


if __name__ == "__main__":
    run(BalanceVFs())
