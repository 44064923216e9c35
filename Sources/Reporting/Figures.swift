import CloudModel
import Foundation
import GRDB

/// `report --figures DIR`: each figure as a standalone SVG with its data as CSV
/// beside it (`name.svg`, `name.csv`), and a PDF when `rsvg-convert` (Debian's
/// librsvg2-bin) is installed. Time series are binned (a time-weighted mean per
/// bin), distributions are CDFs, and sweeps are per-point means with 95% intervals.
public struct Figures {
    public let report: Report
    /// Bins of a time series.
    public static let bins = 60

    public init(report: Report) { self.report = report }

    /// One figure: its file name (no extension), chart and data.
    public struct Figure {
        public var name: String
        public var svg: String
        public var csvHeader: [String]
        public var csvRows: [[String]]
    }

    /// Every figure the database supports.
    public func figures(baseline: (key: String, value: String)? = nil) throws -> [Figure] {
        let sweepRuns = try SweepStore(database: report.database).runs()
        if !sweepRuns.isEmpty { return try sweepFigures(sweepRuns, baseline: baseline) }
        let runs = try report.runs()
        var figures: [Figure] = []
        for (column, title) in Report.resources {
            figures.append(try utilization(runs, column: column, title: title))
        }
        figures.append(try cdf(runs, name: "wait-cdf", title: "Wait of the jobs that started", column: "waitTime",
                               xLabel: "wait (h)", scale: 1 / 3600, logarithmic: false))
        figures.append(try cdf(runs, name: "bounded-slowdown-cdf", title: "Bounded slowdown (10 s bound) of the jobs that ended",
                               column: "boundedSlowdown", xLabel: "log10 of bounded slowdown", scale: 1, logarithmic: true))
        figures.append(try rejections(runs))
        return figures
    }

    /// Writes every figure into `directory` (created if missing), each file atomically.
    /// - Returns: the paths written, and whether PDFs were made.
    public func write(to directory: String, baseline: (key: String, value: String)? = nil) throws -> (paths: [String], pdf: Bool) {
        try DurableFile.createDirectory(directory)
        let converter = Self.pdfConverter()
        var paths: [String] = []
        for figure in try figures(baseline: baseline) {
            let base = directory + "/" + figure.name
            try DurableFile.write(SVGChart.standalone(figure.svg), to: base + ".svg")
            let csv = ([figure.csvHeader] + figure.csvRows).map { $0.map(Self.csvCell).joined(separator: ",") }
            try DurableFile.write(csv.joined(separator: "\n") + "\n", to: base + ".csv")
            paths += [base + ".svg", base + ".csv"]
            if let converter {
                try Self.convert(converter, svg: base + ".svg", pdf: base + ".pdf")
                paths.append(base + ".pdf")
            }
        }
        return (paths, converter != nil)
    }

    // MARK: Single runs

    /// Percent of capacity in use, time-weighted per bin, one line per run.
    func utilization(_ runs: [Report.RunInfo], column: String, title: String) throws -> Figure {
        var series: [SVGChart.Series] = [], rows: [[String]] = []
        for run in runs {
            let capacity = max(run.metrics["\(column).capacity"] ?? 1, 1)
            let samples = try report.database.reading { db in
                try Row.fetchAll(db, sql: "SELECT time, \(column) AS value FROM sample WHERE runId = ? AND \(column) IS NOT NULL ORDER BY time, rowid",
                                 arguments: [run.id])
                    .map { (time: try $0.decode(Double.self, forColumn: "time"), value: try $0.decode(Double.self, forColumn: "value")) }
            }
            let binned = Self.binnedMean(samples, bins: Self.bins)
            series.append(SVGChart.Series(name: run.label, points: binned.map { (x: $0.start / 3600, y: $0.mean / capacity * 100) }))
            rows += binned.map { [String(run.id), run.policy, Self.number($0.start), Self.number($0.end), Self.number($0.mean / capacity * 100)] }
        }
        let svg = SVGChart.lines(title: "\(title) in use (mean per \(Self.bins)th of the run)", xLabel: "simulated time (h)",
                                 yLabel: "% of capacity", series: series, yMax: 100)
        return Figure(name: "utilization-\(column)", svg: svg, csvHeader: ["run", "policy", "binStart_s", "binEnd_s", "percentOfCapacity"], csvRows: rows)
    }

