import ArgumentParser
import CloudModel
import Foundation
import Reporting

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Read a results database: list its runs, export a table or the jobs as CSV, write the HTML report or the figures.",
        discussion: """
        With neither --html nor --csv, lists the runs (id, scenario, policy, seed, status,
        acceptance). Tables: \(ResultsDatabase.tables.joined(separator: ", ")). The HTML report is
        one self-contained file (inline SVG, no scripts): a headline table, utilization of
        each resource over time, rejections by reason over time, and the distributions of
        cluster sizes and spans; several runs are drawn side by side. --figures DIR writes
        each figure on its own (SVG, PDF, and its data as CSV); --batsim-jobs prints a
        run's finished jobs in Batsim's jobs.csv columns.
        """)

    @Argument(help: ArgumentHelp("A results database written by simulate or replay.", valueName: "RUN.sqlite"))
    var database: String

    @Option(help: ArgumentHelp("Write the HTML report here (atomically).", valueName: "OUT.html"))
    var html: String?

    @Option(help: ArgumentHelp("Print this table as CSV on stdout.", valueName: "TABLE"))
    var csv: String?

    @Option(name: .customLong("run"), help: ArgumentHelp("With --csv: only this run's rows; with --batsim-jobs: this run (needed when there are several).", valueName: "ID"))
    var runID: Int64?

    @Option(help: ArgumentHelp("Write each figure as SVG, CSV (its data) and PDF (with rsvg-convert, Debian's librsvg2-bin) into DIR.",
                               valueName: "DIR"))
    var figures: String?

    @Option(help: ArgumentHelp("With --figures or --html on a sweep: also each point's paired difference against the point where KEY is VALUE (table and figures).",
                               valueName: "KEY=VALUE"))
    var baseline: String?

    @Flag(help: "With nothing else asked: list the runs as one JSON array (id, scenario, policy, seed, hosts, admission, status, and every metric by name).")
    var json = false

    @Flag(name: .customLong("batsim-jobs"), help: "Print one run's finished jobs as CSV in Batsim's jobs.csv columns (what evalys and Batsim notebooks read).")
    var batsimJobs = false

    func run() throws {
        try reportingInputErrors {
            guard FileManager.default.fileExists(atPath: database) else {
                throw InputError(file: database, message: "no such results database")
            }
            let report = Report(database: try ResultsDatabase(path: database, readOnly: true))
            if let csv {
                print(try report.csv(table: csv, runID: runID), terminator: "")
            }
            if batsimJobs {
                let ids = try report.database.runIDs()
                guard let run = runID ?? (ids.count == 1 ? ids[0] : nil) else {
                    throw InputError(file: database, field: "--run", message: "\(ids.count) runs here: say which with --run ID")
                }
                print(try report.batsimJobs(runID: run), terminator: "")
            }
            var pair: (key: String, value: String)?
            if let baseline {
                guard figures != nil || html != nil else {
                    throw InputError(file: database, field: "--baseline", message: "draws paired differences: give it with --figures or --html")
                }
                guard let setting = ScenarioOverride.Setting(parsing: baseline) else {
                    throw InputError(file: database, field: "--baseline", message: "expected KEY=VALUE, got '\(TerminalText.visible(baseline))'")
                }
                pair = (setting.key, setting.value)
            }
            if let figures {
                let (paths, pdf) = try Figures(report: report).write(to: figures, baseline: pair)
                print("Wrote \(paths.count) files (\(paths.filter { $0.hasSuffix(".svg") }.count) figures) into \(figures)"
                      + (pdf ? "" : "; no PDFs: install rsvg-convert (Debian's librsvg2-bin)"))
            }
            if let html {
                let page = try report.html(title: "HPCCloud results: \(URL(fileURLWithPath: database).lastPathComponent)", baseline: pair)
                try writeReport(page, to: html)
                print("Wrote \(html)")
            }
            if csv == nil && html == nil && !batsimJobs && figures == nil {
                if json {
                    try printJSON(try report.runs().map(ListedRun.init))
                    return
                }
                for info in try report.runs() {
                    let accepted = info.metrics["acceptanceRatio"].map { String(format: "%.2f%% accepted", $0 * 100) } ?? "no summary"
                    let status = info.status == "complete" ? "complete" : "\(info.status) (incomplete)"
                    print("run \(info.id): \(info.scenario), policy \(info.policy), seed \(info.seed), \(info.hosts) hosts, \(status), \(accepted)")
                }
            }
        }
    }
}

/// `report --json`: one run of the listing.
struct ListedRun: Encodable {
    var id: Int64, scenario: String, policy: String, seed: UInt64, hosts: Int, admission: String, status: String
    /// Finite values only (JSON has no NaN).
    var metrics: [String: Double]

    init(_ info: Report.RunInfo) {
        (id, scenario, policy, seed, hosts, admission, status) = (info.id, info.scenario, info.policy, info.seed, info.hosts, info.admission, info.status)
        metrics = info.metrics.filter { $0.value.isFinite }
    }
}
