"""The Python side of the policy protocol: the package's loop, the examples, and real subprocesses."""

import io
import json
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
POLICIES = os.path.dirname(HERE)
sys.path.insert(0, POLICIES)

import hpccloud_policy  # noqa: E402
from balance_vfs import BalanceVFs  # noqa: E402
from first_fit import FirstFit  # noqa: E402

HELLO = {"type": "hello", "protocol": "hpccloud-policy", "version": 1, "seed": 42, "overcommit": [2, 1],
         "hosts": [[8, 65536, 2, 15], [16, 65536, 4, 15], [16, 65536, 4, 15]]}


def place(candidates, kind="hpc", cluster_hosts=(), vm=0):
    return {"type": "place", "cluster": 7, "tenant": "t\"1", "vms": 2, "vcores": 2, "memoryMiB": 4096, "kind": kind,
            "pinning": "fixed", "vm": vm, "clusterHosts": list(cluster_hosts), "candidates": candidates}


def converse(policy, messages):
    """Runs `policy` on `messages`; returns (status, answers)."""
    stdin = io.BytesIO(b"".join(json.dumps(m).encode() + b"\n" for m in messages))
    stdout = io.BytesIO()
    status = hpccloud_policy.run(policy, stdin=stdin, stdout=stdout)
    return status, [json.loads(line) for line in stdout.getvalue().splitlines()]


class ProtocolTests(unittest.TestCase):
    def test_hello_then_answers_then_bye(self):
        status, answers = converse(FirstFit(), [HELLO, place([[1, 14, 61440, 3], [2, 14, 61440, 3]]), place([]), {"type": "bye"}])
        self.assertEqual(status, 0)
        self.assertEqual(answers, [{"type": "hello", "version": 1, "name": "first-fit-py"}, {"host": 1}, {"host": None}])

    def test_setup_receives_the_cloud_and_a_seeded_stream(self):
        policy = FirstFit()
        converse(policy, [HELLO])
        self.assertEqual(policy.hosts[1], hpccloud_policy.Host(1, 16, 65536, 4, 15))
        self.assertEqual(policy.overcommit, 2.0)
        self.assertEqual(policy.random.random(), __import__("random").Random(42).random())

    def test_end_of_input_without_bye_is_a_clean_exit(self):
        self.assertEqual(converse(FirstFit(), [HELLO, place([[0, 6, 1, 1]])])[0], 0)

    def test_another_version_exits_3(self):
        self.assertEqual(converse(FirstFit(), [dict(HELLO, version=2)]), (3, []))

    def test_an_unknown_message_exits_4(self):
        status, answers = converse(FirstFit(), [HELLO, {"type": "migrate"}])
        self.assertEqual(status, 4)
        self.assertEqual(len(answers), 1)

    def test_query_fields(self):
        query = hpccloud_policy.Query(place([[2, 14, 61440, 3]], cluster_hosts=[2], vm=1))
        self.assertEqual((query.cluster, query.tenant, query.vms, query.vcores, query.memory_mib), (7, "t\"1", 2, 2, 4096))
        self.assertTrue(query.is_hpc)
        self.assertEqual(query.hosts, [2])
        self.assertEqual(query.candidates, [hpccloud_policy.Candidate(2, 14, 61440, 3)])
        self.assertEqual((query.vm, query.cluster_hosts), (1, [2]))


class BalanceVFsTests(unittest.TestCase):
    def answer(self, message):
        return converse(BalanceVFs(), [HELLO, message])[1][1]["host"]

    def test_a_host_of_the_cluster_first(self):
        self.assertEqual(self.answer(place([[0, 6, 1, 0], [1, 14, 1, 3]], cluster_hosts=[0], vm=1)), 0)

    def test_else_the_most_vfs_left_then_the_most_cores(self):
        self.assertEqual(self.answer(place([[0, 6, 1, 1], [1, 10, 1, 3], [2, 14, 1, 3]])), 2)

    def test_common_vms_best_fit_by_cores(self):
        self.assertEqual(self.answer(place([[0, 6, 1, 2], [1, 2, 1, 4], [2, 2, 1, 4]], kind="common")), 1)

    def test_no_candidate_declines(self):
        self.assertIsNone(self.answer(place([])))


class SubprocessTests(unittest.TestCase):
    """The examples as hpccloud runs them: a program with pipes."""

    def test_first_fit_as_a_program(self):
        messages = [HELLO, place([[2, 14, 61440, 3]]), {"type": "bye"}]
        result = subprocess.run([sys.executable, os.path.join(POLICIES, "first_fit.py")],
                                input=b"".join(json.dumps(m).encode() + b"\n" for m in messages),
                                capture_output=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual([json.loads(l) for l in result.stdout.splitlines()],
                         [{"type": "hello", "version": 1, "name": "first-fit-py"}, {"host": 2}])

    def test_a_version_mismatch_is_reported_on_stderr(self):
        result = subprocess.run([sys.executable, os.path.join(POLICIES, "balance_vfs.py")],
                                input=json.dumps(dict(HELLO, version=9)).encode() + b"\n", capture_output=True, timeout=60)
        self.assertEqual(result.returncode, 3)
        self.assertIn(b"version 9", result.stderr)
        self.assertEqual(result.stdout, b"")


if __name__ == "__main__":
    unittest.main()
