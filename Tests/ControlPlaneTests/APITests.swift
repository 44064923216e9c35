import ControlAgent
import ControlPlane
import ControlServer
import Foundation
import GRDB
import Hummingbird
import Logging
import NIOHTTP1
import Operations
import SimulatedHardware
import Testing
import TestSupport
import Yams

/// A controller over the simulated backend, served on a loopback port in this
/// process, with an operator and tenants, and an HTTP client per caller.
final class LiveController: @unchecked Sendable {
    let directory: String
    let state: OperatorState
    let controller: Controller
    var port = 0
    var server: Task<Void, Error>?
    var passes: Task<Void, Never>?
    var tokens: [String: String] = [:]
    var clients: [ControllerClient] = []

    static let scenario = """
    name: api-test
    seed: 7
    policy: first-fit
    hosts:
      - { count: 8, cores: 16, memoryGiB: 64, hca: connectx-3, vfs: 8, pkeyTable: 16 }
    """

    init(tenants: [String: Quota] = [:], tls: (certificate: String, key: String)? = nil) async throws {
        directory = try Fixtures.scratchDirectory("api")
        state = try OperatorState(path: directory + "/state.sqlite", migrations: ControlSchema.migrations)
        let catalog = try Fixtures.catalog()
        try Operator.initialize(state: state, scenarioYAML: Self.scenario, scenarioFile: "api-test.yaml", catalog: catalog, discovered: nil,
                                backend: "simulated", partitions: nil)
        controller = try Controller(state: state, catalog: catalog, mode: .simulated, simulated: simulatedHardware(beside:))
        tokens["operator"] = try state.writeImmediate { try ControlSchema.issueToken($0, for: Principal(name: "ops", role: .operator)) }.token
        for (name, quota) in tenants {
            tokens[name] = try state.writeImmediate { try ControlSchema.addTenant($0, name: name, quota: quota) }.token
        }
        var configuration = ServeConfiguration(state: state.path)
        configuration.port = 0
        configuration.certificate = tls?.certificate
        configuration.key = tls?.key
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = try ControlServer.application(controller: controller, configuration: configuration, logger: Logger(label: "test")) {
            continuation.yield($0)
        }
        server = Task { try await app.run() }
        passes = Task { [controller] in await controller.runPasses(interval: .seconds(1)) { _ in } }
        for await bound in ports {
            port = bound
            break
        }
    }

    var url: String { "http://127.0.0.1:\(port)" }

    func client(_ who: String?) throws -> ControllerClient {
        let client = try ControllerClient(url: url, token: who.map { tokens[$0] ?? $0 })
        clients.append(client)
        return client
    }

    func stop() async {
        for client in clients { await client.shutdown() }
        server?.cancel()
        passes?.cancel()
        _ = await server?.result
        try? FileManager.default.removeItem(atPath: directory)
    }
}

func json(_ value: some Encodable) throws -> Data { try API.encoder.encode(value) }

@Suite(.serialized) struct APITests {
    @Test func aTenantCreatesShowsResizesAndDeletesItsCluster() async throws {
        let live = try await LiveController(tenants: ["acme": Quota()])
        defer { Task { await live.stop() } }
        let acme = try live.client("acme")
        let created = try await acme.call(.POST, "/v1/clusters", body: try json(ClusterCreate(vms: 3, vcores: 2, memoryGiB: 2)), as: ClusterView.self)
        #expect(created.tenant == "acme" && created.vms.count == 3 && created.pkey != nil)
        #expect(created.vms.allSatisfy { $0.vf != nil && $0.guid != nil && $0.pkey == created.pkey })
        let grown = try await acme.call(.POST, "/v1/clusters/\(created.id)/resize", body: try json(ClusterResize(by: 2)), as: ClusterView.self)
        #expect(grown.vms.filter { $0.status == "active" }.count == 5)
        // The simulated backend applies in the background: every VM becomes ready.
        var shown = grown
        for _ in 0..<50 where !shown.vms.allSatisfy(\.ready) {
            try await Task.sleep(for: .milliseconds(100))
            shown = try await acme.call(.GET, "/v1/clusters/\(created.id)", as: ClusterView.self)
        }
        let allReady = shown.vms.allSatisfy(\.ready)
        #expect(allReady)
        let (status, _) = try await acme.send(.DELETE, "/v1/clusters/\(created.id)")
        #expect(status == 202)
        // Once every VF is confirmed detached the cluster is gone and its pkey free.
        var gone = false
        for _ in 0..<50 where !gone {
            try await Task.sleep(for: .milliseconds(100))
            gone = try await acme.send(.GET, "/v1/clusters/\(created.id)").status == 404
        }
        #expect(gone)
        await live.stop()
    }