    /// The time-weighted mean of a step function (each sample holds until the next) over equal bins of its span.
    /// - Complexity: O(samples + bins).
    public static func binnedMean(_ samples: [(time: Double, value: Double)], bins: Int) -> [(start: Double, end: Double, mean: Double)] {
        guard let first = samples.first?.time, let last = samples.last?.time, last > first else {
            return samples.first.map { [($0.time, $0.time, $0.value)] } ?? []
        }
        let width = (last - first) / Double(bins)
        var area = [Double](repeating: 0, count: bins)
        for (i, sample) in samples.enumerated().dropLast() {
            var from = sample.time
            let to = samples[i + 1].time
            while from < to {
                let bin = min(bins - 1, Int((from - first) / width))
                let binEnd = bin == bins - 1 ? last : first + Double(bin + 1) * width
                let until = min(to, binEnd)
                area[bin] += (until - from) * sample.value
                if until <= from { break }
                from = until
            }
        }
        return (0..<bins).map { bin in
            let start = first + Double(bin) * width, end = bin == bins - 1 ? last : start + width
            return (start, end, area[bin] / (end - start))
        }
    }

    /// The empirical CDF of a per-job column, one line per run.
    func cdf(_ runs: [Report.RunInfo], name: String, title: String, column: String, xLabel: String, scale: Double,
             logarithmic: Bool) throws -> Figure {
        var series: [SVGChart.Series] = [], rows: [[String]] = []
        for run in runs {
            let values = try report.database.reading { db in
                try Double.fetchAll(db, sql: "SELECT \(column) FROM request WHERE runId = ? AND \(column) IS NOT NULL ORDER BY \(column)",
                                    arguments: [run.id])
            }
            // At most 500 steps drawn; the CSV keeps every job.
            let stride = max(1, values.count / 500)
            var points: [(x: Double, y: Double)] = []
            for (i, value) in values.enumerated() {
                let share = Double(i + 1) / Double(values.count)
                rows.append([String(run.id), run.policy, Self.number(value), Self.number(share)])
                if i % stride == 0 || i == values.count - 1 {
                    let x = logarithmic ? log10(max(value, 1)) : value * scale
                    points.append((x: x, y: share * 100))
                }
            }
            series.append(SVGChart.Series(name: "\(run.label) (\(values.count) jobs)", points: points))
        }
        let svg = SVGChart.lines(title: title, xLabel: xLabel, yLabel: "% of jobs at or below", series: series, yMax: 100)
        return Figure(name: name, svg: svg, csvHeader: ["run", "policy", column, "cumulativeShare"], csvRows: rows)
    }

    /// Rejections by reason, a bar per run.
    func rejections(_ runs: [Report.RunInfo]) throws -> Figure {
        let reasons = Report.reasons.filter { reason in runs.contains { ($0.metrics["rejected.\(reason)"] ?? 0) > 0 } }
        let series = runs.map { run in
            SVGChart.Series(name: run.label, points: reasons.enumerated().map { (x: Double($0.offset), y: run.metrics["rejected.\($0.element)"] ?? 0) })
        }
        let rows = runs.flatMap { run in
            reasons.map { [String(run.id), run.policy, $0, Self.number(run.metrics["rejected.\($0)"] ?? 0)] }
        }
        let svg = SVGChart.bars(title: "Rejected requests by reason", xLabel: "reason", yLabel: "requests",
                                categories: reasons, series: series, stacked: false)
        return Figure(name: "rejections", svg: svg, csvHeader: ["run", "policy", "reason", "requests"], csvRows: rows)
    }

    // MARK: Sweeps

    /// Each metric against each varied key, with 95% intervals; with a baseline,
    /// each metric's paired difference per point.
    func sweepFigures(_ all: [SweepStore.StoredRun], baseline: (key: String, value: String)?) throws -> [Figure] {
        var figures: [Figure] = []
        for (sweepIndex, (_, runs)) in Dictionary(grouping: all, by: \.sweep).sorted(by: { $0.key < $1.key }).enumerated() {
            let keys = runs[0].settings.keys.sorted()
            let statistics = SweepStatistics(runs, keys: keys)
            let prefix = "sweep\(sweepIndex + 1)-"
            figures += Self.metricFigures(statistics, keys: keys, prefix: prefix)
            guard let baseline, keys.contains(baseline.key) else { continue }
            figures += try Self.pairedFigures(statistics, keys: keys, baseline: baseline, prefix: prefix, file: report.database.path)
        }
        return figures
    }

