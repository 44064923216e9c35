import ControlAgent
import ControlPlane
import Foundation
import GRDB
import NIOHTTP1
import Operations
import Testing
import TestSupport

/// The control plane end to end, every part its own process: ibsim (one
/// switch, the SM's node and four hosts) with the real OpenSM under
/// libumad2sim; `hpccloud serve --backend agents`; `hpccloud agent run
/// --role sm` beside OpenSM (writes the managed block, SIGHUPs OpenSM); and
/// four compute agents (`FakeHostAgent`: the real agent over a fake ConnectX-3
/// whose port table is the ibsim port's). A tenant drives it through the API.
/// After each step, and after each fault (the controller killed with SIGKILL
/// mid-burst and restarted, an agent killed and restarted as a rebooted host,
/// an agent stopped (unreachable) while a cluster is created, OpenSM
/// restarted), every host port's pkey table (smpquery) and every VF map is
/// compared with the recorded placements, and isolation is checked.
@Suite(.serialized) struct AgentsFabricTests {
    static let hosts = 4
    static let site = "# The site's own partitions.\nStorage=0x7000, ipoib : ALL=full ;\n"
    /// ibsim gives CAs node GUIDs 0x100000 + 2i in file order (the SM's node first), port 1 node + 1.
    static func nodeGUID(_ host: Int) -> UInt64 { 0x10_0002 + 2 * UInt64(host) }

    static var topology: String {
        var text = "Hca\t1 \"sm\"\n[1]\t\"leaf\"[1]\n\nSwitch\t8 \"leaf\"\n[1]\t\"sm\"[1]\n"
        for i in 0..<hosts { text += "[\(i + 2)]\t\"host\(i)\"[1]\n" }
        text += "\n"
        for i in 0..<hosts { text += "Hca\t1 \"host\(i)\"\n[1]\t\"leaf\"[\(i + 2)]\n\n" }
        return text
    }

    static let scenario = """
    name: agents-fabric
    seed: 3
    policy: first-fit
    subnet: { switches: 1 }
    hosts:
      - { count: 4, cores: 8, memoryGiB: 32, hca: connectx-3, vfs: 4, pkeyTable: 63 }
    """

    final class Cloud {
        let fabric: IBSimFabric
        var controller: pid_t = 0, sm: pid_t = 0
        var agents: [pid_t] = Array(repeating: 0, count: AgentsFabricTests.hosts)
        var agentTokens: [String] = []
        var tenantToken = "", operatorToken = "", smToken = ""
        var port = 0
        let hpccloud = Fixtures.product("hpccloud"), fakeHost = Fixtures.product("FakeHostAgent")

        var dir: String { fabric.dir }
        var environment: [String: String] { fabric.environment }

        init() throws {
            fabric = try IBSimFabric(name: "agents", topology: AgentsFabricTests.topology, sitePartitions: AgentsFabricTests.site)
            try AgentsFabricTests.scenario.write(toFile: dir + "/cloud.yaml", atomically: true, encoding: .utf8)
            try writeConfiguration(port: 0)
        }

        func writeConfiguration(port: Int) throws {
            let hosts = (0..<AgentsFabricTests.hosts).map { "host\($0)" }.joined(separator: ", ")
            try """
            state: state.sqlite
            scenario: cloud.yaml
            hardware: \(Fixtures.hardwareDirectory)
            backend: agents
            hosts: [\(hosts)]
            listen: 127.0.0.1:\(port)
            passInterval: 1
            """.write(toFile: dir + "/controller.yaml", atomically: true, encoding: .utf8)
        }

        func cli(_ arguments: [String]) throws -> String {
            let result = try CleanSpawn.run(hpccloud, arguments + ["--config", dir + "/controller.yaml"], timeout: 60, directory: dir)
            try #require(result.status == 0, "hpccloud \(arguments): \(result.output)")
            return result.output.split(separator: "\n").first { $0.hasPrefix("hpcc_") }.map(String.init) ?? ""
        }

        func start() throws {
            try fabric.start()
            operatorToken = try cli(["operator", "add", "ops"])
            tenantToken = try cli(["tenant", "add", "acme", "--max-vms", "14"])
            smToken = try cli(["agent", "token", "sm"])
            agentTokens = try (0..<AgentsFabricTests.hosts).map { try cli(["agent", "token", "host\($0)"]) }
            try startController()
            try FileManager.default.createDirectory(atPath: dir + "/sm-agent", withIntermediateDirectories: true)
            try startSMAgent()
            for host in 0..<AgentsFabricTests.hosts { try startAgent(host) }
        }

