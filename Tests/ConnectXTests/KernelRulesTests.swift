import ConnectX
import Foundation
import Operations
import Testing
import TestSupport

/// The fake sysfs must refuse and accept exactly what the kernel does, or the
/// backend's tests prove nothing: each expectation names the kernel line.
@Suite struct KernelRulesTests {
    func errno(_ body: () throws -> Void) -> Int32? {
        do { try body() } catch let error as SysfsError { return error.errno } catch { return -1 }
        return nil
    }

    @Test func sriovNumVFsFollowsDriversPCIIov() {
        let fake = FakeSysfs()
        fake.addMLX4(vfs: 4)
        fake.addMLX5(vfs: 0, totalVFs: 8)
        let mlx5 = "/sys/bus/pci/devices/0000:81:00.0/sriov_numvfs"
        #expect(errno { try fake.write(mlx5, "x") } == EINVAL)       // iov.c: kstrtou16 fails
        #expect(errno { try fake.write(mlx5, "9") } == ERANGE)       // above sriov_totalvfs
        #expect(errno { try fake.write(mlx5, "0x4") } == nil)        // base 0: hex is a number
        #expect(errno { try fake.write(mlx5, "4") } == nil)          // the current value: a no-op
        #expect(errno { try fake.write(mlx5, "6") } == EBUSY)        // non-zero over non-zero
        #expect(errno { try fake.write(mlx5, "0") } == nil && errno { try fake.write(mlx5, "6") } == nil)
        let mlx4 = "/sys/bus/pci/devices/0000:04:00.0/sriov_numvfs"
        #expect(fake.value(mlx4) == "4", "shown on every SR-IOV PF, mlx4 included (iov.c:554-568)")
        #expect(errno { try fake.write(mlx4, "4") } == nil)
        #expect(errno { try fake.write(mlx4, "5") } == ENOENT, "mlx4 has no sriov_configure")
        #expect(errno { try fake.write(mlx4, "64") } == ERANGE)
    }