    /// Each metric's paired difference against the baseline point, one error bar per other point:
    /// the sweep's figures and the HTML report's.
    static func pairedFigures(_ statistics: SweepStatistics, keys: [String], baseline: (key: String, value: String), prefix: String,
                              file: String) throws -> [Figure] {
        let paired = try statistics.paired(against: baseline.key, baseline.value, file: file)
        let labels = paired.map { row in keys.filter { $0 != baseline.key || keys.count == 1 }.map { row.settings[$0] ?? "" }.joined(separator: " ") }
        return statistics.shown(in: paired).map { metric in
            var rows: [[String]] = []
            let points: [(x: Double, mean: Double, lower: Double, upper: Double)] = paired.enumerated().compactMap { i, row in
                guard let d = row.differences[metric.name] else { return nil }
                rows.append([labels[i], Self.number(d.mean), Self.number(d.lower), Self.number(d.upper), String(d.count)])
                return (x: Double(i), mean: d.mean, lower: d.lower, upper: d.upper)
            }
            let svg = SVGChart.intervals(title: "\(metric.label): difference from \(baseline.key)=\(baseline.value) (paired, 95%)",
                                         xLabel: keys.count == 1 ? baseline.key : keys.joined(separator: " "),
                                         yLabel: "difference in \(metric.label)", categories: labels, points: points)
            return Figure(name: prefix + Self.fileName("paired-\(metric.name)"), svg: svg,
                          csvHeader: ["point", "difference", "lower95", "upper95", "pairs"], csvRows: rows)
        }
    }

    /// Each metric against each varied key but policy (policies become the lines; policy
    /// alone is the axis when it is all there is), one band or error bar per combination
    /// of the other keys, with 95% intervals: the sweep's figures and the HTML report's.
    static func metricFigures(_ statistics: SweepStatistics, keys: [String], prefix: String) -> [Figure] {
        var figures: [Figure] = []
        let axes = keys.count == 1 ? keys : keys.filter { $0 != "policy" }
        for axis in axes {
            let values = Array(Set(statistics.rows.compactMap { $0.settings[axis] })).sorted { Report.order($0, $1) }
            let numeric = values.allSatisfy { Double($0) != nil }
            let others = keys.filter { $0 != axis }
            let groups = Dictionary(grouping: statistics.rows) { row in others.map { "\($0)=\(row.settings[$0] ?? "")" }.joined(separator: " ") }
                .sorted { $0.key < $1.key }
            for metric in statistics.shown {
                var rows: [[String]] = []
                let series = groups.map { name, groupRows in
                    SVGChart.Band(name: name.isEmpty ? "all" : name, points: groupRows.compactMap { row in
                        guard let value = row.settings[axis], let interval = row.intervals[metric.name] else { return nil }
                        rows.append([name, value, Self.number(interval.mean), Self.number(interval.lower), Self.number(interval.upper),
                                     String(interval.count)])
                        let x = numeric ? Double(value)! : Double(values.firstIndex(of: value)!)
                        return (x: x, mean: interval.mean, lower: interval.lower, upper: interval.upper)
                    }.sorted { $0.x < $1.x })
                }
                let svg = SVGChart.bands(title: "\(metric.label) against \(axis) (95% intervals)", xLabel: axis, yLabel: metric.label,
                                         series: series, categories: numeric ? nil : values)
                figures.append(Figure(name: prefix + Self.fileName("\(metric.name)-vs-\(axis)"), svg: svg,
                                      csvHeader: ["group", axis, "mean", "lower95", "upper95", "replications"], csvRows: rows))
            }
        }
        return figures
    }

    // MARK: Files

    /// Numbers as they are (a negative difference is not a spreadsheet formula); text quoted and guarded.
    static func csvCell(_ text: String) -> String {
        Double(text) != nil ? text : Report.csvField(text.databaseValue)
    }

    static func fileName(_ text: String) -> String {
        String(text.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "-" })
    }

    /// Full precision: the shortest text that reads back as the same double.
    static func number(_ x: Double) -> String { x.databaseValue.plainText }

    /// `rsvg-convert` on PATH, if installed.
    public static func pdfConverter() -> String? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return paths.map { "\($0)/rsvg-convert" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func convert(_ converter: String, svg: String, pdf: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: converter)
        process.arguments = ["-f", "pdf", "-o", pdf + ".tmp", svg]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            unlink(pdf + ".tmp")
            throw WriteError(path: pdf, reason: "rsvg-convert failed: \(TerminalText.visible(message.prefix(200).description))")
        }
        guard rename(pdf + ".tmp", pdf) == 0 else { throw WriteError(path: pdf, errno: errno) }
    }
}
