import Allocation
import ArgumentParser
import CloudModel
import ConnectX
import ControlAgent
import ControlPlane
import ControlServer
import Foundation
import Logging
import NIOHTTP1
import Operations
import SimulatedHardware

/// Runs async work from a synchronous command (the main thread waits; the work runs on the cooperative pool).
final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, Error>?
}

func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}

func bootstrapLogging(level: String) throws {
    guard let parsed = Logger.Level(rawValue: level) else {
        throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = parsed
        return handler
    }
}

/// The controller's configuration file, and the state it names.
struct ControllerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The controller's configuration (YAML: state, scenario, backend, hosts, listen, tls, manageSubnet, passInterval).",
                               valueName: "FILE"))
    var config: String

    @OptionGroup var hardware: HardwareOptions

    func load() throws -> ServeConfiguration { try ServeConfiguration.load(config) }

    /// The state database, initialized from the scenario on first use.
    func openState(_ configuration: ServeConfiguration) throws -> OperatorState {
        let state = try OperatorState(path: configuration.state, migrations: ControlSchema.migrations)
        guard try state.meta("scenarioYAML") == nil else {
            let backend = try state.meta("backend") ?? "simulated"
            if backend != configuration.backend {
                throw OperatorError("\(configuration.state) drives the \(backend) backend, the configuration says \(configuration.backend): start a new state")
            }
            return state
        }
        guard let scenario = configuration.scenario else {
            throw OperatorError("\(configuration.state) is new: give the cloud with `scenario:` in \(config)")
        }
        let yaml: String
        do { yaml = try String(contentsOfFile: scenario, encoding: .utf8) } catch {
            throw OperatorError("\(scenario): cannot read: \(error.localizedDescription)")
        }
        let catalog = try catalog(configuration)
        var discovered: [HostEntry]?
        if configuration.backend == "agents" {
            let loaded = try ScenarioLoader(catalog: catalog, policies: PlacementPolicies.names).load(yaml: yaml, file: scenario)
            guard configuration.hosts.count == loaded.cloud.hostCount else {
                throw OperatorError("\(config): hosts: \(configuration.hosts.count) names for the scenario's \(loaded.cloud.hostCount) hosts")
            }
            let modes = loaded.cloud.groups.flatMap { Array(repeating: $0.sriovMode, count: $0.count) }
            // GUIDs stay 0 until each host's agent registers its HCA (the host takes no VM until then).
            discovered = configuration.hosts.enumerated().map { i, name in
                HostEntry(index: i, name: name, nodeGUID: 0, portGUID: 0, membership: modes[i] == .sharedPort ? .physicalPort : .virtualPort)
            }
        }
        try Operator.initialize(state: state, scenarioYAML: yaml, scenarioFile: scenario, catalog: catalog, discovered: discovered,
                                backend: configuration.backend, partitions: nil)
        return state
    }

    func catalog(_ configuration: ServeConfiguration) throws -> HardwareCatalog {
        if let directory = configuration.hardware, hardware.hardware == nil { return try HardwareCatalog.load(directory: directory) }
        return try hardware.catalog(scenarioPath: configuration.scenario)
    }

    func controller(_ configuration: ServeConfiguration) throws -> Controller {
        let state = try openState(configuration)
        let mode: Controller.Mode = configuration.backend == "agents" ? .agents(manageSubnet: configuration.manageSubnet) : .simulated
        return try Controller(state: state, catalog: try catalog(configuration), mode: mode, simulated: simulatedHardware(beside:))
    }
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the controller: the tenant and operator HTTP API over the shared engine and the durable state.",
        discussion: """
        Plain HTTP is served on loopback only, unless --insecure; give tls.certificate and tls.key for HTTPS.
        Tokens: `hpccloud operator add`, `hpccloud tenant add`, `hpccloud agent token`. SIGTERM or SIGINT stops it gracefully.
        """)
    @OptionGroup var options: ControllerOptions
    @Option(help: ArgumentHelp("HOST:PORT to listen on (overrides the file's listen; port 0 picks a free port).", valueName: "ADDR")) var listen: String?
    @Option(help: ArgumentHelp("simulated or agents (overrides the file).", valueName: "B")) var backend: String?
    @Flag(help: "Serve plain HTTP on an address that is not loopback.") var insecure = false
    @Option(name: .customLong("port-file"), help: ArgumentHelp("Write the bound port here once listening (for scripts).", valueName: "FILE"))
    var portFile: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.") var logLevel = "info"

    func validate() throws {
        if let backend, !["simulated", "agents"].contains(backend) { throw ValidationError("--backend must be simulated or agents") }
        if let listen, ServeConfiguration.parseListen(listen) == nil { throw ValidationError("--listen must be HOST:PORT") }
    }

    func run() throws {
        try bootstrapLogging(level: logLevel)
        try operating {
            var configuration = try options.load()
            if let backend { configuration.backend = backend }
            if let listen, let (host, port) = ServeConfiguration.parseListen(listen) { (configuration.host, configuration.port) = (host, port) }
            if insecure { configuration.insecure = true }
            try configuration.checkTransport()
            let controller = try options.controller(configuration)
            let logger = Logger(label: "hpccloud.controller")
            let config = configuration
            let portFile = portFile
            try blocking {
                try await ControlServer.run(controller: controller, configuration: config, logger: logger) { port in
                    logger.info("listening", metadata: ["address": "\(config.host):\(port)", "backend": "\(config.backend)",
                                                        "tls": "\(config.certificate != nil)"])
                    // Whoever waits for the port file would wait forever: a file that cannot be written stops the controller.
                    guard let portFile else { return }
                    do {
                        try AtomicFile.write("\(port)\n", to: portFile)
                    } catch {
                        printError("hpccloud: error: \(error)")
                        Foundation.exit(1)
                    }
                }
            }
        }
    }
}

