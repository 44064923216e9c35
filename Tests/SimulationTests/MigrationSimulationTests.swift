import Allocation
import CloudModel
import Foundation
import Simulation
import Testing
import TestSupport

/// Live migration in the simulator (`migration:`), on the library scenario
/// `Workloads/swf-lublin-defrag.yaml`: what defragmentation and consolidation
/// change, and a decision log that replays migration by migration.
@Suite struct MigrationSimulationTests {
    let scenario: Scenario
    init() throws { scenario = try Fixtures.loader().load(path: Fixtures.repoRoot + "/Workloads/swf-lublin-defrag.yaml") }

    func run(_ policy: MigrationSpec.Policy, record: ((DecisionRow) -> Void)? = nil) throws -> Summary {
        var scenario = scenario
        scenario.migration.policy = policy
        return try Run(scenario: scenario).simulate(record: record)
    }

    /// Pinned on the whole log: a change to the engine, the policies or the cost model that moves them shows here.
    @Test func defragmentingAdmitsRequestsThatFragmentationRejected() throws {
        let none = try run(.none), defragment = try run(.defragment), consolidate = try run(.consolidate)
        #expect(none.migration == nil)
        func pinned(_ s: Summary) -> String {
            let m = s.migration
            return "accepted \(s.accepted), fragmented \(s.rejected[.fragmented] ?? 0), migrations \(m?.migrations ?? 0), "
                + "rescued \(m?.rescued ?? 0), emptied \(m?.hostsEmptied ?? 0)"
        }
        #expect(pinned(none) == "accepted 2730, fragmented 259, migrations 0, rescued 0, emptied 0")
        #expect(pinned(defragment) == "accepted 2763, fragmented 213, migrations 46, rescued 26, emptied 0")
        #expect(pinned(consolidate) == "accepted 2730, fragmented 259, migrations 18, rescued 0, emptied 12")
        // More accepted in all than rescued: a rescued cluster also changes where later ones go.
        #expect(defragment.accepted > none.accepted)
        let g = defragment.migration!
        #expect(g.rescued + g.unrescued == defragment.rejected[.fragmented]! + g.rescued)
        #expect(g.downtimeSeconds.count == g.migrations && g.stallSeconds > g.downtimeSeconds.mean * Double(g.migrations))
    }

    /// The decision log's rows rebuild the run: each `migrate` row lists its
    /// cluster's hosts after the move, which differ from before in exactly one VM;
    /// an engine fed arrivals, migrations and departures from the log accepts
    /// them all. A migrated cluster ends later by what its migrations stalled it.
    @Test func theDecisionLogReplaysMigrationByMigration() throws {
        var rows: [DecisionRow] = []
        let summary = try run(.defragmentAndConsolidate) { rows.append($0) }
        let migrations = rows.filter { $0.event == .migrate }
        #expect(migrations.count == summary.migration!.migrations && migrations.count > 20)
        let engine = AllocationEngine(cloud: scenario.cloud)
        var hosts: [Int64: [Int]] = [:], started: [Int64: (time: Int64, duration: Int64)] = [:]
        var delays: [Int64: Int64] = [:]
        for row in rows {
            switch (row.event, row.outcome) {
            case (.arrive, .accepted):
                #expect(engine.admit(row.request!, policy: ReplayedPlacement(hosts: row.hosts)) != .rejected(.fragmented))
                hosts[row.id] = row.hosts
                started[row.id] = (row.time, row.request!.duration)
            case (.migrate, _):
                let before = hosts[row.id]!
                let moved = before.indices.filter { before[$0] != row.hosts[$0] }
                #expect(moved.count == 1 && row.hosts.count == before.count)
                guard let vm = moved.first else { continue }
                #expect(engine.migrate(cluster: row.id, vm: vm, to: row.hosts[vm]) == .accepted(pkey: row.pkey, vms: [row.vms[vm]]))
                hosts[row.id] = row.hosts
                delays[row.id, default: 0] += 1
            case (.depart, _):
                engine.release(cluster: row.id)
                let start = started[row.id]!
                let late = row.time - start.time - start.duration
                // Migrated clusters end late; the others on time.
                #expect((late > 0) == (delays[row.id] != nil))
            default:
                break
            }
            #expect(engine.invariantViolations().isEmpty)
        }
        // The stalls the summary adds up are the lateness of the departures (each rounded to the nanosecond).
        let lateness = rows.filter { $0.event == .depart && delays[$0.id] != nil }
            .reduce(0.0) { $0 + Double($1.time - started[$1.id]!.time - started[$1.id]!.duration) / 1e9 }
        #expect(abs(lateness - summary.migration!.stallSeconds) < 1e-6 * Double(migrations.count))
        // Same scenario, same seed: the same rows.
        var again: [DecisionRow] = []
        _ = try run(.defragmentAndConsolidate) { again.append($0) }
        #expect(again == rows)
    }

    /// A maintenance window drains its host and empties it by migration at its
    /// start; nothing is placed there until it ends, and then the host takes VMs again.
    @Test func aMaintenanceWindowEmptiesItsHostAndKeepsItEmptyUntilItEnds() throws {
        var scenario = scenario
        scenario.migration = MigrationSpec(policy: .none, maintenance: [.init(host: 0, start: 100 * 3_600_000_000_000, length: 48 * 3_600_000_000_000)])
        var rows: [DecisionRow] = []
        let summary = try Run(scenario: scenario).simulate { rows.append($0) }
        let first = rows.first!.time, start = first + 100 * 3_600_000_000_000, end = start + 48 * 3_600_000_000_000
        let migration = try #require(summary.migration)
        #expect(migration.policy == "none" && migration.maintenanceEmptied == 1 && migration.maintenanceBlocked == 0)
        let moved = rows.filter { $0.event == .migrate }
        #expect(!moved.isEmpty && moved.allSatisfy { $0.time == start } && moved.count == migration.migrations)
        #expect(moved.count == 8, "host 0's VMs at 100 h")
        let placedOn0 = rows.filter { $0.event == .arrive && $0.outcome == .accepted && $0.hosts.contains(0) }.map(\.time)
        #expect(!placedOn0.contains { $0 >= start && $0 < end }, "nothing lands on a host under maintenance")
        #expect(placedOn0.contains { $0 >= end }, "the host is back in service after the window")
        // Both hosts full when the window opens: host 0's VM fits nowhere else, so nothing moves, and
        // the request after it is turned away (host 0 is drained, host 1 full).
        scenario.cloud.groups[0].count = 2
        scenario.migration.maintenance = [.init(host: 0, start: 5_000_000_000, length: 100_000_000_000)]
        let shape = VMShape(vcores: 16, memoryMiB: 1024, kind: .hpc, pinning: .fixed)
        let blocked = try Run(scenario: scenario, workload: Workload(requests: [0, 1, 10].enumerated().map { i, second in
            ClusterRequest(id: Int64(i + 1), arrival: Int64(second) * 1_000_000_000, tenant: "t", vms: 1, shape: shape, duration: 3_600_000_000_000)
        })).simulate()
        #expect(blocked.migration?.maintenanceBlocked == 1 && blocked.migration?.migrations == 0)
        #expect(blocked.accepted == 2 && blocked.rejected[.cores] == 1)
    }
}
