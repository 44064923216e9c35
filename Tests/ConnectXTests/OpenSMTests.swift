import CloudModel
import ConnectX
import Foundation
import Testing
import TestSupport

/// End to end against a real subnet manager, without hardware: Debian's ibsim
/// simulates a fabric of four hosts and a switch, the real OpenSM runs on it
/// (under libumad2sim) with the partitions.conf that `apply` writes, and each
/// port's pkey table is read back with `smpquery`. The VF side uses the
/// simulated backend; the partitions and the SIGHUP re-sweep are real.
@Suite(.serialized) struct OpenSMTests {
    static let umad2sim = "/usr/lib/x86_64-linux-gnu/umad2sim/libumad2sim.so"
    static let topology = """
    Hca\t1 "host0"
    [1]\t"sw"[1]

    Hca\t1 "host1"
    [1]\t"sw"[2]

    Hca\t1 "host2"
    [1]\t"sw"[3]

    Hca\t1 "host3"
    [1]\t"sw"[4]

    Switch\t8 "sw"
    [1]\t"host0"[1]
    [2]\t"host1"[1]
    [3]\t"host2"[1]
    [4]\t"host3"[1]

    """
    static let scenario = """
    name: ibsim-fabric
    seed: 1
    hosts:
      - { count: 4, cores: 8, memoryGiB: 32, hca: connectx-3, vfs: 7 }
    """
    /// ibsim numbers the CAs' node GUIDs 0x100000, 0x100002, ... in file order; port 1 is node + 1.
    static func nodeGUID(_ host: Int) -> UInt64 { 0x10_0000 + 2 * UInt64(host) }

    /// The tenant pkeys (top bit set: full member) in a port's table, via `smpquery -G pkeys`.
    func tenantPKeys(_ guid: UInt64, environment: [String: String]) throws -> Set<Int> {
        let text = try CleanSpawn.run("/usr/sbin/smpquery", ["-G", "pkeys", String(format: "0x%llx", guid), "1"],
                                      environment: environment, timeout: 20).output
        var keys = Set<Int>()
        for line in text.split(separator: "\n") where line.contains(":") {
            guard !line.contains("ibwarn") else { continue }
            for word in line.split(separator: " ") where word.hasPrefix("0x") {
                if let key = Int(word.dropFirst(2), radix: 16), key != 0, key & 0x7fff != 0x7fff { keys.insert(key) }
            }
        }
        return keys
    }

    /// Polls until every port's tenant pkeys equal `expected` (OpenSM re-sweeps after SIGHUP), or times out.
    func waitForTables(_ expected: [Set<Int>], environment: [String: String]) throws -> [Set<Int>] {
        var seen: [Set<Int>] = []
        for _ in 0..<60 {
            seen = try (0..<4).map { try tenantPKeys(Self.nodeGUID($0) + 1, environment: environment) }
            if seen == expected { return seen }
            Thread.sleep(forTimeInterval: 0.5)
        }
        return seen
    }

    @Test func portsHoldExactlyTheirClustersPKeys() throws {
        for tool in ["/usr/bin/ibsim", "/usr/sbin/opensm", "/usr/sbin/smpquery", Self.umad2sim] {
            try #require(FileManager.default.fileExists(atPath: tool), "\(tool) is missing: `make test` installs ibsim-utils, libumad2sim0, opensm and infiniband-diags")
        }
        let dir = NSTemporaryDirectory() + "hpccloud-opensm-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/osm", withIntermediateDirectories: true)
        try Self.topology.write(toFile: dir + "/net", atomically: true, encoding: .utf8)
        let environment = ["LD_PRELOAD": Self.umad2sim, "OSM_TMP_DIR": dir + "/osm", "OSM_CACHE_DIR": dir + "/osm"]

        // The operator's cloud: the four ibsim CAs as hosts.
        let state = try OperatorState(path: dir + "/state.sqlite")
        let hosts = (0..<4).map { i in
            (name: "host\(i)", root: String?.none,
             device: HCADevice(name: "mlx4_0", driver: .mlx4, pciAddress: "", firmware: "", nodeGUID: Self.nodeGUID(i),
                               systemImageGUID: Self.nodeGUID(i), ports: [], totalVFs: 63, numVFs: nil, vfAddresses: [], vfDeviceID: nil))
        }
        try Operator.initialize(state: state, scenarioYAML: Self.scenario, scenarioFile: dir + "/s.yaml", catalog: try Fixtures.catalog(),
                                discovered: hosts, partitions: dir + "/partitions.conf")
        let pidfile = dir + "/opensm.pid"
        let op = try Operator(state: state, catalog: try Fixtures.catalog(), backend: SimulatedBackend(state: state),
                              reloadSubnetManager: { try SubnetManagerReload.pidFile(pidfile).perform() })
        try AtomicFile.write(op.partitionsText, to: op.partitionsPath)

        let ibsim = try CleanSpawn.spawn("/usr/bin/ibsim", ["-s", dir + "/net"], output: dir + "/ibsim.log")
        defer { CleanSpawn.stop(ibsim) }
        Thread.sleep(forTimeInterval: 1)
        let opensm = try CleanSpawn.spawn("/usr/sbin/opensm", ["-P", op.partitionsPath, "-f", dir + "/opensm.log", "-s", "0"],
                                          environment: environment, output: dir + "/opensm.out")
        defer { CleanSpawn.stop(opensm) }
        try "\(opensm)\n".write(toFile: pidfile, atomically: true, encoding: .utf8)
        var master = false
        for _ in 0..<60 where !master {
            Thread.sleep(forTimeInterval: 0.5)
            master = ((try? String(contentsOfFile: dir + "/opensm.log", encoding: .utf8)) ?? "").contains("Entering MASTER state")
        }
        try #require(master, "OpenSM never became master on ibsim: \((try? String(contentsOfFile: dir + "/opensm.log", encoding: .utf8))?.suffix(800) ?? "")")

        // Three clusters: one across hosts 0 and 1, one on host 2, one with two VMs on host 3.
        let (c1, _) = try op.create(tenant: "a", vms: 2, vcores: 8, memoryGiB: 1, kind: .hpc, pinning: .fixed, policy: nil)
        _ = try op.create(tenant: "b", vms: 1, vcores: 8, memoryGiB: 1, kind: .hpc, pinning: .fixed, policy: nil)
        _ = try op.create(tenant: "c", vms: 2, vcores: 4, memoryGiB: 1, kind: .hpc, pinning: .fixed, policy: nil)
        let pkeys = op.clusters.map { $0.pkey!.value }
        #expect(Set(pkeys).count == 3, "two clusters never share a pkey")
        #expect(try op.apply().failed.isEmpty)
        let expected: [Set<Int>] = [[0x8001], [0x8001], [0x8002], [0x8003]]
        let seen = try waitForTables(expected, environment: environment)
        #expect(seen == expected, "every port holds exactly the pkeys of the clusters with VMs on it: \(seen); \(dir)")

        // Delete the first cluster: after the SIGHUP re-sweep its pkey is gone from hosts 0 and 1.
        _ = try op.delete(id: c1)
        #expect(try op.apply().failed.isEmpty)
        let after: [Set<Int>] = [[], [], [0x8002], [0x8003]]
        #expect(try waitForTables(after, environment: environment) == after, "a deleted cluster's pkey leaves its ports")
    }
}
