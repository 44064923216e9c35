import Allocation
import ArgumentParser
import CloudModel
import Foundation
import Overheads
import Reporting
import Simulation
import Workloads

/// The parsers `make fuzz` drives with libFuzzer, one target per input format,
/// and the rule every input must meet: it is accepted, or it is refused with
/// an `InputError` of one line (an argument error, for the CLI). A trap, any
/// other error or a second line is a finding. What is accepted also runs
/// (a small simulation, a report), since traps hid behind validation before.
enum FuzzTarget: String, CaseIterable, ExpressibleByArgument {
    case scenario, hardware, overheads, trace, swf, arguments, results

    /// Simulations of accepted inputs stay small, so that a slow input is a
    /// finding of the parser, not of a legitimately long run.
    static let maximumRequests = 2_000
    static let maximumHosts = 512

    /// Feeds one input to this target's parser.
    func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        switch self {
        case .scenario:
            Self.refusedInOneLine {
                let scenario = try Self.loader.load(yaml: text, file: "fuzz.yaml")
                // An external policy would start whatever program the input names: parsed, never run.
                guard scenario.cloud.hostCount <= Self.maximumHosts, PolicyReference(scenario.policy)?.isExternal == false,
                      case .synthetic(let spec) = scenario.workload, spec.requests <= Self.maximumRequests else { return }
                _ = try Run(scenario: scenario).simulate()
            }
        case .hardware:
            Self.refusedInOneLine { _ = try HardwareCatalog.parseHCA(yaml: text, file: "fuzz-hca.yaml") }
            Self.refusedInOneLine { _ = try HardwareCatalog.parseHostModel(yaml: text, file: "fuzz-host.yaml") }
        case .overheads:
            Self.refusedInOneLine {
                let model = try OverheadModel.parse(yaml: text, file: "fuzz-overheads.yaml")
                for path in NetworkPath.allCases where model.paths[path] != nil {
                    for vms in [1, 2, 4, 15] {
                        _ = model.efficiency(ClusterConfiguration(vmsPerHost: vms, hostsSpanned: 64, pinning: .dynamic, sharing: 1.5, path: path))
                    }
                }
            }
            Self.refusedInOneLine { _ = try HPLTable.parse(yaml: text, file: "fuzz-hpl.yaml") }
            Self.refusedInOneLine { _ = try ScaleSeries.parse(yaml: text, file: "fuzz-scale.yaml") }
            Self.refusedInOneLine {
                let model = try MigrationModel.parse(yaml: text, file: "fuzz-migration.yaml")
                for mode in SRIOVMode.allCases {
                    _ = model.cost(memoryMiB: 4096, dirtyMiBPerSecond: 64, linkGbps: 54.3, mode: mode, switches: 3, peers: 8)
                }
            }
        case .trace:
            Self.refusedInOneLine { try Self.simulate(try TraceCSV.parse(bytes, file: "fuzz.csv")) }
        case .swf:
            // The first byte picks the lifetime column, so both mappings are explored.
            let spec = SWFImportSpec(path: "fuzz.swf", lifetime: (bytes.first ?? 0) & 1 == 0 ? .runtime : .requested)
            Self.refusedInOneLine { try Self.simulate(try SWFImport.parse(bytes, file: "fuzz.swf", spec: spec).workload) }
        case .arguments:
            // One argument per line, as a shell would pass them.
            let arguments = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            do {
                _ = try HPCCloud.parseAsRoot(arguments)
            } catch let error as InputError {
                Self.checkOneLine("\(error)")
            } catch {
                let status = HPCCloud.exitCode(for: error)
                guard status == .validationFailure || status == .success else {
                    fatalError("argument parsing failed with status \(status.rawValue): \(error)")
                }
            }
        case .results:
            let path = NSTemporaryDirectory() + "hpccloud-fuzz-\(getpid()).sqlite"
            for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) }
            guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { fatalError("cannot write \(path)") }
            // As `report` reads it (read-only), then as `simulate --db` and `merge` open it (checked, migrated):
            // there a file SQLite will not write (a header's write version above 2) is a write error, exit 1.
            for readOnly in [true, false] {
                Self.refusedInOneLine(orUnwritable: !readOnly) {
                    let report = Report(database: try ResultsDatabase(path: path, busyTimeout: 0, readOnly: readOnly))
                    _ = try report.runs()
                    for table in ResultsDatabase.tables { _ = try report.csv(table: table) }
                    _ = try report.html(title: "fuzz")
                }
            }
        }
    }

    private static let loader: ScenarioLoader = {
        do {
            let directory = try HardwareCatalog.locate(searchFrom: toolSearchStarts())
            return ScenarioLoader(catalog: try HardwareCatalog.load(directory: directory), policies: PlacementPolicies.names)
        } catch {
            fatalError("the fuzz harness needs the repository's Hardware/ (run from the checkout): \(error)")
        }
    }()

    /// Trace and SWF workloads run on the embedded default cloud.
    private static let cloud: Scenario = {
        do { return try loader.load(yaml: EmbeddedScenarios.defaultYAML, file: EmbeddedScenarios.defaultFile) }
        catch { fatalError("the embedded scenario does not load: \(error)") }
    }()

    private static func simulate(_ workload: Workload) throws {
        guard workload.requests.count <= maximumRequests else { return }
        _ = try Run(scenario: cloud, workload: workload).simulate()
    }

    private static func refusedInOneLine(orUnwritable writeErrors: Bool = false, _ body: () throws -> Void) {
        do {
            try body()
        } catch let error as InputError {
            checkOneLine("\(error)")
        } catch let error as WriteError where writeErrors {
            checkOneLine("\(error)")
        } catch {
            fatalError("refused with \(type(of: error)), not an InputError: \(error)")
        }
    }

    private static func checkOneLine(_ message: String) {
        guard !message.contains(where: \.isNewline), !message.unicodeScalars.contains(where: TerminalText.isControl) else {
            fatalError("an error message of more than one line or with control characters: \(message.debugDescription)")
        }
    }
}

