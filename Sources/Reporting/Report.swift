import CloudModel
import Foundation
import GRDB

/// Reads a results database back: CSV of any table, and the HTML report.
public struct Report {
    public let database: ResultsDatabase

    public init(database: ResultsDatabase) { self.database = database }

    // MARK: CSV

    /// A table as CSV (header, then rows), optionally one run's rows only.
    public func csv(table: String, runID: Int64? = nil) throws -> String {
        guard ResultsDatabase.tables.contains(table) else {
            throw InputError(file: database.path, field: "table",
                             message: "unknown table '\(table)' (expected one of: \(ResultsDatabase.tables.joined(separator: ", ")))")
        }
        let key = table == "run" ? "id" : "runId"
        let filter = runID.map { _ in " WHERE \(key) = ?" } ?? ""
        return try database.reading { db in
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM \(table)\(filter) ORDER BY rowid", arguments: StatementArguments(runID.map { [$0] } ?? []))
            let columns = try db.columns(in: table).map(\.name)
            var lines = [columns.joined(separator: ",")]
            for row in rows {
                lines.append(columns.map { Self.csvField(row[$0] as DatabaseValue) }.joined(separator: ","))
            }
            return lines.joined(separator: "\n") + "\n"
        }
    }

    /// The columns of Batsim's `jobs.csv` (oar-team/batsim docs/output-jobs.rst), which evalys reads.
    public static let batsimColumns = ["job_id", "workload_name", "profile", "submission_time", "requested_number_of_resources",
                                       "requested_time", "success", "final_state", "starting_time", "execution_time", "finish_time",
                                       "waiting_time", "turnaround_time", "stretch", "allocated_resources", "consumed_energy", "metadata"]

    /// One run's jobs that ran to their end, as Batsim's `jobs.csv`: a resource is
    /// a VM (`requested_number_of_resources`), `allocated_resources` the hosts as an
    /// interval set ("0-3 7"), `profile` the VM kind, `stretch` the slowdown, energy
    /// not modelled (-1). Rejected requests, and clusters still running when the run
    /// ended, are not jobs Batsim would list: they are in the `request` table.
    public func batsimJobs(runID: Int64) throws -> String {
        try database.reading { db in
            guard let scenario = try String.fetchOne(db, sql: "SELECT scenario FROM run WHERE id = ?", arguments: [runID]) else {
                throw InputError(file: database.path, field: "--run", message: "no run \(runID)")
            }
            // The per-job columns the recorder computed from integer nanoseconds, read back as stored.
            let rows = try Row.fetchAll(db, sql: """
                SELECT id, kind, arrival, vms, requestedTime, start, "end", waitTime, runTime, turnaround, slowdown, hosts FROM request
                WHERE runId = ? AND outcome = 'accepted' AND "end" IS NOT NULL ORDER BY id
                """, arguments: [runID])
            var lines = [Self.batsimColumns.joined(separator: ",")]
            let workload = Self.csvField(scenario.databaseValue)
            for row in rows {
                let text = { (column: String) in (row[column] as DatabaseValue).plainText }
                let hosts = Set(try row.decode(String.self, forColumn: "hosts").split(separator: ";").compactMap { Int($0) }).sorted()
                let fields: [String] = [
                    text("id"), workload, Self.csvField(try row.decode(DatabaseValue.self, forColumn: "kind")), text("arrival"), text("vms"),
                    text("requestedTime"), "1", "COMPLETED_SUCCESSFULLY", text("start"), text("runTime"), text("end"),
                    text("waitTime"), text("turnaround"), text("slowdown"), Self.intervalSet(hosts), "-1", "",
                ]
                lines.append(fields.joined(separator: ","))
            }
            return lines.joined(separator: "\n") + "\n"
        }
    }

