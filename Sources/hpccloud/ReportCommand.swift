import ArgumentParser
import CloudModel
import Foundation
import Reporting

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Read a results database: list its runs, export a table as CSV, or write the HTML report.",
        discussion: """
        With neither --html nor --csv, lists the runs (id, scenario, policy, seed, status,
        acceptance). Tables: \(ResultsDatabase.tables.joined(separator: ", ")). The HTML report is
        one self-contained file (inline SVG, no scripts): a headline table, utilization of
        each resource over time, rejections by reason over time, and the distributions of
        cluster sizes and spans; several runs are drawn side by side.
        """)

    @Argument(help: ArgumentHelp("A results database written by simulate or replay.", valueName: "RUN.sqlite"))
    var database: String

    @Option(help: ArgumentHelp("Write the HTML report here (atomically).", valueName: "OUT.html"))
    var html: String?

    @Option(help: ArgumentHelp("Print this table as CSV on stdout.", valueName: "TABLE"))
    var csv: String?

    @Option(name: .customLong("run"), help: ArgumentHelp("With --csv: only this run's rows.", valueName: "ID"))
    var runID: Int64?

    func run() throws {
        try reportingInputErrors {
            guard FileManager.default.fileExists(atPath: database) else {
                throw InputError(file: database, message: "no such results database")
            }
            let report = Report(database: try ResultsDatabase(path: database, readOnly: true))
            if let csv {
                print(try report.csv(table: csv, runID: runID), terminator: "")
            }
            if let html {
                let page = try report.html(title: "HPCCloud results: \(URL(fileURLWithPath: database).lastPathComponent)")
                try writeReport(page, to: html)
                print("Wrote \(html)")
            }
            if csv == nil && html == nil {
                for info in try report.runs() {
                    let accepted = info.metrics["acceptanceRatio"].map { String(format: "%.2f%% accepted", $0 * 100) } ?? "no summary"
                    let status = info.status == "complete" ? "complete" : "\(info.status) (incomplete)"
                    print("run \(info.id): \(info.scenario), policy \(info.policy), seed \(info.seed), \(info.hosts) hosts, \(status), \(accepted)")
                }
            }
        }
    }
}