#if FUZZING
/// libFuzzer's entry point (`-sanitize=fuzzer` supplies `main`); the target is
/// named by `HPCCLOUD_FUZZ` (see `make fuzz`).
private let selectedFuzzTarget: FuzzTarget = {
    guard let name = ProcessInfo.processInfo.environment["HPCCLOUD_FUZZ"], let target = FuzzTarget(rawValue: name) else {
        fatalError("set HPCCLOUD_FUZZ to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    selectedFuzzTarget.run(Array(UnsafeBufferPointer(start: data, count: count)))
    return 0
}
#else
@main
enum Entry {
    static func main() { HPCCloud.main() }
}
#endif

/// `hpccloud fuzz-replay TARGET FILE...`: runs inputs through a fuzz target
/// without libFuzzer, to replay a crasher or check the kept ones (the tests do).
struct FuzzReplay: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz-replay",
        abstract: "Run files through one of the fuzz harness's parsers (for make fuzz and the tests).",
        shouldDisplay: false)

    @Argument(help: ArgumentHelp("The parser: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "TARGET"))
    var target: FuzzTarget

    @Argument(help: ArgumentHelp("Inputs (files, or directories of inputs).", valueName: "INPUT"))
    var inputs: [String]

    func run() throws {
        var files: [String] = []
        for input in inputs {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory) else {
                printError("hpccloud: error: \(input): no such file")
                throw ExitCode(2)
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: input)) ?? []
                files += names.filter { !$0.hasPrefix(".") }.sorted().map { input + "/" + $0 }
            } else {
                files.append(input)
            }
        }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                printError("hpccloud: error: \(file): cannot read")
                throw ExitCode(2)
            }
            // Named first, so a trap's output says which input it was.
            printError("\(target.rawValue): \(file)")
            target.run(Array(data))
        }
        print("\(files.count) inputs, no crash")
    }
}
