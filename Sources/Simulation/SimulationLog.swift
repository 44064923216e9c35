import Allocation
import CloudModel
import Logging

/// A run's diagnostics by category (swift-log loggers labelled `hpccloud.engine`,
/// `hpccloud.queue`, `hpccloud.policy`), for debugging a scenario or a policy.
/// A category left out has no logger: the event loop then pays one nil check.
///
/// - engine: each arrival's decision (info); departures and resizes (debug).
/// - queue: requests queued, started after their wait, expired (info); each dispatch pass (debug).
/// - policy: each VM's answer (info); the hosts that fitted it (debug, a scan of every host).
public final class SimulationLog {
    public enum Category: String, CaseIterable, Sendable { case engine, queue, policy }

    let engine: Logger?, queue: Logger?, policy: Logger?
    /// Simulated time of the event being processed; every message carries it as `t`.
    var now: Nanoseconds = 0

    /// - Parameter makeLogger: a logger for a label (`hpccloud.engine`, ...), at the level wanted.
    public init(categories: Set<Category>, makeLogger: (String) -> Logger) {
        func logger(_ category: Category) -> Logger? { categories.contains(category) ? makeLogger("hpccloud." + category.rawValue) : nil }
        engine = logger(.engine)
        queue = logger(.queue)
        policy = logger(.policy)
    }

    var metadata: Logger.Metadata { ["t": .string(Units.formatSeconds(now))] }

    /// `3 x (2 vcores, 4 GiB, hpc fixed) for alice`
    static func describe(_ request: ClusterRequest) -> String {
        let shape = request.shape
        return "\(request.vms) x (\(shape.vcores) vcores, \(Units.formatGiB(shape.memoryMiB)) GiB, \(shape.kind.rawValue) \(shape.pinning.rawValue))"
            + " for \(request.tenant)"
    }

    /// `hosts 0,0,1 (VFs 0,1,0), pkey 0x0001`
    static func describe(_ vms: [PlacedVM], pkey: PartitionKey?) -> String {
        var text = "hosts " + vms.map { String($0.host) }.joined(separator: ",")
        if vms.contains(where: { $0.virtualFunction != nil }) {
            text += " (VFs " + vms.map { $0.virtualFunction.map(String.init) ?? "-" }.joined(separator: ",") + ")"
        }
        if let pkey { text += ", pkey \(pkey)" }
        return text
    }

    /// The decision on a request, as the engine made it.
    func decided(_ id: Int64, _ request: ClusterRequest, _ decision: Decision, logger: Logger, _ verb: String = "arrived") {
        switch decision {
        case .accepted(let pkey, let vms):
            logger.info("cluster \(id) \(verb): \(Self.describe(request)): accepted on \(Self.describe(vms, pkey: pkey))", metadata: metadata)
        case .rejected(let reason):
            logger.info("cluster \(id) \(verb): \(Self.describe(request)): rejected (\(reason.rawValue))", metadata: metadata)
        case .ignored:
            logger.info("cluster \(id) \(verb): ignored", metadata: metadata)
        }
    }
}

/// A policy whose every answer goes to the `policy` log; the answers are the wrapped policy's own.
struct LoggedPolicy: PlacementPolicy {
    let wrapped: any PlacementPolicy
    let log: SimulationLog
    let logger: Logger

    var name: String { wrapped.name }

    func chooseHost(for query: PlacementQuery) -> Int? {
        let host = wrapped.chooseHost(for: query)
        let vm = query.cluster.vms.count + 1
        logger.info("cluster \(query.cluster.id) VM \(vm): \(host.map { "host \($0)" } ?? "no host")", metadata: log.metadata)
        logger.debug("cluster \(query.cluster.id) VM \(vm): fits \(Self.fitting(query))\(Self.sofar(query.clusterHosts))", metadata: log.metadata)
        return host
    }

    static func sofar(_ hosts: [Int]) -> String {
        hosts.isEmpty ? " (its first VM)" : " (its hosts so far: \(hosts.map(String.init).joined(separator: ",")))"
    }

    /// `12 hosts: 0,1,2,...`: the first 16 hosts that fit, and how many do.
    static func fitting(_ query: PlacementQuery) -> String {
        var count = 0
        var first: [Int] = []
        for host in 0..<query.hostCount where query.fits(host) {
            count += 1
            if first.count < 16 { first.append(host) }
        }
        return "\(count) host\(count == 1 ? "" : "s")" + (count == 0 ? "" : ": " + first.map(String.init).joined(separator: ",") + (count > 16 ? ",..." : ""))
    }
}
