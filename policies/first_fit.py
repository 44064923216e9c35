"""The lowest-index host where the VM fits: the built-in first-fit, as a program.

It makes exactly the built-in policy's decisions (the tests compare decision
logs byte for byte), so it checks the protocol and measures its cost.
"""

from hpccloud_policy import Policy, run


class FirstFit(Policy):
    name = "first-fit-py"

    def choose(self, query):
        # Candidates arrive ascending by host index.
        return query.raw_candidates[0][0] if query.raw_candidates else None


if __name__ == "__main__":
    run(FirstFit())
