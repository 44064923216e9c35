import Allocation
import ArgumentParser
import CloudModel
import Foundation
import Reporting
import Simulation

/// The entry point is `Entry` (Fuzzing.swift), absent from fuzz builds, where libFuzzer supplies `main`.
struct HPCCloud: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hpccloud",
        abstract: "Simulate and operate HPC IaaS clouds on SR-IOV InfiniBand.",
        discussion: """
        Bad input (a scenario, a hardware profile, a trace, an argument) is reported
        in one line naming the file, line, column and key (or the argument), and
        exits with status 2; a file the tool cannot write exits with status 1.
        """,
        // The same string every run records in its results database.
        version: ToolVersion.string,
        subcommands: [Simulate.self, Replay.self, Sweep.self, Merge.self, Capacity.self, ReportCommand.self, Limits.self, Bench.self, Fabric.self, ClusterCommand.self, HostCommand.self, Plan.self, Apply.self, Reconcile.self, Journal.self, Partitions.self, Serve.self, APIBench.self, TenantCommand.self, OperatorAccount.self, AgentCommand.self, Scenarios.self, WorkloadCommand.self, Reproduce.self, FuzzReplay.self])
}

extension HPCCloud {
    /// ArgumentParser's own entry point, but a wrong argument is one line and exit
    /// status 2, as bad input in a file is (its default is the usage text and 64).
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
            flushStandardOutput()
        } catch {
            guard exitCode(for: error) == .validationFailure else { exit(withError: error) }
            let message = TerminalText.visible(Self.message(for: error).split(whereSeparator: \.isNewline).joined(separator: " "))
            let names = Set(configuration.subcommands.map { $0._commandName })
            let command = CommandLine.arguments.dropFirst().first(where: names.contains).map { " \($0)" } ?? ""
            printError("hpccloud: error: \(message) (see hpccloud\(command) --help)")
            Foundation.exit(2)
        }
    }

    /// Output that never reached a full disk or a closed file must not pass for
    /// success (`report --csv > out.csv`): standard output is flushed and
    /// checked before a command exits 0.
    static func flushStandardOutput() {
        // A failed write sets the stream's error flag (ferror(3)) even when nothing is left to
        // flush. `stdout` is a C global that Swift 6 will not read, so it is looked up (RTLD_DEFAULT is NULL).
        guard let symbol = dlsym(nil, "stdout"), let stream = symbol.assumingMemoryBound(to: UnsafeMutablePointer<FILE>?.self).pointee else { return }
        errno = 0
        guard fflush(stream) != 0 || ferror(stream) != 0 else { return }
        // A reader that stopped early (`| head`) closed the pipe: no error to report, the
        // status a shell gives a process ended by SIGPIPE (ignored here, so writes fail instead).
        var status = stat()
        var output = pollfd(fd: STDOUT_FILENO, events: Int16(POLLOUT), revents: 0)
        if fstat(STDOUT_FILENO, &status) == 0, status.st_mode & S_IFMT == S_IFIFO,
           poll(&output, 1, 0) == 1, output.revents & Int16(POLLERR) != 0 {
            Foundation.exit(128 + SIGPIPE)
        }
        let reason = errno != 0 ? String(cString: strerror(errno)) : "a write failed"
        printError("hpccloud: error: standard output: cannot write: \(reason)")
        Foundation.exit(1)
    }
}

/// Options every command that loads a scenario shares.
struct HardwareOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Directory with the hca/ and hosts/ profiles.",
        discussion: "Default: $HPCCLOUD_HARDWARE, else the first Hardware/ found above the scenario, the working directory or the executable.",
        valueName: "DIR"))
    var hardware: String?

    /// The catalog for a scenario at `scenarioPath` (nil for the embedded default).
    func catalog(scenarioPath: String?) throws -> HardwareCatalog {
        if let hardware { return try HardwareCatalog.load(directory: hardware) }
        let scenarioDirectory = scenarioPath.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }
        let starts = [scenarioDirectory].compactMap { $0 } + toolSearchStarts()
        return try HardwareCatalog.load(directory: try HardwareCatalog.locate(searchFrom: starts))
    }
}

/// A scenario file, or the embedded default when `path` is nil, with `--set` settings
/// applied, and its text as run (the file's text with the settings in it).
func loadScenario(_ path: String?, hardware: HardwareOptions, settings: ScenarioSettings? = nil) throws
    -> (scenario: Scenario, yaml: String) {
    let loader = ScenarioLoader(catalog: try hardware.catalog(scenarioPath: path), policies: PlacementPolicies.names)
    let file = path ?? EmbeddedScenarios.defaultFile
    var yaml = try path.map(readText) ?? EmbeddedScenarios.defaultYAML
    let parsed = try settings?.parsed(file: file) ?? []
    if !parsed.isEmpty { yaml = try ScenarioOverride.apply(parsed, to: yaml, file: file) }
    return (try loader.load(yaml: yaml, file: file), yaml)
}

/// `--set KEY=VALUE`: any scenario key by its path, as `sweep --vary` takes it, for one run.
struct ScenarioSettings: ParsableArguments {
    @Option(name: .customLong("set"), help: ArgumentHelp("Set a scenario key for this run: KEY=VALUE with KEY a path such as overcommit, hosts[0].count, workload.swf.timeScale; repeat for more.",
                                                         valueName: "KEY=VALUE"))
    var values: [String] = []

    func parsed(file: String) throws -> [ScenarioOverride.Setting] {
        try values.map { text in
            guard let setting = ScenarioOverride.Setting(parsing: text) else {
                throw InputError(file: file, field: "--set", message: "expected KEY=VALUE, got '\(TerminalText.visible(text))'")
            }
            return setting
        }
    }
}

/// Writes a report whole (temp file, fsync and rename), or says why not in one line.
func writeReport(_ text: String, to path: String) throws {
    try DurableFile.write(text, to: path)
}

/// Runs `body`; an input error becomes one line on stderr and exit status 2,
/// a file the tool could not write one line and exit status 1.
func reportingInputErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as InputError {
        printError("hpccloud: error: \(error)")
        throw ExitCode(2)
    } catch let error as WriteError {
        printError("hpccloud: error: \(error)")
        throw ExitCode(1)
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