/// Prints a token once (it is kept hashed).
func printToken(_ token: IssuedToken, json: Bool) throws {
    if json { return try printJSON(token) }
    print(token.token)
    printError("hpccloud: \(token.role) '\(terminalSafe(token.name))': the token above is shown once; keep it (only its hash is stored)")
}

func controlPlaneCall<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let problem as Problem { throw OperatorError(problem.detail, kind: problem.status == 409 || problem.status == 404 ? .refused : .input) }
}

struct TenantCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tenant", abstract: "Tenants of the controller and their tokens.",
                                                    subcommands: [Add.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a tenant with a quota and print its bearer token (once).")
        @OptionGroup var options: ControllerOptions
        @Argument(help: "The tenant's name (A-Z a-z 0-9 . _ -, up to 64).") var name: String
        @Option(name: .customLong("max-clusters"), help: "Clusters it may run at once (default: no limit).") var maxClusters: Int?
        @Option(name: .customLong("max-vms"), help: "VMs it may hold (default: no limit).") var maxVMs: Int?
        @Option(name: .customLong("max-vfs"), help: "VFs it may hold (default: no limit).") var maxVFs: Int?
        @OptionGroup var output: JSONOption

        func run() throws {
            try operating {
                let state = try options.openState(try options.load())
                let token = try controlPlaneCall {
                    try state.writeImmediate { try ControlSchema.addTenant($0, name: name, quota: Quota(clusters: maxClusters, vms: maxVMs, vfs: maxVFs)) }
                }
                try printToken(token, json: output.json)
            }
        }
    }
}

struct OperatorAccount: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "operator", abstract: "Operators of the controller and their tokens.",
                                                    subcommands: [Add.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Issue an operator's bearer token (printed once; a new one replaces the old).")
        @OptionGroup var options: ControllerOptions
        @Argument(help: "The operator's name (A-Z a-z 0-9 . _ -).") var name: String
        @OptionGroup var output: JSONOption

        func run() throws {
            try operating {
                guard Names.isValid(name) else { throw OperatorError("operator name '\(name)': expected 1 to 64 of A-Z a-z 0-9 . _ -") }
                let state = try options.openState(try options.load())
                let token = try state.writeImmediate { try ControlSchema.issueToken($0, for: Principal(name: name, role: .operator)) }
                try printToken(token, json: output.json)
            }
        }
    }
}

struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "agent", abstract: "The per-host agent and its token.",
                                                    subcommands: [Token.self, Run.self])

    struct Token: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Issue an agent's bearer token: NAME is an inventory host, or sm.")
        @OptionGroup var options: ControllerOptions
        @Argument(help: "The host's inventory name, or sm.") var name: String
        @OptionGroup var output: JSONOption

        func run() throws {
            try operating {
                let state = try options.openState(try options.load())
                let token = try controlPlaneCall {
                    try state.writeImmediate { try ControlSchema.issueAgentToken($0, name: name) }
                }
                try printToken(token, json: output.json)
            }
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the agent: converge this host's HCA (role compute) or OpenSM's partitions (role sm) on the controller's desired state.",
            discussion: "It reconciles at start from its cached desired state, then follows the controller, retrying while it is away. SIGTERM/SIGINT stop it.")
        @Option(help: ArgumentHelp("The controller's URL.", valueName: "URL")) var controller: String
        @Option(name: .customLong("token-file"), help: ArgumentHelp("File holding this agent's bearer token (default $HPCCLOUD_TOKEN).", valueName: "FILE"))
        var tokenFile: String?
        @Option(help: "compute (a host's HCA) or sm (the subnet manager's partitions).") var role = "compute"
        @Option(help: ArgumentHelp("This host's inventory name (compute; default: the hostname).", valueName: "NAME")) var name: String?
        @Option(help: ArgumentHelp("Where this host's sys/ is (compute).", valueName: "DIR")) var root = "/"
        @Option(help: ArgumentHelp("The RDMA device (compute; default: the first).", valueName: "DEV")) var device: String?
        @Option(help: ArgumentHelp("Seconds between rounds when nothing changes.", valueName: "S")) var interval: Double = 10
        @Option(help: ArgumentHelp("Keep the last desired state here, to reconcile at boot before the controller answers (compute).", valueName: "FILE"))
        var cache: String?
        @Option(help: ArgumentHelp("OpenSM's partitions.conf (sm).", valueName: "FILE")) var partitions = "/etc/opensm/partitions.conf"
        @Option(name: .customLong("sm-pidfile"), help: ArgumentHelp("sm: SIGHUP this pid after writing (OpenSM re-reads on a heavy sweep).", valueName: "FILE"))
        var smPidfile: String?
        @Option(name: .customLong("sm-command"), help: ArgumentHelp("sm: run this shell command after writing instead.", valueName: "CMD")) var smCommand: String?
        @Option(help: ArgumentHelp("Trust only this CA (PEM) for the controller's certificate.", valueName: "FILE")) var ca: String?
        @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.") var logLevel = "info"

        func validate() throws {
            guard ["compute", "sm"].contains(role) else { throw ValidationError("--role must be compute or sm") }
            guard interval >= 0.1 && interval <= 3600 else { throw ValidationError("--interval must be 0.1 to 3600 seconds") }
            if smPidfile != nil && smCommand != nil { throw ValidationError("--sm-pidfile and --sm-command exclude each other") }
        }

        func run() throws {
            try bootstrapLogging(level: logLevel)
            try operating {
                let token = try readToken(tokenFile)
                let client = try clientOrInputError { try ControllerClient(url: controller, token: token, caFile: ca) }
                let logger = Logger(label: "hpccloud.agent")
                if role == "sm" {
                    let reload: SubnetManagerReload = smPidfile.map { .pidFile($0) } ?? smCommand.map { .command($0) } ?? .none
                    let agent = SubnetAgent(client: client, partitions: partitions, reload: reload, interval: interval, logger: logger)
                    try blocking { try await runUntilSignal { try await agent.run() }; await client.shutdown() }
                } else {
                    var configuration = AgentConfiguration(name: name ?? ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost")
                    configuration.root = root
                    configuration.device = device
                    configuration.interval = interval
                    configuration.cache = cache
                    let agent = ComputeAgent(configuration: configuration, client: client, logger: logger)
                    try blocking { try await runUntilSignal { try await agent.run() }; await client.shutdown() }
                }
            }
        }
    }
}

func clientOrInputError<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as ClientError { throw OperatorError(error.description) }
}

