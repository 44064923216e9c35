import Allocation
import CloudModel
import ExternalPolicies
import Foundation
import Testing
import TestSupport

/// The external policy protocol against real programs: the shipped Python
/// example, and small scripts that break the protocol in each way it can be broken.
@Suite(.requires(.python3))
struct ExternalPolicyTests {
    /// The policies inherit the environment: Python leaves no __pycache__ in the checkout.
    init() { setenv("PYTHONDONTWRITEBYTECODE", "1", 1) }

    static let cloud = CloudSpec(groups: [Fixtures.group(6, cores: 8, vfs: 2), Fixtures.group(3, cores: 16, vfs: 4)],
                                 overcommit: Overcommit(2, 1))

    static func requests(_ count: Int) -> [ClusterRequest] {
        var random = TestRandom(seed: 7)
        return (0..<count).map { i in
            let kind: VMKind = Int.random(in: 0..<4, using: &random) == 0 ? .common : .hpc
            let shape = Fixtures.shape(vcores: [1, 2, 4, 8].randomElement(using: &random)!, memoryGiB: 2, kind: kind,
                                       pinning: Bool.random(using: &random) ? .fixed : .dynamic)
            return Fixtures.request(Int64(i), vms: Int.random(in: 1...5, using: &random), shape)
        }
    }

    static func lookup(_ requests: [ClusterRequest]) -> [Int64: (tenant: String, vms: Int)] {
        Dictionary(uniqueKeysWithValues: requests.map { ($0.id, (tenant: $0.tenant, vms: $0.vms)) })
    }

