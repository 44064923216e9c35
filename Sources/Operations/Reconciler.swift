import Allocation
import CloudModel
import Foundation
import GRDB

/// One change `apply` makes (or `plan` proposes), in the order it runs.
public struct Change: Codable, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// Write the managed block of the subnet manager's configuration and ask it to re-read.
        case subnetManager = "subnet-manager"
        /// Ask the subnet manager to re-read a configuration it already has (its ports disagree with it).
        case reload
        case prepare
        case detach
        case attach
    }

    public var kind: Kind
    public var host: Int?
    public var hostName: String?
    public var vf: Int?
    public var pkey: Int?
    public var guid: String?
    public var vfs: Int?
    /// An attach's map of the limited default pkey at virtual index 1.
    public var limitedDefault: Bool?
    /// Why, in words (a detach's reason, the partitions written).
    public var detail: String?

    public var description: String {
        let on = hostName.map { "\($0): " } ?? ""
        switch kind {
        case .subnetManager: return "subnet manager: write the managed partitions block (\(detail ?? "")) and reload"
        case .reload: return "subnet manager: reload (\(detail ?? "its ports disagree with its configuration"))"
        case .prepare: return on + "set the VF count to \(vfs ?? 0)"
        case .attach:
            return on + "VF \(vf ?? -1): attach to pkey \(pkey.map { PartitionKey($0).description } ?? "?") with GUID \(guid ?? "?")"
                + (detail.map { " (\($0))" } ?? "")
        case .detach: return on + "VF \(vf ?? -1): detach (\(detail ?? "unmap every pkey, delete the GUID"))"
        }
    }
}

/// A host that could not be read or changed: its changes wait, the others go on.
public struct HostProblem: Codable, Sendable, Equatable {
    public var host: Int
    public var hostName: String
    public var error: String
}

/// What `plan` shows and `apply` did.
public struct ReconcileReport: Codable, Sendable {
    /// Changes proposed (plan) or made (apply).
    public var changes: [Change] = []
    public var failed: [Failure] = []
    public var unreachable: [HostProblem] = []
    /// Changes that wait for something outside this run (the subnet manager, an empty host).
    public var waiting: [String] = []
    public var notes: [String] = []
    /// Recorded placements that no longer fit the scenario, and configuration conflicts.
    public var problems: [String] = []
    /// Bookkeeping: VMs confirmed detached, quarantines lifted.
    public var confirmed: [String] = []

    public init() {}

    public struct Failure: Codable, Sendable, Equatable {
        public var change: Change
        public var error: String
    }

    /// Nothing left to do, nothing failed, every host reached.
    public var converged: Bool { failed.isEmpty && unreachable.isEmpty && waiting.isEmpty }
}

extension Operator {
    // MARK: - Desired state, from the records

    public func desires(_ loaded: Loaded) -> [HostDesire] {
        let counts = scenario.cloud.groups.flatMap { Array(repeating: $0.vfs, count: $0.count) }
        var desires = loaded.hosts.map { HostDesire(vfCount: $0.index < counts.count ? counts[$0.index] : 0) }
        for cluster in loaded.clusters {
            for vm in cluster.vms where vm.host >= 0 && vm.host < desires.count {
                guard let vf = vm.vf else { continue }
                switch vm.status {
                case "active", "incoming":  // incoming: a migration's destination, attached before the source is detached
                    if let pkey = cluster.pkey, let guid = vm.guid { desires[vm.host].attached[vf] = .init(pkey: pkey, guid: guid) }
                    if let pkey = cluster.pkey { desires[vm.host].portPKeys.insert(pkey) }
                case "retiring":
                    desires[vm.host].retiring[vf] = .init(cluster: cluster.id, seq: vm.seq)
                    if let pkey = cluster.pkey { desires[vm.host].portPKeys.insert(pkey) }
                default: break
                }
            }
        }
        return desires
    }

