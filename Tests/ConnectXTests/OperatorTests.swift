import Allocation
import CloudModel
import ConnectX
import Foundation
import Testing
import TestSupport

/// The operator on three fake hosts (two ConnectX-3/mlx4, one ConnectX-6/mlx5),
/// with a stand-in subnet manager that programs the mlx4 physical pkey tables
/// from partitions.conf as OpenSM would.
@Suite struct OperatorTests {
    static let scenario = """
    name: lab
    seed: 1
    hosts:
      - { count: 2, cores: 8, memoryGiB: 32, hca: connectx-3, vfs: 4, pkeyTable: 16 }
      - { count: 1, cores: 8, memoryGiB: 32, hca: connectx-6, vfs: 4 }
    """

    final class Lab {
        let fakes: [FakeSysfs]
        let state: OperatorState
        let directory: String
        var reloads = 0

        init() throws {
            directory = NSTemporaryDirectory() + "hpccloud-operator-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let a = FakeSysfs(), b = FakeSysfs(), c = FakeSysfs()
            a.addMLX4(nodeGUID: 0x0002_c903_00a1_0000, vfs: 4)
            b.addMLX4(nodeGUID: 0x0002_c903_00b2_0000, vfs: 4)
            c.addMLX5(nodeGUID: 0x9803_9b03_00c3_0000, vfs: 0, totalVFs: 8)
            fakes = [a, b, c]
            state = try OperatorState(path: directory + "/state.sqlite")
            let hosts = try fakes.enumerated().map { i, fake in (name: "host\(i)", root: String?.none, device: try SysfsDiscovery(sysfs: fake).devices()[0]) }
            try Operator.initialize(state: state, scenarioYAML: OperatorTests.scenario, scenarioFile: directory + "/lab.yaml",
                                    catalog: try Fixtures.catalog(), discovered: hosts, partitions: directory + "/partitions.conf")
        }

        func makeOperator() throws -> Operator {
            try Operator(state: state, catalog: try Fixtures.catalog(), backend: ConnectXBackend(sysfsFor: { self.fakes[$0.index] }),
                         reloadSubnetManager: { [self] in try subnetManagerReads() })
        }

        /// OpenSM's part: each port's table gets the default key and the pkeys of the partitions it is a full member of.
        func subnetManagerReads() throws {
            reloads += 1
            let text = try String(contentsOfFile: directory + "/partitions.conf", encoding: .utf8)
            for (i, fake) in fakes.enumerated() {
                guard let device = try SysfsDiscovery(sysfs: fake).devices().first, device.driver == .mlx4 else { continue }
                let guid = GUIDFormat.hex(device.portGUID(1))
                let keys = text.split(separator: "\n").filter { $0.contains(guid + "=full") && !$0.hasPrefix("Default") }
                    .compactMap { line in line.split(separator: "=").dropFirst().first.flatMap { Int($0.split(separator: " ")[0].dropFirst(2), radix: 16) } }
                fake.programPhysicalPKeys(device: device.name, [0xffff] + keys.sorted().map { $0 | 0x8000 })
                _ = i
            }
        }
    }

    func pkeyMap(_ fake: FakeSysfs, vf: Int) -> [String] {
        (0..<16).map { fake.value("/sys/class/infiniband/mlx4_0/iov/0000:04:00.\(vf + 1)/ports/1/pkey_idx/\($0)") ?? "?" }
    }

    static let none15 = Array(repeating: "none", count: 15)

    @Test func createResizeDeleteAndEveryFileAfterwards() throws {
        let lab = try Lab()
        var op = try lab.makeOperator()
        let (c1, d1) = try op.create(tenant: "alice", vms: 3, vcores: 2, memoryGiB: 2, kind: .hpc, pinning: .fixed, policy: nil)
        let (c2, d2) = try op.create(tenant: "bob", vms: 2, vcores: 4, memoryGiB: 2, kind: .hpc, pinning: .fixed, policy: nil)
        #expect(d1 == .accepted(pkey: PartitionKey(1), vms: [PlacedVM(host: 0, virtualFunction: 0), PlacedVM(host: 0, virtualFunction: 1), PlacedVM(host: 0, virtualFunction: 2)]))
        guard case .accepted(_, let vms2) = d2 else { Issue.record("c2 rejected"); return }
        #expect(vms2.map(\.host) == [1, 1])

        let report = try op.apply()
        #expect(report.failed.isEmpty, "\(report.failed)")
        let partitions = try String(contentsOfFile: lab.directory + "/partitions.conf", encoding: .utf8)
        #expect(partitions == PartitionsFile.header + "Default=0x7fff, ipoib : ALL=full ;\n"
                + "c1=0x0001 : 0x0002c90300a10001=full ;\nc2=0x0002 : 0x0002c90300b20001=full ;\n")
        let (a, b, c) = (lab.fakes[0], lab.fakes[1], lab.fakes[2])
        for vf in 0..<3 {
            #expect(pkeyMap(a, vf: vf) == ["1"] + Self.none15)
            #expect(a.value("/sys/class/infiniband/mlx4_0/iov/ports/1/admin_guids/\(vf + 1)") == GUIDFormat.hex(Operator.vmGUID(host: 0, vf: vf)))
        }
        #expect(pkeyMap(a, vf: 3) == Array(repeating: "none", count: 16), "an unused VF maps nothing, not even the default pkey")
        #expect(pkeyMap(b, vf: 0) == ["1"] + Self.none15 && pkeyMap(b, vf: 2) == Array(repeating: "none", count: 16))
        #expect(c.value("/sys/bus/pci/devices/0000:81:00.0/sriov_numvfs") == "4")
        #expect((0..<4).allSatisfy { c.value("/sys/bus/pci/devices/0000:81:00.0/sriov/\($0)/policy") == "Down" })
        #expect(try op.plan().isEmpty)
        #expect(try op.apply().applied.isEmpty, "a second apply is a no-op")

