import Foundation
import GRDB
import Operations

extension Controller {
    // MARK: - Agents

    static func target(_ principal: Principal, hosts: [HostEntry]) throws -> (target: String, host: HostEntry?) {
        guard principal.role == .agent else { throw Problem.forbidden("only agents call this") }
        if principal.name == "sm" { return ("sm", nil) }
        guard let host = hosts.first(where: { $0.name == principal.name }) else {
            throw Problem.notFound("no host '\(principal.name)' in the inventory")
        }
        return ("host:\(host.index)", host)
    }

    /// `POST /v1/agent/register`: a compute agent records its HCA (the
    /// inventory's GUIDs); the host takes VMs from then on.
    public func register(_ principal: Principal, body: Data) throws -> APIResult {
        let hosts = try state.read(op.hosts(in:))
        let (target, host) = try Self.target(principal, hosts: hosts)
        let registration = try API.decode(AgentRegistration.self, from: body)
        guard case .agents = mode else { throw Problem.conflict("this controller runs the simulated backend: it has no agents") }
        if var host {
            guard registration.role == "compute" else { throw Problem.badRequest("role '\(registration.role)': host agents are compute agents") }
            guard let node = registration.nodeGUID.flatMap(GUIDFormat.parse), let port = registration.portGUID.flatMap(GUIDFormat.parse),
                  node != 0, port != 0 else {
                throw Problem.badRequest("nodeGUID, portGUID: expected 0x and up to 16 hex digits, not zero")
            }
            guard let membership = registration.membership.flatMap(Membership.init(rawValue:)) else {
                throw Problem.badRequest("membership: expected port or vport")
            }
            let modes = op.scenario.cloud.groups.flatMap { Array(repeating: $0.sriovMode, count: $0.count) }
            let expected: Membership = modes[host.index] == .sharedPort ? .physicalPort : .virtualPort
            guard membership == expected else {
                throw Problem.conflict("\(host.name): its HCA is \(membership == .physicalPort ? "shared-port (mlx4)" : "vSwitch (mlx5)") "
                                       + "but the scenario's host group says \(expected == .physicalPort ? "shared port" : "vSwitch")")
            }
            guard let number = registration.port, number == 1 || number == 2 else { throw Problem.badRequest("port: expected 1 or 2") }
            host.device = registration.device
            host.driver = registration.driver
            host.port = number
            host.nodeGUID = node
            host.portGUID = port
            host.membership = membership
            let entry = host
            try state.writeImmediate { db in
                try Operator.register(db, entry)
                try recordRegistration(db, target, body)
            }
        } else {
            guard registration.role == "sm" else { throw Problem.badRequest("role '\(registration.role)': the sm agent's role is sm") }
            try state.writeImmediate { try recordRegistration($0, target, body) }
        }
        requestPass()
        return try APIResult(200, ["target": target])
    }

    /// `GET /v1/agent/desired?after=G&wait=S`: the caller's desired state,
    /// answered once its generation passes `after` or `wait` seconds went by.
    public func desired(_ principal: Principal, after: Int64?, wait: Double) async throws -> APIResult {
        let hosts = try state.read(op.hosts(in:))
        let (target, _) = try Self.target(principal, hosts: hosts)
        guard (0...60).contains(wait) else { throw Problem.badRequest("wait \(wait): expected 0 to 60 seconds") }
        let deadline = Date().addingTimeInterval(wait)
        while let after, (generations.withLock { $0[target]?.generation } ?? 0) <= after, Date() < deadline {
            try await Task.sleep(for: .milliseconds(25))
        }
        guard let body = try state.read({ try Data.fetchOne($0, sql: "SELECT body FROM desired WHERE target = ?", arguments: [target]) }) else {
            throw Problem(status: 409, title: "Conflict", detail: "no desired state for \(principal.name) yet: register first")
        }
        return APIResult(status: 200, body: body)
    }

    /// `POST /v1/agent/report`: what the agent did and found.
    public func report(_ principal: Principal, body: Data) throws -> APIResult {
        let hosts = try state.read(op.hosts(in:))
        let (target, host) = try Self.target(principal, hosts: hosts)
        let now = Date()
        if let host {
            let report = try API.decode(HostReport.self, from: body)
            applyFailures.add(report.failed.count, ordering: .relaxed)
            reports.store(target, host: report, subnet: nil, at: now)
            try state.writeImmediate { db in
                try store(db, target, body, generation: report.generation, at: now)
                // The agents' changes join the hardware journal, as apply's do.
                for change in report.changes {
                    try db.execute(sql: "INSERT INTO journal (time, host, change, status) VALUES (?, ?, ?, 'applied')",
                                   arguments: [now.formatted(.iso8601), host.index, "\(host.name): \(change)"])
                }
                for failure in report.failed {
                    try db.execute(sql: "INSERT INTO journal (time, host, change, status, error) VALUES (?, ?, ?, 'failed', ?)",
                                   arguments: [now.formatted(.iso8601), host.index, "\(host.name): change", failure])
                }
            }
        } else {
            let report = try API.decode(SubnetReport.self, from: body)
            if report.error != nil { applyFailures.add(1, ordering: .relaxed) }
            reports.store(target, host: nil, subnet: report, at: now)
            try state.writeImmediate { db in
                try store(db, target, body, generation: report.generation, at: now)
                if report.applied {
                    for pkey in report.pkeys { try db.execute(sql: "INSERT OR IGNORE INTO readyPKey (pkey) VALUES (?)", arguments: [pkey]) }
                }
                if let error = report.error {
                    try db.execute(sql: "INSERT INTO journal (time, change, status, error) VALUES (?, 'subnet manager: write and reload', 'failed', ?)",
                                   arguments: [now.formatted(.iso8601), error])
                } else if report.applied {
                    try db.execute(sql: "INSERT INTO journal (time, change, status) VALUES (?, ?, 'applied')",
                                   arguments: [now.formatted(.iso8601), "subnet manager: generation \(report.generation), \(report.pkeys.count) tenant partitions"])
                }
            }
        }
        requestPass()
        return try APIResult(200, ["target": target])
    }

