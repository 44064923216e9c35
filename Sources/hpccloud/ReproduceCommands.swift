import ArgumentParser
import CloudModel
import Foundation
import Overheads
import Simulation

struct Reproduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reproduce published results with the simulator's models.",
        discussion: """
        Each subcommand rebuilds the published testbeds (the seed paper's 2 x Dell R710 with
        ConnectX-2 and a DDR switch; CloudCom 2014's ASGC nodes with ConnectX-3 FDR), places
        their HPL configurations with the allocation engine, fits the overhead model (GSL
        least squares) on the calibration points and prints Markdown: every point measured
        against modelled with its 95% interval and residual, the fitted parameters with their
        bands, and (for `all`) what moves the model, the other paths against their published
        statements and the MPI latency and bandwidth table.
        """,
        subcommands: [Paper.self, Scale.self, All.self])

    struct Options: ParsableArguments {
        @Option(name: .customLong("hold-out"), parsing: .upToNextOption,
                help: ArgumentHelp("Seed-table rows (1-based) left out of the calibration; default none.", valueName: "ROW"))
        var holdOut: [Int] = []

        @Option(name: .customLong("hold-out-hosts"), parsing: .upToNextOption,
                help: ArgumentHelp("CloudCom scale points (by host count) left out; default those the file marks (64 and 128).", valueName: "HOSTS"))
        var holdOutHosts: [Int] = []

        @Option(help: ArgumentHelp("Write the report here (atomically) instead of stdout.", valueName: "FILE"))
        var out: String?

        @OptionGroup var hardware: HardwareOptions

        func run(_ section: ModelValidation.Section) throws {
            try reportingInputErrors {
                let catalog = try hardware.catalog(scenarioPath: nil)
                let measurements = catalog.directory + "/measurements/"
                let validation = try ModelValidation(
                    catalog: catalog, model: try OverheadModel.load(hardwareDirectory: catalog.directory),
                    seed: try HPLTable.load(path: measurements + "seed-paper-hpl.yaml"),
                    scale: try ScaleSeries.load(path: measurements + "cloudcom2014-hpl-scale.yaml"),
                    holdOutRows: Set(holdOut), holdOutHosts: holdOutHosts.isEmpty ? nil : Set(holdOutHosts))
                let text = validation.markdown(section)
                guard let out else {
                    print(text, terminator: "")
                    return
                }
                try writeReport(text, to: out)
                print("Wrote \(out): largest calibration error \(String(format: "%.2f", validation.largestCalibrationError)) pp, "
                      + "held-out scale \(String(format: "%.2f", validation.largestHeldOutScaleError)) pp")
            }
        }
    }

    struct Paper: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The seed paper's HPL table: measured against modelled efficiency, with residuals.")
        @OptionGroup var options: Options
        func run() throws { try options.run(.paper) }
    }

    struct Scale: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The CloudCom 2014 series: virtualization overhead of HPL from 1 to 128 hosts, larger scales held out.")
        @OptionGroup var options: Options
        func run() throws { try options.run(.scale) }
    }

    struct All: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The combined validation report (committed as Reports/reference/model-validation.md).")
        @OptionGroup var options: Options
        func run() throws { try options.run(.all) }
    }
}
