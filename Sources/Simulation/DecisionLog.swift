import Allocation
import CloudModel
import Foundation

/// One processed event: the decision log's row (SEMANTICS 8) and the results
/// database's input, one typed value for both. Built only when a run records.
public struct DecisionRow: Equatable, Sendable {
    /// `start` and `expire` occur only with a queue (scenario `admission:`):
    /// a queued request starting, or giving up after its maximum wait; `migrate`
    /// only with a migration policy (scenario `migration:`): one VM moved, the row
    /// listing the host of every VM of its cluster afterwards.
    public enum Event: String, Sendable { case arrive, resize, depart, start, expire, migrate }
    /// `queued`: an arrival that waits for room (queue mode only).
    public enum Outcome: String, Sendable { case accepted, rejected, done, ignored, queued }

    public var time: Nanoseconds
    public var id: Int64
    public var event: Event
    public var outcome: Outcome
    public var reason: RejectionReason?
    /// Each VM placed by this event, in VM order: its host and VF.
    public var vms: [PlacedVM]
    public var pkey: PartitionKey?
    /// The request, on every row but a resize's.
    public var request: ClusterRequest?
    /// The overhead model's efficiency for a cluster this row starts (not in the CSV).
    public var efficiency: Double?
    /// Distinct hosts of a cluster this row starts (not in the CSV).
    public var span: Int?

    public init(time: Nanoseconds, id: Int64, event: Event, outcome: Outcome, reason: RejectionReason? = nil,
                vms: [PlacedVM] = [], pkey: PartitionKey? = nil, request: ClusterRequest? = nil) {
        self.time = time
        self.id = id
        self.event = event
        self.outcome = outcome
        self.reason = reason
        self.vms = vms
        self.pkey = pkey
        self.request = request
    }

    /// Host of each VM placed by this event, in VM order.
    public var hosts: [Int] { vms.map { $0.host } }  // a closure: a key path across modules is projected at run time

    public static let header = "time,id,event,outcome,reason,hosts,pkey"

    /// `time,id,event,outcome,reason,hosts,pkey` with time in seconds to 6 decimals.
    public var csvLine: String {
        var bytes: [UInt8] = []
        appendCSV(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the CSV line (no newline) as bytes: the log writer's hot path builds no Strings.
    public func appendCSV(to out: inout [UInt8]) {
        let comma = UInt8(ascii: ",")
        Units.appendSeconds(time, to: &out)
        out.append(comma)
        Units.appendDecimal(id, to: &out)
        out.append(comma)
        out.append(contentsOf: event.rawValue.utf8)
        out.append(comma)
        out.append(contentsOf: outcome.rawValue.utf8)
        out.append(comma)
        if let reason { out.append(contentsOf: reason.rawValue.utf8) }
        out.append(comma)
        Self.appendHosts(vms, to: &out)
        out.append(comma)
        pkey?.appendHex(to: &out)
    }

    /// The `hosts` field: each VM's host in VM order, `;`-separated (also the results database's).
    public static func appendHosts(_ vms: [PlacedVM], to out: inout [UInt8]) {
        for (i, vm) in vms.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ";")) }
            Units.appendDecimal(Int64(vm.host), to: &out)
        }
    }
}

/// Writes the decision log to a file (atomically: a temp file fsynced and
/// renamed over the old one on `finish`), to standard output, or into a
/// device or FIFO such as `/dev/null` (in place), buffered.
/// A failed write (a full disk, a closed pipe) stops the writing and is
/// thrown by `finish`: a log is never reported written when it is not.
public final class DecisionLogWriter {
    private let fd: Int32
    private let finalPath: String?
    private let tempPath: String?
    /// What `write` errors name: the file, or standard output.
    private let name: String
    private var buffer: [UInt8] = []
    private var failure: WriteError?
    private var closed = false
    /// A device or FIFO opened here, closed by `finish`.
    private let ownsStream: Bool

    /// - Parameter path: a file path, or `-` for standard output.
    public init(path: String) throws {
        ownsStream = path != "-" && DurableFile.isStream(path)
        if path == "-" {
            fd = STDOUT_FILENO
            finalPath = nil
            tempPath = nil
            name = "standard output"
        } else if ownsStream {
            let opened = open(path, O_WRONLY | O_CLOEXEC)
            guard opened >= 0 else { throw WriteError(path: path, errno: errno) }
            fd = opened
            finalPath = nil
            tempPath = nil
            name = path
        } else {
            let target = DurableFile.replacedFile(path)
            let temp = target + ".tmp-\(getpid())"
            let opened = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard opened >= 0 else { throw WriteError(path: path, errno: errno) }
            fd = opened
            finalPath = target
            tempPath = temp
            name = path
        }
        buffer.reserveCapacity(1 << 16)
        append(DecisionRow.header)
    }

    public func write(_ row: DecisionRow) {
        row.appendCSV(to: &buffer)
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= 1 << 16 { flush() }
    }

    /// Flushes, syncs and moves the file into place; throws the first failed write.
    public func finish() throws {
        flush()
        if let failure {
            abandon()
            throw failure
        }
        guard let finalPath, let tempPath else {
            if ownsStream && !closed {
                closed = true
                close(fd)
            }
            return
        }
        guard fsync(fd) == 0 else {
            let failure = WriteError(path: name, errno: errno)
            abandon()
            throw failure
        }
        close(fd)
        closed = true
        guard rename(tempPath, finalPath) == 0 else {
            let code = errno
            unlink(tempPath)
            throw WriteError(path: name, errno: code)
        }
        DurableFile.syncDirectory(of: finalPath)
    }

    /// Removes the temp file of an unfinished log.
    public func abandon() {
        if ownsStream && !closed {
            closed = true
            close(fd)
        }
        guard let tempPath, !closed else { return }
        closed = true
        close(fd)
        unlink(tempPath)
    }

    private func append(_ line: String) {
        buffer.append(contentsOf: line.utf8)
        buffer.append(UInt8(ascii: "\n"))
    }

    private func flush() {
        defer { buffer.removeAll(keepingCapacity: true) }
        guard failure == nil, !buffer.isEmpty else { return }
        do { try DurableFile.writeAll(fd, buffer, path: name) } catch { failure = error }
    }
}
