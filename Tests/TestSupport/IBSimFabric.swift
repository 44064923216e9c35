import Foundation
import Testing

/// A simulated InfiniBand fabric with the real subnet manager, for the tests:
/// Debian's ibsim runs the topology, and the real OpenSM 3.3 runs on it under
/// libumad2sim with `allow_both_pkeys` (hypervisor ports hold the limited
/// default key too), started from a site partitions.conf. Each fabric has its
/// own ibsim socket (ibsim and libumad2sim both read IBSIM_SOCKNAME), so
/// fabric tests may run at once. Everything lives in a scratch directory.
public final class IBSimFabric {
    public static let umad2sim = "/usr/lib/x86_64-linux-gnu/umad2sim/libumad2sim.so"
    public static let tools = ["/usr/bin/ibsim", "/usr/sbin/opensm", "/usr/sbin/smpquery", umad2sim]

    public let dir: String
    /// For every process that talks to the fabric (OpenSM, smpquery).
    public let environment: [String: String]
    public private(set) var ibsim: pid_t = 0
    public private(set) var opensm: pid_t = 0

    public init(name: String, topology: String, sitePartitions: String) throws {
        for tool in Self.tools {
            try #require(FileManager.default.fileExists(atPath: tool), "\(tool) is missing: make test installs opensm, ibsim-utils, libumad2sim0, infiniband-diags")
        }
        dir = try Fixtures.scratchDirectory(name)
        try FileManager.default.createDirectory(atPath: dir + "/osm", withIntermediateDirectories: true)
        environment = ["LD_PRELOAD": Self.umad2sim, "OSM_TMP_DIR": dir + "/osm", "OSM_CACHE_DIR": dir + "/osm",
                       "IBSIM_SOCKNAME": "hpccloud-" + UUID().uuidString.prefix(8)]
        try topology.write(toFile: dir + "/net", atomically: true, encoding: .utf8)
        try sitePartitions.write(toFile: partitions, atomically: true, encoding: .utf8)
    }

    public var partitions: String { dir + "/partitions.conf" }
    /// OpenSM's pid, for a SIGHUP after partitions.conf changes.
    public var pidFile: String { dir + "/opensm.pid" }

    public func start() throws {
        ibsim = try CleanSpawn.spawn("/usr/bin/ibsim", ["-s", dir + "/net"], environment: ["IBSIM_SOCKNAME": environment["IBSIM_SOCKNAME"]!],
                                     output: dir + "/ibsim.log", directory: dir)
        Thread.sleep(forTimeInterval: 1)
        try startSM()
    }

    public func startSM() throws {
        opensm = try CleanSpawn.spawn("/usr/sbin/opensm", ["-P", partitions, "-f", dir + "/opensm.log", "-s", "0", "--allow_both_pkeys"],
                                      environment: environment, output: dir + "/opensm.out", directory: dir)
        try "\(opensm)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        var master = false
        for _ in 0..<80 where !master {
            Thread.sleep(forTimeInterval: 0.25)
            master = ((try? String(contentsOfFile: dir + "/opensm.log", encoding: .utf8)) ?? "").contains("Entering MASTER state")
        }
        try #require(master, "OpenSM never brought the subnet up on ibsim: \(log())")
    }

    /// Stops OpenSM (SIGKILL: as a crash would) and forgets its log, so the next start waits for a fresh MASTER.
    public func stopSM(signal: Int32 = SIGTERM) {
        if signal != SIGTERM { kill(opensm, signal) }
        CleanSpawn.stop(opensm)
        try? FileManager.default.removeItem(atPath: dir + "/opensm.log")
    }

    public func stop() {
        if opensm > 0 { CleanSpawn.stop(opensm) }
        if ibsim > 0 { CleanSpawn.stop(ibsim) }
    }

    public func log() -> String { String(((try? String(contentsOfFile: dir + "/opensm.log", encoding: .utf8)) ?? "").suffix(1500)) }

    /// A port's pkey table in index order, as OpenSM programmed it.
    public func pkeys(guid: UInt64, port: Int) throws -> [Int] {
        try SMPQuery.pkeys(guid: guid, port: port, environment: environment, directory: dir)
    }
}
