import Allocation
import CloudModel
import ConnectX
import Foundation
import Operations
import SimulatedHardware
import Testing
import TestSupport

@Suite struct MLX4ConfiguratorTests {
    func hca(_ fake: FakeSysfs, port: Int = 1) throws -> MLX4Configurator {
        MLX4Configurator(sysfs: fake, device: try SysfsDiscovery(sysfs: fake).devices()[0], port: port)
    }

    @Test func attachMapsTheTenantKeyAndTheLimitedDefaultOnlyAndWritesOnlyWhatChanges() throws {
        let fake = FakeSysfs()
        let model = fake.addMLX4(vfs: 4, pkeys: [0xffff, 0x7fff, 0x8005])
        let hca = try hca(fake)
        #expect(try hca.state(vf: 2) == .other("maps the full default pkey at index 0"), "the driver's default is not isolated")
        let notes = try hca.attach(vf: 2, pkey: 5, guid: 0x0200_0000_0000_0009, limitedDefault: true)
        #expect(notes.isEmpty)
        #expect(model.map(vf: 2) == ["2", "1"] + Array(repeating: "none", count: 13))
        #expect(model.aliasGUID(vf: 2) == 0x0200_0000_0000_0009)
        #expect(fake.writes.filter { $0.path.contains("pkey_idx") }.count == 2, "index 0 and 1 changed; nothing else is written")
        #expect(model.events[3] == 2)
        #expect(try hca.state(vf: 2) == .attached(pkey: 5, guid: 0x0200_0000_0000_0009, limitedDefault: true))
        #expect(model.map(vf: 1) == ["0"] + Array(repeating: "none", count: 14), "other VFs untouched")
        let before = fake.writes.count
        _ = try hca.attach(vf: 2, pkey: 5, guid: 0x0200_0000_0000_0009, limitedDefault: true)
        #expect(fake.writes.count == before + 1, "attaching again writes only the GUID (read back numerically)")

        try hca.detach(vf: 2)
        #expect(model.map(vf: 2) == Array(repeating: "none", count: 15) && model.aliasGUID(vf: 2) == ~0)
        #expect(try hca.state(vf: 2) == .detached)
    }

    @Test func noLimitedDefaultKeyMeansANoteNeverTheFullKey() throws {
        let fake = FakeSysfs()
        let model = fake.addMLX4(vfs: 2, pkeys: [0xffff, 0x8005])
        let notes = try hca(fake).attach(vf: 0, pkey: 5, guid: 0x0200_0000_0000_0001, limitedDefault: true)
        #expect(notes.count == 1 && notes[0].contains("cannot reach the SA"))
        #expect(model.map(vf: 0) == ["1"] + Array(repeating: "none", count: 14))
    }

    @Test func aTenantKeyOnlyAsALimitedMemberIsNotAttached() throws {
        let fake = FakeSysfs()
        let model = fake.addMLX4(vfs: 2, pkeys: [0xffff, 0x0005])
        #expect(throws: OperatorError.self) { try hca(fake).attach(vf: 0, pkey: 5, guid: 1, limitedDefault: false) }
        #expect(model.map(vf: 0)[0] == "0", "nothing was written")
    }

    @Test func aFailedAttachLeavesTheVFMappingNothing() throws {
        let fake = FakeSysfs()
        let model = fake.addMLX4(vfs: 2, pkeys: [0xffff, 0x7fff, 0x8005])
        fake.failNextWrite = "0000:04:00.1/ports/1/pkey_idx/1"
        #expect(throws: SysfsError.self) { try hca(fake).attach(vf: 0, pkey: 5, guid: 0x0200_0000_0000_0001, limitedDefault: true) }
        #expect(model.map(vf: 0) == Array(repeating: "none", count: 15) && model.aliasGUID(vf: 0) == ~0)
    }

    @Test func aDualPortVFIsUnmappedOnItsOtherPort() throws {
        let fake = FakeSysfs()
        let model = fake.addMLX4(vfs: 2, ports: 2, pkeys: [0xffff, 0x7fff, 0x8005])
        let hca = try hca(fake)
        #expect(try hca.ports(vf: 0) == [1, 2])
        _ = try hca.attach(vf: 0, pkey: 5, guid: 0x0200_0000_0000_0001, limitedDefault: true)
        #expect(model.map(vf: 0, port: 2) == Array(repeating: "none", count: 15), "port 2 would otherwise keep the full default key")
        #expect(try hca.state(vf: 0) == .attached(pkey: 5, guid: 0x0200_0000_0000_0001, limitedDefault: true))
        #expect(MLX4Configurator.modprobeLine(numVFs: 8, ports: 2) == "options mlx4_core num_vfs=8 probe_vf=0 port_type_array=1,1")
    }
}