    /// Every route with no token, a wrong token, another tenant's token and an
    /// agent's: 401, 401, 404 for another tenant's cluster, 403 for a role that
    /// may not; never a 5xx; errors are problem documents.
    @Test func everyEndpointRefusesTheWrongCaller() async throws {
        let live = try await LiveController(tenants: ["acme": Quota(), "beta": Quota()])
        defer { Task { await live.stop() } }
        live.tokens["agent"] = try live.state.writeImmediate { try ControlSchema.issueToken($0, for: Principal(name: "sim0", role: .agent)) }.token
        let acme = try live.client("acme")
        let cluster = try await acme.call(.POST, "/v1/clusters", body: try json(ClusterCreate(vms: 1, vcores: 1, memoryGiB: 1)), as: ClusterView.self)
        let paths: [(HTTPMethod, String, Data?)] = Routes.table.map { route in
            let path = route.path.replacingOccurrences(of: "{id}", with: "\(cluster.id)").replacingOccurrences(of: "{name}", with: "acme")
            let body: Data? = route.method == .get || route.method == .delete ? nil : Data("{}".utf8)
            return (HTTPMethod(rawValue: route.method.rawValue), path, body)
        }
        for who in [nil, "hpcc_not-a-real-token", "beta", "agent"] as [String?] {
            let client = try live.client(who)
            for (index, (method, path, body)) in paths.enumerated() {
                let route = Routes.table[index]
                let (status, data) = try await client.send(method, path, body: body)
                #expect(status < 500, "\(method) \(path) as \(who ?? "nobody"): \(status)")
                guard route.authenticated else { continue }
                if who == nil || who == "hpcc_not-a-real-token" {
                    #expect(status == 401, "\(method) \(path) as \(who ?? "nobody"): \(status)")
                } else if who == "beta" && path.contains("/v1/clusters/") {
                    #expect(status == 404, "another tenant's cluster must read as missing: \(method) \(path): \(status)")
                } else if who == "beta" && (path.hasPrefix("/v1/tenants/acme") || path.hasPrefix("/v1/agent")) {
                    #expect(status == 404 || status == 403, "\(method) \(path) as beta: \(status)")
                } else if who == "beta" && !path.hasPrefix("/v1/clusters") {
                    #expect(status == 403, "\(method) \(path) as beta: \(status)")
                } else if who == "agent" && !path.hasPrefix("/v1/agent/") {
                    #expect(status == 403 || status == 404, "\(method) \(path) as an agent: \(status)")
                }
                if status >= 400 {
                    #expect((try? JSONDecoder().decode(Problem.self, from: data))?.status == status, "\(method) \(path): not a problem document")
                }
            }
        }
        // Nothing of acme's reached beta's list.
        let list = try await live.client("beta").call(.GET, "/v1/clusters", as: ClusterList.self)
        #expect(list.clusters.isEmpty)
        await live.stop()
    }

