"""The lowest-index host where the VM fits: the built-in first-fit, as a program.

It must decide exactly as the built-in policy does (hpccloud's tests compare
the decision logs byte for byte), so it is the literal rule: the smallest
candidate host, or decline when there is none.
"""

from hpccloud_policy import Policy, run


class FirstFit(Policy):
    name = "first-fit-py"

    def choose(self, query):
        return min(query.candidate_hosts, default=None)


if __name__ == "__main__":
    run(FirstFit())
