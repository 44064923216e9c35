import ConnectX
import ControlPlane
import Foundation
import Logging
import Operations

/// What an agent needs to know.
public struct AgentConfiguration: Sendable {
    public var name: String
    /// Where the host's `/sys` is (`/` on the host itself).
    public var root: String = "/"
    /// The RDMA device to use (the first found when nil).
    public var device: String?
    /// Seconds between rounds when nothing changes (each round re-reads the HCA: drift).
    public var interval: Double = 10
    /// The last desired state, kept so a restarted agent can reconcile before the controller answers.
    public var cache: String?

    public init(name: String) { self.name = name }
}

/// `hpccloud agent run` on a compute host: registers its HCA, pulls its
/// desired state by generation (a long poll), converges the HCA on it with
/// the same functions `apply` uses, and reports the hardware as read back.
/// `@unchecked`: the backend (a class of closures) is used from the one task that runs `run()`.
public final class ComputeAgent: @unchecked Sendable {
    let configuration: AgentConfiguration
    let client: ControllerClient
    let backend: ConnectXBackend
    let sysfs: @Sendable () -> SysfsAccess
    /// Whether libibverbs sees this host's devices (the real `/`, not a fake tree).
    let verbs: Bool
    let logger: Logger
    /// Called after each round with the generation applied, before the report
    /// (so whatever the report lets the controller release, the hook saw applied).
    let afterRound: @Sendable (Int64) -> Void

    public init(configuration: AgentConfiguration, client: ControllerClient, logger: Logger,
                sysfs: (@Sendable () -> SysfsAccess)? = nil, ip: (@Sendable () -> IPLinkTool)? = nil,
                afterRound: @escaping @Sendable (Int64) -> Void = { _ in }) {
        self.configuration = configuration
        self.client = client
        self.logger = logger
        let root = configuration.root
        verbs = sysfs == nil && root == "/"
        let sysfs = sysfs ?? { DirectorySysfs(root: root) }
        self.sysfs = sysfs
        backend = ConnectXBackend(sysfsFor: { _ in sysfs() }, ipFor: { _ in ip?() ?? IPRoute2() })
        self.afterRound = afterRound
    }

    /// The HCA this host uses, as discovered: libibverbs (GUIDs, ports, pkeys
    /// from the device) merged with sysfs (driver, PCI functions, VFs); sysfs
    /// alone where verbs sees no device or the tree is not this machine's.
    func discover() throws -> HCADevice {
        let fromSysfs = try SysfsDiscovery(sysfs: sysfs()).devices()
        let fromVerbs = verbs ? VerbsDiscovery.merge(VerbsDiscovery.devices(), fromSysfs) : []
        let devices = fromVerbs.isEmpty ? fromSysfs : fromVerbs
        guard let device = devices.first(where: { configuration.device == nil || $0.name == configuration.device }) else {
            throw OperatorError("no RDMA device \(configuration.device ?? "") under \(configuration.root)/sys/class/infiniband", kind: .environment)
        }
        return device
    }

    func registration(_ device: HCADevice) -> AgentRegistration {
        let entry = ConnectXBackend.host(named: configuration.name, root: configuration.root, device: device)
        return AgentRegistration(role: "compute", device: device.name, driver: device.driver?.rawValue, port: entry.port,
                                 nodeGUID: GUIDFormat.hex(entry.nodeGUID), portGUID: GUIDFormat.hex(entry.portGUID),
                                 membership: entry.membership.rawValue, vfAddresses: device.vfAddresses)
    }