@Suite struct MLX5ConfiguratorTests {
    func hca(_ fake: FakeSysfs, _ model: MLX5Model) throws -> MLX5Configurator {
        MLX5Configurator(sysfs: fake, device: try SysfsDiscovery(sysfs: fake).devices()[0], ip: FakeIPLink(model))
    }

    @Test func netlinkSetsNodeAndPortGUIDInTwoRequestsAndRebinds() throws {
        let fake = FakeSysfs()
        let model = fake.addMLX5(vfs: 4)
        let hca = try hca(fake, model)
        #expect(hca.interface == .netlink)
        #expect(hca.state(of: try hca.settings()[1]) == .detached)
        try hca.attach(vf: 1, guid: 0x0200_0000_0000_0042)
        #expect(model.node[1] == 0x0200_0000_0000_0042 && model.port[1] == 0x0200_0000_0000_0042 && model.policy[1] == "Follow")
        #expect(model.rebinds == 1, "a VF bound to mlx5_core is rebound so the GUID takes effect")
        #expect(hca.state(of: try hca.settings()[1]) == .attached(pkey: nil, guid: 0x0200_0000_0000_0042, limitedDefault: nil))
        try hca.detach(vf: 1)
        #expect(model.node[1] == ~0 && model.port[1] == ~0 && model.policy[1] == "Down")
        #expect(hca.state(of: try hca.settings()[1]) == .detached)
    }

    @Test func theVFCountNeverChangesUnderAGuest() throws {
        let fake = FakeSysfs()
        let model = fake.addMLX5(vfs: 2)
        fake.assignToGuest(model.address(vf: 1))
        let backend = ConnectXBackend(sysfsFor: { _ in fake }, ipFor: { _ in FakeIPLink(model) })
        let host = HostEntry(index: 0, name: "h", device: "mlx5_0", nodeGUID: 1, portGUID: 1, membership: .virtualPort)
        let have = try backend.actual(host)
        #expect(have.assigned == [1])
        #expect(throws: SysfsError.self) { try backend.prepare(host, vfs: 4) }
    }

    @Test func ofedSysfsIsUsedWhereItExists() throws {
        let fake = FakeSysfs()
        let model = fake.addMLX5(vfs: 2, ofed: true)
        let hca = try hca(fake, model)
        #expect(hca.interface == .ofedSysfs)
        try hca.attach(vf: 0, guid: 0x0200_0000_0000_0001)
        #expect(model.node[0] == 1 << 57 | 1 && model.live[0] == 1 << 57 | 1 && model.policy[0] == "Follow")
        #expect(hca.state(of: try hca.settings()[0]) == .attached(pkey: nil, guid: 0x0200_0000_0000_0001, limitedDefault: nil))
    }
}

/// The operator on fake hosts: two ConnectX-3 (mlx4; one dual-port) and one
/// ConnectX-6 (mlx5 over rtnetlink), with a stand-in subnet manager that
/// programs the mlx4 physical tables from partitions.conf as OpenSM would.
@Suite struct ConnectXOperatorTests {
    static let scenario = """
    name: lab
    seed: 1
    hosts:
      - { count: 2, cores: 8, memoryGiB: 32, hca: connectx-3, vfs: 4, pkeyTable: 15 }
      - { count: 1, cores: 8, memoryGiB: 32, hca: connectx-6, vfs: 4 }
    """

    final class StandInSM: SubnetManager {
        let file: OpenSMPartitionsFile
        let models: [MLX4Model]
        var reloads = 0
        init(path: String, models: [MLX4Model]) {
            file = OpenSMPartitionsFile(path: path, reload: .none)
            self.models = models
        }
        var location: String { file.path }
        func read() throws -> String? { try file.read() }
        func write(_ text: String) throws { try file.write(text) }
        func reload() throws {
            reloads += 1
            let ports = models.map { $0.portGUID(1) }
            let tables = SimulatedSubnetManager.tables(PartitionsConfig.parse(try read() ?? ""), ports: ports)
            for model in models { model.program(port: 1, tables[model.portGUID(1)] ?? []) }
        }
    }

