import Foundation
import Operations
import Synchronization

/// What the agents last reported, kept in memory (and in the `agent` table):
/// the controller's view of hosts it cannot read itself.
public final class AgentReports: Sendable {
    struct Entry: Sendable {
        var report: HostReport?
        var subnet: SubnetReport?
        var reported: Date?
    }

    let entries = Mutex<[String: Entry]>([:])

    public init() {}

    func host(_ index: Int) -> (report: HostReport, reported: Date?)? {
        entries.withLock { e in e["host:\(index)"].flatMap { entry in entry.report.map { ($0, entry.reported) } } }
    }

    func subnet() -> SubnetReport? { entries.withLock { $0["sm"]?.subnet } }

    func store(_ target: String, host: HostReport?, subnet: SubnetReport?, at time: Date) {
        entries.withLock { $0[target] = Entry(report: host, subnet: subnet, reported: time) }
    }

    func reported(_ target: String) -> Date? { entries.withLock { $0[target]?.reported } }
}

/// The `Backend` the controller sees when agents carry out the changes: it
/// reads what each host's agent last reported and changes nothing itself
/// (plan works unchanged; apply is the agents' job).
final class ReportedBackend: Backend, @unchecked Sendable {
    let name = "agents"
    let reports: AgentReports

    init(reports: AgentReports) { self.reports = reports }

    func actual(_ host: HostEntry) throws -> HostHardware {
        guard let (report, _) = reports.host(host.index) else {
            throw OperatorError("\(host.name): its agent has not reported yet", kind: .environment)
        }
        return report.hardware
    }

    func prepare(_ host: HostEntry, vfs: Int) throws -> String? { throw Self.agentsOnly(host) }
    func attach(_ host: HostEntry, vf: Int, _ config: VFConfig) throws -> [String] { throw Self.agentsOnly(host) }
    func detach(_ host: HostEntry, vf: Int) throws { throw Self.agentsOnly(host) }

    static func agentsOnly(_ host: HostEntry) -> OperatorError {
        OperatorError("\(host.name): hardware changes are made by the host's agent, from its desired state", kind: .environment)
    }
}

/// The subnet manager as its agent last reported it: the file's text (the
/// site's statements are read from it); writing is the agent's job.
final class ReportedSubnetManager: SubnetManager, @unchecked Sendable {
    let reports: AgentReports

    init(reports: AgentReports) { self.reports = reports }

    var location: String { "the subnet manager agent's partitions.conf" }
    func read() throws -> String? { reports.subnet()?.text }
    func write(_ text: String) throws { throw OperatorError("partitions.conf is written by the subnet manager's agent", kind: .environment) }
    func reload() throws { throw OperatorError("OpenSM is told to re-read by the subnet manager's agent", kind: .environment) }
}
