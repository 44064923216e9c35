import Allocation
import CloudModel
import Foundation
import GRDB
import Operations
import Synchronization

/// An answer the HTTP layer sends as it is: a status and a JSON document.
public struct APIResult: Sendable {
    public var status: Int
    public var body: Data

    public init<T: Encodable>(_ status: Int, _ value: T) throws {
        self.status = status
        body = try API.encoder.encode(value)
    }

    init(status: Int, body: Data) {
        self.status = status
        self.body = body
    }
}

public enum API {
    /// Sorted keys: the same state gives the same bytes (and generations compare by bytes).
    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        do { return try JSONDecoder().decode(type, from: data) } catch let error as DecodingError {
            throw Problem.badRequest("request body: \(describe(error))")
        } catch {
            throw Problem.badRequest("request body: \(error)")
        }
    }

    /// A decoding error in one line: the field's path and what was expected.
    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let text = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.isEmpty ? "the document" : String(text.drop(while: { $0 == "." }))
        }
        switch error {
        case .typeMismatch(let type, let context): return "\(path(context)): expected \(type)"
        case .valueNotFound(let type, let context): return "\(path(context)): expected \(type), found null"
        case .keyNotFound(let key, let context):
            return "\(context.codingPath.isEmpty ? "" : path(context) + ".")\(key.stringValue): required field missing"
        case .dataCorrupted(let context): return "\(path(context)): not valid JSON (\(context.debugDescription))"
        @unknown default: return "\(error)"
        }
    }
}

/// The controller: the one owner of the engine and the durable state behind
/// the HTTP API. Tenants' commands go through `Operator` (the shared engine,
/// in `BEGIN IMMEDIATE` transactions, never re-deciding a recorded placement);
/// hardware follows either the simulated backend (applied here) or the
/// agents, which pull each host's desired state by generation and report back.
public final class Controller: Sendable {
    public enum Mode: Sendable, Equatable {
        /// Rehearsal: the simulated backend and subnet manager, applied by the controller.
        case simulated
        /// Real hosts: each compute host's agent applies its desired state; the
        /// `sm` agent writes the partitions (unless `manageSubnet` is false).
        case agents(manageSubnet: Bool)
    }

    public let state: OperatorState
    public let mode: Mode
    let base: OperatorBox
    let reports = AgentReports()
    /// Desired generations and when each was published, by target, for long polls and lag.
    let generations = Mutex<[String: (generation: Int64, published: Double)]>([:])
    let kicks: AsyncStream<Void>
    let kick: AsyncStream<Void>.Continuation
    let passQueue = DispatchQueue(label: "hpccloud.controller.pass")
    /// Hardware changes that failed (agents' reports and simulated applies).
    public let applyFailures = Atomic<Int>(0)

    /// `Operator` is a class of immutable references: shared read-only across requests.
    final class OperatorBox: @unchecked Sendable {
        let op: Operator
        init(_ op: Operator) { self.op = op }
    }

    public var op: Operator { base.op }

    /// - Parameters:
    ///   - simulated: builds the simulated backend and subnet manager (SimulatedHardware is not a dependency of the core).
    public init(state: OperatorState, catalog: HardwareCatalog, mode: Mode,
                simulated: (OperatorState) -> (Backend, SubnetManager)) throws {
        self.state = state
        self.mode = mode
        let backend: Backend
        let subnetManager: SubnetManager
        switch mode {
        case .simulated: (backend, subnetManager) = simulated(state)
        case .agents:
            backend = ReportedBackend(reports: reports)
            subnetManager = ReportedSubnetManager(reports: reports)
        }
        base = OperatorBox(try Operator(state: state, catalog: catalog, backend: backend, subnetManager: subnetManager, actor: "controller"))
        (kicks, kick) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        try state.read { db in
            for row in try Row.fetchAll(db, sql: "SELECT target, generation, published FROM desired") {
                let target: String = row["target"]
                generations.withLock { $0[target] = (row["generation"], row["published"]) }
            }
            for row in try Row.fetchAll(db, sql: "SELECT * FROM agent WHERE report IS NOT NULL") {
                let target: String = row["target"]
                let data: Data = row["report"]
                let time = (row["reported"] as Double?).map(Date.init(timeIntervalSince1970:)) ?? Date()
                if target == "sm" {
                    reports.store(target, host: nil, subnet: try? JSONDecoder().decode(SubnetReport.self, from: data), at: time)
                } else {
                    reports.store(target, host: try? JSONDecoder().decode(HostReport.self, from: data), subnet: nil, at: time)
                }
            }
        }
    }

