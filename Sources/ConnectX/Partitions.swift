import Foundation

/// One tenant partition as OpenSM should hold it.
public struct Partition: Equatable, Sendable {
    public var name: String
    public var pkey: Int
    /// Port (or alias) GUIDs of the hosts where the cluster has VMs: full members.
    public var members: [UInt64]

    public init(name: String, pkey: Int, members: [UInt64]) {
        self.name = name
        self.pkey = pkey
        self.members = members
    }
}

/// OpenSM's `partitions.conf` (linux-rdma/opensm doc/partition-config.txt):
/// the default partition, then one partition per cluster with its members as
/// full members.
public enum PartitionsFile {
    public static let header = "# partitions.conf written by hpccloud from the allocation engine's state: do not edit.\n"

    public static func render(_ partitions: [Partition]) -> String {
        var text = header + "Default=0x7fff, ipoib : ALL=full ;\n"
        for partition in partitions.sorted(by: { $0.pkey < $1.pkey }) {
            let members = partition.members.sorted().map { GUIDFormat.hex($0) + "=full" }
            text += "\(partition.name)=\(String(format: "0x%04x", partition.pkey)) : \(members.joined(separator: ", ")) ;\n"
        }
        return text
    }

}

/// Files the backend writes whole: never half-written, even on a crash.
public enum AtomicFile {
    /// Writes atomically: a temp file in the same directory, fsync, rename.
    public static func write(_ text: String, to path: String) throws {
        let temp = path + ".tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw SysfsError("create", path: temp, errno: errno) }
        let bytes = Array(text.utf8)
        let written = bytes.isEmpty ? 0 : Foundation.write(fd, bytes, bytes.count)
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0 else {
            unlink(temp)
            throw SysfsError("write", path: temp, errno: errno)
        }
        guard rename(temp, path) == 0 else {
            unlink(temp)
            throw SysfsError("rename to \(path)", path: temp, errno: errno)
        }
    }
}

/// How OpenSM is told to re-read its partitions.
public enum SubnetManagerReload: Equatable, Sendable {
    case none
    /// SIGHUP to the pid in this file (OpenSM re-sweeps and re-reads partitions.conf).
    case pidFile(String)
    /// A configured shell command.
    case command(String)

    public func perform() throws {
        switch self {
        case .none:
            return
        case .pidFile(let path):
            let text = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            guard let pid = Int32(text), pid > 0 else { throw SysfsError("read a pid from", path: path, errno: ENOENT) }
            guard kill(pid, SIGHUP) == 0 else { throw SysfsError("SIGHUP pid \(pid) from", path: path, errno: errno) }
        case .command(let command):
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", command]
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw SysfsError("run the reload command (exit \(process.terminationStatus))", path: command, errno: EIO)
            }
        }
    }
}
