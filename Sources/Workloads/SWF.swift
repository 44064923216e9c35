import CloudModel
import Foundation

/// A Standard Workload Format log (Parallel Workloads Archive, SWF 2.2) read
/// into virtual-cluster requests.
///
/// Each job line has 18 whitespace-separated numbers; `-1` means unknown.
/// Header comments (`; Key: value`) are kept. A line that is not 18 numbers is
/// malformed: an `InputError` with the file and line. A well-formed job whose
/// fields the mapping needs are unknown is skipped and counted by reason,
/// never silently.
public struct SWFImport: Sendable {
    /// The 18 fields of SWF 2.2, in order (1-based in the standard).
    public static let fields = [
        "job number", "submit time", "wait time", "run time", "allocated processors", "average CPU time",
        "used memory", "requested processors", "requested time", "requested memory", "status", "user id",
        "group id", "executable number", "queue number", "partition number", "preceding job", "think time",
    ]

    public enum SkipReason: String, CaseIterable, Sendable {
        case submitUnknown = "submit time unknown"
        case runtimeUnknown = "run time unknown"
        case requestedTimeUnknown = "requested time unknown"
        case processorsUnknown = "processors unknown or 0"
        case duplicateJob = "duplicate job number"
    }

    public let file: String
    public let spec: SWFImportSpec
    /// `; Key: value` header lines, in file order.
    public let header: [(key: String, value: String)]
    /// Job lines in the file.
    public let records: Int
    /// Job lines in the `skip`/`limit` window.
    public let inWindow: Int
    public let skipped: [SkipReason: Int]
    public let workload: Workload

    public var used: Int { workload.requests.count }
    public var skippedTotal: Int { skipped.values.reduce(0, +) }

    public func headerValue(_ key: String) -> String? { header.first { $0.key == key }?.value }
    public var maxNodes: Int? { headerValue("MaxNodes").flatMap { Int($0) } }
    public var maxProcs: Int? { headerValue("MaxProcs").flatMap { Int($0) } }
    public var unixStartTime: Int64? { headerValue("UnixStartTime").flatMap { Int64($0) } }

    /// What was read, for the run's report: never a silent skip.
    public var reportLines: [String] {
        var lines = ["SWF log \(file): \(records) job records; window \(inWindow) (skip \(spec.skip)\(spec.limit.map { ", limit \($0)" } ?? "")); used \(used), skipped \(skippedTotal)"]
        for reason in SkipReason.allCases {
            if let count = skipped[reason], count > 0 { lines.append("  skipped, \(reason.rawValue): \(count)") }
        }
        var machine: [String] = []
        if let maxNodes { machine.append("MaxNodes \(maxNodes)") }
        if let maxProcs { machine.append("MaxProcs \(maxProcs)") }
        if let start = unixStartTime {
            let date = Date(timeIntervalSince1970: TimeInterval(start))
            machine.append("UnixStartTime \(start) (\(date.formatted(.iso8601)))")
        }
        if !machine.isEmpty { lines.append("  header: " + machine.joined(separator: ", ")) }
        return lines
    }

    public static func read(_ spec: SWFImportSpec) throws -> SWFImport {
        guard let data = FileManager.default.contents(atPath: spec.path) else {
            throw InputError(file: spec.path, message: "cannot read the SWF log (missing or unreadable)")
        }
        return try parse(Array(data), file: spec.path, spec: spec)
    }

    public static func parse(_ text: String, file: String, spec: SWFImportSpec) throws -> SWFImport {
        try parse(Array(text.utf8), file: file, spec: spec)
    }

    public static func parse(_ bytes: [UInt8], file: String, spec: SWFImportSpec) throws -> SWFImport {
        var header: [(key: String, value: String)] = []
        var records = 0, inWindow = 0
        var skipped: [SkipReason: Int] = [:]
        var seen = Set<Int64>()
        var kept: [(job: [Int64], submit: Nanoseconds)] = []
        var values = [Int64](repeating: 0, count: fields.count)

        try forEachLine(bytes) { lineNumber, line in
            guard let first = line.firstIndex(where: { !isSpace($0) }) else { return }
            if line[first] == UInt8(ascii: ";") {
                if let entry = headerEntry(line[(first + 1)...]) { header.append(entry) }
                return
            }
            try parseJob(line, into: &values, file: file, line: lineNumber)
            records += 1
            guard records > spec.skip, spec.limit.map({ inWindow < $0 }) ?? true else { return }
            inWindow += 1
            if let reason = unusable(values, spec: spec, seen: &seen) {
                skipped[reason, default: 0] += 1
                return
            }
            kept.append((values, values[1]))
        }

        // Arrivals count from the first used job's submission, with gaps scaled exactly.
        let origin = kept.map(\.submit).min() ?? 0
        var workload = Workload()
        workload.requests.reserveCapacity(kept.count)
        for (job, submit) in kept {
            // Scaled gaps and durations must stay on the simulated clock (100 years each).
            let arrival = scaled(submit - origin, by: spec.timeScaleNano)
            let duration = spec.lifetime == .requested ? job[8] : job[3]
            guard let arrival, arrival <= SimulatedClock.latestInput, duration <= SimulatedClock.latestInput else {
                throw InputError(file: file, field: "job \(job[0])",
                                 message: "its arrival (scaled by timeScale) or its \(spec.lifetime.rawValue) time is more than 100 years: past the simulated clock")
            }
            guard processors(job)! <= Self.maximumProcessors else {
                throw InputError(file: file, field: "job \(job[0])", message: "\(processors(job)!) processors: expected at most \(Self.maximumProcessors)")
            }
            workload.requests.append(request(job, arrival: arrival, spec: spec))
        }
        return SWFImport(file: file, spec: spec, header: header, records: records, inWindow: inWindow,
                         skipped: skipped, workload: workload)
    }

