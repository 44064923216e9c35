import Foundation

/// A file the tool could not write (a full or read-only disk, a missing
/// directory): one line naming the file and the system's reason. Not the
/// user's input's fault: commands exit 1 on it (bad input exits 2).
public struct WriteError: Error, CustomStringConvertible, Equatable, Sendable {
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public init(path: String, errno code: Int32) {
        self.init(path: path, reason: String(cString: strerror(code)))
    }

    public var description: String { "\(path): cannot write: \(reason)".split(whereSeparator: \.isNewline).joined(separator: " ") }
}

/// Writing files so that what the tool says it wrote is on disk, whole.
public enum DurableFile {
    /// Replaces `path` atomically: a temp file beside it, every byte written
    /// (partial writes and EINTR retried), fsync, rename over the old one
    /// (rename(2) is atomic: a reader sees the old file or the new, never a
    /// mix or nothing), then fsync of the directory so the rename survives a crash.
    /// A device (`/dev/null`, `/dev/stdout`), a FIFO or a socket is written in place instead.
    public static func write(_ bytes: some Collection<UInt8>, to path: String, mode: mode_t = 0o644) throws(WriteError) {
        if isStream(path) {
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw WriteError(path: path, errno: errno) }
            defer { close(fd) }
            try writeAll(fd, Array(bytes), path: path)
            return
        }
        // A symlink stays a link: its target is what gets replaced.
        let target = replacedFile(path)
        let temp = target + ".tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw WriteError(path: path, errno: errno) }
        do throws(WriteError) {
            try writeAll(fd, Array(bytes), path: path)
            guard fsync(fd) == 0 else { throw WriteError(path: path, errno: errno) }
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
        close(fd)
        guard rename(temp, target) == 0 else {
            let code = errno
            unlink(temp)
            throw WriteError(path: path, errno: code)
        }
        syncDirectory(of: target)
    }

    public static func write(_ text: String, to path: String, mode: mode_t = 0o644) throws(WriteError) {
        try write(text.utf8, to: path, mode: mode)
    }

    /// The file a write to `path` replaces: the target of a symlink (the link stays a link,
    /// as a shell's `>` leaves it), else `path` itself.
    public static func replacedFile(_ path: String) -> String {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFLNK else { return path }
        if let resolved = realpath(path, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        // A link to a file not made yet: its destination, relative to the link's directory.
        guard let destination = try? FileManager.default.destinationOfSymbolicLink(atPath: path) else { return path }
        return destination.hasPrefix("/") ? destination
            : URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(destination).path
    }

    /// Whether `path` exists and is a character device, a FIFO or a socket: a
    /// stream to write into, never a file to replace. A rename over `/dev/null`
    /// would put a regular file in its place (as root, for every process).
    public static func isStream(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        let type = info.st_mode & S_IFMT
        return type == S_IFCHR || type == S_IFIFO || type == S_IFSOCK
    }

    /// Writes every byte to `fd`, or throws naming `path`.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(WriteError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw WriteError(path: path, errno: errno)
            }
            offset += n
        }
    }

    /// Creates `path` and its missing parents (mkdir -p); a failure (a read-only
    /// or full disk, a file in the way) names the directory and the reason.
    public static func createDirectory(_ path: String, mode: mode_t = 0o755) throws(WriteError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, mode) != 0 {
                let code = errno
                var status = stat()
                // mkdir(2) reports EEXIST before EROFS for an existing path, so existing parents pass on a read-only disk.
                guard code == EEXIST, stat(prefix, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
                    throw WriteError(path: path, errno: code == EEXIST ? ENOTDIR : code)
                }
            }
            prefix += "/"
        }
    }

    /// fsync of the directory holding `path` (a rename is durable once its directory is).
    public static func syncDirectory(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}
