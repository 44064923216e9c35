"""The Python side of the policy protocol: the package's loop, the examples, and real subprocesses.

Runs from the repository root as `python3 -m unittest discover -s policies/tests -t policies`
(or without `-t`).
"""

import io
import json
import os
import random
import subprocess
import sys
import unittest
from fractions import Fraction

POLICIES = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, POLICIES)

import hpccloud_policy  # noqa: E402
from balance_vfs import BalanceVFs  # noqa: E402
from first_fit import FirstFit  # noqa: E402

HELLO = {"type": "hello", "protocol": "hpccloud-policy", "version": 1, "seed": 42, "overcommit": [3, 2],
         "hosts": [[8, 65536, 2, 15], [16, 65536, 4, 15], [16, 65536, 4, 15]]}
BYE = {"type": "bye"}


def place(candidates, kind="hpc", cluster_hosts=(), vm=0):
    return {"type": "place", "cluster": 7, "tenant": "t\"1", "vms": 2, "vcores": 2, "memoryMiB": 4096, "kind": kind,
            "pinning": "fixed", "vm": vm, "clusterHosts": list(cluster_hosts), "candidates": candidates}


def lines(messages):
    return b"".join(json.dumps(m).encode() + b"\n" for m in messages)


def converse(policy, messages):
    """Runs `policy` on `messages` in memory; returns (status, answers)."""
    stdout = io.BytesIO()
    status = hpccloud_policy.run(policy, stdin=io.BytesIO(lines(messages)), stdout=stdout)
    return status, [json.loads(line) for line in stdout.getvalue().splitlines()]


def program(script, messages=None, data=None):
    """Runs a policy script as hpccloud does, all input at once; returns the CompletedProcess."""
    return subprocess.run([sys.executable, os.path.join(POLICIES, script)], input=lines(messages) if data is None else data,
                          capture_output=True, timeout=60)