    /// The managed block of partitions.conf: the default partition (unless the
    /// site defines it) and one partition per cluster whose VMs are not all detached.
    public func managedBlock(_ loaded: Loaded, site: [PartitionStatement]) -> String {
        let hostsByIndex = loaded.hosts
        var partitions: [PartitionRenderer.Tenant] = []
        for cluster in loaded.clusters {
            guard let pkey = cluster.pkey else { continue }
            var members = Set<UInt64>()
            for vm in cluster.vms where vm.status != "detached" && vm.host >= 0 && vm.host < hostsByIndex.count {
                let host = hostsByIndex[vm.host]
                guard host.registered else { continue }
                if host.membership == .physicalPort { members.insert(host.portGUID) } else if let guid = vm.guid { members.insert(guid) }
            }
            guard !members.isEmpty else { continue }
            partitions.append(.init(clusterID: cluster.id, pkey: pkey, members: members.sorted()))
        }
        return PartitionRenderer.block(tenants: partitions, hypervisors: hostsByIndex.filter(\.registered), flags: scenario.cloud.subnet.partitionFlags,
                                       siteDefinesDefault: site.contains(where: \.isDefault))
    }

    /// The text the subnet manager's file should have, or nil when a conflict
    /// with the site's partitions forbids writing it.
    public func desiredConfig(_ loaded: Loaded) throws -> (text: String, current: String?, partitions: Int)? {
        let current = try subnetManager.read()
        let config = try PartitionsConfig(text: current)
        let site = PartitionsConfig.parse(config.siteText)
        let tenantPKeys = Set(loaded.clusters.compactMap(\.pkey))
        guard !site.contains(where: { $0.pkey.map(tenantPKeys.contains) ?? false }) else { return nil }
        let block = managedBlock(loaded, site: site)
        let count = PartitionsConfig.parse(block).filter { !$0.isDefault }.count
        return (config.replacingManagedBlock(with: block), current, count)
    }

    /// partitions.conf as apply would write it, or nil while a site partition uses a tenant's pkey.
    public func desiredPartitionsText() throws -> String? {
        try desiredConfig(try snapshot())?.text
    }

    // MARK: - Plan

    /// What apply would change, per host, without changing anything.
    public func plan() throws -> ReconcileReport {
        let loaded = try snapshot()
        var report = ReconcileReport()
        report.problems = loaded.problems
        if let config = try desiredConfig(loaded) {
            if config.text != config.current {
                report.changes.append(Change(kind: .subnetManager, detail: "\(config.partitions) tenant partitions, to \(subnetManager.location)"))
            } else if try state.meta("subnetManagerReloadPending") == "1" {
                report.changes.append(Change(kind: .reload, detail: "the last reload failed"))
            }
        } else {
            report.waiting.append("subnet manager: not written while a site partition uses a tenant's pkey (see the problems)")
        }
        let desires = desires(loaded)
        for host in loaded.hosts {
            let have: HostHardware
            do { have = try backend.actual(host) } catch {
                report.unreachable.append(HostProblem(host: host.index, hostName: host.name, error: "\(error)"))
                continue
            }
            let (changes, waiting) = HostConvergence.changes(host, desires[host.index], have)
            report.changes += changes
            report.waiting += waiting
        }
        return report
    }

    // MARK: - Apply

