"""Write HPCCloud placement policies in Python (standard library only).

The simulator starts a policy as a program (``--policy 'exec:python3 my_policy.py'``)
and talks to it in JSON lines on its stdin and stdout: see PROTOCOL.md beside
this package. A policy subclasses :class:`Policy`, overrides :meth:`Policy.choose`
and hands itself to :func:`run`::

    from hpccloud_policy import Policy, run

    class LastFit(Policy):
        name = "last-fit"

        def choose(self, query):
            return max(query.candidate_hosts, default=None)

    run(LastFit())

While :func:`run` serves the real stdout, ``print()`` goes to stderr: stdout
carries the answers only.
"""

import json
import random
import sys
from collections import namedtuple
from fractions import Fraction

__all__ = ["PROTOCOL", "PROTOCOL_VERSION", "EXIT_VERSION", "EXIT_MESSAGE",
           "Host", "Candidate", "Query", "Policy", "ProtocolError", "run"]

PROTOCOL = "hpccloud-policy"
PROTOCOL_VERSION = 1

#: Exit status when hpccloud offers a protocol or version this package does not speak.
EXIT_VERSION = 3
#: Exit status for a message this version cannot read (an unknown type, a malformed line).
EXIT_MESSAGE = 4

#: A host of the cloud (from the hello): physical cores, memory in MiB, usable
#: VFs of its HCA, usable tenant pkey table entries (the default partition's excluded).
Host = namedtuple("Host", "index cores memory_mib vfs pkey_entries")

#: A host where the VM fits, with what it would have left if the VM went
#: there: physical cores, memory in MiB, VFs.
Candidate = namedtuple("Candidate", "host free_cores free_memory_mib free_vfs")


class Query:
    """One question: which host for the next VM of a cluster?

    Attributes, from the place message: ``cluster`` (the request's id),
    ``tenant``, ``vms`` (VMs the request asked for on arrival, also on the
    questions of a resize), ``vcores`` and ``memory_mib`` (each VM's), ``kind``
    ("hpc": needs a VF and the cluster's pkey; "common": neither), ``pinning``
    ("fixed" or "dynamic"), ``vm`` (VMs the cluster holds already, 0 for the
    first VM of a new cluster), ``cluster_hosts`` (the hosts holding them, in
    first-use order) and ``raw_candidates`` (the candidates as sent:
    ``[host, free_cores, free_memory_mib, free_vfs]`` lists, ascending by host).
    """

    _fields = ("cluster", "tenant", "vms", "vcores", "memory_mib", "kind", "pinning", "vm",
               "cluster_hosts", "raw_candidates")
    __slots__ = _fields + ("_candidates",)

    def __init__(self, message):
        """Reads a place message (a dict); a missing field raises KeyError."""
        self.cluster = message["cluster"]
        self.tenant = message["tenant"]
        self.vms = message["vms"]
        self.vcores = message["vcores"]
        self.memory_mib = message["memoryMiB"]
        self.kind = message["kind"]
        self.pinning = message["pinning"]
        self.vm = message["vm"]
        self.cluster_hosts = message["clusterHosts"]
        self.raw_candidates = message["candidates"]
        # Named tuples only when asked for: a large cloud sends thousands of candidates per question.
        self._candidates = None

    @property
    def is_hpc(self):
        """Whether the VM needs a VF and the cluster's pkey."""
        return self.kind == "hpc"

    @property
    def candidate_hosts(self):
        """The candidates' host indices, ascending."""
        return [c[0] for c in self.raw_candidates]

    @property
    def candidates(self):
        """The candidates as :class:`Candidate` tuples, ascending by host (built on first use)."""
        if self._candidates is None:
            self._candidates = [Candidate(*c) for c in self.raw_candidates]
        return self._candidates

    def __repr__(self):
        return "Query(%s)" % ", ".join("%s=%r" % (field, getattr(self, field)) for field in self._fields)


class Policy:
    """A placement policy: override :meth:`choose`; :meth:`setup` runs once, on hello."""

    #: A short name for hpccloud's logs.
    name = "python-policy"

    def setup(self, hosts, seed, overcommit):
        """Receives the cloud before the first question.

        ``hosts`` is the inventory (a list of :class:`Host`, host i at index i),
        ``seed`` the run's seed and ``overcommit`` the vCPU overcommit ratio (a
        :class:`fractions.Fraction`). Stores them as ``self.hosts``,
        ``self.seed`` and ``self.overcommit``, and makes ``self.random``, a
        ``random.Random`` seeded from the run's seed: a policy that draws must
        draw from it (or another stream seeded from ``seed``) so runs repeat.
        An override should call ``super().setup(...)``.
        """
        self.hosts = hosts
        self.seed = seed
        self.overcommit = overcommit
        self.random = random.Random(seed)

    def choose(self, query):
        """The host for the VM :class:`Query` describes: one of ``query.candidate_hosts`` (an int), or None to decline."""
        raise NotImplementedError("a Policy overrides choose(query)")