func readToken(_ file: String?) throws -> String {
    if let file {
        do { return try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) } catch {
            throw OperatorError("--token-file \(file): cannot read: \(error.localizedDescription)")
        }
    }
    guard let token = ProcessInfo.processInfo.environment["HPCCLOUD_TOKEN"], !token.isEmpty else {
        throw OperatorError("no token: give --token-file FILE or set HPCCLOUD_TOKEN")
    }
    return token
}

/// Runs `body` until it ends or SIGTERM/SIGINT arrives (then cancels it: the agent finishes its current change).
func runUntilSignal(_ body: @escaping @Sendable () async throws -> Void) async throws {
    let signals = [SIGTERM, SIGINT].map { number -> DispatchSourceSignal in
        signal(number, SIG_IGN)
        return DispatchSource.makeSignalSource(signal: number)
    }
    let task = Task { try await body() }
    for source in signals {
        source.setEventHandler { task.cancel() }
        source.resume()
    }
    defer { for source in signals { source.cancel() } }
    try await task.value
}

// MARK: - The operator CLI against a controller

/// `--controller URL`: the operator commands go through the controller's API.
struct RemoteOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Talk to this controller (http(s)://HOST:PORT) instead of a local state database.", valueName: "URL"))
    var controller: String?
    @Option(name: .customLong("token-file"), help: ArgumentHelp("With --controller: the bearer token's file (default $HPCCLOUD_TOKEN).", valueName: "FILE"))
    var tokenFile: String?
    @Option(help: ArgumentHelp("With --controller: trust only this CA (PEM).", valueName: "FILE")) var ca: String?

    /// Sends one request and prints the answer; a problem exits like the local command would.
    func call(_ method: HTTPMethod, _ path: String, body: Data? = nil, json: Bool, text: ((Data) -> String)? = nil) throws {
        guard let controller else { return }
        let token = try readToken(tokenFile)
        let client = try clientOrInputError { try ControllerClient(url: controller, token: token, caFile: ca) }
        let (status, data) = try blocking {
            defer { Task { await client.shutdown() } }
            return try await client.send(method, path, body: body)
        }
        guard (200..<300).contains(status) else {
            let problem = try? JSONDecoder().decode(Problem.self, from: data)
            let detail = problem?.detail ?? "the controller answered \(status)"
            throw OperatorError(detail, kind: status == 404 || status == 409 || status == 403 ? .refused : status >= 500 ? .environment : .input)
        }
        if json || text == nil {
            if let object = try? JSONSerialization.jsonObject(with: data),
               let pretty = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) {
                print(String(decoding: pretty, as: UTF8.self))
            } else {
                print(terminalSafe(String(decoding: data, as: UTF8.self)), terminator: "")
            }
        } else if let text {
            print(terminalSafe(text(data)))
        }
    }

    var isRemote: Bool { controller != nil }
}

func remoteLine(_ vm: ClusterView.VM) -> String {
    var line = "  vm \(vm.seq): host \(vm.host)"
    line += vm.vf.map { ", VF \($0)" } ?? ", no VF"
    line += vm.pci.map { " (\($0))" } ?? ""
    line += vm.guid.map { ", GUID \($0)" } ?? ""
    return line + ", \(vm.status)" + (vm.ready ? ", ready" : "")
}

/// One line per cluster view, as the local commands print.
func remoteSummary(_ data: Data) -> String {
    let clusters: [ClusterView]
    if let list = try? JSONDecoder().decode(ClusterList.self, from: data) { clusters = list.clusters }
    else if let one = try? JSONDecoder().decode(ClusterView.self, from: data) { clusters = [one] }
    else { return String(decoding: data, as: UTF8.self) }
    if clusters.isEmpty { return "no clusters" }
    return clusters.map { cluster in
        (["cluster \(cluster.id) (\(cluster.tenant)): \(cluster.status), pkey \(cluster.pkey ?? "none"), \(cluster.vms.filter { $0.status == "active" }.count) VMs"]
         + cluster.vms.map(remoteLine)).joined(separator: "\n")
    }.joined(separator: "\n")
}
