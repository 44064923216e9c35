import Foundation

/// A committed benchmark report (`Reports/benchmarks/YYYY-MM-DD.md`, what `hpccloud bench
/// --out` writes), read back so a new run can show each case against it.
public struct BenchmarkHistory: Equatable, Sendable {
    /// Wall seconds per case name.
    public var seconds: [String: Double]
    /// Whether it was a `--quick` run (cases a tenth the size: not comparable with a full one).
    public var quick: Bool
    /// The report's `- date:` and `- commit:` lines, as written.
    public var date: String?
    public var commit: String?

    /// Reads a report's case table: rows `| case | wall (s) | ...` after its header.
    public init(markdown: String) {
        seconds = [:]
        quick = markdown.hasPrefix("# hpccloud bench (quick")
        var inTable = false
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("- date: ") { date = String(line.dropFirst(8)) }
            if line.hasPrefix("- commit: ") { commit = String(line.dropFirst(10)) }
            if line.hasPrefix("| case | wall (s) |") { inTable = true; continue }
            guard inTable else { continue }
            guard line.hasPrefix("|") else { inTable = false; continue }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            // "", case, wall, ...; the separator row has no number.
            guard cells.count > 2, let wall = Double(cells[2]) else { continue }
            seconds[cells[1]] = wall
        }
    }

    /// The newest full-suite report in `directory` (`YYYY-MM-DD.md`, the date orders them),
    /// leaving out `excluding` (the file this run writes); nil when there is none.
    public static func newest(in directory: String, excluding: String? = nil) -> (path: String, history: BenchmarkHistory)? {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { name in
            name.count == 13 && name.hasSuffix(".md") && name.prefix(10).allSatisfy { $0.isNumber || $0 == "-" }
        }
        let excluded = excluding.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        for name in names.sorted(by: >) {
            let path = directory + "/" + name
            guard URL(fileURLWithPath: path).standardizedFileURL.path != excluded,
                  let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            return (path, BenchmarkHistory(markdown: text))
        }
        return nil
    }

    /// This run's wall time over the report's for `name` (above 1: slower now), or nil.
    public func ratio(_ name: String, seconds now: Double) -> Double? {
        guard let before = seconds[name], before > 0 else { return nil }
        return now / before
    }
}