    /// Converges the hardware on the records in a safe order: detach first
    /// (and confirm), then the subnet manager's partitions, then wait (bounded)
    /// until the ports hold the new pkeys, then attach. A host that cannot be
    /// reached delays only its own changes. Freed VF slots and pkeys leave
    /// quarantine only once their hosts confirmed the detach.
    /// - Parameters:
    ///   - only: the hosts to touch (nil: all); `reconcile` at boot passes one.
    ///   - manageSubnet: whether to write the subnet manager's configuration.
    ///   - wait: seconds to wait for the subnet manager to program the ports.
    public func apply(only: Set<Int>? = nil, manageSubnet: Bool = true, wait: TimeInterval = 60,
                      progress: (String) -> Void = { _ in }) throws -> ReconcileReport {
        try state.withApplyLock {
            var report = ReconcileReport()
            var loaded = try snapshot()
            report.problems = loaded.problems
            let targets = loaded.hosts.filter { only?.contains($0.index) ?? true }
            var actual: [Int: HostHardware] = [:]
            func read(_ host: HostEntry) -> HostHardware? {
                do {
                    let hardware = try backend.actual(host)
                    actual[host.index] = hardware
                    return hardware
                } catch {
                    actual[host.index] = nil
                    if !report.unreachable.contains(where: { $0.host == host.index }) {
                        report.unreachable.append(HostProblem(host: host.index, hostName: host.name, error: "\(error)"))
                    }
                    return nil
                }
            }

            // 1. Per host: the VF count and every detach (isolation first).
            var desires = desires(loaded)
            for host in targets {
                try HostConvergence.isolate(host, desires[host.index], read: { read(host) }, run: { try run($0, host, &report) })
            }
            // 2. Confirm detaches: a retiring VM whose VF maps nothing is detached.
            try confirmDetaches(loaded, desires, actual, &report)
            loaded = try snapshot()
            desires = self.desires(loaded)
            let tenantPKeys = Set(loaded.clusters.compactMap(\.pkey))

            // 3. The subnet manager: write the managed block and reload, or reload
            //    again when the ports still disagree with what it was given.
            var configWritten = false
            var blocked = false
            if manageSubnet {
                if let config = try desiredConfig(loaded) {
                    let pending = try state.meta("subnetManagerReloadPending") == "1"
                    if config.text != config.current || pending {
                        let change = Change(kind: .subnetManager, detail: "\(config.partitions) tenant partitions, to \(subnetManager.location)")
                        configWritten = try run(change, nil, &report) {
                            // Until a reload succeeds, every apply asks again: a written file is not yet in effect.
                            try self.state.setMeta(["subnetManagerReloadPending": "1"])
                            if config.text != config.current { try self.subnetManager.write(config.text) }
                            try self.subnetManager.reload()
                            try self.state.setMeta(["subnetManagerReloadPending": "0"])
                        }
                        // A subnet manager that never got (or re-read) its configuration programs no port: nothing to wait for.
                        blocked = !configWritten
                    } else if targets.contains(where: { portsDisagree($0, desires[$0.index], actual[$0.index], tenantPKeys: tenantPKeys) }) {
                        blocked = !(try run(Change(kind: .reload, detail: "a port's pkeys disagree with the configuration"), nil, &report) {
                            try self.subnetManager.reload()
                        })
                    } else {
                        configWritten = true
                    }
                } else {
                    blocked = true
                    report.waiting.append("subnet manager: not written while a site partition uses a tenant's pkey (see the problems)")
                }
            }

            // 4. Wait (bounded) until every reachable port holds what it should.
            let deadline = Date().addingTimeInterval(blocked ? 0 : wait)
            var pending = targets.filter { portsDisagree($0, desires[$0.index], actual[$0.index], tenantPKeys: tenantPKeys) }
            while !pending.isEmpty && Date() < deadline {
                progress("waiting for the subnet manager to program \(pending.count) port(s): \(pending.map(\.name).joined(separator: ", "))")
                Thread.sleep(forTimeInterval: 0.5)
                for host in pending { _ = read(host) }
                pending = pending.filter { portsDisagree($0, desires[$0.index], actual[$0.index], tenantPKeys: tenantPKeys) }
            }

            // 5. Attach.
            for host in targets {
                guard let have = actual[host.index] else { continue }
                report.waiting += try HostConvergence.attach(host, desires[host.index], have, run: { try run($0, host, &report) })
                _ = read(host)
            }

            // 6. Lift quarantines the hosts confirmed.
            try releaseQuarantine(loaded, desires, actual, configWritten: configWritten || !manageSubnet, &report)
            return report
        }
    }

    /// Whether `host`'s port (where observable) lacks a pkey it should hold,
    /// or still holds one it should have dropped.
    /// Only tenant pkeys count: the site's own partitions are not ours to judge.
    public func portsDisagree(_ host: HostEntry, _ want: HostDesire, _ have: HostHardware?, tenantPKeys: Set<Int>) -> Bool {
        guard host.membership == .physicalPort, let table = have?.portPKeys else { return false }
        return Set(table.map { $0 & 0x7fff }).intersection(tenantPKeys) != want.portPKeys
    }

