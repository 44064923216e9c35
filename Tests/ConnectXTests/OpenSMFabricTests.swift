import Allocation
import CloudModel
import ConnectX
import Foundation
import Operations
import Testing
import TestSupport

/// End to end against a real subnet manager, without hardware. Debian's ibsim
/// simulates a fabric of three switches (a core and two leaves), the SM's own
/// node and twelve hosts; the real OpenSM 3.3 runs on it under libumad2sim,
/// started from a site partitions.conf with its own storage partition, with
/// `allow_both_pkeys` so hypervisor ports can hold the limited default key.
/// Each host is a fake ConnectX-3 (the kernel's mlx4 rules) whose physical pkey
/// table is the ibsim port's, read with `smpquery`; the operator drives them
/// through the real ConnectX backend and tells OpenSM to re-read with SIGHUP.
/// After every step (create, resize, delete, a host unreachable, an SM restart,
/// a host reboot) every host port, every switch port facing a host, and every
/// VF map is compared with the recorded placements.
@Suite(.serialized) struct OpenSMFabricTests {
    static let hosts = 12
    static let site = "# The site's own partitions: hpccloud must keep these lines.\nStorage=0x7000, ipoib : ALL=full ; # NFS over IPoIB\n"

    /// ibsim gives CAs node GUIDs 0x100000 + 2i in file order (the SM's node first), port 1 node + 1,
    /// and switches 0x200000 + i (seen with ibnetdiscover on ibsim 0.10).
    static func nodeGUID(host: Int) -> UInt64 { 0x10_0002 + 2 * UInt64(host) }
    static func leaf(of host: Int) -> (guid: UInt64, port: Int) { (0x20_0001 + UInt64(host / 6), host % 6 + 1) }

    static var topology: String {
        var text = "Hca\t1 \"sm\"\n[1]\t\"core\"[1]\n\nSwitch\t8 \"core\"\n[1]\t\"sm\"[1]\n[2]\t\"leaf0\"[8]\n[3]\t\"leaf1\"[8]\n\n"
        for leaf in 0..<2 {
            text += "Switch\t8 \"leaf\(leaf)\"\n"
            for i in 0..<6 { text += "[\(i + 1)]\t\"host\(leaf * 6 + i)\"[1]\n" }
            text += "[8]\t\"core\"[\(leaf + 2)]\n\n"
        }
        for host in 0..<hosts { text += "Hca\t1 \"host\(host)\"\n[1]\t\"leaf\(host / 6)\"[\(host % 6 + 1)]\n\n" }
        return text
    }

    static let scenario = """
    name: ibsim-fabric
    seed: 1
    subnet: { switches: 3 }
    hosts:
      - { count: 12, cores: 8, memoryGiB: 32, hca: connectx-3, vfs: 4, pkeyTable: 63 }
    """

    final class Fabric {
        let ibsim: IBSimFabric
        let fakes: [FakeSysfs]
        let models: [MLX4Model]
        var cache: [UInt64: (time: Date, table: [Int])] = [:]

        var dir: String { ibsim.dir }

        init() throws {
            ibsim = try IBSimFabric(name: "opensm", topology: OpenSMFabricTests.topology, sitePartitions: OpenSMFabricTests.site)
            var fakes: [FakeSysfs] = [], models: [MLX4Model] = []
            for host in 0..<OpenSMFabricTests.hosts {
                let fake = FakeSysfs()
                // ibsim's HCA ports hold 64 pkeys: the fake's physical table is as long.
                models.append(fake.addMLX4(nodeGUID: OpenSMFabricTests.nodeGUID(host: host), vfs: 4, physicalLength: 64, seed: UInt64(host + 1)))
                fakes.append(fake)
            }
            self.fakes = fakes
            self.models = models
            for (host, model) in models.enumerated() {
                // The driver's view of the physical table is what the SM programmed into the port.
                model.physicalSource = { [unowned self] _ in (try? self.table(guid: OpenSMFabricTests.nodeGUID(host: host) + 1, port: 1, cached: true)) ?? [] }
            }
        }