    @Test func mlx4AdminGUIDsFollowHwMlx4Sysfs() {
        let fake = FakeSysfs()
        let model = fake.addMLX4(vfs: 2)
        // A VF's default alias GUID is random, locally administered and unicast (mlx4/main.c:2709-2722).
        #expect(model.aliasGUID(vf: 1, port: 1) >> 56 & 0x3 == 0x2)
        let dir = "/sys/class/infiniband/mlx4_0/iov/ports/1/admin_guids"
        #expect(fake.value(dir + "/0") == "2c90300a1b2c1", "%llx: no 0x, no padding (sysfs.c:59); entry 0 is the PF's port GUID")
        #expect(errno { try fake.write(dir + "/0", "0x1234") } == nil && fake.value(dir + "/0") == "2c90300a1b2c1",
                "entry 0 is read-only, yet the write succeeds (sysfs.c:83-85)")
        #expect(errno { try fake.write(dir + "/1", "0x0200000000000001") } == nil && fake.value(dir + "/1") == "200000000000001")
        #expect(errno { try fake.write(dir + "/1", "ffffffffffffffff") } == nil && fake.value(dir + "/1") == "ffffffffffffffff", "all ones deletes (sysfs.c:62-67)")
        #expect(errno { try fake.write(dir + "/2", "zz") } == nil && fake.value(dir + "/2") == "0", "the scan is unchecked (sysfs.c:88)")
    }

    @Test func mlx4PKeyIndexFollowsHwMlx4Sysfs() {
        let fake = FakeSysfs()
        let model = fake.addMLX4(vfs: 2, physicalLength: 16, pkeys: [0xffff, 0x8001])
        let vf = "/sys/class/infiniband/mlx4_0/iov/0000:04:00.1/ports/1/pkey_idx"
        let entries = (try? fake.list(vf)) ?? []
        #expect(entries.count == 15, "physical length - 1 entries (sysfs.c:641-645, mlx4/main.c:2139-2151)")
        #expect(fake.value(vf + "/0") == "0" && fake.value(vf + "/1") == "none", "a VF starts on the full default key (hw/mlx4/main.c:2405-2408)")
        #expect(errno { try fake.write(vf + "/1", "0x1") } == nil && fake.value(vf + "/1") == "1", "%i takes hex (sysfs.c:468)")
        #expect(errno { try fake.write(vf + "/1", "NOPE") } == nil && fake.value(vf + "/1") == "none", "any 'no' prefix unmaps (sysfs.c:466-467)")
        #expect(errno { try fake.write(vf + "/1", "15") } == EINVAL, "at most physical length - 2 (sysfs.c:468-471)")
        #expect(errno { try fake.write(vf + "/1", "-1") } == EINVAL)
        #expect(errno { try fake.write(vf + "/1", "010") } == nil && fake.value(vf + "/1") == "8", "a leading 0 is octal")
        #expect(errno { try fake.write("/sys/class/infiniband/mlx4_0/iov/0000:04:00.0/ports/1/pkey_idx/1", "1") } == EINVAL,
                "the PF's own tree refuses (sysfs.c:463-464)")
        #expect(fake.value("/sys/class/infiniband/mlx4_0/iov/0000:04:00.2/ports/1/gid_idx/0") == "2", "gid_idx shows the slave (sysfs.c:486-490)")
        #expect(model.events[1] == 3, "each write is a pkey-change event to the VF (sysfs.c:476-481)")
        #expect(fake.value("/sys/class/infiniband/mlx4_0/iov/ports/1/pkeys/1") == "0x8001")
        #expect((try? fake.list("/sys/class/infiniband/mlx4_0/iov/ports/1/pkeys"))?.count == 15)
    }

    @Test func mlx4FunctionDirectoriesAreDecimal() {
        let fake = FakeSysfs()
        fake.addMLX4(vfs: 12)
        let hca = MLX4Configurator(sysfs: fake, device: try! SysfsDiscovery(sysfs: fake).devices()[0])
        #expect(hca.slaveDirectory(vf: 9).hasSuffix("/iov/0000:04:01.2"), "slave 10: %.2d of 10/8, then 10%8 (sysfs.c:356-364)")
        #expect(fake.exists(hca.slaveDirectory(vf: 9) + "/ports/1/pkey_idx/0"))
    }

    @Test func mlx5OFEDFilesAndDriverBinding() {
        let fake = FakeSysfs()
        let model = fake.addMLX5(vfs: 2, ofed: true)
        let dir = "/sys/bus/pci/devices/0000:81:00.0/sriov/0"
        #expect(errno { try fake.write(dir + "/policy", "Sideways") } == EINVAL)
        #expect(errno { try fake.write(dir + "/node", "00:11") } == EINVAL)
        #expect(errno { try fake.write(dir + "/port", "00:11:22:33:44:55:66:77") } == nil)
        #expect(fake.value(dir + "/port") == "00:00:00:00:00:00:00:00", "`port` shows the live GID until the VF restarts")
        #expect(errno { try fake.write("/sys/bus/pci/drivers/mlx5_core/bind", "0000:81:00.1") } == ENODEV, "already bound")
        #expect(errno { try fake.write("/sys/bus/pci/drivers/mlx5_core/unbind", "0000:81:00.1") } == nil)
        #expect(errno { try fake.write("/sys/bus/pci/drivers/mlx5_core/unbind", "0000:81:00.1") } == ENODEV, "not bound")
        #expect(errno { try fake.write("/sys/bus/pci/drivers/mlx5_core/bind", "0000:81:00.1") } == nil)
        #expect(model.live[0] == 0x0011_2233_4455_6677)
    }

    @Test func rtnetlinkAppliesOnlyTheNodeGUIDOfARequestThatCarriesBoth() throws {
        let fake = FakeSysfs()
        let model = fake.addMLX5(vfs: 2)
        let ip = FakeIPLink(model)
        _ = try ip.run(["link", "set", "dev", "ib0", "vf", "0", "node_guid", "02:00:00:00:00:00:00:07", "port_guid", "02:00:00:00:00:00:00:07"])
        #expect(model.node[0] == 0x0200_0000_0000_0007 && model.port[0] == 0, "rtnetlink.c:2592-2611: the node GUID block returns first")
        #expect(throws: OperatorError.self) { try ip.run(["link", "set", "dev", "ib0", "vf", "0", "node_guid", "2:0:0:0:0:0:0:7"]) }
        _ = try ip.run(["link", "set", "dev", "ib0", "vf", "1", "state", "en"])
        #expect(model.policy[1] == "Up", "iproute2 matches() takes a prefix")
        #expect(throws: OperatorError.self) { try ip.run(["link", "set", "dev", "ib0", "vf", "2", "state", "auto"]) }
    }

    /// The real iproute2 on this machine: its JSON for an interface without VFs is read as no VFs.
    @Test func theRealIPPrintsJSONTheBackendReads() throws {
        let ip = IPRoute2()
        try #require(FileManager.default.isExecutableFile(atPath: ip.executable), "iproute2 is missing: `make test` installs it")
        let fake = FakeSysfs()
        fake.addMLX5(vfs: 0)
        var device = try SysfsDiscovery(sysfs: fake).devices()[0]
        device.netdevs = ["lo"]
        let hca = MLX5Configurator(sysfs: fake, device: device, ip: ip)
        #expect(try hca.settings().isEmpty)
        #expect(throws: OperatorError.self) { try ip.run(["-j", "link", "show", "dev", "hpccloud-no-such-if"]) }
    }
}