class ProtocolTests(unittest.TestCase):
    def test_hello_then_answers_then_bye(self):
        status, answers = converse(FirstFit(), [HELLO, place([[1, 14, 61440, 3], [2, 14, 61440, 3]]), place([]), BYE])
        self.assertEqual(status, 0)
        self.assertEqual(answers, [{"type": "hello", "version": 1, "name": "first-fit-py"}, {"host": 1}, {"host": None}])

    def test_answers_are_compact_lines(self):
        stdout = io.BytesIO()
        hpccloud_policy.run(FirstFit(), stdin=io.BytesIO(lines([HELLO, place([[2, 1, 1, 1]]), place([])])), stdout=stdout)
        self.assertEqual(stdout.getvalue(),
                         b'{"type":"hello","version":1,"name":"first-fit-py"}\n{"host":2}\n{"host":null}\n')

    def test_setup_receives_the_cloud_and_a_seeded_stream(self):
        policy = FirstFit()
        converse(policy, [HELLO])
        self.assertEqual(policy.hosts[1], hpccloud_policy.Host(1, 16, 65536, 4, 15))
        self.assertEqual(len(policy.hosts), 3)
        self.assertEqual((policy.seed, policy.overcommit), (42, Fraction(3, 2)))
        self.assertEqual(policy.random.random(), random.Random(42).random())

    def test_a_64_bit_seed_seeds_the_stream(self):
        policy = FirstFit()
        converse(policy, [dict(HELLO, seed=2 ** 64 - 1)])
        self.assertEqual(policy.random.random(), random.Random(2 ** 64 - 1).random())

    def test_end_of_input_is_a_clean_exit(self):
        self.assertEqual(converse(FirstFit(), [HELLO, place([[0, 6, 1, 1]])])[0], 0)
        self.assertEqual(converse(FirstFit(), []), (0, []))

    def test_unknown_fields_are_ignored(self):
        status, answers = converse(FirstFit(), [dict(HELLO, future=[1]), dict(place([[4, 1, 1, 1]]), future={"x": 1}), BYE])
        self.assertEqual((status, answers[1:]), (0, [{"host": 4}]))

    def test_another_version_or_protocol_exits_3(self):
        self.assertEqual(converse(FirstFit(), [dict(HELLO, version=2)]), (3, []))
        self.assertEqual(converse(FirstFit(), [dict(HELLO, protocol="other")]), (3, []))

    def test_an_unknown_message_exits_4_after_the_answers_before_it(self):
        status, answers = converse(FirstFit(), [HELLO, place([[1, 1, 1, 1]]), {"type": "migrate"}, place([[1, 1, 1, 1]])])
        self.assertEqual((status, len(answers)), (4, 2))
        self.assertEqual(converse(FirstFit(), [HELLO, HELLO])[0], 4, "a second hello")
        self.assertEqual(converse(FirstFit(), [place([])]), (4, []), "a question before hello")

    def test_a_malformed_message_exits_4(self):
        stdout = io.BytesIO()
        self.assertEqual(hpccloud_policy.run(FirstFit(), stdin=io.BytesIO(lines([HELLO]) + b"{not json\n"), stdout=stdout), 4)
        without_candidates = place([])
        del without_candidates["candidates"]
        for messages in ([HELLO, [1, 2]], [HELLO, without_candidates], [dict(HELLO, hosts=[[1, 2]])], [dict(HELLO, overcommit=[1, 0])]):
            self.assertEqual(converse(FirstFit(), messages)[0], 4, messages)

    def test_an_answer_that_is_not_a_host_raises(self):
        class Wrong(hpccloud_policy.Policy):
            def choose(self, query):
                return query.candidates[0]

        with self.assertRaises(TypeError):
            converse(Wrong(), [HELLO, place([[1, 1, 1, 1]])])

    def test_query_fields(self):
        query = hpccloud_policy.Query(place([[2, 14, 61440, 3], [5, 2, 1024, 0]], cluster_hosts=[2], vm=1))
        self.assertEqual((query.cluster, query.tenant, query.vms, query.vcores, query.memory_mib), (7, "t\"1", 2, 2, 4096))
        self.assertEqual((query.kind, query.pinning, query.vm, query.cluster_hosts), ("hpc", "fixed", 1, [2]))
        self.assertTrue(query.is_hpc)
        self.assertFalse(hpccloud_policy.Query(place([], kind="common")).is_hpc)
        self.assertEqual(query.candidate_hosts, [2, 5])
        self.assertEqual(query.raw_candidates[1], [5, 2, 1024, 0])
        self.assertEqual(query.candidates[0], hpccloud_policy.Candidate(2, 14, 61440, 3))
        self.assertEqual(query.candidates[1].free_vfs, 0)
        self.assertIn("cluster_hosts=[2]", repr(query))


class FirstFitTests(unittest.TestCase):
    def test_the_smallest_candidate_host_or_none(self):
        rng = random.Random(1)
        for _ in range(200):
            hosts = sorted(rng.sample(range(50), rng.randrange(0, 6)))
            candidates = [[h, rng.randrange(16), rng.randrange(1 << 17), rng.randrange(16)] for h in hosts]
            expected = hosts[0] if hosts else None
            self.assertEqual(FirstFit().choose(hpccloud_policy.Query(place(candidates))), expected)