        func start() throws { try ibsim.start() }

        func startSM() throws {
            try ibsim.startSM()
            cache.removeAll()
        }

        func stopSM() { ibsim.stopSM() }
        func stop() { ibsim.stop() }
        func log() -> String { ibsim.log() }

        /// A port's pkey table in index order, via `smpquery -G pkeys` (SMPs through ibsim).
        func table(guid: UInt64, port: Int, cached: Bool = false) throws -> [Int] {
            if cached, let hit = cache[guid << 8 | UInt64(port)], Date().timeIntervalSince(hit.time) < 0.3 { return hit.table }
            let keys = try ibsim.pkeys(guid: guid, port: port)
            cache[guid << 8 | UInt64(port)] = (Date(), keys)
            return keys
        }

        func op(state: OperatorState) throws -> Operator {
            try Operator(state: state, catalog: try Fixtures.catalog(),
                         backend: ConnectXBackend(sysfsFor: { self.fakes[$0.index] }),
                         subnetManager: OpenSMPartitionsFile(path: ibsim.partitions, reload: .pidFile(ibsim.pidFile)))
        }
    }

    /// Every host port, every switch port facing a host, and every VF map against the records.
    func check(_ fabric: Fabric, _ op: Operator, _ step: String) throws {
        let loaded = try op.snapshot()
        var tenant = Array(repeating: Set<Int>(), count: Self.hosts)
        var active: [Int: [Int: (pkey: Int, guid: UInt64)]] = [:]
        for cluster in loaded.clusters {
            for vm in cluster.vms where vm.status != "detached" {
                tenant[vm.host].insert(cluster.pkey! | 0x8000)
                if vm.status == "active" { active[vm.host, default: [:]][vm.vf!] = (cluster.pkey!, vm.guid!) }
            }
        }
        for host in 0..<Self.hosts {
            let port = Set(try fabric.table(guid: Self.nodeGUID(host: host) + 1, port: 1).filter { $0 != 0 })
            // Default: the hypervisor port `both` (0xffff and 0x7fff); the site's storage partition full.
            #expect(port == Set([0xffff, 0x7fff, 0xf000]).union(tenant[host]), "\(step): host \(host)'s port")
            let (switchGUID, switchPort) = Self.leaf(of: host)
            let facing = Set(try fabric.table(guid: switchGUID, port: switchPort).filter { $0 != 0 })
            // OpenSM copies the CA's keys to the switch port, skipping a limited key whose full one is there (osm_pkey_mgr.c:737-740).
            #expect(facing == Set([0xffff, 0xf000]).union(tenant[host]), "\(step): leaf port facing host \(host)")
            let model = fabric.models[host]
            let table = try fabric.table(guid: Self.nodeGUID(host: host) + 1, port: 1)
            for vf in 0..<4 {
                if let vm = active[host]?[vf] {
                    let expected = [table.firstIndex(of: vm.pkey | 0x8000).map(String.init) ?? "?", table.firstIndex(of: 0x7fff).map(String.init) ?? "?"]
                    #expect(Array(model.map(vf: vf).prefix(2)) == expected && model.map(vf: vf).dropFirst(2).allSatisfy { $0 == "none" },
                            "\(step): host \(host) VF \(vf) maps its tenant key and the limited default only")
                    #expect(model.aliasGUID(vf: vf) == vm.guid, "\(step): host \(host) VF \(vf)'s alias GUID")
                } else {
                    #expect(model.map(vf: vf).allSatisfy { $0 == "none" } && model.aliasGUID(vf: vf) == ~0, "\(step): host \(host) VF \(vf) maps nothing")
                }
            }
        }
        let text = try String(contentsOfFile: fabric.dir + "/partitions.conf", encoding: .utf8)
        #expect(text.hasPrefix(Self.site), "\(step): the site's lines stay byte for byte")
    }

    @Test(.requires(.openSM)) func everyStepLeavesEveryPortAndEveryVFAsRecordedOnOpenSM() throws {
        let fabric = try Fabric()
        defer { fabric.stop() }
        try fabric.start()

        let state = try OperatorState(path: fabric.dir + "/state.sqlite")
        let discovered = try fabric.fakes.enumerated().map { i, fake in
            ConnectXBackend.host(named: "host\(i)", root: nil, device: try SysfsDiscovery(sysfs: fake).devices()[0])
        }
        try Operator.initialize(state: state, scenarioYAML: Self.scenario, scenarioFile: fabric.dir + "/s.yaml", catalog: try Fixtures.catalog(),
                                discovered: discovered, backend: "connectx", partitions: nil)
        let op = try fabric.op(state: state)
        func apply(_ step: String) throws -> ReconcileReport {
            let report = try op.apply(wait: 20)
            #expect(report.failed.isEmpty && report.notes.isEmpty, "\(step): \(report.failed) \(report.notes); \(fabric.log())")
            return report
        }

        // 1. Three tenants: across hosts 0-1, on host 2, and across the two leaves (hosts 3-8, one VM each).
        let a = try op.create(ClusterSpec(tenant: "a", vms: 3, vcores: 4, memoryGiB: 1, kind: .hpc, pinning: .fixed))
        let b = try op.create(ClusterSpec(tenant: "b", vms: 1, vcores: 8, memoryGiB: 1, kind: .hpc, pinning: .fixed))
        let c = try op.create(ClusterSpec(tenant: "c", vms: 6, vcores: 8, memoryGiB: 1, kind: .hpc, pinning: .fixed))
        #expect(a.vms.map(\.host) == [0, 0, 1] && b.vms.map(\.host) == [2] && c.vms.map(\.host) == [3, 4, 5, 6, 7, 8])
        #expect(try apply("create").converged, "one apply converges although OpenSM re-reads asynchronously")
        try check(fabric, op, "create")

        // 2. Resize: a grows onto host 1 and 9, c shrinks off the second leaf's last two hosts.
        #expect(try op.resize(id: a.clusterID!, by: 2, policy: nil).vms.map(\.host) == [1, 9])
        #expect(try op.resize(id: c.clusterID!, by: -2, policy: nil).vms.map(\.host) == [7, 8])
        #expect(try apply("resize").converged)
        try check(fabric, op, "resize")

        // 3. Delete b: its pkey leaves host 2's port and its leaf port.
        _ = try op.delete(id: b.clusterID!)
        #expect(try apply("delete").converged)
        try check(fabric, op, "delete")

        // 4. Host 9 is unreachable while a is deleted: host 9 keeps a's partition until it detached; the others go on.
        fabric.fakes[9].unreachable = true
        _ = try op.delete(id: a.clusterID!)
        let d = try op.create(ClusterSpec(tenant: "d", vms: 2, vcores: 8, memoryGiB: 1, kind: .hpc, pinning: .fixed))
        #expect(d.pkey != a.pkey, "a's pkey is quarantined")
        let partial = try op.apply(wait: 20)
        #expect(partial.unreachable.map(\.hostName) == ["host9"] && !partial.converged)
        fabric.fakes[9].unreachable = false
        #expect(try apply("unreachable host back").converged)
        try check(fabric, op, "unreachable host back")

        // 5. OpenSM restarts: it programs the same tables from the same file.
        fabric.stopSM()
        try fabric.startSM()
        Thread.sleep(forTimeInterval: 1)
        try check(fabric, op, "SM restart")
        #expect(try op.plan().changes.isEmpty)

        // 6. Host 3 reboots: its VFs come back on the full default key; reconcile (at boot) isolates them again.
        fabric.models[3].boot()
        #expect(fabric.models[3].map(vf: 0)[0] == "0")
        #expect(try op.apply(only: [3], manageSubnet: false, wait: 20).converged)
        try check(fabric, op, "host reboot")
    }
}
