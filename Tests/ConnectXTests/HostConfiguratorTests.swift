import CloudModel
import ConnectX
import Foundation
import Testing
import TestSupport

@Suite struct FakeSysfsRulesTests {
    func sysfs() -> FakeSysfs {
        let fake = FakeSysfs()
        fake.addMLX4(vfs: 4, pkeys: [0xffff, 0x8001])
        fake.addMLX5(vfs: 0, totalVFs: 8)
        return fake
    }

    func errno(_ body: () throws -> Void) -> Int32? {
        do { try body() } catch let error as SysfsError { return error.errno } catch { return nil }
        return nil
    }

    @Test func theKernelsRulesHold() {
        let fake = sysfs()
        let numVFs = "/sys/bus/pci/devices/0000:81:00.0/sriov_numvfs"
        #expect(errno { try fake.write(numVFs, "9") } == ERANGE)
        #expect(errno { try fake.write(numVFs, "4") } == nil)
        #expect(errno { try fake.write(numVFs, "6") } == EBUSY)
        #expect(errno { try fake.write(numVFs, "0") } == nil && errno { try fake.write(numVFs, "6") } == nil)
        #expect(errno { try fake.write("/sys/bus/pci/devices/0000:04:00.0/sriov_numvfs", "4") } == ENOENT)
        let pkeyIndex = "/sys/class/infiniband/mlx4_0/iov/0000:04:00.1/ports/1/pkey_idx/0"
        #expect(errno { try fake.write(pkeyIndex, "16") } == EINVAL)
        #expect(errno { try fake.write(pkeyIndex, "15") } == nil && errno { try fake.write(pkeyIndex, "none") } == nil)
        #expect(errno { try fake.write("/sys/class/infiniband/mlx4_0/iov/ports/1/admin_guids/0", "0x1") } == EACCES)
        #expect(errno { try fake.write("/sys/class/infiniband/mlx4_0/iov/ports/1/pkeys/1", "0x8002") } == EACCES)
        #expect(errno { try fake.write("/sys/bus/pci/devices/0000:81:00.0/sriov/0/policy", "Sideways") } == EINVAL)
    }

    @Test func anErrorNamesThePathTheValueAndTheErrnoInWords() {
        let error = SysfsError("write", path: "/sys/x/sriov_numvfs", value: "6", errno: EBUSY)
        #expect(error.description == "write '6' to /sys/x/sriov_numvfs: EBUSY (Device or resource busy)")
    }
}

@Suite struct HostConfiguratorTests {
    func discovered(_ fake: FakeSysfs) throws -> [String: HCADevice] {
        Dictionary(uniqueKeysWithValues: try SysfsDiscovery(sysfs: fake).devices().map { ($0.name, $0) })
    }

    @Test func discoveryReadsBothFamiliesAndMapsProfiles() throws {
        let fake = FakeSysfs()
        fake.addMLX4(vfs: 2, pkeys: [0xffff, 0x8001])
        fake.addMLX5(vfs: 3)
        let devices = try discovered(fake)
        let mlx4 = try #require(devices["mlx4_0"]), mlx5 = try #require(devices["mlx5_0"])
        #expect(mlx4.driver == .mlx4 && mlx4.numVFs == nil && mlx4.totalVFs == 63 && mlx4.vfAddresses == ["0000:04:00.1", "0000:04:00.2"])
        #expect(mlx4.nodeGUID == 0x0002_c903_00a1_b2c0 && mlx4.ports[0].state == "ACTIVE" && mlx4.ports[0].lid == 2)
        #expect(Array(mlx4.ports[0].pkeys.prefix(3)) == [0xffff, 0x8001, 0])
        #expect(mlx5.driver == .mlx5 && mlx5.numVFs == 3 && mlx5.vfAddresses.count == 3)
        let catalog = try Fixtures.catalog()
        #expect(mlx4.profile(in: catalog)?.name == "connectx-3" && mlx5.profile(in: catalog)?.name == "connectx-6")
    }

    @Test func mlx4MapsTheClusterPKeyAndUnmapsTheRest() throws {
        let fake = FakeSysfs()
        fake.addMLX4(vfs: 4, pkeys: [0xffff, 0x8001, 0x8005])
        let host = HostConfigurator(sysfs: fake, device: try #require(try discovered(fake)["mlx4_0"]))
        #expect(try host.setVFCount(4) == "options mlx4_core num_vfs=4 probe_vf=0")
        #expect(!fake.writes.contains { $0.path.hasSuffix("sriov_numvfs") }, "mlx4 VF counts never go through sysfs")
        try host.setAliasGUID(vf: 2, guid: 0x0002_c903_00a1_b2c8)
        #expect(fake.value("/sys/class/infiniband/mlx4_0/iov/ports/1/admin_guids/3") == "0x0002c90300a1b2c8")
        let index = try #require(try host.physicalIndex(of: 0x0005))
        #expect(index == 2)
        try host.mapOnly(vf: 2, physicalIndex: index)
        #expect(try host.pkeyMap(vf: 2) == ["2"] + Array(repeating: "none", count: 15))
        #expect(try host.pkeyMap(vf: 1) == ["0"] + Array(repeating: "none", count: 15), "other VFs untouched")
        try host.unmapAll(vf: 2)
        #expect(try host.pkeyMap(vf: 2) == Array(repeating: "none", count: 16))
        #expect(try host.physicalIndex(of: 0x0009) == nil)
    }

    @Test func mlx5SetsTheVFCountThroughZeroAndTheVFGUIDs() throws {
        let fake = FakeSysfs()
        fake.addMLX5(vfs: 4, totalVFs: 8)
        let host = HostConfigurator(sysfs: fake, device: try #require(try discovered(fake)["mlx5_0"]))
        #expect(try host.setVFCount(6) == nil)
        #expect(fake.writes.map(\.value) == ["0", "6"])
        #expect(try host.setVFCount(6) == nil && fake.writes.count == 2, "no write when already right")
        try host.setVF(vf: 5, nodeGUID: 0x1122_3344_5566_7788, portGUID: 0x1122_3344_5566_7789, policy: "Follow")
        let settings = try host.vfSettings(vf: 5)
        #expect(settings.node == "11:22:33:44:55:66:77:88" && settings.port == "11:22:33:44:55:66:77:89" && settings.policy == "Follow")
        #expect(throws: SysfsError.self) { try host.setVFCount(9) }
    }
}