    final class Lab {
        let fakes: [FakeSysfs]
        let mlx4: [MLX4Model]
        let mlx5: MLX5Model
        let state: OperatorState
        let sm: StandInSM

        init() throws {
            let directory = try Fixtures.scratchDirectory("connectx")
            let a = FakeSysfs(), b = FakeSysfs(), c = FakeSysfs()
            mlx4 = [a.addMLX4(nodeGUID: 0x0002_c903_00a1_0000, vfs: 4, seed: 1),
                    b.addMLX4(nodeGUID: 0x0002_c903_00b2_0000, vfs: 4, ports: 2, seed: 2)]
            mlx5 = c.addMLX5(nodeGUID: 0x9803_9b03_00c3_0000, vfs: 0, totalVFs: 8)
            fakes = [a, b, c]
            state = try OperatorState(path: directory + "/state.sqlite")
            let hosts = try fakes.enumerated().map { i, fake in ConnectXBackend.host(named: "host\(i)", root: nil, device: try SysfsDiscovery(sysfs: fake).devices()[0]) }
            try Operator.initialize(state: state, scenarioYAML: ConnectXOperatorTests.scenario, scenarioFile: directory + "/lab.yaml",
                                    catalog: try Fixtures.catalog(), discovered: hosts, backend: "connectx", partitions: nil)
            sm = StandInSM(path: directory + "/partitions.conf", models: mlx4)
        }

        func op(watch: ((Backend) -> Backend)? = nil) throws -> Operator {
            let ip = FakeIPLink(mlx5)
            let backend = ConnectXBackend(sysfsFor: { self.fakes[$0.index] }, ipFor: { _ in ip })
            return try Operator(state: state, catalog: try Fixtures.catalog(), backend: watch?(backend) ?? backend, subnetManager: sm)
        }
    }

