import Foundation

/// A sysfs write or read that the kernel refused: the path, the value and the
/// errno, in words ("... EBUSY (Device or resource busy)").
public struct SysfsError: Error, CustomStringConvertible, Equatable, Sendable {
    public var operation: String
    public var path: String
    public var value: String?
    public var errno: Int32

    public init(_ operation: String, path: String, value: String? = nil, errno: Int32) {
        self.operation = operation
        self.path = path
        self.value = value
        self.errno = errno
    }

    public var description: String {
        let what = value.map { "\(operation) '\($0)' to \(path)" } ?? "\(operation) \(path)"
        return "\(what): \(Self.name(errno)) (\(String(cString: strerror(errno))))"
    }

    static func name(_ code: Int32) -> String {
        switch code {
        case EPERM: "EPERM"
        case ENOENT: "ENOENT"
        case EIO: "EIO"
        case EACCES: "EACCES"
        case EBUSY: "EBUSY"
        case EINVAL: "EINVAL"
        case ERANGE: "ERANGE"
        case ENOSPC: "ENOSPC"
        case ENODEV: "ENODEV"
        default: "errno \(code)"
        }
    }
}

/// The files the backend reads and writes: the kernel's sysfs, or a test's fake tree.
public protocol SysfsAccess: AnyObject {
    /// The file's contents without the trailing newline.
    func read(_ path: String) throws -> String
    func write(_ path: String, _ value: String) throws
    /// Entry names in a directory, sorted.
    func list(_ path: String) throws -> [String]
    /// The last path component a symlink points to (`driver` -> `mlx4_core`).
    func linkTarget(_ path: String) throws -> String
    func exists(_ path: String) -> Bool
}

extension SysfsAccess {
    /// Writes, then reads back: a value the kernel did not keep is an error too.
    /// - Parameter matches: how the read-back compares (the kernel may print a value in another format than it parses).
    public func writeChecked(_ path: String, _ value: String, matches: ((String) -> Bool)? = nil) throws {
        try write(path, value)
        let back = try read(path)
        guard matches?(back) ?? (back == value) else {
            throw SysfsError("wrote '\(value)' but read back '\(back)' from", path: path, errno: EIO)
        }
    }
}

/// The real sysfs (or a copy of one) under `root`, through POSIX calls so that
/// the kernel's errno reaches the operator unchanged.
public final class DirectorySysfs: SysfsAccess {
    public let root: String

    /// - Parameter root: `/` for the running kernel, or a directory holding a `sys/` tree.
    public init(root: String = "/") { self.root = root.hasSuffix("/") ? String(root.dropLast()) : root }

    func full(_ path: String) -> String { root + path }

    public func read(_ path: String) throws -> String {
        let fd = open(full(path), O_RDONLY)
        guard fd >= 0 else { throw SysfsError("read", path: path, errno: errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = Foundation.read(fd, &buffer, buffer.count)
            if n < 0 { throw SysfsError("read", path: path, errno: errno) }
            if n == 0 { break }
            bytes += buffer[..<n]
        }
        var text = String(decoding: bytes, as: UTF8.self)
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    public func write(_ path: String, _ value: String) throws {
        // sysfs takes one write(2) per value; O_TRUNC matters only for a plain-file copy.
        let fd = open(full(path), O_WRONLY | O_TRUNC)
        guard fd >= 0 else { throw SysfsError("write", path: path, value: value, errno: errno) }
        defer { close(fd) }
        let bytes = Array((value + "\n").utf8)
        let n = Foundation.write(fd, bytes, bytes.count)
        guard n == bytes.count else { throw SysfsError("write", path: path, value: value, errno: n < 0 ? errno : EIO) }
    }

    public func list(_ path: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: full(path)).sorted()
        } catch {
            throw SysfsError("list", path: path, errno: ENOENT)
        }
    }

    public func linkTarget(_ path: String) throws -> String {
        do {
            return URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: full(path))).lastPathComponent
        } catch {
            throw SysfsError("readlink", path: path, errno: ENOENT)
        }
    }

    public func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: full(path)) }
}