    /// A policy script: answers hello with `version`, then each question as `mode` says.
    static func script(_ mode: String, version: Int = 1, record: String = "") throws -> [String] {
        let directory = try Fixtures.scratchDirectory("external-policy")
        let path = directory + "/policy.py"
        try """
        import json, sys, time
        mode = "\(mode)"
        hello = json.loads(sys.stdin.readline())
        if "\(record)": open("\(record)", "a").write(json.dumps(hello) + "\\n")
        print(json.dumps({"type": "hello", "version": \(version), "name": "test"}), flush=True)
        for line in sys.stdin:
            message = json.loads(line)
            if "\(record)": open("\(record)", "a").write(line)
            if message["type"] == "bye": break
            hosts = [c[0] for c in message["candidates"]]
            if mode == "exit": sys.exit(5)
            if mode == "garbage": print("no host for you", flush=True)
            elif mode == "missing": print("{}", flush=True)
            elif mode == "float": print('{"host": 0.5}', flush=True)
            elif mode == "outside": print(json.dumps({"host": 1000}), flush=True)
            elif mode == "hang": time.sleep(300)
            else: print(json.dumps({"host": min(hosts) if hosts else None}), flush=True)
        sys.exit(7 if mode == "fail-at-end" else 0)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return ["python3", path]
    }

    @Test func theShippedFirstFitExampleDecidesAsTheEngine() throws {
        let requests = Self.requests(200)
        let builtIn = AllocationEngine(cloud: Self.cloud), external = AllocationEngine(cloud: Self.cloud)
        let policy = try ExternalPolicy(command: ["python3", Fixtures.repoRoot + "/policies/first_fit.py"], cloud: Self.cloud,
                                        seed: 1, requests: Self.lookup(requests))
        var vms = 0, accepted = 0
        for (i, request) in requests.enumerated() {
            let expected = builtIn.admit(request, policy: FirstFit())
            #expect(external.admit(request, policy: policy) == expected, "request \(request.id)")
            if case .accepted(_, let placed) = expected { vms += placed.count; accepted += 1 }
            if i % 3 == 2 { builtIn.release(cluster: requests[i - 1].id); external.release(cluster: requests[i - 1].id) }
        }
        try policy.finish()
        #expect(accepted > 20 && accepted < 200, "the cloud fills: both outcomes occur")
        #expect(policy.questions >= vms)
        #expect(policy.programName == "first-fit-py")
    }

    @Test func questionsCarryTheQueryWithTextEscaped() throws {
        let directory = try Fixtures.scratchDirectory("external-record")
        let log = directory + "/messages.jsonl"
        var request = Fixtures.request(41, vms: 2, Fixtures.shape(vcores: 4, memoryGiB: 3, pinning: .dynamic))
        request.tenant = "ten\"ant\\\n\u{1}x"
        let engine = AllocationEngine(cloud: Self.cloud)
        let policy = try ExternalPolicy(command: try Self.script("first", record: log), cloud: Self.cloud, seed: 99,
                                        requests: Self.lookup([request]))
        guard case .accepted(_, let vms) = engine.admit(request, policy: policy) else { Issue.record("not placed"); return }
        #expect(vms.map { $0.host } == [0, 0])
        try policy.finish()
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        let messages = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(messages.count == 4, "hello, two questions, bye")
        let hello = messages[0]
        #expect(hello["protocol"] as? String == "hpccloud-policy" && hello["version"] as? Int == 1 && hello["seed"] as? Int == 99)
        #expect(hello["overcommit"] as? [Int] == [2, 1])
        let hosts = hello["hosts"] as! [[Int]]
        #expect(hosts.count == 9 && hosts[0] == [8, 65536, 2, 15] && hosts[8] == [16, 65536, 4, 15])
        let first = messages[1], second = messages[2]
        #expect(first["tenant"] as? String == request.tenant)
        #expect(first["cluster"] as? Int == 41 && first["vms"] as? Int == 2 && first["vcores"] as? Int == 4)
        #expect(first["memoryMiB"] as? Int == 3072 && first["kind"] as? String == "hpc" && first["pinning"] as? String == "dynamic")
        #expect(first["vm"] as? Int == 0 && (first["clusterHosts"] as? [Int]) == [])
        let candidates = first["candidates"] as! [[Int]]
        // Every host fits an empty cloud; host 0 has 8 cores at 2:1, so 4 dynamic vCPUs leave 6 free.
        #expect(candidates.map { $0[0] } == Array(0..<9))
        #expect(candidates[0] == [0, 6, 65536 - 3072, 1])
        #expect(second["vm"] as? Int == 1 && (second["clusterHosts"] as? [Int]) == [0])
        #expect(messages[3]["type"] as? String == "bye")
    }

    @Test(arguments: [
        ("outside", "answer 1: host 1000 is not a candidate"),
        ("garbage", "answer 1: expected {\"host\": a candidate host or null}, got 'no host for you'"),
        ("missing", "answer 1: expected {\"host\""),
        ("float", "answer 1: expected {\"host\""),
        ("exit", "answer 1: the policy program exited with 5 before answering"),
    ])
    func aBrokenAnswerFailsTheRunNamingThePolicy(mode: String, message: String) throws {
        let command = try Self.script(mode)
        let engine = AllocationEngine(cloud: Self.cloud)
        let request = Fixtures.request(1, vms: 1, Fixtures.shape(vcores: 1))
        let policy = try ExternalPolicy(command: command, cloud: Self.cloud, seed: 1, requests: Self.lookup([request]))
        guard case .rejected = engine.admit(request, policy: policy) else { Issue.record("a failed policy placed a VM"); return }
        #expect(policy.failed)
        let error = #expect(throws: InputError.self) { try policy.finish() }
        #expect(error?.description.contains(message) == true, "\(String(describing: error))")
        #expect(error?.description.hasPrefix("exec:python3 ") == true)
        // After a failure every question is a decline, asked of no one.
        #expect(policy.chooseHost(for: try #require(Self.query(engine))) == nil)
    }

    @Test func aWrongHelloOrAMissingProgramIsRefusedAtTheStart() throws {
        let wrongVersion = #expect(throws: InputError.self) {
            try ExternalPolicy(command: try Self.script("first", version: 2), cloud: Self.cloud, seed: 1, requests: [:])
        }
        #expect(wrongVersion?.description.contains("hello: expected version 1, got hello version 2") == true)
        let missing = #expect(throws: InputError.self) {
            try ExternalPolicy(command: ["/nonexistent/policy"], cloud: Self.cloud, seed: 1, requests: [:])
        }
        #expect(missing?.description.contains("cannot start '/nonexistent/policy'") == true, "\(String(describing: missing))")
    }

    @Test func aFailedExitAfterTheRunIsAnError() throws {
        let policy = try ExternalPolicy(command: try Self.script("fail-at-end"), cloud: Self.cloud, seed: 1, requests: [:])
        let error = #expect(throws: InputError.self) { try policy.finish() }
        #expect(error?.description.contains("exited with 7 after the run") == true)
    }

    @Test func aProgramThatStopsAnsweringTimesOutAndIsStopped() throws {
        let request = Fixtures.request(1, vms: 1, Fixtures.shape(vcores: 1))
        let policy = try ExternalPolicy(command: try Self.script("hang"), cloud: Self.cloud, seed: 1, requests: Self.lookup([request]),
                                        environment: [ExternalPolicy.timeoutVariable: "0.3"])
        let started = ContinuousClock.now
        guard case .rejected = AllocationEngine(cloud: Self.cloud).admit(request, policy: policy) else { Issue.record("placed"); return }
        // Killed at the deadline, not after its 300 s sleep (the bound only catches a wait that never ends).
        #expect(ContinuousClock.now - started < .seconds(60))
        let error = #expect(throws: InputError.self) { try policy.finish() }
        #expect(error?.description.contains("answer 1: no answer within 0.3 s (HPCCLOUD_POLICY_TIMEOUT sets the seconds allowed)") == true,
                "\(String(describing: error))")
        let bad = #expect(throws: InputError.self) {
            try ExternalPolicy(command: try Self.script("first"), cloud: Self.cloud, seed: 1, requests: [:],
                               environment: [ExternalPolicy.timeoutVariable: "soon"])
        }
        #expect(bad?.description == "HPCCLOUD_POLICY_TIMEOUT: expected seconds above 0 for each answer, got 'soon'")
    }

    @Test func anInterruptWhileTheProgramThinksAbandonsTheRunWithoutBlamingIt() throws {
        let request = Fixtures.request(1, vms: 1, Fixtures.shape(vcores: 1))
        let policy = try ExternalPolicy(command: try Self.script("hang"), cloud: Self.cloud, seed: 1, requests: Self.lookup([request]))
        policy.interrupted = { true }
        guard case .rejected = AllocationEngine(cloud: Self.cloud).admit(request, policy: policy) else { Issue.record("placed"); return }
        #expect(policy.abandoned && policy.failed)
        try policy.finish()
    }

    /// A query for a one-VM hpc cluster, to ask a policy directly.
    static func query(_ engine: AllocationEngine) -> PlacementQuery? {
        final class Capture: PlacementPolicy {
            let name = "capture"
            var query: PlacementQuery?
            func chooseHost(for query: PlacementQuery) -> Int? {
                self.query = query
                return nil
            }
        }
        let capture = Capture()
        _ = engine.admit(Fixtures.request(99, vms: 1, Fixtures.shape(vcores: 1)), policy: capture)
        return capture.query
    }
}
