import CloudModel
import Foundation

/// GUIDs as the kernel, OpenSM and iproute2 print them.
public enum GUIDFormat {
    /// `0002:c903:0031:8e90` (node_guid, sys_image_guid).
    public static func parseColonQuads(_ text: String) -> UInt64? {
        let hex = text.replacingOccurrences(of: ":", with: "")
        guard hex.count == 16 else { return nil }
        return UInt64(hex, radix: 16)
    }

    public static func colonQuads(_ guid: UInt64) -> String {
        let hex = String(format: "%016llx", guid)
        return stride(from: 0, to: 16, by: 4).map { i in
            String(hex[hex.index(hex.startIndex, offsetBy: i)..<hex.index(hex.startIndex, offsetBy: i + 4)])
        }.joined(separator: ":")
    }

    /// `0x0002c90300318e90` (partitions.conf, our own output).
    public static func hex(_ guid: UInt64) -> String { String(format: "0x%016llx", guid) }

    /// `0x` and 1 to 16 hex digits, as `hex` writes it.
    public static func parse(_ text: String) -> UInt64? {
        guard text.hasPrefix("0x") || text.hasPrefix("0X"), (3...18).contains(text.count) else { return nil }
        return UInt64(text.dropFirst(2), radix: 16)
    }

    /// `00:02:c9:03:00:31:8e:90` (iproute2 `node_guid`/`port_guid`, MLNX_OFED `sriov/<vf>/node`).
    public static func colonBytes(_ guid: UInt64) -> String {
        (0..<8).map { String(format: "%02x", (guid >> (56 - 8 * UInt64($0))) & 0xff) }.joined(separator: ":")
    }

    /// `xx:xx:xx:xx:xx:xx:xx:xx`, as `colonBytes` writes it.
    public static func parseColonBytes(_ text: String) -> UInt64? {
        let bytes = text.split(separator: ":", omittingEmptySubsequences: false)
        guard bytes.count == 8 else { return nil }
        var value: UInt64 = 0
        for byte in bytes {
            guard byte.count == 2, let b = UInt8(byte, radix: 16) else { return nil }
            value = value << 8 | UInt64(b)
        }
        return value
    }
}

/// How a port is a member of a partition (partition-config.txt).
public enum MemberType: String, Sendable, Codable {
    case full, limited, both
}

/// One partition statement of an OpenSM partitions.conf, as far as the
/// operator needs it: its name, pkey, flags and members.
public struct PartitionStatement: Equatable, Sendable {
    /// A GUID or a keyword (`ALL`, `ALL_CAS`, `SELF`, ...), with its membership (nil: the partition's default).
    public struct Member: Equatable, Sendable {
        public var name: String
        public var type: MemberType?
    }

    public var name: String
    public var pkey: Int?
    public var flags: [String]
    public var members: [Member]
    /// 1-based line where the statement starts.
    public var line: Int

    /// The partition's default membership (`defmember=`), limited when absent.
    public var defaultMember: MemberType {
        for flag in flags where flag.hasPrefix("defmember=") {
            if let type = MemberType(rawValue: String(flag.dropFirst("defmember=".count))) { return type }
        }
        return .limited
    }

    public var isDefault: Bool { pkey.map { $0 & 0x7fff == 0x7fff } ?? false || name == "Default" }
}

/// OpenSM's `partitions.conf` shared with the site: hpccloud owns one managed
/// block and never touches a byte outside it.
public struct PartitionsConfig: Equatable, Sendable {
    public static let begin = "# BEGIN hpccloud managed block: written by hpccloud from its state database; edit outside it only"
    public static let end = "# END hpccloud managed block"

    /// The file before the block, and after it (byte for byte).
    public var before: String
    public var after: String
    /// The block's lines between the markers, nil when the file has none.
    public var managed: String?