    /// Times (fields 2, 3, 4, 6, 9, 18) are held in nanoseconds; other fields as
    /// integers. A decimal in a count field (some logs write `18.00` CPU time) is truncated.
    static let timeFields: Set<Int> = [1, 2, 3, 5, 8, 17]

    private static func parseJob(_ line: ArraySlice<UInt8>, into values: inout [Int64], file: String, line lineNumber: Int) throws {
        var field = 0
        var i = line.startIndex
        while i < line.endIndex {
            while i < line.endIndex && isSpace(line[i]) { i += 1 }
            guard i < line.endIndex else { break }
            var j = i
            while j < line.endIndex && !isSpace(line[j]) { j += 1 }
            guard field < fields.count else {
                throw InputError(file: file, line: lineNumber, message: "expected 18 whitespace-separated fields (SWF 2.2), got more")
            }
            let token = line[i..<j]
            guard let value = number(token, isTime: timeFields.contains(field)) else {
                throw InputError(file: file, line: lineNumber, column: field + 1, field: fields[field],
                                 message: "expected a number, got '\(String(decoding: token, as: UTF8.self))'")
            }
            values[field] = value
            field += 1
            i = j
        }
        guard field == fields.count else {
            throw InputError(file: file, line: lineNumber, message: "expected 18 whitespace-separated fields (SWF 2.2), got \(field)")
        }
    }

    /// A decimal number; negative values (the standard's -1) become -1.
    /// Time fields come back in nanoseconds, counts truncated to integers.
    private static func number(_ token: ArraySlice<UInt8>, isTime: Bool) -> Int64? {
        var digits = token
        if digits.first == UInt8(ascii: "-") {
            digits = digits.dropFirst()
            guard Units.parseDecimal(bytes: digits, scale: 1_000) != nil else { return nil }
            return -1
        }
        if isTime { return Units.nanoseconds(fromSeconds: digits) }
        guard let thousandths = Units.parseDecimal(bytes: digits, scale: 1_000) else { return nil }
        return thousandths / 1_000
    }

    private static func unusable(_ job: [Int64], spec: SWFImportSpec, seen: inout Set<Int64>) -> SkipReason? {
        if job[1] < 0 { return .submitUnknown }
        switch spec.lifetime {
        case .runtime, .work: if job[3] < 0 { return .runtimeUnknown }
        case .requested: if job[8] < 0 { return .requestedTimeUnknown }
        }
        if processors(job) == nil { return .processorsUnknown }
        if !seen.insert(job[0]).inserted { return .duplicateJob }
        return nil
    }

    /// Allocated processors (field 5), else requested (field 8).
    private static func processors(_ job: [Int64]) -> Int64? {
        if job[4] > 0 { return job[4] }
        if job[7] > 0 { return job[7] }
        return nil
    }

    private static func request(_ job: [Int64], arrival: Nanoseconds, spec: SWFImportSpec) -> ClusterRequest {
        let processors = processors(job)!
        let vms = Int((processors + Int64(spec.coresPerVM) - 1) / Int64(spec.coresPerVM))
        let runtime = job[3], requested = job[8]
        let duration = spec.lifetime == .requested ? requested : runtime
        let memoryMiB = Int64((Double(spec.coresPerVM) * spec.memoryGiBPerCore * 1024).rounded())
        return ClusterRequest(
            id: job[0], arrival: arrival, tenant: job[11] >= 0 ? "u\(job[11])" : "unknown", vms: vms,
            shape: VMShape(vcores: spec.coresPerVM, memoryMiB: memoryMiB, kind: spec.kind, pinning: spec.pinning),
            duration: duration, estimate: requested >= 0 ? requested : duration)
    }

    /// `gap × scale / 10^9`, rounded half away from zero, in 128 bits; nil past Int64.
    static func scaled(_ gap: Nanoseconds, by scaleNano: Int64) -> Nanoseconds? {
        let product = Int128(gap) * Int128(scaleNano)
        return Nanoseconds(exactly: (product + 500_000_000) / 1_000_000_000)
    }

    /// More processors than any machine in the archive by far (Sunway TaihuLight has 10.6 million cores).
    static let maximumProcessors: Int64 = 100_000_000

    private static func headerEntry(_ text: ArraySlice<UInt8>) -> (key: String, value: String)? {
        let line = String(decoding: text, as: UTF8.self)
        guard let colon = line.firstIndex(of: ":") else { return nil }
        let key = line[..<colon].trimmingCharacters(in: .whitespaces)
        guard !key.isEmpty, !key.contains(" ") else { return nil }
        return (key, line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
    }
}
