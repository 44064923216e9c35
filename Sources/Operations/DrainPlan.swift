import Allocation
import CloudModel
import GRDB

/// One VM of a drain plan, in the inventory's names.
public struct PlannedMigration: Equatable, Sendable, Codable {
    public var cluster: Int64
    public var tenant: String
    /// The VM's index in its cluster.
    public var vm: Int
    public var fromHost: String
    public var fromVF: Int?
    public var toHost: String
    public var toVF: Int?
}

extension Operator {
    /// The inventory's host called `name` (or of that index).
    /// - Throws: `OperatorError` (refused) when there is none.
    func host(named name: String) throws -> HostEntry {
        guard let host = hosts.first(where: { $0.isNamed(name) }) else { throw OperatorError("no host '\(name)' in the inventory", kind: .refused) }
        return host
    }

    /// What emptying `host` would take, as the engine plans it on a copy of the
    /// recorded state with the scenario's policy (`AllocationEngine.planDrain`):
    /// nothing is recorded, drained or moved, and the policy's random stream is
    /// read, not advanced.
    /// - Throws: `OperatorError` (refused) for an unknown host, or when some VM
    ///   on it fits no other host (naming the cluster, its tenant and the rule).
    public func drainPlan(host name: String) throws -> [PlannedMigration] {
        let host = try self.host(named: name)
        let loaded = try snapshot()
        let seed = try state.read { db in UInt64(try OperatorState.meta("randomState", in: db) ?? "") } ?? scenario.seed
        let tenants = Dictionary(loaded.clusters.map { ($0.id, $0.tenant) }, uniquingKeysWith: { first, _ in first })
        switch loaded.engine.planDrain(host: host.index, policy: try policy(named: nil, random: SplitMixRandom(seed: seed))) {
        case .success(let plan):
            return plan.map { step in
                PlannedMigration(cluster: step.cluster, tenant: tenants[step.cluster] ?? "", vm: step.vm,
                                 fromHost: hosts[step.from.host].name, fromVF: step.from.virtualFunction,
                                 toHost: hosts[step.to.host].name, toVF: step.to.virtualFunction)
            }
        case .failure(let blocked):
            throw OperatorError("host \(host.name) cannot be emptied: VM \(blocked.vm) of cluster \(blocked.cluster) (\(tenants[blocked.cluster] ?? "")) "
                                + "fits no other host (\(blocked.reason.rawValue))", kind: .refused)
        }
    }
}
