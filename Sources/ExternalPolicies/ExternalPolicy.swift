import Allocation
import CloudModel
import Foundation

/// A placement policy that is a program: the external policy protocol
/// (`policies/PROTOCOL.md`, version 1). The simulator starts the program, says
/// hello with the host inventory and the run's seed, then asks once per VM for a
/// host among the candidates where the VM fits, in JSON lines on the program's
/// stdin and stdout. The engine's rules stand: the program picks among hosts
/// that fit, or declines, and the engine rejects with its usual reason.
///
/// A protocol error (a malformed answer, a host that is not a candidate, the
/// program gone) makes every later question a decline and is thrown by
/// `finish()`: a run with a failed policy fails, it is never reported.
public final class ExternalPolicy: PlacementPolicy {
    public static let protocolName = "hpccloud-policy"
    public static let protocolVersion = 1
    /// Seconds a program has for each answer (and its hello, at least `startupTimeout`) unless `HPCCLOUD_POLICY_TIMEOUT` says otherwise.
    public static let defaultTimeout = 60.0
    /// The least a program has for its hello.
    public static let startupTimeout = 10.0
    public static let timeoutVariable = "HPCCLOUD_POLICY_TIMEOUT"

    /// `exec:` and the command, as given.
    public let name: String
    /// The name the program said hello with.
    public private(set) var programName = ""
    /// Whether a protocol error ended the conversation (`finish()` throws it).
    public var failed: Bool { failure != nil }
    /// Questions asked so far.
    public private(set) var questions = 0
    private let child: ChildProcess
    private var failure: InputError?
    private let requests: [Int64: (tenant: String, vms: Int)]
    private var message: [UInt8] = []
    /// One decoder for every answer (made once: a question is the hot path of an external run).
    private let decoder = JSONDecoder()
    private var hosts: [Int] = []
    private let timeout: Double
    /// Asked while waiting for an answer: true ends the wait (the run is being interrupted).
    public var interrupted: () -> Bool = { false }
    /// The run was interrupted while the program thought: not the program's failure.
    public private(set) var abandoned = false

    /// Starts the program and exchanges hellos.
    /// - Parameters:
    ///   - requests: each request's tenant and size by id, for the questions.
    /// - Throws: `InputError` naming the policy when the program cannot start or says hello wrongly.
    ///   - environment: `HPCCLOUD_POLICY_TIMEOUT`, seconds per answer (default 60).
    public init(command: [String], cloud: CloudSpec, seed: UInt64, requests: [Int64: (tenant: String, vms: Int)],
                environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        name = PolicyReference.externalPrefix + command.joined(separator: " ")
        self.requests = requests
        if let text = environment[Self.timeoutVariable] {
            guard let seconds = Double(text), seconds.isFinite, seconds > 0 else {
                throw InputError(file: Self.timeoutVariable, message: "expected seconds above 0 for each answer, got '\(text)'")
            }
            timeout = seconds
        } else {
            timeout = Self.defaultTimeout
        }
        do {
            child = try ChildProcess(command: command)
        } catch let error as ChildProcess.Failure {
            throw InputError(file: name, message: error.message)
        }
        message.reserveCapacity(1 << 12)
        send(Self.hello(cloud: cloud, seed: seed))
        // The hello also waits out the program's start-up (an interpreter on a loaded machine takes
        // seconds), so it has at least `startupTimeout` whatever the per-answer timeout.
        guard let answer = receive(step: "hello", timeout: max(timeout, Self.startupTimeout)) else { throw failure! }
        do {
            let hello = try JSONDecoder().decode(Hello.self, from: Data(answer))
            guard hello.type == "hello", hello.version == Self.protocolVersion else {
                throw InputError(file: name, field: "hello",
                                 message: "expected version \(Self.protocolVersion), got \(hello.type) version \(hello.version)")
            }
            programName = hello.name
        } catch let error as InputError {
            child.stop()
            throw error
        } catch {
            child.stop()
            throw InputError(file: name, field: "hello",
                             message: "expected {\"type\":\"hello\",\"version\":1,\"name\":...}, got '\(Self.excerpt(answer))'")
        }
    }

    deinit { child.stop() }

    /// Asks the program for the VM's host.
    /// - Complexity: O(F log H) to list the F candidate hosts, plus the program's time.
    public func chooseHost(for query: PlacementQuery) -> Int? {
        guard failure == nil else { return nil }
        questions += 1
        hosts = query.feasibleHosts()
        encodeQuestion(query)
        send(message)
        guard let answer = receive(step: "answer \(questions)") else { return nil }
        let host: Int?
        do {
            host = try decoder.decode(Answer.self, from: Data(answer)).host
        } catch {
            fail(field: "answer \(questions)", "expected {\"host\": a candidate host or null}, got '\(Self.excerpt(answer))'")
            return nil
        }
        guard let host else { return nil }
        guard binarySearch(hosts, host) else {
            fail(field: "answer \(questions)",
                 "host \(host) is not a candidate for cluster \(query.cluster.id) (\(hosts.count) candidate\(hosts.count == 1 ? "" : "s"))")
            return nil
        }
        return host
    }

