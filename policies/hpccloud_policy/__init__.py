"""Write HPCCloud placement policies in Python (standard library only).

The simulator starts a policy as a program (``--policy 'exec:python3 my_policy.py'``)
and talks to it in JSON lines on its stdin and stdout: see PROTOCOL.md beside
this package. A policy subclasses :class:`Policy`, overrides :meth:`Policy.choose`
and hands itself to :func:`run`::

    from hpccloud_policy import Policy, run

    class LastFit(Policy):
        name = "last-fit"
        def choose(self, query):
            return max(query.hosts, default=None)

    run(LastFit())

Print debugging output to stderr: stdout carries the answers.
"""

import json
import random
import sys
from collections import namedtuple

PROTOCOL = "hpccloud-policy"
PROTOCOL_VERSION = 1

__all__ = ["PROTOCOL", "PROTOCOL_VERSION", "Host", "Candidate", "Query", "Policy", "run"]

#: A host of the cloud: physical cores, memory in MiB, usable VFs, tenant pkey entries.
Host = namedtuple("Host", "index cores memory_mib vfs pkey_entries")

#: A host where the VM fits, with what it would have left if the VM went there.
Candidate = namedtuple("Candidate", "host free_cores free_memory_mib free_vfs")


class Query:
    """One question: where should the next VM of a cluster go?

    ``cluster`` (id), ``tenant``, ``vms`` (the request's size), ``vcores`` and
    ``memory_mib`` (per VM), ``kind`` ("hpc" or "common"), ``pinning`` ("fixed"
    or "dynamic"), ``vm`` (VMs the cluster holds already) and ``cluster_hosts``
    (the hosts holding them, in first-use order) come from the message.
    """

    __slots__ = ("cluster", "tenant", "vms", "vcores", "memory_mib", "kind", "pinning", "vm",
                 "cluster_hosts", "raw_candidates", "_candidates")

    def __init__(self, message):
        self.cluster = message["cluster"]
        self.tenant = message["tenant"]
        self.vms = message["vms"]
        self.vcores = message["vcores"]
        self.memory_mib = message["memoryMiB"]
        self.kind = message["kind"]
        self.pinning = message["pinning"]
        self.vm = message["vm"]
        self.cluster_hosts = message["clusterHosts"]
        #: ``[host, free_cores, free_memory_mib, free_vfs]`` lists, ascending by host, as sent.
        self.raw_candidates = message["candidates"]
        self._candidates = None

    @property
    def is_hpc(self):
        return self.kind == "hpc"

    @property
    def hosts(self):
        """The candidate hosts' indices, ascending (no tuples built)."""
        return [c[0] for c in self.raw_candidates]

    @property
    def candidates(self):
        """The candidates as :class:`Candidate` tuples (built on first use)."""
        if self._candidates is None:
            self._candidates = [Candidate(*c) for c in self.raw_candidates]
        return self._candidates


class Policy:
    """Base class: override :meth:`choose`; :meth:`setup` runs once, on hello."""

    name = "python-policy"

    def setup(self, hosts, seed, overcommit):
        """The cloud (a list of :class:`Host`), the run's seed and the vCPU overcommit ratio.

        ``self.random`` is seeded from the run's seed: a policy that draws must
        draw from it (or another stream seeded from ``seed``) so that runs repeat.
        """
        self.hosts = hosts
        self.seed = seed
        self.overcommit = overcommit
        self.random = random.Random(seed)

    def choose(self, query):
        """A host index from ``query.hosts``, or None to decline (the engine then rejects)."""
        raise NotImplementedError


class ProtocolError(Exception):
    """A message this version of the protocol does not allow."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


def _hello(policy, message):
    if message.get("type") != "hello" or message.get("protocol") != PROTOCOL:
        raise ProtocolError("expected a hello from hpccloud, got %r" % message.get("type"), 4)
    if message.get("version") != PROTOCOL_VERSION:
        raise ProtocolError("hpccloud speaks version %r; this package speaks %d" % (message.get("version"), PROTOCOL_VERSION), 3)
    hosts = [Host(i, *h) for i, h in enumerate(message["hosts"])]
    numerator, denominator = message["overcommit"]
    policy.setup(hosts, message["seed"], numerator / denominator)
    return {"type": "hello", "version": PROTOCOL_VERSION, "name": policy.name}


def run(policy, stdin=None, stdout=None):
    """Answers hpccloud's questions until it says bye or closes stdin.

    Returns the exit status (0; 3 for a protocol version this package does not
    speak; 4 for a message it does not know); as a script's last line, ``run``
    exits with it.
    """
    called_as_script = stdin is None and stdout is None
    stdin = stdin if stdin is not None else sys.stdin.buffer
    stdout = stdout if stdout is not None else sys.stdout.buffer
    status = _serve(policy, stdin, stdout)
    if called_as_script:
        sys.exit(status)
    return status


def _serve(policy, stdin, stdout):
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    greeted = False
    try:
        for line in stdin:
            message = json.loads(line)
            kind = message.get("type")
            if not greeted:
                answer = _hello(policy, message)
                greeted = True
            elif kind == "place":
                answer = {"host": policy.choose(Query(message))}
            elif kind == "bye":
                return 0
            else:
                raise ProtocolError("unknown message type %r" % kind, 4)
            stdout.write(dumps(answer).encode() + b"\n")
            stdout.flush()
    except ProtocolError as error:
        sys.stderr.write("%s: %s\n" % (policy.name, error))
        return error.status
    return 0
