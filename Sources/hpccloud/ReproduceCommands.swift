import ArgumentParser
import CloudModel
import Foundation
import Overheads
import Simulation

struct Reproduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reproduce published results with the simulator's models.",
        subcommands: [Paper.self])

    struct Paper: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The seed paper's HPL table: measured against modelled GFlops and efficiency, with held-out rows.",
            discussion: """
            Rebuilds the paper's testbed (2 x Dell R710, ConnectX-2, DDR switch), places each
            HPL configuration with the allocation engine, calibrates the overhead model on
            the rows not held out, and prints Markdown: every row with its error, the
            leave-one-out errors, the fitted parameters, the VNET/P and EC2 points, and the
            MPI latency and bandwidth of each network path.
            """)

        @Option(name: .customLong("hold-out"), parsing: .upToNextOption,
                help: ArgumentHelp("Rows (1-based) left out of the calibration; default 4 (8 VMs x 2 vCores, dynamic).", valueName: "ROW"))
        var holdOut: [Int] = [4]

        @Option(help: ArgumentHelp("Write the report here (atomically) instead of stdout.", valueName: "FILE"))
        var out: String?

        @OptionGroup var hardware: HardwareOptions

        func run() throws {
            try reportingInputErrors {
                let catalog = try hardware.catalog(scenarioPath: nil)
                let reproduction = try PaperReproduction(
                    catalog: catalog, model: try OverheadModel.load(hardwareDirectory: catalog.directory),
                    table: try HPLTable.load(path: catalog.directory + "/measurements/seed-paper-hpl.yaml"),
                    holdOut: Set(holdOut))
                guard let out else {
                    print(reproduction.markdown, terminator: "")
                    return
                }
                try writeReport(reproduction.markdown, to: out)
                print("Wrote \(out): largest calibration error \(String(format: "%.2f", reproduction.largestCalibrationError)) pp, held out \(String(format: "%.2f", reproduction.largestHeldOutError)) pp")
            }
        }
    }
}