    func recordRegistration(_ db: Database, _ target: String, _ body: Data) throws {
        try db.execute(sql: "INSERT INTO agent (target, registration) VALUES (?, ?) ON CONFLICT(target) DO UPDATE SET registration = excluded.registration",
                       arguments: [target, body])
    }

    func store(_ db: Database, _ target: String, _ body: Data, generation: Int64, at time: Date) throws {
        try db.execute(sql: """
            INSERT INTO agent (target, report, generation, reported) VALUES (?, ?, ?, ?)
            ON CONFLICT(target) DO UPDATE SET report = excluded.report, generation = excluded.generation, reported = excluded.reported
            """, arguments: [target, body, generation, time.timeIntervalSince1970])
    }

    // MARK: - Reconciling

    /// Asks the pass loop for a pass (passes coalesce).
    public func requestPass() { kick.yield() }

    /// Runs a pass on every request and every `interval`, until cancelled.
    /// Requests that arrive during a pass, or within `gap` after it, share the next one.
    public func runPasses(interval: Duration = .seconds(5), gap: Duration = .milliseconds(50), log: @escaping @Sendable (String) -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [kick] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    kick.yield()
                }
            }
            group.addTask { [self] in
                for await _ in kicks {
                    if Task.isCancelled { break }
                    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                        passQueue.async {
                            do { try self.pass() } catch { log("reconcile pass failed: \(error)") }
                            done.resume()
                        }
                    }
                    try? await Task.sleep(for: gap)
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// One pass: confirm what the hosts reported, lift quarantines, then
    /// publish each target's desired state (a new generation only when it changed).
    public func pass() throws {
        switch mode {
        case .simulated:
            let report = try op.apply(wait: 0)
            applyFailures.add(report.failed.count, ordering: .relaxed)
        case .agents(let manageSubnet):
            try agentsPass(manageSubnet: manageSubnet)
        }
    }

    func agentsPass(manageSubnet: Bool) throws {
        var report = ReconcileReport()
        let published = generations.withLock { $0 }
        var loaded = try op.snapshot()
        // Only a report of the current generation confirms anything: an older one
        // may predate a change the agent is carrying out now.
        var actual: [Int: HostHardware] = [:]
        for host in loaded.hosts {
            if let (seen, _) = reports.host(host.index), seen.generation == published["host:\(host.index)"]?.generation {
                actual[host.index] = seen.hardware
            }
        }
        try op.confirmDetaches(loaded, op.desires(loaded), actual, &report)
        loaded = try op.snapshot()
        let smCurrent = !manageSubnet || (reports.subnet().map { $0.applied && $0.generation == published["sm"]?.generation } ?? false)
        try op.releaseQuarantine(loaded, op.desires(loaded), actual, configWritten: smCurrent, &report)
        loaded = try op.snapshot()
        let desires = op.desires(loaded)
        let tenantPKeys = Set(loaded.clusters.compactMap(\.pkey))

        // Each target's document, encoded for a given generation.
        var documents: [(String, (Int64) throws -> Data)] = []
        var ready = Set<Int>()
        if manageSubnet {
            if try op.desiredConfig(loaded) != nil {
                let block = op.managedBlock(loaded, site: try op.siteStatements())
                let pkeys = PartitionsConfig.parse(block).compactMap(\.pkey).filter(tenantPKeys.contains).sorted()
                documents.append(("sm", { try API.encoder.encode(SubnetDesiredState(generation: $0, block: block, pkeys: pkeys)) }))
            }
            ready = try state.read { db in Set(try Int.fetchAll(db, sql: "SELECT pkey FROM readyPKey")) }
        }
        for host in loaded.hosts where host.registered {
            var want = desires[host.index]
            // A VF joins its partition only once the subnet manager has the partition.
            if manageSubnet { want.attached = want.attached.filter { ready.contains($0.value.pkey) } }
            documents.append(("host:\(host.index)", { try API.encoder.encode(HostDesiredState(generation: $0, host: host, desire: want)) }))
        }
        let stale = ready.subtracting(tenantPKeys)
        let now = Date().timeIntervalSince1970
        let changed = try state.writeImmediate { db -> [String: Int64] in
            // A freed pkey must be confirmed again before a new cluster's VFs use it.
            for pkey in stale { try db.execute(sql: "DELETE FROM readyPKey WHERE pkey = ?", arguments: [pkey]) }
            var changed: [String: Int64] = [:]
            for (target, document) in documents {
                let row = try Row.fetchOne(db, sql: "SELECT generation, body FROM desired WHERE target = ?", arguments: [target])
                let generation: Int64 = row?["generation"] ?? 0
                // The same encoder gives the same bytes for the same document.
                if let row, row["body"] as Data == (try document(generation)) { continue }
                let next = generation + 1
                let body = try document(next)
                try db.execute(sql: """
                    INSERT INTO desired (target, generation, body, published) VALUES (?, ?, ?, ?)
                    ON CONFLICT(target) DO UPDATE SET generation = excluded.generation, body = excluded.body, published = excluded.published
                    """, arguments: [target, next, body, now])
                changed[target] = next
            }
            return changed
        }
        generations.withLock { g in for (target, generation) in changed { g[target] = (generation, now) } }
    }
}