    /// Runs until cancelled: at start (boot) it converges on the cached desired
    /// state, then registers and follows the controller, retrying with backoff while it is away.
    public func run() async throws {
        var desired = loadCache()
        var applied: Int64? = nil
        if let desired {
            logger.info("converging on the cached desired state", metadata: ["generation": "\(desired.generation)"])
            _ = round(desired, drift: false)
        }
        var registered = false
        var retry = Retry()
        while !Task.isCancelled {
            do {
                if !registered {
                    let body = try API.encoder.encode(registration(try discover()))
                    _ = try await client.call(.POST, "/v1/agent/register", body: body, as: [String: String].self)
                    registered = true
                    logger.info("registered", metadata: ["controller": "\(client.base)"])
                }
                let wait = Int(configuration.interval.rounded(.up))
                let after = applied.map { "after=\($0)&" } ?? ""
                let next = try await client.call(.GET, "/v1/agent/desired?\(after)wait=\(wait)", as: HostDesiredState.self,
                                                 timeout: .seconds(Int64(wait + 30)))
                if next != desired { saveCache(next) }
                let report = round(next, drift: applied == next.generation)
                desired = next
                applied = next.generation
                afterRound(next.generation)
                _ = try await client.call(.POST, "/v1/agent/report", body: try API.encoder.encode(report), as: [String: String].self)
                retry.succeeded()
                // A pkey the port does not hold yet: look again soon, not at the next interval.
                if !report.waiting.isEmpty { applied = nil; try await Task.sleep(for: .milliseconds(500)) }
            } catch is CancellationError {
                return
            } catch {
                if await retry.failed(error, logger: logger) { registered = false }
            }
        }
    }

    /// One round: isolate (count, detaches), attach what the port is ready for, read back.
    func round(_ desired: HostDesiredState, drift: Bool) -> HostReport {
        var host = desired.host
        host.sysfsRoot = configuration.root
        var changes: [String] = [], failed: [String] = [], notes: [String] = []
        var readError: String?
        let read: () -> HostHardware? = { [backend] in
            do { return try backend.actual(host) } catch {
                readError = "\(error)"
                return nil
            }
        }
        let run: (Change) -> Void = { [backend] change in
            do {
                notes += try HostConvergence.execute(change, on: host, backend: backend)
                changes.append(change.description)
            } catch {
                failed.append("\(change): \(error)")
            }
        }
        var waiting: [String] = []
        try? HostConvergence.isolate(host, desired.desire, read: read, run: run)
        if let have = read() { waiting = (try? HostConvergence.attach(host, desired.desire, have, run: run)) ?? [] }
        let final = read() ?? HostHardware(vfCount: 0, vfs: [:], portPKeys: nil)
        if let readError { failed.append("read \(host.name): \(readError)") }
        let addresses = (try? discover().vfAddresses) ?? []
        for change in changes { logger.info("applied", metadata: ["change": "\(change)", "generation": "\(desired.generation)"]) }
        for failure in failed { logger.error("failed", metadata: ["error": "\(failure)"]) }
        return HostReport(generation: desired.generation, hardware: final, vfAddresses: addresses, changes: changes, failed: failed,
                          waiting: waiting, notes: notes, drift: drift ? changes : [])
    }

    func loadCache() -> HostDesiredState? {
        guard let path = configuration.cache, let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(HostDesiredState.self, from: data)
    }

