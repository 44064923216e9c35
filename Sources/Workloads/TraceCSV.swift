import CloudModel
import Foundation

/// Reads the trace CSV of SEMANTICS section 7:
/// `id,arrival,tenant,vms,vcores,mem_gib,kind,pinning,duration[,op][,work_gflop]`.
/// `work_gflop` (an extension for the overhead model) gives a cluster HPL-like
/// work; its `duration` may then be empty (the run time follows from placement).
///
/// Strict: an unknown or missing column, a wrong field count, a malformed or
/// negative number, an unknown kind or pinning, a duplicate id or a resize of
/// an id with no earlier arrival is an `InputError` naming the file, line,
/// column (1-based field number) and column name.
public enum TraceCSV {
    public static let requiredColumns = ["id", "arrival", "tenant", "vms", "vcores", "mem_gib", "kind", "pinning", "duration"]
    public static let optionalColumns = ["op", "work_gflop"]
    static let optionalText = "[,op][,work_gflop]"
    public static let header = requiredColumns.joined(separator: ",")

    /// `workload` as a trace `parse` reads back: its arrivals, then its resizes as
    /// `resize` rows, with an `op` column, and `work_gflop` when some request has work.
    /// Times keep microseconds (as the decision log does), a departure at its own instant
    /// rounded; memory is exact GiB.
    /// Text fields are the workload's own: a tenant that is empty, padded with spaces or
    /// holds a comma, a quote or a line break cannot be written (the format has no
    /// quoting and trims fields), and is an error.
    /// - Complexity: O(n) for n requests and resizes.
    public static func write(_ workload: Workload) throws -> [UInt8] {
        let withWork = workload.requests.contains { $0.work != nil }
        var out = Array((header + ",op" + (withWork ? ",work_gflop" : "") + "\n").utf8)
        out.reserveCapacity(64 * (workload.requests.count + workload.resizes.count))
        func separator() { out.append(UInt8(ascii: ",")) }
        /// `ns` rounded to the microsecond, half up, as `Units.appendSeconds` rounds.
        func microsecond(_ ns: Nanoseconds) -> Nanoseconds { (ns + 500) / 1000 * 1000 }
        for r in workload.requests {
            // `parse` trims fields and has no quoting: such a tenant would come back another.
            guard !r.tenant.isEmpty, r.tenant.trimmingCharacters(in: .whitespaces) == r.tenant,
                  !r.tenant.utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 10 || $0 == 13 }) else {
                throw InputError(file: "trace", message: "request \(r.id): tenant '\(r.tenant)' is empty, padded with spaces or holds a comma, quote or line break, which a trace CSV cannot hold")
            }
            Units.appendDecimal(r.id, to: &out)
            separator()
            Units.appendSeconds(r.arrival, to: &out)
            separator()
            out.append(contentsOf: "\(r.tenant),\(r.vms),\(r.shape.vcores),\(Units.formatGiB(r.shape.memoryMiB)),".utf8)
            out.append(contentsOf: "\(r.shape.kind.rawValue),\(r.shape.pinning.rawValue),".utf8)
            // The end rounded, less the arrival rounded: each rounded on its own, the two
            // could put the departure a microsecond off the one the workload has.
            let (end, overflow) = r.arrival.addingReportingOverflow(r.duration)
            Units.appendSeconds(overflow ? r.duration : microsecond(end) - microsecond(r.arrival), to: &out)
            out.append(contentsOf: ",arrive".utf8)
            if withWork { out.append(contentsOf: ("," + (r.work.map { "\($0)" } ?? "")).utf8) }
            out.append(10)
        }
        for r in workload.resizes {
            Units.appendDecimal(r.id, to: &out)
            separator()
            Units.appendSeconds(r.time, to: &out)
            out.append(contentsOf: ",,\(r.delta),,,,,,resize\(withWork ? "," : "")\n".utf8)
        }
        return out
    }

    public static func read(path: String) throws -> Workload {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(file: path, message: "cannot read the trace (missing or unreadable)")
        }
        return try parse(Array(data), file: path)
    }

    public static func parse(_ text: String, file: String) throws -> Workload {
        try parse(Array(text.utf8), file: file)
    }

    private enum Column: Int { case id, arrival, tenant, vms, vcores, memGiB, kind, pinning, duration, op, workGFlop }

    public static func parse(_ bytes: [UInt8], file: String) throws -> Workload {
        var workload = Workload()
        var columnOf: [Int] = []   // field position -> Column raw value
        var fieldCount = 0
        var arrived = Set<Int64>()
        var fields: [ArraySlice<UInt8>] = []
        fields.reserveCapacity(10)

        try forEachLine(bytes) { lineNumber, line in
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { return }

            fields.removeAll(keepingCapacity: true)
            var fieldStart = line.startIndex
            for i in line.indices where line[i] == UInt8(ascii: ",") {
                fields.append(line[fieldStart..<i])
                fieldStart = i + 1
            }
            fields.append(line[fieldStart..<line.endIndex])

            if columnOf.isEmpty {
                columnOf = try parseHeader(fields, file: file, line: lineNumber)
                fieldCount = fields.count
                return
            }
            guard fields.count == fieldCount else {
                throw InputError(file: file, line: lineNumber,
                                 message: "expected \(fieldCount) fields as in the header, got \(fields.count)")
            }
            var row = Row()
            for (position, field) in fields.enumerated() {
                row.set(Column(rawValue: columnOf[position])!, to: field, position: position)
            }
            let reader = FieldReader(file: file, line: lineNumber, row: row)
            let op = try reader.op()
            let id = try reader.integer(.id, "id", min: 0)
            let time = try reader.seconds(.arrival, "arrival")
            if op == "resize" {
                guard arrived.contains(id) else {
                    throw reader.error(.id, "id", "resize of unknown id \(id) (no earlier arrive row)")
                }
                let delta = try reader.integer(.vms, "vms", min: Int64(Int32.min))
                guard delta != 0 else { throw reader.error(.vms, "vms", "a resize needs a non-zero VM delta") }
                workload.resizes.append(ResizeRequest(id: id, time: time, delta: Int(delta)))
                return
            }
            guard arrived.insert(id).inserted else { throw reader.error(.id, "id", "duplicate request id \(id)") }
            let tenant = reader.text(.tenant)
            guard !tenant.isEmpty else { throw reader.error(.tenant, "tenant", "expected a tenant name, got an empty field") }
            let vms = try reader.integer(.vms, "vms", min: 1, max: 1_000_000)
            let vcores = try reader.integer(.vcores, "vcores", min: 1, max: 1_000_000)
            let memory = try reader.gibibytes(.memGiB, "mem_gib")
            let kind = try reader.choice(.kind, "kind", VMKind.self)
            let pinning = try reader.choice(.pinning, "pinning", Pinning.self)
            let work = try reader.work()
            let duration = work != nil && reader.trimmed(.duration).isEmpty ? 0 : try reader.seconds(.duration, "duration")
            workload.requests.append(ClusterRequest(
                id: id, arrival: time, tenant: tenant, vms: Int(vms),
                shape: VMShape(vcores: Int(vcores), memoryMiB: memory, kind: kind, pinning: pinning),
                duration: duration, work: work))
        }
        if columnOf.isEmpty { throw InputError(file: file, line: 1, message: "the trace is empty (expected the header \(header)\(optionalText))") }
        return workload
    }

    private static func parseHeader(_ fields: [ArraySlice<UInt8>], file: String, line: Int) throws -> [Int] {
        let names = requiredColumns + optionalColumns
        var columnOf: [Int] = []
        var seen = Set<Int>()
        for (position, field) in fields.enumerated() {
            let name = String(decoding: field, as: UTF8.self).trimmingCharacters(in: .whitespaces)
            guard let column = names.firstIndex(of: name) else {
                throw InputError(file: file, line: line, column: position + 1, field: name.isEmpty ? "(empty)" : name,
                                 message: "unknown column (expected \(header)\(optionalText))")
            }
            guard seen.insert(column).inserted else {
                throw InputError(file: file, line: line, column: position + 1, field: name, message: "duplicate column")
            }
            columnOf.append(column)
        }
        if let missing = requiredColumns.indices.first(where: { !seen.contains($0) }) {
            throw InputError(file: file, line: line, field: requiredColumns[missing], message: "missing required column (expected \(header)\(optionalText))")
        }
        return columnOf
    }

    /// One row's fields by column, with their 1-based positions for errors.
    private struct Row {
        var values = [ArraySlice<UInt8>](repeating: [], count: 11)
        var positions = [Int](repeating: 0, count: 11)
        var hasOp = false
        var hasWork = false

        mutating func set(_ column: Column, to value: ArraySlice<UInt8>, position: Int) {
            values[column.rawValue] = value
            positions[column.rawValue] = position + 1
            if column == .op { hasOp = true }
            if column == .workGFlop { hasWork = true }
        }

        func field(_ column: Column) -> ArraySlice<UInt8> { values[column.rawValue] }
    }

    private struct FieldReader {
        let file: String
        let line: Int
        let row: Row

        func error(_ column: Column, _ name: String, _ message: String) -> InputError {
            InputError(file: file, line: line, column: row.positions[column.rawValue], field: name, message: message)
        }

        func text(_ column: Column) -> String { String(decoding: trimmed(column), as: UTF8.self) }

        /// The field without surrounding spaces or tabs, as bytes.
        func trimmed(_ column: Column) -> ArraySlice<UInt8> {
            var field = row.field(column)
            while let first = field.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { field = field.dropFirst() }
            while let last = field.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { field = field.dropLast() }
            return field
        }

        func op() throws -> String {
            guard row.hasOp else { return "arrive" }
            let value = trimmed(.op)
            if value.isEmpty || value.elementsEqual("arrive".utf8) { return "arrive" }
            if value.elementsEqual("resize".utf8) { return "resize" }
            throw error(.op, "op", "expected arrive or resize, got '\(text(.op))'")
        }

        /// `work_gflop`: nil when the column is absent or the field empty.
        func work() throws -> Double? {
            guard row.hasWork, !trimmed(.workGFlop).isEmpty else { return nil }
            guard let value = Double(text(.workGFlop)), value.isFinite, value > 0 else {
                throw error(.workGFlop, "work_gflop", "expected a positive number of GFlop, got '\(text(.workGFlop))'")
            }
            return value
        }

        func integer(_ column: Column, _ name: String, min: Int64, max: Int64 = Int64.max) throws -> Int64 {
            let field = trimmed(column)
            guard !field.isEmpty else { throw error(column, name, "missing value") }
            guard let value = Self.parseInteger(field) else { throw error(column, name, "expected an integer, got '\(text(column))'") }
            if value < 0 && min >= 0 { throw error(column, name, "negative value \(value)") }
            guard value >= min && value <= max else { throw error(column, name, "expected \(min)...\(max), got \(value)") }
            return value
        }

        /// A signed decimal integer, or nil (no String round trip).
        static func parseInteger(_ field: ArraySlice<UInt8>) -> Int64? {
            var digits = field
            let negative = digits.first == UInt8(ascii: "-")
            if negative || digits.first == UInt8(ascii: "+") { digits = digits.dropFirst() }
            guard !digits.contains(UInt8(ascii: ".")), let magnitude = Units.parseDecimal(bytes: digits, scale: 1) else { return nil }
            return negative ? -magnitude : magnitude
        }

        /// Seconds of at most 100 years (`SimulatedClock`): arrival plus duration stays on the clock.
        func seconds(_ column: Column, _ name: String) throws -> Nanoseconds {
            let value = try decimal(column, name, "seconds") { Units.nanoseconds(fromSeconds: $0) }
            guard value <= SimulatedClock.latestInput else {
                throw error(column, name, "expected at most \(SimulatedClock.latestInput / Units.nanosecondsPerSecond) seconds (100 years), got '\(text(column))'")
            }
            return value
        }

        func gibibytes(_ column: Column, _ name: String) throws -> Int64 {
            try decimal(column, name, "GiB") { Units.mebibytes(fromGibibytes: $0) }
        }

        private func decimal(_ column: Column, _ name: String, _ unit: String, _ parse: (ArraySlice<UInt8>) -> Int64?) throws -> Int64 {
            let field = trimmed(column)
            guard !field.isEmpty else { throw error(column, name, "missing value") }
            if field.first == UInt8(ascii: "-") { throw error(column, name, "negative value \(text(column))") }
            guard let value = parse(field) else {
                throw error(column, name, "expected a non-negative decimal number of \(unit), got '\(text(column))'")
            }
            return value
        }

        func choice<T: RawRepresentable & CaseIterable>(_ column: Column, _ name: String, _ type: T.Type) throws -> T where T.RawValue == String {
            let field = trimmed(column)
            if let match = T.allCases.first(where: { field.elementsEqual($0.rawValue.utf8) }) { return match }
            let raw = text(column)
            let expected = T.allCases.map(\.rawValue).joined(separator: " or ")
            throw error(column, name, raw.isEmpty ? "missing value (expected \(expected))" : "unknown \(name) '\(raw)' (expected \(expected))")
        }
    }
}
