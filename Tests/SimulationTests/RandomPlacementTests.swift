import Allocation
import CloudModel
import Simulation
import Testing
import TestSupport
import Workloads

/// `random` is uniform over the feasible hosts (SEMANTICS 5), with the run's own
/// placement stream: Pearson's chi-square over many placements of one VM into
/// the same state, where the feasible hosts (from the reference model, not the
/// engine) are scattered among infeasible ones of every kind.
@Suite struct RandomPlacementTests {
    /// Hosts 0-2 and 10-12 can take a 4-vCPU, 16 GiB hpc VM; host 3 has too few
    /// cores, 4-5 no VF, 6-9 too little memory. Host 0 is then filled by a
    /// first-fit cluster, so 5 of 13 hosts stay feasible.
    static let scenario = """
        name: random-uniformity
        seed: 2024
        policy: random
        hosts:
          - { count: 3, cores: 16, memoryGiB: 64, hca: connectx-3, vfs: 8 }
          - { count: 1, cores: 2, memoryGiB: 64, hca: connectx-3, vfs: 8 }
          - { count: 2, cores: 16, memoryGiB: 64, hca: connectx-3, vfs: 0 }
          - { count: 4, cores: 16, memoryGiB: 8, hca: connectx-3, vfs: 8 }
          - { count: 3, cores: 16, memoryGiB: 64, hca: connectx-3, vfs: 8 }
        """

    @Test func randomIsUniformOverTheFeasibleHosts() throws {
        let loaded = try Fixtures.loader().load(yaml: Self.scenario, file: "random-uniformity.yaml")
        let run = try Run(scenario: loaded, workload: Workload())
        let engine = AllocationEngine(cloud: loaded.cloud)
        var oracle = ReferenceCloud(cloud: loaded.cloud)
        let filler = Fixtures.request(1, vms: 1, Fixtures.shape(vcores: 14, memoryGiB: 8))
        #expect(engine.admit(filler, policy: FirstFit()) != .rejected(.cores))
        _ = oracle.admit(filler, policy: "first-fit")

        let shape = Fixtures.shape(vcores: 4, memoryGiB: 16)
        let feasible = oracle.fittingHosts(shape, cluster: 2)
        #expect(feasible == [1, 2, 10, 11, 12])
        let policy = try run.makePolicy()
        var counts = Array(repeating: 0, count: engine.hostCount)
        let draws = 5_000
        for _ in 0..<draws {
            guard case .accepted(_, let vms) = engine.admit(Fixtures.request(2, vms: 1, shape), policy: policy) else {
                Issue.record("a feasible VM was rejected")
                return
            }
            counts[vms[0].host] += 1
            engine.release(cluster: 2)
        }
        let outside = counts.indices.filter { !feasible.contains($0) && counts[$0] > 0 }
        #expect(outside.isEmpty, "placed on infeasible hosts \(outside)")
        let observed = feasible.map { counts[$0] }
        let uniform = Array(repeating: 1.0 / Double(feasible.count), count: feasible.count)
        let (statistic, p) = GoodnessOfFit.chiSquare(observed: observed, probabilities: uniform)
        #expect(p > 0.001, "chi-square \(statistic), p \(p): counts \(observed)")

        // The test has power: first-fit's counts (every VM on host 1) fail it by far.
        let firstFit = feasible.map { $0 == feasible[0] ? draws : 0 }
        #expect(GoodnessOfFit.chiSquare(observed: firstFit, probabilities: uniform).p < 1e-9)
    }
}