    /// Runs one hardware change, journaled (intended, then applied or failed).
    @discardableResult
    func run(_ change: Change, _ host: HostEntry?, _ report: inout ReconcileReport, _ body: (() throws -> Void)? = nil) throws -> Bool {
        let seq = try state.writeImmediate { db in
            try db.execute(sql: "INSERT INTO journal (time, host, change, status) VALUES (?, ?, ?, 'intended')",
                           arguments: [Self.now(), host?.index, change.description])
            return db.lastInsertedRowID
        }
        do {
            if let body {
                try body()
            } else if let host {
                report.notes += try HostConvergence.execute(change, on: host, backend: backend)
            }
            try state.writeImmediate { try $0.execute(sql: "UPDATE journal SET status = 'applied' WHERE seq = ?", arguments: [seq]) }
            report.changes.append(change)
            return true
        } catch let error as DatabaseError {
            throw OperatorError.database(error, path: state.path)
        } catch {
            try state.writeImmediate { try $0.execute(sql: "UPDATE journal SET status = 'failed', error = ? WHERE seq = ?", arguments: ["\(error)", seq]) }
            report.failed.append(.init(change: change, error: "\(error)"))
            return false
        }
    }

    /// Retiring VMs whose VF now maps nothing become `detached` (their VF slot is free).
    public func confirmDetaches(_ loaded: Loaded, _ desires: [HostDesire], _ actual: [Int: HostHardware], _ report: inout ReconcileReport) throws {
        var confirmed: [(Int64, Int, String)] = []
        for host in loaded.hosts {
            guard let have = actual[host.index] else { continue }
            for (vf, vm) in desires[host.index].retiring.sorted(by: { $0.key < $1.key }) where have.vfs[vf] == .detached || have.vfs[vf] == nil {
                confirmed.append((vm.cluster, vm.seq, "\(host.name): VF \(vf) of cluster \(vm.cluster) confirmed detached"))
            }
        }
        guard !confirmed.isEmpty else { return }
        try state.writeImmediate { db in
            for (cluster, seq, _) in confirmed {
                try db.execute(sql: "UPDATE vm SET status = 'detached' WHERE clusterId = ? AND seq = ? AND status = 'retiring'", arguments: [cluster, seq])
            }
        }
        report.confirmed += confirmed.map(\.2)
    }

    /// Detached VMs leave the records once their host no longer needs the
    /// pkey entry (the cluster still runs there, or the port dropped the key);
    /// a deleting cluster ends, and its pkey is free, once no VM row is left.
    public func releaseQuarantine(_ loaded: Loaded, _ desires: [HostDesire], _ actual: [Int: HostHardware], configWritten: Bool,
                           _ report: inout ReconcileReport) throws {
        let loaded = try snapshot()
        var gone: [(Int64, Int)] = []
        for cluster in loaded.clusters {
            let live = Set(cluster.vms.filter { $0.status != "detached" }.map(\.host))
            for vm in cluster.vms where vm.status == "detached" {
                guard vm.host >= 0 && vm.host < loaded.hosts.count else { gone.append((cluster.id, vm.seq)); continue }
                let host = loaded.hosts[vm.host]
                let released: Bool
                if live.contains(vm.host) || cluster.pkey == nil {
                    released = true
                } else if host.membership == .physicalPort, let have = actual[vm.host], have.portPKeys != nil {
                    released = have.portHolds(cluster.pkey!) == false
                } else {
                    released = configWritten && actual[vm.host] != nil
                }
                if released { gone.append((cluster.id, vm.seq)) }
            }
        }
        try state.writeImmediate { db in
            for (cluster, seq) in gone { try db.execute(sql: "DELETE FROM vm WHERE clusterId = ? AND seq = ?", arguments: [cluster, seq]) }
            guard configWritten else { return }
            let ended = try Int64.fetchAll(db, sql: """
                SELECT id FROM cluster WHERE status != 'deleted' AND status = 'deleting' AND NOT EXISTS (SELECT 1 FROM vm WHERE vm.clusterId = cluster.id)
                """)
            for id in ended {
                try db.execute(sql: "UPDATE cluster SET status = 'deleted' WHERE id = ?", arguments: [id])
                report.confirmed.append("cluster \(id): every host confirmed; its pkey is free again")
            }
        }
        if !gone.isEmpty { report.confirmed.append("\(gone.count) detached VM slot(s) released") }
    }
}