    /// Sorted integers as Batsim's interval set text: "0-3 7 9-10".
    public static func intervalSet(_ sorted: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count && sorted[j + 1] == sorted[j] + 1 { j += 1 }
            parts.append(i == j ? "\(sorted[i])" : "\(sorted[i])-\(sorted[j])")
            i = j + 1
        }
        return parts.joined(separator: " ")
    }

    /// RFC 4180 quoting; a text that a spreadsheet would run as a formula (it starts with
    /// = + - @, a tab or a carriage return: OWASP's "CSV injection") is prefixed with a quote.
    static func csvField(_ value: DatabaseValue) -> String {
        guard case .string = value.storage else { return value.plainText }
        var text = value.plainText
        if let first = text.first, "=+-@\t\r".contains(first) { text = "'" + text }
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    // MARK: Runs

    public struct RunInfo {
        public var id: Int64
        public var scenario: String
        public var policy: String
        /// The run's seed (stored as the Int64 of its bits: SQLite integers are signed).
        public var seed: UInt64
        public var status: String
        public var hosts: Int
        public var admission: String
        public var metrics: [String: Double]
        public var label: String { "run \(id): \(policy)" }
    }

    public func runs() throws -> [RunInfo] {
        // Decoded with `try`: a tampered value is a clear error, not a trap (GRDB's subscripts trap).
        try database.reading { db in
            try Row.fetchAll(db, sql: "SELECT id, scenario, policy, seed, status, hosts, admission FROM run ORDER BY id").map { row in
                let id: Int64 = try row.decode(forColumn: "id")
                let metrics = try Row.fetchAll(db, sql: "SELECT name, value FROM metric WHERE runId = ?", arguments: [id])
                return RunInfo(id: id, scenario: try row.decode(forColumn: "scenario"), policy: try row.decode(forColumn: "policy"),
                               seed: UInt64(bitPattern: try row.decode(Int64.self, forColumn: "seed")), status: try row.decode(forColumn: "status"),
                               hosts: try row.decode(forColumn: "hosts"), admission: try row.decode(forColumn: "admission"),
                               metrics: Dictionary(try metrics.map { (try $0.decode(String.self, forColumn: "name"), try $0.decode(Double.self, forColumn: "value")) },
                                                   uniquingKeysWith: { a, _ in a }))
            }
        }
    }

    // MARK: HTML

    static let resources: [(column: String, title: String)] = [
        ("physicalCores", "Physical cores"), ("memoryGiB", "Memory"), ("vfs", "VFs"), ("pkeyEntries", "Pkey table entries"), ("lids", "LIDs"),
    ]
    static let reasons = ["infeasible", "pkey-space", "vf", "pkey-table", "lid", "cores", "memory", "fragmented", "max-wait"]

    /// One self-contained HTML page: headline table, utilization over time per
    /// resource (one line per run), rejections by reason over time, and the
    /// distributions of cluster sizes and spans. No scripts.
    /// - Parameter baseline: for a sweep, also each point's paired differences against the point where KEY is VALUE.
    public func html(title: String, baseline: (key: String, value: String)? = nil) throws -> String {
        let sweepRuns = try SweepStore(database: database).runs()
        if !sweepRuns.isEmpty { return page(title: title, body: try sweepBody(title: title, sweepRuns, baseline: baseline)) }
        let runs = try runs()
        var body = "<h1>\(SVGChart.escape(title))</h1>\n"
        body += "<p class=\"note\">\(runs.count) run\(runs.count == 1 ? "" : "s") in \(SVGChart.escape(URL(fileURLWithPath: database.path).lastPathComponent)). Times are simulated hours from the start; utilization is the share of each resource's capacity in use.</p>\n"
        body += headline(runs)
        body += "<h2>Utilization over time</h2>\n<div class=\"grid\">"
        for resource in Self.resources {
            let series = try runs.map { run in
                let capacity = max(run.metrics["\(resource.column).capacity"] ?? 1, 1)
                let points = try samples(run.id, column: resource.column).map { (x: $0.time / 3600, y: $0.value / capacity * 100) }
                return SVGChart.Series(name: run.label, points: points)
            }
            body += SVGChart.lines(title: "\(resource.title) in use", xLabel: "simulated time (h)", yLabel: "% of capacity",
                                   series: series, yMax: 100)
        }
        let clusters = try runs.map { run in
            SVGChart.Series(name: run.label, points: try samples(run.id, column: "clusters").map { (x: $0.time / 3600, y: $0.value) })
        }
        body += SVGChart.lines(title: "Running clusters", xLabel: "simulated time (h)", yLabel: "clusters", series: clusters)
        if runs.contains(where: { $0.admission != "reject" }) {
            let queued = try runs.map { run in
                SVGChart.Series(name: run.label, points: try samples(run.id, column: "queued").map { (x: $0.time / 3600, y: $0.value) })
            }
            body += SVGChart.lines(title: "Queued requests", xLabel: "simulated time (h)", yLabel: "requests waiting", series: queued)
        }
        body += "</div>\n<h2>Rejections by reason over time</h2>\n<div class=\"grid\">"
        for run in runs { body += try rejections(run) }
        body += "</div>\n<h2>Cluster sizes and spans</h2>\n<div class=\"grid\">"
        body += try distribution(runs, title: "Cluster size (requested)", xLabel: "VMs per cluster", sql: "SELECT vms FROM request WHERE runId = ?")
        body += try distribution(runs, title: "Hosts spanned (accepted clusters)", xLabel: "hosts per cluster",
                                 sql: "SELECT span FROM request WHERE runId = ? AND span IS NOT NULL")
        body += "</div>\n"
        return page(title: title, body: body)
    }

    /// A sweep database: per sweep, the statistics table and each metric against
    /// each varied key, one line per combination of the other keys (policy
    /// against policy), with 95% confidence bands.
    private func sweepBody(title: String, _ all: [SweepStore.StoredRun], baseline: (key: String, value: String)?) throws -> String {
        var body = "<h1>\(SVGChart.escape(title))</h1>\n"
        body += "<p class=\"note\">Sweep database: \(all.count) runs. Each point is the mean of its replications; bands are 95% confidence intervals (Student t).</p>\n"
        for (sweep, runs) in Dictionary(grouping: all, by: \.sweep).sorted(by: { $0.key < $1.key }) {
            let keys = runs[0].settings.keys.sorted()
            let statistics = SweepStatistics(runs, keys: keys)
            body += "<h2>\(SVGChart.escape(sweep))</h2>\n<pre>\(SVGChart.escape(statistics.formatted()))</pre>\n<div class=\"grid\">"
            for figure in Figures.metricFigures(statistics, keys: keys, prefix: "") { body += figure.svg }
            body += "</div>\n"
            // Paired differences: replication r of both points used the same seed.
            guard let baseline, keys.contains(baseline.key) else { continue }
            let table = try statistics.formattedPaired(against: baseline.key, baseline.value, file: database.path)
            body += "<h3>Against \(SVGChart.escape(baseline.key))=\(SVGChart.escape(baseline.value))</h3>\n<pre>\(SVGChart.escape(table))</pre>\n<div class=\"grid\">"
            for figure in try Figures.pairedFigures(statistics, keys: keys, baseline: baseline, prefix: "", file: database.path) { body += figure.svg }
            body += "</div>\n"
        }
        return body
    }

    /// Numbers by value, then text.
    static func order(_ a: String, _ b: String) -> Bool {
        switch (Double(a), Double(b)) {
        case let (x?, y?): x < y
        default: a < b
        }
    }

    private func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(SVGChart.escape(title))</title>
        <style>
        body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1200px; }
        h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ccc; }
        table { border-collapse: collapse; font-size: 13px; } td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
        th:first-child, td:first-child { text-align: left; } .note { color: #555; font-size: 13px; }
        .grid { display: flex; flex-wrap: wrap; gap: 12px; } .chart { background: #fff; border: 1px solid #e4e4e4; }
        .chart .title { font-size: 14px; font-weight: bold; } .chart .label { font-size: 12px; fill: #333; }
        .chart .tick { font-size: 10px; fill: #444; } .chart .grid { stroke: #eee; }
        .incomplete { color: #b00; font-weight: bold; } pre { overflow-x: auto; font-size: 12px; }
        </style></head><body>
        \(body)</body></html>

        """
    }

    private func headline(_ runs: [RunInfo]) -> String {
        func row(_ label: String, _ value: (RunInfo) -> String) -> String {
            "<tr><td>\(label)</td>" + runs.map { "<td>\(value($0))</td>" }.joined() + "</tr>\n"
        }
        func percent(_ x: Double?) -> String { x.map { String(format: "%.1f%%", $0 * 100) } ?? "" }
        func number(_ x: Double?, _ format: String = "%.0f") -> String { x.map { String(format: format, $0) } ?? "" }
        var html = "<h2>Headline</h2>\n<table>\n<tr><th></th>" + runs.map { "<th>run \($0.id)</th>" }.joined() + "</tr>\n"
        html += row("scenario") { SVGChart.escape($0.scenario) }
        // Every text from the database is escaped: a results file is input like any other.
        html += row("policy") { SVGChart.escape($0.policy) }
        html += row("seed") { "\($0.seed)" }
        html += row("admission") { SVGChart.escape($0.admission) }
        html += row("status") { $0.status == "complete" ? "complete" : "<span class=\"incomplete\">\(SVGChart.escape($0.status)): incomplete</span>" }
        html += row("hosts") { "\($0.hosts)" }
        html += row("requests") { number($0.metrics["requests"]) }
        html += row("accepted") { percent($0.metrics["acceptanceRatio"]) }
        for reason in Self.reasons where runs.contains(where: { ($0.metrics["rejected.\(reason)"] ?? 0) > 0 }) {
            html += row("rejected: \(reason)") { number($0.metrics["rejected.\(reason)"]) }
        }
        for resource in Self.resources {
            html += row("\(resource.title): mean / peak use") { run in
                let capacity = max(run.metrics["\(resource.column).capacity"] ?? 1, 1)
                return percent((run.metrics["\(resource.column).average"] ?? 0) / capacity) + " / "
                    + percent((run.metrics["\(resource.column).peak"] ?? 0) / capacity)
            }
        }
        html += row("peak concurrent clusters") { number($0.metrics["peakConcurrentClusters"]) }
        html += row("mean hosts per hpc cluster") { number($0.metrics["meanHostsSpanned"], "%.2f") }
        if runs.contains(where: { $0.metrics["efficiency.mean"] != nil }) {
            html += row("mean efficiency (model)") { percent($0.metrics["efficiency.mean"]) }
            html += row("mean stretch vs bare metal") { number($0.metrics["stretch.mean"], "%.3f") }
        }
        if runs.contains(where: { $0.metrics["wait.meanHours"] != nil }) {
            html += row("mean wait (h)") { number($0.metrics["wait.meanHours"], "%.2f") }
        }
        return html + "</table>\n"
    }

    private func samples(_ runID: Int64, column: String) throws -> [(time: Double, value: Double)] {
        try database.reading { db in
            // Columns added later (memory) are NULL in older runs: those samples are left out.
            try Row.fetchAll(db, sql: "SELECT time, \(column) AS value FROM sample WHERE runId = ? AND \(column) IS NOT NULL ORDER BY time, rowid",
                             arguments: [runID])
                .map { (time: try $0.decode(Double.self, forColumn: "time"), value: try $0.decode(Double.self, forColumn: "value")) }
        }
    }

    /// Rejections per reason in 24 equal slices of the run's window (stacked bars).
    private func rejections(_ run: RunInfo) throws -> String {
        let start = run.metrics["windowStart"] ?? 0, end = max(run.metrics["windowEnd"] ?? 1, start + 1)
        let slices = 24
        let rows = try database.reading { db in
            try Row.fetchAll(db, sql: "SELECT decidedAt, reason FROM request WHERE runId = ? AND outcome = 'rejected'", arguments: [run.id])
                .map { (time: try $0.decode(Double.self, forColumn: "decidedAt"), reason: try $0.decode(String.self, forColumn: "reason")) }
        }
        var counts: [String: [Double]] = [:]
        for (time, reason) in rows {
            let slice = min(slices - 1, max(0, Int((time - start) / (end - start) * Double(slices))))
            counts[reason, default: Array(repeating: 0, count: slices)][slice] += 1
        }
        let categories = (0..<slices).map { String(format: "%.0f", (start + (end - start) * Double($0) / Double(slices)) / 3600) }
        let series = Self.reasons.compactMap { reason in
            counts[reason].map { SVGChart.Series(name: reason, points: $0.enumerated().map { (x: Double($0.offset), y: $0.element) }) }
        }
        return SVGChart.bars(title: "Rejections, \(run.label)", xLabel: "simulated time (h, slice start)", yLabel: "requests rejected",
                             categories: categories, series: series, stacked: true)
    }

    /// Share of clusters per value, one bar per run.
    private func distribution(_ runs: [RunInfo], title: String, xLabel: String, sql: String) throws -> String {
        var perRun: [[Int: Int]] = []
        for run in runs {
            let values = try database.reading { db in try Int.fetchAll(db, sql: sql, arguments: [run.id]) }
            perRun.append(Dictionary(values.map { ($0, 1) }, uniquingKeysWith: +))
        }
        let values = Set(perRun.flatMap(\.keys)).sorted()
        let series = zip(runs, perRun).map { run, counts in
            let total = Double(max(counts.values.reduce(0, +), 1))
            return SVGChart.Series(name: run.label, points: values.enumerated().map { (x: Double($0.offset), y: Double(counts[$0.element] ?? 0) / total * 100) })
        }
        return SVGChart.bars(title: title, xLabel: xLabel, yLabel: "% of clusters", categories: values.map(String.init),
                             series: series, stacked: false)
    }
}

extension DatabaseValue {
    /// The value as text, unquoted: "" for NULL, integers as digits, reals in the shortest form
    /// that reads back as the same double (Swift's description), so a CSV loses no digit.
    var plainText: String {
        switch storage {
        case .null: ""
        case .int64(let i): String(i)
        case .double(let d): d == d.rounded() && abs(d) < 1e15 ? String(format: "%.0f", d) : d.description
        case .string(let s): s
        case .blob(let data): data.base64EncodedString()
        }
    }
}