    @Test func aRetriedCreateWithTheSameKeyMakesOneCluster() async throws {
        let live = try await LiveController(tenants: ["acme": Quota()])
        defer { Task { await live.stop() } }
        let acme = try live.client("acme")
        let body = try json(ClusterCreate(vms: 2, vcores: 1, memoryGiB: 1))
        let key = [("Idempotency-Key", "order-42")]
        // Ten concurrent retries of one request.
        let answers = try await withThrowingTaskGroup(of: ClusterView.self) { group in
            for _ in 0..<10 { group.addTask { try await acme.call(.POST, "/v1/clusters", body: body, headers: key, as: ClusterView.self) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(answers.map(\.id)).count == 1)
        let list = try await acme.call(.GET, "/v1/clusters", as: ClusterList.self)
        #expect(list.clusters.count == 1)
        let (status, data) = try await acme.send(.POST, "/v1/clusters", body: try json(ClusterCreate(vms: 3, vcores: 1, memoryGiB: 1)), headers: key)
        #expect(status == 422, "\(String(decoding: data, as: UTF8.self))")
        await live.stop()
    }

    @Test func badInputIsA400WithTheFieldNamed() async throws {
        let live = try await LiveController(tenants: ["acme": Quota(vms: 4)])
        defer { Task { await live.stop() } }
        let acme = try live.client("acme")
        for (body, field) in [("{\"vms\": \"three\", \"vcores\": 1, \"memoryGiB\": 1}", "vms"), ("{\"vcores\": 1, \"memoryGiB\": 1}", "vms"),
                              ("not json", "JSON"), ("{\"vms\": 9223372036854775807, \"vcores\": 1, \"memoryGiB\": 1}", "vms"),
                              ("{\"vms\": 1, \"vcores\": 1, \"memoryGiB\": 1, \"kind\": \"gpu\"}", "kind")] {
            let (status, data) = try await acme.send(.POST, "/v1/clusters", body: Data(body.utf8))
            let problem = try JSONDecoder().decode(Problem.self, from: data)
            #expect(status == 400 && problem.detail.contains(field), "\(body): \(status) \(problem.detail)")
        }
        let (status, data) = try await acme.send(.POST, "/v1/clusters", body: try json(ClusterCreate(vms: 5, vcores: 1, memoryGiB: 1)))
        #expect(status == 403 && String(decoding: data, as: UTF8.self).contains("quota"))
        await live.stop()
    }

    /// 50 tenants issue 20 operations each at once: no VF or pkey handed out
    /// twice, quotas held, and every answer consistent with the final state.
    @Test func fiftyTenantsAtOnceNeverShareAVFOrAPKey() async throws {
        let tenants = (0..<50).map { "t\($0)" }
        let live = try await LiveController(tenants: Dictionary(uniqueKeysWithValues: tenants.map { ($0, Quota(clusters: 3, vms: 6)) }))
        defer { Task { await live.stop() } }
        let clients = try tenants.map { try live.client($0) }
        let outcomes = try await withThrowingTaskGroup(of: (String, [Int64], Int).self) { group in
            for (i, client) in clients.enumerated() {
                group.addTask {
                    var mine: [Int64] = [], refusals = 0
                    var random = SystemRandomNumberGenerator()
                    for step in 0..<20 {
                        let choice = mine.isEmpty ? 0 : Int.random(in: 0..<4, using: &random)
                        switch choice {
                        case 0, 1:
                            let (status, data) = try await client.send(.POST, "/v1/clusters", body: try json(ClusterCreate(vms: 1 + step % 3, vcores: 1, memoryGiB: 1)),
                                                                       headers: [("Idempotency-Key", "t\(i)-\(step)")])
                            if status == 201 { mine.append(try JSONDecoder().decode(ClusterView.self, from: data).id) } else { refusals += 1; #expect(status == 403 || status == 409) }
                        case 2:
                            let (status, _) = try await client.send(.POST, "/v1/clusters/\(mine.last!)/resize", body: try json(ClusterResize(by: 1)))
                            #expect(status == 200 || status == 403 || status == 409)
                        default:
                            let id = mine.removeFirst()
                            let (status, _) = try await client.send(.DELETE, "/v1/clusters/\(id)")
                            #expect(status == 202 || status == 200)
                        }
                    }
                    return ("t\(i)", mine, refusals)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let clusters = try live.state.read { try Operator.recordedClusters($0) }
        // Each tenant's running clusters are exactly the ones it still holds.
        for (tenant, mine, _) in outcomes {
            #expect(Set(clusters.filter { $0.tenant == tenant && $0.status == "active" }.map(\.id)) == Set(mine), "\(tenant)")
            let active = clusters.filter { $0.tenant == tenant && $0.status == "active" }
            #expect(active.count <= 3 && active.reduce(0) { $0 + $1.activeVMs.count } <= 6, "\(tenant) over its quota")
        }
        var slots = Set<String>(), pkeys = Set<Int>()
        for cluster in clusters {
            if let pkey = cluster.pkey { #expect(pkeys.insert(pkey).inserted, "pkey \(pkey) twice") }
            for vm in cluster.vms where vm.status != "detached" {
                if let vf = vm.vf { #expect(slots.insert("\(vm.host)/\(vf)").inserted, "host \(vm.host) VF \(vf) twice") }
            }
        }
        #expect(Set(clusters.map(\.id)).count == clusters.count)
        await live.stop()
    }

    /// The routes served are the routes documented, both ways.
    @Test func theOpenAPIDocumentDescribesEveryRoute() throws {
        let text = try String(contentsOfFile: Fixtures.repoRoot + "/openapi.yaml", encoding: .utf8)
        let document = try #require(try Yams.load(yaml: text) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: Any])
        var documented = Set<String>()
        for (path, item) in paths {
            for method in (item as? [String: Any] ?? [:]).keys where ["get", "post", "put", "delete", "patch"].contains(method) {
                documented.insert("\(method.uppercased()) \(path)")
            }
        }
        let served = Set(Routes.table.map { "\($0.method.rawValue) \($0.path)" } + ["GET /metrics"])
        #expect(documented == served, "only documented: \(documented.subtracting(served)); only served: \(served.subtracting(documented))")
    }
}