    /// `host drain --migrate` on fake ConnectX-3 and ConnectX-6 sysfs trees: each
    /// VM's new VF maps its pkey and GUID before the hook runs, the old one maps
    /// nothing and has no GUID after, and no VF ever maps another tenant's pkey.
    @Test func drainingMovesVFGUIDAndPKeyDestinationFirst() throws {
        let lab = try Lab()
        let log = try Fixtures.scratchDirectory("connectx-hooks") + "/hooks.log"
        var watch: IsolationWatch?
        let op = try lab.op { backend in
            let hosts = (try? lab.op().hosts) ?? []
            watch = IsolationWatch(backend, state: lab.state, hosts: hosts, hookLog: log)
            return watch!
        }
        let a = try op.create(ClusterSpec(tenant: "alice", vms: 2, vcores: 2, memoryGiB: 1, kind: .hpc, pinning: .fixed))
        let b = try op.create(ClusterSpec(tenant: "bob", vms: 1, vcores: 2, memoryGiB: 1, kind: .hpc, pinning: .fixed))
        #expect(a.vms.map(\.host) == [0, 0] && b.vms.map(\.host) == [0])
        #expect(try op.apply(wait: 1).converged)
        let moves = try op.drain(host: "host0", hook: "echo \"$HPCCLOUD_TO_HOST $HPCCLOUD_TO_VF $HPCCLOUD_GUID\" >> '\(log)'", wait: 1)
        #expect(moves.map(\.outcome) == ["moved", "moved", "moved"], "\(moves)")
        #expect(watch!.violations.isEmpty, "\(watch!.violations)")
        for (k, move) in moves.enumerated() {
            let attach = try #require(watch!.changes.first { $0.change == "attach \(move.move.toHost) \(move.move.toVF!)" })
            let detach = try #require(watch!.changes.first { $0.change == "detach host0 \(move.move.fromVF!)" })
            #expect(attach.hooksBefore == k && detach.hooksBefore == k + 1, "move \(k): \(watch!.changes)")
        }
        // host 0's VFs map nothing and carry no GUID; the destinations carry the VMs' GUIDs in their partitions.
        let h0 = lab.mlx4[0]
        for vf in 0..<4 { #expect(h0.map(vf: vf).allSatisfy { $0 == "none" } && h0.aliasGUID(vf: vf) == ~0) }
        let loaded = try op.snapshot()
        for cluster in loaded.clusters {
            for vm in cluster.activeVMs {
                let have = try op.backend.actual(op.hosts[vm.host]).vfs[vm.vf!]
                guard case .attached(let pkey, let guid, _)? = have else { Issue.record("VF \(vm.vf!) of \(vm.host): \(String(describing: have))"); continue }
                #expect((pkey ?? cluster.pkey) == cluster.pkey && guid == vm.guid)
            }
        }
        let text = try lab.sm.read() ?? ""
        #expect(!text.contains("0x0002c90300a10001=full"), "host 0's port left every tenant partition: \(text)")
        #expect(try op.plan().changes.isEmpty)
    }

    @Test func createResizeDeleteUnreachableAndReboot() throws {
        let lab = try Lab()
        let op = try lab.op()
        #expect(op.hosts.map(\.portGUID) == [0x0002_c903_00a1_0001, 0x0002_c903_00b2_0001, 0x9803_9b03_00c3_0000], "read from gids/0")
        let a = try op.create(ClusterSpec(tenant: "alice", vms: 3, vcores: 2, memoryGiB: 1, kind: .hpc, pinning: .fixed))
        let b = try op.create(ClusterSpec(tenant: "bob", vms: 2, vcores: 8, memoryGiB: 1, kind: .hpc, pinning: .fixed))
        #expect(a.vms.map(\.host) == [0, 0, 0] && b.vms.map(\.host) == [1, 2])
        let first = try op.apply(wait: 1)
        #expect(first.converged && first.failed.isEmpty, "\(first)")
        #expect(lab.sm.reloads == 1)
        let (h0, h1) = (lab.mlx4[0], lab.mlx4[1])
        for vf in 0..<3 { #expect(h0.map(vf: vf).prefix(3) == ["2", "1", "none"], "tenant key (physical 2) at 0, limited default (1) at 1") }
        #expect(h0.map(vf: 3) == Array(repeating: "none", count: 15), "an unused VF maps nothing, not even the default key")
        #expect(h1.map(vf: 0).prefix(2) == ["2", "1"] && h1.map(vf: 0, port: 2).allSatisfy { $0 == "none" })
        #expect(lab.mlx5.count == 4 && lab.mlx5.node[0] == 0x0200_0000_0000_0005 && lab.mlx5.port[0] == 0x0200_0000_0000_0005)
        let text = try lab.sm.read() ?? ""
        #expect(text.contains("hpccloud_c2=0x0002, ipoib : 0x0002c90300b20001=full, 0x0200000000000005=full ;"), "\(text)")
        #expect(try op.plan().changes.isEmpty)

        // host 1 cannot be reached; bob is deleted: host 2 detaches, host 1 waits, bob's pkey stays quarantined.
        lab.fakes[1].unreachable = true
        _ = try op.delete(id: b.clusterID!)
        let partial = try op.apply(wait: 0)
        #expect(partial.unreachable.map(\.hostName) == ["host1"] && partial.changes.contains { $0.kind == .detach && $0.hostName == "host2" })
        #expect(lab.mlx5.policy[0] == "Down" && lab.mlx5.node[0] == ~0)
        #expect(try lab.sm.read()?.contains("hpccloud_c2=0x0002, ipoib : 0x0002c90300b20001=full ;") == true, "host 1 stays a member until it detached")
        #expect(try op.create(ClusterSpec(tenant: "carol", vms: 1, vcores: 8, memoryGiB: 1, kind: .hpc, pinning: .fixed)).pkey == 3)
        lab.fakes[1].unreachable = false
        #expect(try op.apply(wait: 1).converged)
        #expect(h1.map(vf: 0).allSatisfy { $0 == "none" } && h1.aliasGUID(vf: 0) == ~0)
        #expect(try op.snapshot().clusters.map(\.id) == [1, 3], "bob ended once every host confirmed")

        // host 0 reboots: its VFs come back on the full default key until reconciled.
        h0.boot()
        #expect(h0.map(vf: 0)[0] == "0")
        let reconciled = try op.apply(only: [0], manageSubnet: false, wait: 1)
        #expect(reconciled.converged && h0.map(vf: 0).prefix(2) == ["2", "1"] && h0.map(vf: 3).allSatisfy { $0 == "none" })
    }
}