        // Grow alice onto host 0's last VF, then shrink her by two: VFs 3 and 2 come back.
        #expect(try op.resize(id: c1, by: 1, policy: nil) == .accepted(pkey: PartitionKey(1), vms: [PlacedVM(host: 0, virtualFunction: 3)]))
        _ = try op.apply()
        #expect(pkeyMap(a, vf: 3) == ["1"] + Self.none15)
        _ = try op.resize(id: c1, by: -2, policy: nil)
        _ = try op.apply()
        #expect(pkeyMap(a, vf: 2) == Array(repeating: "none", count: 16) && pkeyMap(a, vf: 3) == Array(repeating: "none", count: 16))
        #expect(pkeyMap(a, vf: 1) == ["1"] + Self.none15)

        // Delete bob: his partition and host 1's mappings go; a new cluster reaches the mlx5 host.
        #expect(try op.delete(id: c2) != .ignored)
        let (c3, d3) = try op.create(tenant: "carol", vms: 2, vcores: 8, memoryGiB: 2, kind: .hpc, pinning: .fixed, policy: nil)
        guard case .accepted(let pkey3, let vms3) = d3 else { Issue.record("c3 rejected: \(d3)"); return }
        #expect(vms3.map(\.host) == [1, 2] && pkey3 == PartitionKey(2), "bob's pkey is free again and goes to carol")
        op = try lab.makeOperator()  // a new command: the engine is rebuilt from the recorded operations
        #expect(op.clusters.map(\.id) == [c1, c3])
        let final = try op.apply()
        #expect(final.failed.isEmpty, "\(final.failed)")
        #expect(pkeyMap(b, vf: 0) == ["1"] + Self.none15 && pkeyMap(b, vf: 1) == Array(repeating: "none", count: 16))
        #expect(b.value("/sys/class/infiniband/mlx4_0/iov/ports/1/pkeys/1") == "0x8002", "host 1's table holds carol's pkey now")
        let guid = GUIDFormat.colonBytes(Operator.vmGUID(host: 2, vf: 0))
        #expect(c.value("/sys/bus/pci/devices/0000:81:00.0/sriov/0/node") == guid && c.value("/sys/bus/pci/devices/0000:81:00.0/sriov/0/port") == guid)
        #expect(c.value("/sys/bus/pci/devices/0000:81:00.0/sriov/0/policy") == "Follow")
        #expect(try op.plan().isEmpty)
        let listed = try lab.state.queue.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM vm") }
        #expect(listed == 4)
    }

    @Test func aCrashPartWayIsFinishedByTheNextApply() throws {
        let lab = try Lab()
        let op = try lab.makeOperator()
        _ = try op.create(tenant: "alice", vms: 3, vcores: 2, memoryGiB: 2, kind: .hpc, pinning: .fixed, policy: nil)
        lab.fakes[0].failNextWrite = "0000:04:00.2/ports/1/pkey_idx"
        let first = try op.apply()
        #expect(first.failed.count == 1 && first.failed[0].1.contains("EIO"))
        let failedRows = try lab.state.queue.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM journal WHERE status = 'failed'") }
        #expect(failedRows == 1)
        #expect(try op.plan().count == 1)
        let second = try op.apply()
        #expect(second.failed.isEmpty && second.applied.count == 1)
        #expect(try op.plan().isEmpty && pkeyMap(lab.fakes[0], vf: 1) == ["1"] + Self.none15)
    }

    @Test func twoAppliesNeverInterleave() throws {
        let lab = try Lab()
        let op = try lab.makeOperator()
        try lab.state.withApplyLock {
            #expect(throws: OperatorError.self) { try op.apply() }
        }
        #expect(try op.apply().failed.isEmpty)
    }

    @Test func theSimulatedBackendRehearsesTheSameDecisions() throws {
        let lab = try Lab()
        let rehearsal = try OperatorState(path: lab.directory + "/rehearsal.sqlite")
        try Operator.initialize(state: rehearsal, scenarioYAML: Self.scenario, scenarioFile: "lab.yaml", catalog: try Fixtures.catalog(),
                                discovered: nil, partitions: lab.directory + "/rehearsal.conf")
        let simulated = try Operator(state: rehearsal, catalog: try Fixtures.catalog(), backend: SimulatedBackend(state: rehearsal))
        let real = try lab.makeOperator()
        for op in [simulated, real] {
            _ = try op.create(tenant: "alice", vms: 3, vcores: 2, memoryGiB: 2, kind: .hpc, pinning: .fixed, policy: "pkey-pack")
            _ = try op.create(tenant: "bob", vms: 2, vcores: 4, memoryGiB: 2, kind: .hpc, pinning: .fixed, policy: nil)
        }
        #expect(simulated.clusters == real.clusters, "the same engine decides the same placements, VFs and pkeys")
        let plan = try simulated.plan()
        #expect(plan.filter { if case .attach = $0.action { true } else { false } }.count == 5)
        _ = try simulated.apply()
        #expect(try simulated.plan().isEmpty)
    }
}