    public init(text: String?) throws {
        let text = text ?? ""
        guard let start = text.range(of: Self.begin + "\n") else {
            guard !text.contains(Self.end) else { throw OperatorError("partitions.conf has '\(Self.end)' without its begin marker", kind: .environment) }
            before = text
            after = ""
            managed = nil
            return
        }
        guard let stop = text.range(of: Self.end + "\n", range: start.upperBound..<text.endIndex) else {
            throw OperatorError("partitions.conf: the hpccloud managed block has no end marker ('\(Self.end)'); restore it by hand", kind: .environment)
        }
        before = String(text[..<start.lowerBound])
        managed = String(text[start.upperBound..<stop.lowerBound])
        after = String(text[stop.upperBound...])
    }

    /// The site's own lines: everything outside the managed block.
    public var siteText: String { before + after }

    /// The whole file with `block` as the managed block (appended at the end the first time).
    public func replacingManagedBlock(with block: String) -> String {
        var head = before
        if managed == nil && !head.isEmpty && !head.hasSuffix("\n") { head += "\n" }
        return head + Self.begin + "\n" + block + Self.end + "\n" + after
    }

    /// Parses statements (comments from `#` to the end of the line; statements end at `;`).
    /// Lenient: it reads what OpenSM would, and leaves judging syntax to OpenSM.
    public static func parse(_ text: String) -> [PartitionStatement] {
        var statements: [PartitionStatement] = []
        var current = ""
        var started = false
        var startLine = 1
        var line = 1
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {  // "\r\n" is one Character
            let content = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            for ch in content {
                if ch == ";" {
                    if let statement = statement(current, line: startLine) { statements.append(statement) }
                    current = ""
                    started = false
                    continue
                }
                if !started && !ch.isWhitespace {
                    started = true
                    startLine = line
                }
                current.append(ch)
            }
            current.append(" ")
            line += 1
        }
        return statements
    }

    static func statement(_ text: String, line: Int) -> PartitionStatement? {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let header = parts[0].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let first = header.first, !first.isEmpty else { return nil }
        let nameAndKey = first.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        var pkey: Int?
        if nameAndKey.count == 2 { pkey = parseNumber(nameAndKey[1]) }
        // A name that starts with a digit is read as the pkey itself.
        else if let digit = nameAndKey[0].first, digit.isNumber { pkey = parseNumber(nameAndKey[0]) }
        var members: [PartitionStatement.Member] = []
        if parts.count == 2 {
            for item in parts[1].split(separator: ",") {
                let pieces = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard let member = pieces.first, !member.isEmpty else { continue }
                members.append(.init(name: member, type: pieces.count == 2 ? MemberType(rawValue: pieces[1]) : nil))
            }
        }
        return PartitionStatement(name: nameAndKey[0], pkey: pkey.map { $0 & 0x7fff }, flags: Array(header.dropFirst()),
                                  members: members, line: line)
    }

    static func parseNumber(_ text: String) -> Int? {
        let t = text.lowercased()
        return t.hasPrefix("0x") ? Int(t.dropFirst(2), radix: 16) : Int(t)
    }
}

/// Files the operator writes whole: never half-written, even on a crash.
public enum AtomicFile {
    /// Writes atomically (`DurableFile`), as an operator error naming the file.
    public static func write(_ text: String, to path: String) throws {
        do { try DurableFile.write(text, to: path) } catch { throw OperatorError(error.description, kind: .environment) }
    }
}

/// How OpenSM is told to re-read its partitions.
public enum SubnetManagerReload: Equatable, Sendable {
    case none
    /// SIGHUP to the pid in this file (OpenSM re-reads partitions.conf on its next heavy sweep).
    case pidFile(String)
    /// A configured shell command.
    case command(String)

    public func perform() throws {
        switch self {
        case .none:
            return
        case .pidFile(let path):
            let text = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            guard let pid = Int32(text), pid > 0 else {
                throw OperatorError("subnet manager reload: no pid in \(path)", kind: .environment)
            }
            guard kill(pid, SIGHUP) == 0 else {
                throw OperatorError("subnet manager reload: SIGHUP to pid \(pid) (from \(path)): \(String(cString: strerror(errno)))", kind: .environment)
            }
        case .command(let command):
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", command]
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw OperatorError("subnet manager reload: '\(command)' exited \(process.terminationStatus)", kind: .environment)
            }
        }
    }
}