    var manageSubnet: Bool { if case .agents(let manage) = mode { manage } else { true } }

    // MARK: - Identity

    /// The caller of an `Authorization: Bearer …` header; 401 for none or a token nobody holds.
    public func authenticate(_ header: String?) throws -> Principal {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw Problem.unauthorized("send Authorization: Bearer <token>")
        }
        let token = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        guard let principal = try state.read({ try ControlSchema.principal($0, token: token) }) else {
            throw Problem.unauthorized("the token is not valid")
        }
        return principal
    }

    static func require(_ principal: Principal, _ roles: Principal.Role...) throws {
        guard roles.contains(principal.role) else {
            throw Problem.forbidden("\(principal.role.rawValue)s may not do this")
        }
    }

    static func actorName(_ principal: Principal) -> String { "\(principal.role.rawValue):\(principal.name)" }

    // MARK: - Clusters

    /// The tenant a request acts for: its own name, or (operators) the body's.
    func tenant(of principal: Principal, _ requested: String?) throws -> String {
        switch principal.role {
        case .tenant:
            if let requested, requested != principal.name { throw Problem.forbidden("a tenant creates clusters for itself only") }
            return principal.name
        case .operator:
            guard let requested else { throw Problem.badRequest("tenant: required when an operator creates a cluster") }
            return requested
        case .agent: throw Problem.forbidden("agents may not do this")
        }
    }

    static func fingerprint(_ method: String, _ path: String, _ body: Data) -> String {
        "\(method) \(path) \(BearerToken.hash(String(decoding: body, as: UTF8.self)))"
    }

    /// A stored answer for (caller, key), or nil; 422 when the key came with another request.
    func replay(_ db: Database, _ principal: Principal, key: String?, request: String) throws -> Answer? {
        guard let key else { return nil }
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM idempotency WHERE principal = ? AND key = ?",
                                         arguments: [Self.actorName(principal), key]) else { return nil }
        guard row["request"] as String == request else {
            throw Problem.unprocessable("Idempotency-Key '\(key)' was first used with a different request")
        }
        let status: Int = row["status"]
        let body: Data = row["body"]
        return (status, status < 300 ? (try? JSONDecoder().decode(Int64.self, from: body)) : nil, body)
    }

    func remember(_ db: Database, _ principal: Principal, key: String?, request: String, status: Int, body: Data) throws {
        guard let key else { return }
        try db.execute(sql: "INSERT INTO idempotency (principal, key, request, status, body, created) VALUES (?, ?, ?, ?, ?, ?)",
                       arguments: [Self.actorName(principal), key, request, status, body, Date().formatted(.iso8601)])
    }

    static func checkKey(_ key: String?) throws {
        if let key, key.isEmpty || key.utf8.count > 255 || key.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value > 0x7e }) {
            throw Problem.badRequest("Idempotency-Key: expected 1 to 255 printable ASCII characters")
        }
    }

    /// `POST /v1/clusters`.
    public func createCluster(_ principal: Principal, body: Data, idempotencyKey key: String?) throws -> APIResult {
        try Self.require(principal, .tenant, .operator)
        try Self.checkKey(key)
        let request = try API.decode(ClusterCreate.self, from: body)
        let tenant = try tenant(of: principal, request.tenant)
        // Bounded before any arithmetic (quotas add these to what the tenant holds).
        guard (1...Int(Int32.max)).contains(request.vms) else { throw Problem.badRequest("vms \(request.vms): expected 1 to \(Int32.max)") }
        guard let kind = VMKind(rawValue: request.kind ?? "hpc") else { throw Problem.badRequest("kind '\(request.kind ?? "")': expected hpc or common") }
        guard let pinning = Pinning(rawValue: request.pinning ?? "fixed") else {
            throw Problem.badRequest("pinning '\(request.pinning ?? "")': expected fixed or dynamic")
        }
        let spec = ClusterSpec(tenant: tenant, vms: request.vms, vcores: request.vcores, memoryGiB: request.memoryGiB, kind: kind,
                               pinning: pinning, policy: request.policy)
        let fingerprint = Self.fingerprint("POST", "/v1/clusters", body)
        let op = op.acting(as: Self.actorName(principal))
        let site = try op.siteStatements()
        let answer = try idempotent(principal, key: key, request: fingerprint) { db in
            guard let quota = try ControlSchema.quota(db, tenant: tenant) else { throw Problem.notFound("no tenant '\(tenant)'") }
            let usage = try ControlSchema.usage(db, tenant: tenant)
            try Self.checkQuota(quota, usage, clusters: 1, vms: spec.vms, vfs: kind == .hpc ? spec.vms : 0)
            let outcome = try op.create(spec, in: db, site: site)
            if outcome.outcome == "accepted", let id = outcome.clusterID { return (201, id, try JSONEncoder().encode(id)) }
            return (409, nil, try API.encoder.encode(Problem.conflict("rejected: \(outcome.reason ?? outcome.outcome)")))
        }
        if answer.status == 201 { requestPass() }
        return try result(answer)
    }

    typealias Answer = (status: Int, cluster: Int64?, body: Data)

    /// Runs a command in one `BEGIN IMMEDIATE` transaction with its
    /// idempotency record: a stored answer for (caller, key) is returned
    /// instead, and a new one is kept in the same transaction as the decision.
    func idempotent(_ principal: Principal, key: String?, request: String, _ body: (Database) throws -> Answer) throws -> Answer {
        try operatorCall {
            try state.writeImmediate { db in
                if let stored = try replay(db, principal, key: key, request: request) { return stored }
                let answer = try body(db)
                try remember(db, principal, key: key, request: request, status: answer.status, body: answer.body)
                return answer
            }
        }
    }

    func result(_ answer: Answer) throws -> APIResult {
        guard let id = answer.cluster else { return APIResult(status: answer.status, body: answer.body) }
        guard let view = try clusterView(id) else { throw Problem.notFound("no cluster \(id)") }
        return try APIResult(answer.status, view)
    }

    static func checkQuota(_ quota: Quota, _ usage: TenantUsage, clusters: Int, vms: Int, vfs: Int) throws {
        if let max = quota.clusters, usage.clusters + clusters > max {
            throw Problem.forbidden("quota: \(usage.clusters) clusters running, at most \(max)")
        }
        if let max = quota.vms, usage.vms + vms > max { throw Problem.forbidden("quota: \(usage.vms) VMs + \(vms) asked, at most \(max)") }
        if let max = quota.vfs, usage.vfs + vfs > max { throw Problem.forbidden("quota: \(usage.vfs) VFs + \(vfs) asked, at most \(max)") }
    }

    /// Runs an operator-core call, turning its one-line errors into problems.
    func operatorCall<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as OperatorError { throw Problem(error) }
    }

    /// The cluster's owner, or a 404 that reads the same whether it is missing or another tenant's.
    func owned(_ principal: Principal, _ id: Int64) throws -> RecordedCluster {
        let cluster = try state.read { db in try Operator.recordedClusters(db, id: id).first }
        guard let cluster, principal.role == .operator || (principal.role == .tenant && cluster.tenant == principal.name) else {
            throw Problem.notFound("no cluster \(id)")
        }
        return cluster
    }

    /// `POST /v1/clusters/{id}/resize`.
    public func resizeCluster(_ principal: Principal, id: Int64, body: Data, idempotencyKey key: String?) throws -> APIResult {
        try Self.require(principal, .tenant, .operator)
        // Whose it is first: another tenant's cluster reads as missing, whatever the body.
        let cluster = try owned(principal, id)
        try Self.checkKey(key)
        let request = try API.decode(ClusterResize.self, from: body)
        guard request.by != 0 && request.by.magnitude <= UInt(Int32.max) else {
            throw Problem.badRequest("by \(request.by): expected a non-zero number of VMs within ±\(Int32.max) (+K grows, -K shrinks)")
        }
        let fingerprint = Self.fingerprint("POST", "/v1/clusters/\(id)/resize", body)
        let op = op.acting(as: Self.actorName(principal))
        let site = try op.siteStatements()
        let answer = try idempotent(principal, key: key, request: fingerprint) { db in
            if request.by > 0 {
                let quota = try ControlSchema.quota(db, tenant: cluster.tenant) ?? Quota()
                let usage = try ControlSchema.usage(db, tenant: cluster.tenant)
                try Self.checkQuota(quota, usage, clusters: 0, vms: request.by, vfs: cluster.kind == VMKind.hpc.rawValue ? request.by : 0)
            }
            let outcome = try op.resize(id: id, by: request.by, policy: request.policy, in: db, site: site)
            switch outcome.outcome {
            case "accepted": return (200, id, try JSONEncoder().encode(id))
            case "ignored": throw Problem.notFound("no cluster \(id)")
            default: return (409, nil, try API.encoder.encode(Problem.conflict("rejected: \(outcome.reason ?? outcome.outcome)")))
            }
        }
        if answer.status == 200 { requestPass() }
        return try result(answer)
    }

    /// `DELETE /v1/clusters/{id}`: 202 while its VFs are detached, then it is gone.
    public func deleteCluster(_ principal: Principal, id: Int64) throws -> APIResult {
        try Self.require(principal, .tenant, .operator)
        _ = try owned(principal, id)
        let op = op.acting(as: Self.actorName(principal))
        _ = try operatorCall { try op.delete(id: id) }
        requestPass()
        guard let view = try clusterView(id) else {
            return try APIResult(200, ["id": id])  // no hardware held: gone at once
        }
        return try APIResult(202, view)
    }

    public func showCluster(_ principal: Principal, id: Int64) throws -> APIResult {
        try Self.require(principal, .tenant, .operator)
        _ = try owned(principal, id)
        guard let view = try clusterView(id) else { throw Problem.notFound("no cluster \(id)") }
        return try APIResult(200, view)
    }

    public func listClusters(_ principal: Principal, tenant filter: String?) throws -> APIResult {
        try Self.require(principal, .tenant, .operator)
        let tenant = principal.role == .tenant ? principal.name : filter
        let (clusters, hosts) = try state.read { db in (try Operator.recordedClusters(db), try op.hosts(in: db)) }
        let views = clusters.filter { tenant == nil || $0.tenant == tenant }.map { view($0, hosts) }
        return try APIResult(200, ClusterList(clusters: views))
    }

    func clusterView(_ id: Int64) throws -> ClusterView? {
        let (cluster, hosts) = try state.read { db in (try Operator.recordedClusters(db, id: id).first, try op.hosts(in: db)) }
        return cluster.map { view($0, hosts) }
    }

    /// A cluster with each VM's host name, VF PCI address and readiness as the hardware shows it.
    func view(_ cluster: RecordedCluster, _ hosts: [HostEntry]) -> ClusterView {
        var observed: [Int: (HostHardware?, [String])] = [:]
        func hardware(_ index: Int) -> (HostHardware?, [String]) {
            if let seen = observed[index] { return seen }
            guard index >= 0 && index < hosts.count else { return (nil, []) }
            let seen: (HostHardware?, [String])
            if case .agents = mode, let (report, _) = reports.host(index) {
                seen = (report.hardware, report.vfAddresses)
            } else {
                seen = ((try? op.backend.actual(hosts[index])), [])
            }
            observed[index] = seen
            return seen
        }
        let pkey = cluster.pkey.map { PartitionKey($0).description }
        let vms = cluster.vms.map { vm -> ClusterView.VM in
            let (have, addresses) = hardware(vm.host)
            var ready = vm.vf == nil && vm.status == "active"
            if let vf = vm.vf, vm.status == "active", case .attached(let p, let guid, _)? = have?.vfs[vf] {
                ready = guid == vm.guid && (p == nil || p! & 0x7fff == cluster.pkey)
            }
            return ClusterView.VM(seq: vm.seq, host: vm.host < hosts.count ? hosts[vm.host].name : "\(vm.host)", vf: vm.vf,
                                  pci: vm.vf.flatMap { $0 < addresses.count ? addresses[$0] : nil }, guid: vm.guid.map(GUIDFormat.hex),
                                  pkey: vm.vf == nil ? nil : pkey, status: vm.status, ready: ready)
        }
        return ClusterView(id: cluster.id, tenant: cluster.tenant, status: cluster.status, pkey: pkey, vcores: cluster.vcores,
                           memoryGiB: Int(cluster.memoryMiB / 1024), kind: cluster.kind, pinning: cluster.pinning, created: cluster.created, vms: vms)
    }

    // MARK: - Tenants and tokens (operators)

    public func addTenant(_ principal: Principal, body: Data) throws -> APIResult {
        try Self.require(principal, .operator)
        let request = try API.decode(TenantCreate.self, from: body)
        let token = try state.writeImmediate { db in try ControlSchema.addTenant(db, name: request.name, quota: request.quota ?? Quota()) }
        return try APIResult(201, token)
    }

    public func listTenants(_ principal: Principal) throws -> APIResult {
        try Self.require(principal, .operator)
        let tenants = try state.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM tenant ORDER BY name").map { try tenantView(db, $0)! }
        }
        return try APIResult(200, TenantList(tenants: tenants))
    }

    func tenantView(_ db: Database, _ name: String) throws -> TenantView? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM tenant WHERE name = ?", arguments: [name]) else { return nil }
        return TenantView(name: name, quota: Quota(clusters: row["maxClusters"], vms: row["maxVMs"], vfs: row["maxVFs"]),
                          usage: try ControlSchema.usage(db, tenant: name), created: row["created"])
    }

    /// `GET /v1/tenants/{name}`: operators any, a tenant itself only (404 otherwise).
    public func showTenant(_ principal: Principal, name: String) throws -> APIResult {
        guard principal.role == .operator || (principal.role == .tenant && principal.name == name) else { throw Problem.notFound("no tenant '\(name)'") }
        guard let view = try state.read({ try tenantView($0, name) }) else { throw Problem.notFound("no tenant '\(name)'") }
        return try APIResult(200, view)
    }

    public func setQuota(_ principal: Principal, name: String, body: Data) throws -> APIResult {
        try Self.require(principal, .operator)
        let quota = try API.decode(Quota.self, from: body)
        try ControlSchema.checkQuota(quota)
        let view = try state.writeImmediate { db -> TenantView in
            try db.execute(sql: "UPDATE tenant SET maxClusters = ?, maxVMs = ?, maxVFs = ? WHERE name = ?",
                           arguments: [quota.clusters, quota.vms, quota.vfs, name])
            guard db.changesCount == 1, let view = try tenantView(db, name) else { throw Problem.notFound("no tenant '\(name)'") }
            return view
        }
        return try APIResult(200, view)
    }

    /// A new token for a tenant (the old one stops working).
    public func rotateToken(_ principal: Principal, tenant name: String) throws -> APIResult {
        try Self.require(principal, .operator)
        let token = try state.writeImmediate { db -> IssuedToken in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM tenant WHERE name = ?", arguments: [name]) == 1 else {
                throw Problem.notFound("no tenant '\(name)'")
            }
            return try ControlSchema.issueToken(db, for: Principal(name: name, role: .tenant))
        }
        return try APIResult(201, token)
    }

    /// An agent's token: `name` is a host in the inventory, or `sm`.
    public func addAgent(_ principal: Principal, body: Data) throws -> APIResult {
        try Self.require(principal, .operator)
        let request = try API.decode(AgentCreate.self, from: body)
        return try APIResult(201, try state.writeImmediate { try ControlSchema.issueAgentToken($0, name: request.name) })
    }

    // MARK: - Hosts, plan, journal, partitions (operators)

    public func listHosts(_ principal: Principal) throws -> APIResult {
        try Self.require(principal, .operator)
        let loaded = try operatorCall { try op.snapshot() }
        let now = Date().timeIntervalSince1970
        let hosts = loaded.hosts.map { host -> HostView in
            let usage = loaded.engine.usage(host: host.index)
            var agent: HostView.Agent?
            if case .agents = mode {
                let target = "host:\(host.index)"
                let published: (generation: Int64, published: Double) = generations.withLock { $0[target] } ?? (0, now)
                let seen = reports.host(host.index)
                let applied = seen?.report.generation
                agent = HostView.Agent(generation: published.generation, applied: applied,
                                       lastReport: seen?.reported.map { $0.formatted(.iso8601) },
                                       lagSeconds: (applied ?? -1) >= published.generation ? 0 : max(0, now - published.published),
                                       waiting: seen?.report.waiting ?? [], failed: seen?.report.failed ?? [], drift: seen?.report.drift ?? [])
            }
            return HostView(index: host.index, name: host.name, registered: host.registered, drained: host.drained,
                            membership: host.membership.rawValue, device: host.device, driver: host.driver, port: host.port,
                            nodeGUID: GUIDFormat.hex(host.nodeGUID), portGUID: GUIDFormat.hex(host.portGUID),
                            capacity: usage,
                            agent: agent)
        }
        return try APIResult(200, HostList(hosts: hosts))
    }

    public func setDrained(_ principal: Principal, host: String, _ drained: Bool) throws -> APIResult {
        try Self.require(principal, .operator)
        let op = op.acting(as: Self.actorName(principal))
        do {
            _ = try op.setDrained(host: host, drained)
        } catch let error as OperatorError where error.kind == .refused {
            throw Problem.notFound(error.description)
        } catch let error as OperatorError { throw Problem(error) }
        return try listHosts(principal)
    }

    public func plan(_ principal: Principal) throws -> APIResult {
        try Self.require(principal, .operator)
        return try APIResult(200, try operatorCall { try op.plan() })
    }

    public func journal(_ principal: Principal, audit: Bool, limit: Int) throws -> APIResult {
        try Self.require(principal, .operator)
        guard (1...100_000).contains(limit) else { throw Problem.badRequest("limit \(limit): expected 1 to 100000") }
        let rows = try operatorCall { audit ? try op.operations(limit: limit) : try op.journal(limit: limit) }
        return try APIResult(200, ["entries": rows])
    }

    /// partitions.conf as the subnet manager should have it (text).
    public func partitions(_ principal: Principal) throws -> String {
        try Self.require(principal, .operator)
        guard let text = try operatorCall({ try op.desiredPartitionsText() }) else {
            throw Problem.conflict("a site partition uses a tenant's pkey: see GET /v1/plan")
        }
        return text
    }

    // MARK: - Metrics

    public struct Gauges: Sendable {
        public var clusters: Int
        public var vms: Int
        public var vfsInUse: Int
        public var pkeysInUse: Int
        /// Seconds each agent is behind its desired state, by target.
        public var agentLag: [String: Double]
    }

    public func gauges() throws -> Gauges {
        let counts = try state.read { db in
            try Row.fetchOne(db, sql: """
                SELECT (SELECT COUNT(*) FROM cluster WHERE status != 'deleted') AS clusters,
                       (SELECT COUNT(*) FROM cluster CROSS JOIN vm ON vm.clusterId = cluster.id WHERE cluster.status != 'deleted' AND vm.status = 'active') AS vms,
                       (SELECT COUNT(*) FROM cluster CROSS JOIN vm ON vm.clusterId = cluster.id
                         WHERE cluster.status != 'deleted' AND vm.status != 'detached' AND vm.vf IS NOT NULL) AS vfs,
                       (SELECT COUNT(DISTINCT pkey) FROM cluster WHERE status != 'deleted' AND pkey IS NOT NULL) AS pkeys
                """)!
        }
        var lag: [String: Double] = [:]
        if case .agents = mode {
            let now = Date().timeIntervalSince1970
            let published = generations.withLock { $0 }
            for (target, desired) in published {
                let applied = target == "sm" ? reports.subnet()?.generation : Int(target.dropFirst(5)).flatMap { reports.host($0)?.report.generation }
                lag[target] = (applied ?? -1) >= desired.generation ? 0 : max(0, now - desired.published)
            }
        }
        return Gauges(clusters: counts["clusters"], vms: counts["vms"], vfsInUse: counts["vfs"], pkeysInUse: counts["pkeys"], agentLag: lag)
    }
}