class BalanceVFsTests(unittest.TestCase):
    def answer(self, message):
        status, answers = converse(BalanceVFs(), [HELLO, message, BYE])
        self.assertEqual((status, answers[0]["name"]), (0, "balance-vfs"))
        return answers[1]["host"]

    def test_hpc_goes_to_a_host_of_its_cluster(self):
        self.assertEqual(self.answer(place([[0, 6, 1, 0], [1, 14, 1, 3]], cluster_hosts=[0], vm=1)), 0)

    def test_among_the_clusters_hosts_the_most_vfs_left(self):
        self.assertEqual(self.answer(place([[0, 6, 1, 0], [1, 14, 1, 3], [2, 6, 1, 1]], cluster_hosts=[2, 0], vm=2)), 2)

    def test_else_the_most_vfs_left_then_the_most_cores_then_the_lowest_index(self):
        self.assertEqual(self.answer(place([[0, 6, 1, 1], [1, 10, 1, 3], [2, 14, 1, 3]])), 2)
        self.assertEqual(self.answer(place([[0, 6, 1, 1], [1, 14, 1, 3], [2, 14, 1, 3]])), 1)
        self.assertEqual(self.answer(place([[0, 6, 1, 1], [1, 14, 1, 3]], cluster_hosts=[9], vm=1)), 1)

    def test_common_vms_best_fit_by_cores(self):
        self.assertEqual(self.answer(place([[0, 6, 1, 2], [1, 2, 1, 4], [2, 2, 1, 4]], kind="common")), 1)
        self.assertEqual(self.answer(place([[0, 6, 1, 2], [1, 2, 1, 4]], kind="common", cluster_hosts=[0], vm=1)), 1)

    def test_no_candidate_declines(self):
        self.assertIsNone(self.answer(place([])))
        self.assertIsNone(self.answer(place([], kind="common")))


class ProgramTests(unittest.TestCase):
    """The examples as hpccloud runs them: programs with pipes."""

    def test_each_example_answers_and_exits_0_after_bye_or_end_of_input(self):
        for script, name, host in [("first_fit.py", "first-fit-py", 2), ("balance_vfs.py", "balance-vfs", 5)]:
            question = place([[2, 14, 61440, 1], [5, 14, 61440, 3]])
            for messages in ([HELLO, question, BYE], [HELLO, question]):
                result = program(script, messages)
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertEqual([json.loads(line) for line in result.stdout.splitlines()],
                                 [{"type": "hello", "version": 1, "name": name}, {"host": host}])

    def test_a_conversation_in_lockstep(self):
        # hpccloud waits for each answer before it asks again: nothing may sit in a buffer.
        child = subprocess.Popen([sys.executable, os.path.join(POLICIES, "first_fit.py")],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            answers = []
            for message in [HELLO, place([[3, 1, 1, 1]]), place([])]:
                child.stdin.write(lines([message]))
                child.stdin.flush()
                answers.append(json.loads(child.stdout.readline()))
            child.stdin.write(lines([BYE]))
            child.stdin.close()
            self.assertEqual(child.wait(timeout=60), 0)
            self.assertEqual(answers[1:], [{"host": 3}, {"host": None}])
        finally:
            child.kill()
            child.stdout.close()

    def test_a_version_mismatch_exits_3_saying_why(self):
        result = program("balance_vfs.py", [dict(HELLO, version=9)])
        self.assertEqual((result.returncode, result.stdout), (3, b""))
        self.assertIn(b"version 9", result.stderr)

    def test_an_unknown_message_exits_4_saying_why(self):
        result = program("first_fit.py", [HELLO, {"type": "migrate"}])
        self.assertEqual(result.returncode, 4)
        self.assertEqual(len(result.stdout.splitlines()), 1, "the hello answer only")
        self.assertIn(b"'migrate'", result.stderr)

    def test_print_in_a_policy_goes_to_stderr(self):
        code = ("import sys; sys.path.insert(0, %r)\n"
                "from hpccloud_policy import Policy, run\n"
                "class Chatty(Policy):\n"
                "    def choose(self, query):\n"
                "        print('thinking about', query.cluster)\n"
                "        return None\n"
                "run(Chatty())\n" % POLICIES)
        result = subprocess.run([sys.executable, "-c", code], input=lines([HELLO, place([]), BYE]), capture_output=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.splitlines()[1:], [b'{"host":null}'])
        self.assertEqual(result.stderr, b"thinking about 7\n")


if __name__ == "__main__":
    unittest.main()