        func startController() throws {
            try? FileManager.default.removeItem(atPath: dir + "/port")
            controller = try CleanSpawn.spawn(hpccloud, ["serve", "--config", dir + "/controller.yaml", "--port-file", dir + "/port"],
                                              output: dir + "/controller.log", directory: dir)
            for _ in 0..<100 where port == 0 || !FileManager.default.fileExists(atPath: dir + "/port") {
                Thread.sleep(forTimeInterval: 0.1)
                port = Int(((try? String(contentsOfFile: dir + "/port", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            }
            try #require(port > 0, "the controller never listened: \(tail("controller.log"))")
        }

        /// A restarted controller listens on the same port, so the agents find it again.
        func restartController() throws {
            try writeConfiguration(port: port)
            port = 0
            try startController()
        }

        func startSMAgent() throws {
            try agentTokenFile("sm", smToken)
            sm = try CleanSpawn.spawn(hpccloud, ["agent", "run", "--role", "sm", "--controller", url, "--token-file", dir + "/sm.token",
                                                 "--partitions", fabric.partitions, "--sm-pidfile", fabric.pidFile, "--interval", "1"],
                                      output: dir + "/sm-agent.log", directory: dir + "/sm-agent")
        }

        func agentTokenFile(_ name: String, _ token: String) throws {
            try token.write(toFile: "\(dir)/\(name).token", atomically: true, encoding: .utf8)
        }

        func startAgent(_ host: Int) throws {
            agents[host] = try CleanSpawn.spawn(fakeHost, [url, agentTokens[host], "host\(host)", String(format: "0x%llx", AgentsFabricTests.nodeGUID(host)), dir],
                                                environment: environment, output: "\(dir)/host\(host).log", directory: dir)
        }

        var url: String { "http://127.0.0.1:\(port)" }

        func stop() {
            for pid in agents + [sm, controller] where pid > 0 { CleanSpawn.stop(pid) }
            fabric.stop()
        }

        func kill9(_ pid: pid_t) {
            kill(pid, SIGKILL)
            CleanSpawn.stop(pid)
        }

        func tail(_ file: String) -> String { String(((try? String(contentsOfFile: dir + "/" + file, encoding: .utf8)) ?? "").suffix(1500)) }

        func table(_ host: Int) -> [Int] {
            (try? fabric.pkeys(guid: AgentsFabricTests.nodeGUID(host) + 1, port: 1)) ?? []
        }

        /// What the fake HCA holds, as its agent process last wrote it.
        func vfs(_ host: Int) -> [Int: VFState]? {
            guard let data = FileManager.default.contents(atPath: "\(dir)/host\(host).json"),
                  let report = try? JSONDecoder().decode(HostReport.self, from: data) else { return nil }
            return report.hardware.vfs
        }

        func records() throws -> [RecordedCluster] {
            let state = try OperatorState(path: dir + "/state.sqlite", migrations: ControlSchema.migrations)
            return try state.read { try Operator.recordedClusters($0) }
        }
    }

    /// Isolation at any moment: no VF maps a pkey or carries a GUID the records do not give it.
    func isolated(_ cloud: Cloud, _ step: String) throws {
        let clusters = try cloud.records()
        for host in 0..<Self.hosts {
            guard let vfs = cloud.vfs(host) else { continue }
            for (vf, state) in vfs {
                guard case .attached(let pkey, let guid, _) = state else { continue }
                let owner = clusters.first { c in c.vms.contains { $0.host == host && $0.vf == vf && $0.guid == guid && $0.status != "detached" } }
                #expect(owner != nil && (pkey == nil || pkey! & 0x7fff == owner!.pkey), "\(step): host\(host) VF \(vf) maps pkey \(pkey ?? -1) with no record for it")
            }
        }
    }

    /// Converged: every active VM's VF attached with its GUID and pkey, every
    /// other VF detached, every host port holding exactly its tenants' pkeys.
    func converged(_ cloud: Cloud) throws -> String? {
        let clusters = try cloud.records()
        if let busy = clusters.first(where: { $0.vms.contains { $0.status != "active" } }) { return "cluster \(busy.id) still detaching" }
        for host in 0..<Self.hosts {
            guard let vfs = cloud.vfs(host) else { return "host\(host) has not reported" }
            var want: [Int: (Int, UInt64)] = [:]
            var pkeys = Set<Int>()
            for cluster in clusters {
                for vm in cluster.vms where vm.host == host && vm.status == "active" {
                    if let vf = vm.vf, let pkey = cluster.pkey, let guid = vm.guid { want[vf] = (pkey, guid); pkeys.insert(pkey) }
                }
            }
            for (vf, state) in vfs {
                if let (pkey, guid) = want[vf] {
                    guard case .attached(let p, let g, let limited) = state, g == guid, p.map({ $0 & 0x7fff }) == pkey, limited == true else {
                        return "host\(host) VF \(vf): \(state), want pkey \(pkey) GUID \(guid)"
                    }
                } else if state != .detached {
                    return "host\(host) VF \(vf): \(state), want detached"
                }
            }
            let table = Set(cloud.table(host).map { $0 & 0x7fff }).subtracting([0x7fff, 0x7000, 0])
            if table != pkeys { return "host\(host) port table \(table.sorted()), want \(pkeys.sorted())" }
        }
        return nil
    }

    func waitConverged(_ cloud: Cloud, _ step: String, seconds: Double = 60) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        var why = try converged(cloud)
        while let reason = why, Date() < deadline {
            try isolated(cloud, step)
            try await Task.sleep(for: .milliseconds(500))
            why = try converged(cloud)
            _ = reason
        }
        try isolated(cloud, step)
        #expect(why == nil, "\(step): not converged: \(why ?? "")\ncontroller: \(cloud.tail("controller.log"))\nsm agent: \(cloud.tail("sm-agent.log"))")
    }

    func call(_ cloud: Cloud, _ token: String, _ method: HTTPMethod, _ path: String, _ body: Data? = nil, key: String? = nil) async throws -> (Int, Data) {
        let client = try ControllerClient(url: cloud.url, token: token)
        let answer = try await client.send(method, path, body: body, headers: key.map { [("Idempotency-Key", $0)] } ?? [])
        await client.shutdown()
        return answer
    }

    @Test(.requires(.openSM)) func tenantsDriveRealOpenSMThroughAgentsAndSurviveFaults() async throws {
        let cloud = try Cloud()
        defer {
            cloud.stop()
            try? FileManager.default.removeItem(atPath: cloud.dir)
        }
        try cloud.start()
        // Every host registers its HCA.
        var registered = 0
        for _ in 0..<100 where registered < Self.hosts {
            try await Task.sleep(for: .milliseconds(200))
            let (_, data) = try await call(cloud, cloud.operatorToken, .GET, "/v1/hosts")
            registered = (try? JSONDecoder().decode(HostList.self, from: data))?.hosts.filter(\.registered).count ?? 0
        }
        try #require(registered == Self.hosts, "hosts registered: \(registered)\nhost0: \(cloud.tail("host0.log"))\ncontroller: \(cloud.tail("controller.log"))")

        func create(_ vms: Int, key: String) async throws -> ClusterView {
            let (status, data) = try await call(cloud, cloud.tenantToken, .POST, "/v1/clusters", try API.encoder.encode(ClusterCreate(vms: vms, vcores: 1, memoryGiB: 1)), key: key)
            try #require(status == 201, "create: \(status) \(String(decoding: data, as: UTF8.self))")
            return try JSONDecoder().decode(ClusterView.self, from: data)
        }
        let a = try await create(5, key: "a")
        let b = try await create(3, key: "b")
        try await waitConverged(cloud, "two clusters created")
        let (_, shown) = try await call(cloud, cloud.tenantToken, .GET, "/v1/clusters/\(a.id)")
        let view = try JSONDecoder().decode(ClusterView.self, from: shown)
        #expect(view.vms.allSatisfy { $0.ready && $0.pci != nil }, "every VM ready with its VF's PCI address: \(view.vms)")

        _ = try await call(cloud, cloud.tenantToken, .POST, "/v1/clusters/\(a.id)/resize", try API.encoder.encode(ClusterResize(by: 2)))
        _ = try await call(cloud, cloud.tenantToken, .DELETE, "/v1/clusters/\(b.id)")
        try await waitConverged(cloud, "grown and deleted")

        // The controller killed mid-burst: every accepted cluster survives; nothing is applied twice.
        var accepted: [Int64] = []
        for i in 0..<3 {
            if let c = try? await create(1, key: "burst-\(i)") { accepted.append(c.id) }
        }
        cloud.kill9(cloud.controller)
        try cloud.restartController()
        let recorded = Set(try cloud.records().map(\.id))
        #expect(Set(accepted).isSubset(of: recorded), "accepted \(accepted), recorded \(recorded.sorted())")
        // A retry of an accepted request after the restart gets the same cluster.
        let retried = try await create(1, key: "burst-0")
        #expect(retried.id == accepted.first)
        try await waitConverged(cloud, "controller killed and restarted")

        // A host rebooted: its agent comes back with the driver's defaults and converges again.
        cloud.kill9(cloud.agents[0])
        try cloud.startAgent(0)
        try await waitConverged(cloud, "host0 rebooted")

        // An agent unreachable (stopped) while a cluster is created: the others go on; it catches up.
        kill(cloud.agents[1], SIGSTOP)
        let c = try await create(2, key: "while-stopped")
        try await Task.sleep(for: .seconds(2))
        try isolated(cloud, "host1 unreachable")
        kill(cloud.agents[1], SIGCONT)
        try await waitConverged(cloud, "host1 reachable again")

        // OpenSM restarted: it re-reads the same partitions.conf; the ports are programmed again.
        cloud.fabric.stopSM(signal: SIGKILL)
        try cloud.fabric.startSM()
        try await waitConverged(cloud, "OpenSM restarted", seconds: 90)

        // Delete everything: every VF detached, every tenant pkey gone from every port.
        let (_, listed) = try await call(cloud, cloud.tenantToken, .GET, "/v1/clusters")
        for cluster in try JSONDecoder().decode(ClusterList.self, from: listed).clusters {
            _ = try await call(cloud, cloud.tenantToken, .DELETE, "/v1/clusters/\(cluster.id)")
        }
        _ = c
        try await waitConverged(cloud, "all deleted", seconds: 90)
        // Each attach of a VM's VF happened once per boot of its host: the journal names every change once per round it was needed.
        let journal = try OperatorState(path: cloud.dir + "/state.sqlite", migrations: ControlSchema.migrations)
            .read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM journal WHERE status = 'failed'") ?? 0 }
        #expect(journal == 0, "failed hardware changes: \(journal)")
    }
}
