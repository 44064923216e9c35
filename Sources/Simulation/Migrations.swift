import Allocation
import CloudModel
import Overheads
import SimKernel

/// What a run's live migrations need: the policy that moves VMs and what a move costs.
public struct MigrationSetup {
    public var policy: any MigrationPolicy
    public var model: MigrationModel
    /// The VMs' memory dirty rate during pre-copy (the scenario's, else the model's).
    public var dirtyMiBPerSecond: Double
    /// Hosts taken out for maintenance (`migration.maintenance`).
    public var maintenance: [MigrationSpec.Maintenance]

    public init(policy: any MigrationPolicy, model: MigrationModel, dirtyMiBPerSecond: Double? = nil,
                maintenance: [MigrationSpec.Maintenance] = []) {
        self.policy = policy
        self.model = model
        self.dirtyMiBPerSecond = dirtyMiBPerSecond ?? model.dirtyMiBPerSecond.value
        self.maintenance = maintenance
    }
}

/// What a run's migrations did and cost.
public struct MigrationSummary: Equatable, Sendable {
    /// The migration policy's name.
    public var policy: String
    public var migrations: Int
    /// Requests rejected as `fragmented` that migrations got admitted (the acceptance gained).
    public var rescued: Int
    /// Tries that found no room (0 for a policy that does not try); with a queue, a
    /// waiting head is tried again at each pass after room was freed.
    public var unrescued: Int
    public var consolidationPasses: Int
    /// Hosts a consolidation pass left empty.
    public var hostsEmptied: Int
    public var bytesMoved: Double
    /// Per migration: the VM stopped (stop-and-copy, the VF re-attached, addressing).
    public var downtimeSeconds: SampleSummary
    /// All migrations: how long their clusters stood still (an hpc VM's whole migration, its VF being detached).
    public var stallSeconds: Double
    public var smps: Int
    public var pathQueries: Int
    /// Migrations whose pre-copy did not converge (stop-and-copy forced).
    public var forced: Int
    /// Maintenance windows whose host was emptied by migration, and those where some VM fit nowhere else.
    public var maintenanceEmptied: Int
    public var maintenanceBlocked: Int
}

/// Running totals behind `MigrationSummary`.
struct MigrationTally {
    var rescued = 0, unrescued = 0, passes = 0, hostsEmptied = 0
    var bytes = 0.0, stall = 0.0
    var downtimes: [Double] = []
    var smps = 0, pathQueries = 0, forced = 0
    var maintenanceEmptied = 0, maintenanceBlocked = 0

    mutating func add(_ cost: MigrationModel.Cost, stall: Double) {
        bytes += cost.bytesMoved
        self.stall += stall
        downtimes.append(cost.downtimeSeconds)
        smps += cost.smps
        pathQueries += cost.pathQueries
        if !cost.converged { forced += 1 }
    }

    func summary(policy: String) -> MigrationSummary {
        MigrationSummary(policy: policy, migrations: downtimes.count, rescued: rescued, unrescued: unrescued,
                         consolidationPasses: passes, hostsEmptied: hostsEmptied, bytesMoved: bytes,
                         downtimeSeconds: SampleSummary(downtimes), stallSeconds: stall, smps: smps, pathQueries: pathQueries,
                         forced: forced, maintenanceEmptied: maintenanceEmptied, maintenanceBlocked: maintenanceBlocked)
    }
}