class ProtocolError(Exception):
    """A message this package cannot answer; ``status`` is the exit status it calls for."""

    def __init__(self, text, status):
        super().__init__(text)
        self.status = status


def run(policy, stdin=None, stdout=None):
    """Answers hpccloud's questions until it says bye or closes the input.

    With no streams, serves the process's stdin and stdout, with ``sys.stdout``
    pointed at stderr meanwhile (so a stray ``print`` cannot corrupt an
    answer), and exits the process with the status. With streams (binary, such
    as ``io.BytesIO``, for tests), returns the status. The status is 0 after a
    bye or the end of input, :data:`EXIT_VERSION` when hello offers another
    protocol or version, :data:`EXIT_MESSAGE` for a message this version cannot
    read; the reason goes to stderr. An exception in the policy propagates.
    """
    if stdin is not None or stdout is not None:
        return _serve(policy, stdin if stdin is not None else sys.stdin.buffer,
                      stdout if stdout is not None else sys.stdout.buffer)
    answers, printed = sys.stdout.buffer, sys.stdout
    printed.flush()
    sys.stdout = sys.stderr
    try:
        status = _serve(policy, sys.stdin.buffer, answers)
    finally:
        sys.stdout = printed
    sys.exit(status)


def _serve(policy, stdin, stdout):
    write, flush = stdout.write, stdout.flush
    lines = iter(stdin)
    try:
        first = next(lines, None)
        if first is None:
            return 0  # closed before hello: nothing was asked
        write(_greet(policy, _read(first)))
        flush()
        choose = policy.choose
        for line in lines:
            message = _read(line)
            kind = message.get("type")
            if kind == "place":
                try:
                    query = Query(message)
                except KeyError as missing:
                    raise ProtocolError("a place message without %s" % missing, EXIT_MESSAGE) from None
                write(_answer(choose(query)))
                flush()
            elif kind == "bye":
                break
            else:
                raise ProtocolError("unknown message type %r (this package speaks version %d)"
                                    % (kind, PROTOCOL_VERSION), EXIT_MESSAGE)
    except ProtocolError as error:
        sys.stderr.write("%s: %s\n" % (policy.name, error))
        return error.status
    return 0


def _read(line):
    try:
        message = json.loads(line)
    except ValueError:
        raise ProtocolError("not a JSON line: %r" % line[:80], EXIT_MESSAGE) from None
    if type(message) is not dict:
        raise ProtocolError("not a JSON object: %r" % line[:80], EXIT_MESSAGE)
    return message


def _greet(policy, hello):
    """Checks the hello, sets the policy up, and returns the answer line."""
    if hello.get("type") != "hello":
        raise ProtocolError("expected hello first, got %r" % hello.get("type"), EXIT_MESSAGE)
    if hello.get("protocol") != PROTOCOL or hello.get("version") != PROTOCOL_VERSION:
        raise ProtocolError("hpccloud offers %r version %r; this package speaks %r version %d"
                            % (hello.get("protocol"), hello.get("version"), PROTOCOL, PROTOCOL_VERSION), EXIT_VERSION)
    try:
        hosts = [Host(i, *host) for i, host in enumerate(hello["hosts"])]
        overcommit = Fraction(*hello["overcommit"])
        seed = hello["seed"]
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as error:
        raise ProtocolError("a malformed hello (%s: %s)" % (type(error).__name__, error), EXIT_MESSAGE) from None
    policy.setup(hosts, seed, overcommit)
    answer = {"type": "hello", "version": PROTOCOL_VERSION, "name": policy.name}
    return json.dumps(answer, separators=(",", ":")).encode() + b"\n"


def _answer(host):
    # Formatting by hand costs a tenth of json.dumps, on the one message sent per question.
    if type(host) is int:
        return b'{"host":%d}\n' % host
    if host is None:
        return b'{"host":null}\n'
    raise TypeError("choose() returned %r: expected a candidate's host index (an int) or None" % (host,))