    func saveCache(_ desired: HostDesiredState) {
        guard let path = configuration.cache, let data = try? API.encoder.encode(desired) else { return }
        do { try AtomicFile.write(String(decoding: data, as: UTF8.self), to: path) } catch {
            logger.warning("cannot keep the desired state", metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }
}

/// `hpccloud agent run --role sm` on the subnet manager's node: writes the
/// managed block of partitions.conf beside the site's lines, makes OpenSM
/// re-read it, and reports the pkeys it holds (the controller attaches a
/// cluster's VFs only after that).
public final class SubnetAgent: Sendable {
    let client: ControllerClient
    let partitions: String
    let reload: SubnetManagerReload
    let interval: Double
    let logger: Logger

    public init(client: ControllerClient, partitions: String, reload: SubnetManagerReload, interval: Double, logger: Logger) {
        self.client = client
        self.partitions = partitions
        self.reload = reload
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        var registered = false
        var applied: Int64?
        var written: (generation: Int64, ok: Bool)?
        var retry = Retry()
        while !Task.isCancelled {
            do {
                if !registered {
                    _ = try await client.call(.POST, "/v1/agent/register", body: try API.encoder.encode(AgentRegistration(role: "sm")),
                                              as: [String: String].self)
                    registered = true
                    // The controller needs the site's statements before it publishes a block.
                    _ = try await client.call(.POST, "/v1/agent/report", body: try API.encoder.encode(currentReport(generation: 0, applied: false, pkeys: [])),
                                              as: [String: String].self)
                }
                let wait = Int(interval.rounded(.up))
                let after = applied.map { "after=\($0)&" } ?? ""
                let (status, data) = try await client.send(.GET, "/v1/agent/desired?\(after)wait=\(wait)", timeout: .seconds(Int64(wait + 30)))
                if status == 409 {  // nothing published yet
                    try await Task.sleep(for: .milliseconds(500))
                    continue
                }
                guard status == 200 else { throw ClientError.problem(status: status, data) }
                let desired = try JSONDecoder().decode(SubnetDesiredState.self, from: data)
                let report = apply(desired, again: written.map { $0.generation != desired.generation || !$0.ok } ?? true)
                written = (desired.generation, report.applied)
                applied = report.applied ? desired.generation : nil
                _ = try await client.call(.POST, "/v1/agent/report", body: try API.encoder.encode(report), as: [String: String].self)
                retry.succeeded()
                if !report.applied { try await Task.sleep(for: .seconds(1)) }
            } catch is CancellationError {
                return
            } catch {
                if await retry.failed(error, logger: logger) { registered = false }
            }
        }
    }

    func currentReport(generation: Int64, applied: Bool, pkeys: [Int], error: String? = nil) -> SubnetReport {
        SubnetReport(generation: generation, text: try? OpenSMPartitionsFile(path: partitions, reload: reload).read(), applied: applied,
                     pkeys: pkeys, error: error)
    }

    /// Writes the block when it changed (or the last reload failed) and reloads.
    func apply(_ desired: SubnetDesiredState, again: Bool) -> SubnetReport {
        let file = OpenSMPartitionsFile(path: partitions, reload: reload)
        do {
            let current = try file.read()
            let config = try PartitionsConfig(text: current)
            // The site may have changed since the controller read it: never let a site line share a tenant pkey.
            let tenant = Set(desired.pkeys)
            if let clash = PartitionsConfig.parse(config.siteText).first(where: { $0.pkey.map(tenant.contains) ?? false }) {
                throw OperatorError("partitions.conf line \(clash.line): site partition '\(clash.name)' uses a tenant's pkey; not written", kind: .refused)
            }
            let text = config.replacingManagedBlock(with: desired.block)
            if text != current || again {
                if text != current { try file.write(text) }
                try file.reload()
                logger.info("partitions written and reloaded", metadata: ["generation": "\(desired.generation)", "pkeys": "\(desired.pkeys.count)"])
            }
            return currentReport(generation: desired.generation, applied: true, pkeys: desired.pkeys)
        } catch {
            logger.error("partitions not applied", metadata: ["error": "\(error)"])
            return currentReport(generation: desired.generation, applied: false, pkeys: [], error: "\(error)")
        }
    }
}

/// Waits between attempts while the controller is away: 0.5 s, doubling to 15 s.
struct Retry {
    var delay = 0.5

    mutating func succeeded() { delay = 0.5 }

    /// Logs the failure and waits.
    /// - Returns: whether to register again (the controller no longer knows this agent's token or host).
    mutating func failed(_ error: any Error, logger: Logger) async -> Bool {
        logger.warning("controller round failed; retrying", metadata: ["error": "\(error)", "retry": "\(delay)s"])
        try? await Task.sleep(for: .milliseconds(Int64(delay * 1000)))
        delay = min(delay * 2, 15)
        guard let error = error as? ClientError else { return false }
        return error.status == 401 || error.status == 404
    }
}
