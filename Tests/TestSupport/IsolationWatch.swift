import Foundation
import Operations

/// A backend that checks tenant isolation after every change it passes on: each
/// VF that maps a pkey or carries a GUID must map the pkey and carry the GUID the
/// records give that VF (a VM of that cluster, in any state but detached). It also
/// notes each change with how many lines a migration hook has appended to
/// `hookLog` by then, so a test can tell which change came before which hook.
public final class IsolationWatch: Backend {
    public let wrapped: Backend
    let state: OperatorState
    let hosts: [HostEntry]
    let hookLog: String?
    /// Each change, as `attach HOST VF` or `detach HOST VF`, with the hook lines seen before it.
    public private(set) var changes: [(change: String, hooksBefore: Int)] = []
    public private(set) var violations: [String] = []

    public init(_ wrapped: Backend, state: OperatorState, hosts: [HostEntry], hookLog: String? = nil) {
        self.wrapped = wrapped
        self.state = state
        self.hosts = hosts
        self.hookLog = hookLog
    }

    public var name: String { wrapped.name }
    public func actual(_ host: HostEntry) throws -> HostHardware { try wrapped.actual(host) }
    public func prepare(_ host: HostEntry, vfs: Int) throws -> String? { try wrapped.prepare(host, vfs: vfs) }

    public func attach(_ host: HostEntry, vf: Int, _ config: VFConfig) throws -> [String] {
        note("attach \(host.name) \(vf)")
        defer { check("after attaching \(host.name) VF \(vf)") }
        return try wrapped.attach(host, vf: vf, config)
    }

    public func detach(_ host: HostEntry, vf: Int) throws {
        note("detach \(host.name) \(vf)")
        defer { check("after detaching \(host.name) VF \(vf)") }
        try wrapped.detach(host, vf: vf)
    }

    func note(_ change: String) {
        let lines = hookLog.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }?.split(separator: "\n").count ?? 0
        changes.append((change, lines))
    }

    /// Compares every host's VFs with the records as they are now.
    public func check(_ when: String) {
        do {
            let clusters = try state.read { try Operator.recordedClusters($0) }
            var owner: [Int: [Int: (cluster: Int64, pkey: Int?, guid: UInt64?)]] = [:]
            for cluster in clusters {
                for vm in cluster.vms where vm.status != "detached" {
                    guard let vf = vm.vf else { continue }
                    if let other = owner[vm.host]?[vf], other.cluster != cluster.id {
                        violations.append("\(when): host \(vm.host) VF \(vf) recorded for clusters \(other.cluster) and \(cluster.id)")
                    }
                    owner[vm.host, default: [:]][vf] = (cluster.id, cluster.pkey, vm.guid)
                }
            }
            for host in hosts {
                for (vf, state) in try wrapped.actual(host).vfs {
                    guard case .attached(let pkey, let guid, _) = state else { continue }
                    guard let recorded = owner[host.index]?[vf] else {
                        violations.append("\(when): \(host.name) VF \(vf) is attached (pkey \(pkey.map(String.init) ?? "?")) but recorded for nobody")
                        continue
                    }
                    if let pkey, pkey != recorded.pkey {
                        violations.append("\(when): \(host.name) VF \(vf) maps pkey \(pkey), cluster \(recorded.cluster) has \(recorded.pkey.map(String.init) ?? "none")")
                    }
                    if guid != recorded.guid { violations.append("\(when): \(host.name) VF \(vf) carries another GUID than cluster \(recorded.cluster)'s VM") }
                }
            }
        } catch {
            violations.append("\(when): \(error)")
        }
    }
}