    /// Says bye, waits for the program to exit, and throws the first protocol
    /// error or a non-zero exit.
    public func finish() throws {
        if failure == nil { send(Array(#"{"type":"bye"}"#.utf8) + [UInt8(ascii: "\n")]) }
        let status = child.closeAndWait()
        if abandoned { return }
        if let failure { throw failure }
        if let status, status != 0 {
            throw InputError(file: name, message: "the policy program exited with \(status) after the run")
        }
    }

    // MARK: Messages

    private struct Hello: Decodable {
        var type: String
        var version: Int
        var name: String
    }

    /// `{"host": H}` or `{"host": null}`; the key must be there (a missing one is an error, not a decline).
    private struct Answer: Decodable {
        var host: Int?
        enum CodingKeys: CodingKey { case host }
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            guard container.contains(.host) else {
                throw DecodingError.keyNotFound(CodingKeys.host, .init(codingPath: [], debugDescription: "no host"))
            }
            host = try container.decode(Int?.self, forKey: .host)
        }
    }

    static func hello(cloud: CloudSpec, seed: UInt64) -> [UInt8] {
        var out = Array(#"{"type":"hello","protocol":"\#(protocolName)","version":\#(protocolVersion),"seed":\#(seed),"#.utf8)
        out += Array(#""overcommit":[\#(cloud.overcommit.numerator),\#(cloud.overcommit.denominator)],"hosts":["#.utf8)
        var first = true
        for group in cloud.groups where group.count > 0 {
            // The engine's view: tenant pkey entries exclude the default partition's.
            let host = Array("[\(group.cores),\(group.memoryMiB),\(group.vfs),\(group.pkeyTable - 1)]".utf8)
            for _ in 0..<group.count {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                out += host
            }
        }
        out += Array("]}\n".utf8)
        return out
    }

    private func encodeQuestion(_ query: PlacementQuery) {
        let cluster = query.cluster, shape = query.shape
        let request = requests[cluster.id]
        message.removeAll(keepingCapacity: true)
        append(#"{"type":"place","cluster":"#)
        Units.appendDecimal(cluster.id, to: &message)
        append(#","tenant":"#)
        JSONText.appendString(request?.tenant ?? "", to: &message)
        append(#","vms":"#)
        Units.appendDecimal(Int64(request?.vms ?? 0), to: &message)
        append(#","vcores":"#)
        Units.appendDecimal(Int64(shape.vcores), to: &message)
        append(#","memoryMiB":"#)
        Units.appendDecimal(shape.memoryMiB, to: &message)
        append(shape.kind == .hpc ? #","kind":"hpc""# : #","kind":"common""#)
        append(shape.pinning == .fixed ? #","pinning":"fixed""# : #","pinning":"dynamic""#)
        append(#","vm":"#)
        Units.appendDecimal(Int64(cluster.vms.count), to: &message)
        append(#","clusterHosts":["#)
        for (i, host) in cluster.hosts.enumerated() {
            if i > 0 { message.append(UInt8(ascii: ",")) }
            Units.appendDecimal(Int64(host), to: &message)
        }
        append(#"],"candidates":["#)
        for (i, host) in hosts.enumerated() {
            if i > 0 { message.append(UInt8(ascii: ",")) }
            message.append(UInt8(ascii: "["))
            Units.appendDecimal(Int64(host), to: &message)
            message.append(UInt8(ascii: ","))
            Units.appendDecimal(Int64(query.freeCoresAfter(host)), to: &message)
            message.append(UInt8(ascii: ","))
            Units.appendDecimal(query.freeMemoryMiBAfter(host), to: &message)
            message.append(UInt8(ascii: ","))
            Units.appendDecimal(Int64(query.freeVFsAfter(host)), to: &message)
            message.append(UInt8(ascii: "]"))
        }
        append("]}\n")
    }

    private func append(_ text: StaticString) {
        text.withUTF8Buffer { message.append(contentsOf: $0) }
    }

    // MARK: Transport

    private func send(_ bytes: [UInt8]) {
        guard failure == nil else { return }
        if let error = child.write(bytes) { fail(field: nil, "cannot write to the policy program: \(error)") }
    }

    private func receive(step: String, timeout: Double? = nil) -> [UInt8]? {
        guard failure == nil else { return nil }
        let timeout = timeout ?? self.timeout
        switch child.readLine(timeout: timeout, interrupted: interrupted) {
        case .line(let line): return line
        case .timedOut:
            fail(field: step, "no answer within \(timeout.formatted()) s (\(Self.timeoutVariable) sets the seconds allowed)")
        case .interrupted:
            abandoned = true
            fail(field: step, "interrupted while the policy program was answering")
        case .closed(let status):
            fail(field: step, "the policy program " + (status.map { "exited with \($0)" } ?? "closed its output") + " before answering")
        case .error(let error):
            fail(field: step, "cannot read from the policy program: \(error)")
        }
        return nil
    }

    private func fail(field: String?, _ text: String) {
        guard failure == nil else { return }
        failure = InputError(file: name, field: field, message: text)
        child.stop()
    }

    private func binarySearch(_ sorted: [Int], _ value: Int) -> Bool {
        var lo = 0, hi = sorted.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sorted[mid] < value { lo = mid + 1 } else { hi = mid }
        }
        return lo < sorted.count && sorted[lo] == value
    }

    /// An answer as one printable line, cut to 80 characters.
    static func excerpt(_ bytes: [UInt8]) -> String {
        let text = TerminalText.visible(String(decoding: bytes.prefix(80), as: UTF8.self))
        return bytes.count > 80 ? text + "..." : text
    }
}

/// JSON string literals (RFC 8259 section 7): quote, backslash and control characters escaped.
enum JSONText {
    static func appendString(_ text: String, to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                out += [UInt8(ascii: "\\"), byte]
            case 0..<0x20:
                out += Array(#"\u00"#.utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            default:
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
