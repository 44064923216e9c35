import Allocation
import ArgumentParser
import CloudModel
import ConnectX
import ControlPlane
import Foundation
import Operations
import SimulatedHardware

/// What every operator command shares: the state database and how to reach the hardware.
struct OperatorOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The operator's state database (created on first use).", valueName: "DB"))
    var state: String = "hpccloud-state.sqlite"

    @Option(help: ArgumentHelp("simulated (rehearse: hardware recorded in the state database) or connectx (mlx4/mlx5 through sysfs and rtnetlink). Fixed at the first command.",
                               valueName: "B"))
    var backend: String?

    @Option(name: .customLong("sysfs-root"), help: ArgumentHelp("connectx, first command: the hosts' roots: a directory holding sys/ (one host) or one subdirectory per host. Default /.",
                                                               valueName: "DIR"))
    var sysfsRoot: String?

    @Option(help: ArgumentHelp("The cloud (hosts in inventory order, policy, seed, subnet); needed on the first command only.", valueName: "S.yaml"))
    var scenario: String?

    @Option(help: ArgumentHelp("OpenSM's partitions.conf; hpccloud writes only its managed block. Default: <state>.partitions.conf.", valueName: "FILE"))
    var partitions: String?

    @Option(name: .customLong("sm-pidfile"), help: ArgumentHelp("After writing partitions.conf, SIGHUP the pid in this file (OpenSM re-reads it on a heavy sweep).", valueName: "FILE"))
    var smPidfile: String?

    @Option(name: .customLong("sm-command"), help: ArgumentHelp("After writing partitions.conf, run this shell command instead.", valueName: "CMD"))
    var smCommand: String?

    @Option(name: .customLong("as"), help: ArgumentHelp("Who the audit trail names (default $SUDO_USER or $USER).", valueName: "NAME"))
    var actor: String?

    @OptionGroup var hardware: HardwareOptions
    @OptionGroup var remote: RemoteOptions
    /// With --scenario, on the first command: the cloud is recorded with these keys set.
    @OptionGroup var settings: ScenarioSettings

    func validate() throws {
        if let backend, !["simulated", "connectx"].contains(backend) {
            throw ValidationError("--backend must be simulated or connectx, got '\(backend)'")
        }
        if smPidfile != nil && smCommand != nil { throw ValidationError("--sm-pidfile and --sm-command exclude each other") }
    }

    func makeOperator() throws -> Operator {
        let database = try OperatorState(path: state)
        let catalog = try hardware.catalog(scenarioPath: scenario)
        if try database.meta("scenarioYAML") == nil {
            guard let scenario else { throw OperatorError("\(state) is new: give the cloud with --scenario S.yaml") }
            let kind = backend ?? "simulated"
            let discovered = kind == "connectx" ? try ConnectXBackend.discoverHosts(sysfsRoot: sysfsRoot ?? "/") : nil
            var yaml: String
            do { yaml = try String(contentsOfFile: scenario, encoding: .utf8) } catch {
                throw OperatorError("\(scenario): cannot read: \(error.localizedDescription)")
            }
            let parsed = try settings.parsed(file: scenario)
            if !parsed.isEmpty { yaml = try ScenarioOverride.apply(parsed, to: yaml, file: scenario) }
            try Operator.initialize(state: database, scenarioYAML: yaml, scenarioFile: URL(fileURLWithPath: scenario).standardizedFileURL.path,
                                    catalog: catalog, discovered: discovered, backend: kind, partitions: partitions)
        } else if !settings.values.isEmpty {
            throw OperatorError("--set changes the cloud, which \(state) fixed at its first command; start a new state for another cloud", kind: .refused)
        }
        let kind = try database.meta("backend") ?? "simulated"
        if let backend, backend != kind { throw OperatorError("\(state) drives the \(kind) backend; start a new state for \(backend)") }
        let stored = try database.meta("partitions")
        let path = partitions ?? stored ?? (state + ".partitions.conf")
        let reload: SubnetManagerReload = smPidfile.map { .pidFile($0) } ?? smCommand.map { .command($0) } ?? .none
        let subnetManager: SubnetManager = kind == "simulated" && reload == .none
            ? SimulatedSubnetManager(path: path, state: database) : OpenSMPartitionsFile(path: path, reload: reload)
        let backend: Backend = kind == "connectx" ? ConnectXBackend() : SimulatedBackend(state: database)
        return try Operator(state: database, catalog: catalog, backend: backend, subnetManager: subnetManager,
                            actor: actor ?? Operator.defaultActor)
    }
}

/// `--apply` on the commands that change clusters.
struct ApplyNow: ParsableArguments {
    @Flag(help: "Apply right away.") var apply = false
    @Option(help: ArgumentHelp("With --apply: seconds to wait for the subnet manager to program the ports.", valueName: "S")) var wait: Double = 60

    func validate() throws {
        guard wait >= 0 && wait <= 3600 else { throw ValidationError("--wait must be 0 to 3600 seconds") }
    }
}

struct JSONOption: ParsableArguments {
    @Flag(help: "Print JSON (for scripts) instead of text.") var json = false
}

/// Runs an operator command. Exit status: 0 done, 2 bad input, 3 rejected or
/// ignored, 1 the environment failed (state, host, subnet manager); one line on stderr.
func operating(_ body: () throws -> Void) throws {
    do {
        try reportingInputErrors(body)
    } catch let error as OperatorError {
        printError("hpccloud: error: \(terminalSafe(error.description))")
        throw ExitCode(error.kind.rawValue)
    } catch let error as SysfsError {
        printError("hpccloud: error: \(terminalSafe(error.description))")
        throw ExitCode(1)
    }
}

/// Control characters (escape sequences) from recorded strings never reach the terminal raw; newlines stay.
func terminalSafe(_ text: String) -> String { TerminalText.visible(text, keepingNewlines: true) }

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

func describe(_ vms: [RecordedVM]) -> String {
    vms.map { vm in "host \(vm.host)" + (vm.vf.map { " VF \($0)" } ?? "") }.joined(separator: ", ")
}

/// Prints an outcome and its misfits, then applies when asked; a refusal exits 3.
/// With `--json --apply` one object holds both: `{"outcome": ..., "apply": ...}`.
func finish(_ outcome: Operator.Outcome, json: Bool, text: String, apply now: ApplyNow, _ op: Operator) throws {
    struct Both: Encodable {
        var outcome: Operator.Outcome
        var apply: ReconcileReport
    }
    for problem in outcome.problems { printError("hpccloud: warning: \(terminalSafe(problem))") }
    let refused = outcome.outcome == "rejected" || outcome.outcome == "ignored"
    if !json { print(terminalSafe(text)) }
    if now.apply && !refused {
        let report = try runApply(op, wait: now.wait)
        if json { try printJSON(Both(outcome: outcome, apply: report)) } else { printReport(report) }
        if !report.converged { throw ExitCode(1) }
    } else if json {
        try printJSON(outcome)
    }
    if refused { throw ExitCode(3) }  // nothing was decided, so nothing is applied
}

struct ClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Create, resize, delete, list and show tenant clusters with the shared allocation engine (then `plan` and `apply`).",
        discussion: "Exit status: 0 done, 2 bad input, 3 rejected or ignored (no such cluster), 1 the state, a host or the subnet manager failed.",
        subcommands: [Create.self, Resize.self, Delete.self, List.self, Show.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Admit a virtual cluster: the engine picks hosts, VFs and the pkey; the decision is recorded.")
        @OptionGroup var options: OperatorOptions
        @Option(help: "The tenant.") var tenant: String
        @Option(help: "VMs in the cluster.") var vms: Int
        @Option(help: "vCPUs per VM.") var vcores: Int
        @Option(name: .customLong("mem-gib"), help: "GiB of memory per VM.") var memGiB: Int = 2
        @Option(help: "hpc (a VF and the cluster's pkey) or common.") var kind: String = "hpc"
        @Option(help: "fixed (pinned vCPUs) or dynamic.") var pinning: String = "fixed"
        @Option(help: ArgumentHelp("Placement policy: \(PlacementPolicies.names.joined(separator: ", ")). Default: the scenario's.")) var policy: String?
        @OptionGroup var now: ApplyNow
        @OptionGroup var output: JSONOption

        func validate() throws {
            guard VMKind(rawValue: kind) != nil else { throw ValidationError("--kind must be hpc or common") }
            guard Pinning(rawValue: pinning) != nil else { throw ValidationError("--pinning must be fixed or dynamic") }
            if let policy, !PlacementPolicies.names.contains(policy) { throw ValidationError("unknown policy '\(policy)'") }
        }

        func run() throws {
            try operating {
                if options.remote.isRemote {
                    let body = try API.encoder.encode(ClusterCreate(vms: vms, vcores: vcores, memoryGiB: memGiB, kind: kind, pinning: pinning, policy: policy, tenant: tenant))
                    return try options.remote.call(.POST, "/v1/clusters", body: body, json: output.json, text: remoteSummary)
                }
                let op = try options.makeOperator()
                let outcome = try op.create(ClusterSpec(tenant: tenant, vms: vms, vcores: vcores, memoryGiB: memGiB, kind: VMKind(rawValue: kind)!,
                                                        pinning: Pinning(rawValue: pinning)!, policy: policy))
                let text = outcome.outcome == "accepted"
                    ? "cluster \(outcome.clusterID!) (\(tenant)): accepted" + (outcome.pkey.map { ", pkey \(PartitionKey($0))" } ?? "") + ": " + describe(outcome.vms)
                    : "cluster (\(tenant)): rejected: \(outcome.reason ?? "")"
                try finish(outcome, json: output.json, text: text, apply: now, op)
            }
        }
    }

    struct Resize: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Grow (+K) or shrink (-K) a running cluster (never below one VM).")
        @OptionGroup var options: OperatorOptions
        @Option(help: "The cluster id.") var id: Int64
        @Option(parsing: .unconditional, help: ArgumentHelp("VMs to add (K) or remove (-K): --by -3 or --by=-3.", valueName: "K")) var by: Int
        @Option(help: "Placement policy for added VMs.") var policy: String?
        @OptionGroup var now: ApplyNow
        @OptionGroup var output: JSONOption

        func run() throws {
            try operating {
                if options.remote.isRemote {
                    return try options.remote.call(.POST, "/v1/clusters/\(id)/resize", body: try API.encoder.encode(ClusterResize(by: by, policy: policy)),
                                                   json: output.json, text: remoteSummary)
                }
                let op = try options.makeOperator()
                let outcome = try op.resize(id: id, by: by, policy: policy)
                let text = switch outcome.outcome {
                case "accepted": "cluster \(id): \(by > 0 ? "grown by" : "shrunk by") \(by.magnitude): \(describe(outcome.vms))"
                default: "cluster \(id): \(outcome.outcome): \(outcome.reason ?? "")"
                }
                try finish(outcome, json: output.json, text: text, apply: now, op)
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End a cluster: apply detaches its VFs; its pkey and GUIDs stay quarantined until every host confirmed.")
        @OptionGroup var options: OperatorOptions
        @Option(help: "The cluster id.") var id: Int64
        @OptionGroup var now: ApplyNow
        @OptionGroup var output: JSONOption

        func run() throws {
            try operating {
                if options.remote.isRemote { return try options.remote.call(.DELETE, "/v1/clusters/\(id)", json: output.json, text: remoteSummary) }
                let op = try options.makeOperator()
                let outcome = try op.delete(id: id)
                let text = switch outcome.outcome {
                case "deleting": "cluster \(id): deleting: apply detaches \(describe(outcome.vms))"
                case "deleted": "cluster \(id): deleted"
                default: "cluster \(id): \(outcome.outcome): \(outcome.reason ?? "")"
                }
                try finish(outcome, json: output.json, text: text, apply: now, op)
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The clusters: pkey, status, VMs with host, VF and GUID.")
        @OptionGroup var options: OperatorOptions
        @Option(help: "Only this tenant's clusters.") var tenant: String?
        @OptionGroup var output: JSONOption

        func run() throws {
            try operating {
                if options.remote.isRemote {
                    let query = tenant.map { "?tenant=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" } ?? ""
                    return try options.remote.call(.GET, "/v1/clusters" + query, json: output.json, text: remoteSummary)
                }
                let op = try options.makeOperator()
                let loaded = try op.snapshot()
                let clusters = loaded.clusters.filter { tenant == nil || $0.tenant == tenant }
                for problem in loaded.problems { printError("hpccloud: warning: \(terminalSafe(problem))") }
                if output.json { return try printJSON(clusters) }
                if clusters.isEmpty { print("no clusters") }
                for cluster in clusters { print(terminalSafe(summary(cluster, hosts: op.hosts))) }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One cluster: what a hypervisor needs to pass each VM's VF through.")
        @OptionGroup var options: OperatorOptions
        @Option(help: "The cluster id.") var id: Int64
        @OptionGroup var output: JSONOption

        func run() throws {
            try operating {
                if options.remote.isRemote { return try options.remote.call(.GET, "/v1/clusters/\(id)", json: output.json, text: remoteSummary) }
                let op = try options.makeOperator()
                guard let cluster = try op.snapshot().clusters.first(where: { $0.id == id }) else {
                    throw OperatorError("no cluster \(id) (it never existed or has ended)", kind: .refused)
                }
                if output.json { return try printJSON(cluster) }
                print(terminalSafe(summary(cluster, hosts: op.hosts)))
            }
        }
    }
}

func summary(_ cluster: RecordedCluster, hosts: [HostEntry]) -> String {
    var lines = ["cluster \(cluster.id) (\(cluster.tenant)): \(cluster.status), pkey \(cluster.pkey.map { PartitionKey($0).description } ?? "none"), "
                 + "\(cluster.activeVMs.count) VMs x \(cluster.vcores) vCPUs \(cluster.pinning), \(cluster.memoryMiB / 1024) GiB, \(cluster.kind)"]
    for vm in cluster.vms {
        let name = vm.host < hosts.count ? hosts[vm.host].name : "?"
        let vf = vm.vf.map { "VF \($0), GUID \(vm.guid.map(GUIDFormat.hex) ?? "?")" } ?? "no VF"
        lines.append("  vm \(vm.seq): host \(vm.host) (\(name)), \(vf)" + (vm.status == "active" ? "" : ", \(vm.status)"))
    }
    return lines.joined(separator: "\n")
}

func runApply(_ op: Operator, only: Set<Int>? = nil, manageSubnet: Bool = true, wait: Double) throws -> ReconcileReport {
    try op.apply(only: only, manageSubnet: manageSubnet, wait: wait) { progress in
        if isatty(2) != 0 { printError("hpccloud: \(progress)") }
    }
}

func printReport(_ report: ReconcileReport) {
    for change in report.changes { print("applied: \(terminalSafe(change.description))") }
    for note in report.notes { print("note: \(terminalSafe(note))") }
    for line in report.confirmed { print("confirmed: \(terminalSafe(line))") }
    for failure in report.failed { print("FAILED: \(terminalSafe(failure.change.description)): \(terminalSafe(failure.error))") }
    for host in report.unreachable { print("UNREACHABLE: \(terminalSafe(host.hostName)): \(terminalSafe(host.error)) (its changes wait; the other hosts went on)") }
    for line in report.waiting { print("waiting: \(terminalSafe(line))") }
    for problem in report.problems { print("problem: \(terminalSafe(problem))") }
    if report.changes.isEmpty && report.converged && report.confirmed.isEmpty { print("nothing to do: the hardware matches the recorded placements") }
}

/// Applies and prints the report; not converged exits 1.
func printApply(_ op: Operator, json: Bool, only: Set<Int>? = nil, manageSubnet: Bool = true, wait: Double) throws {
    let report = try runApply(op, only: only, manageSubnet: manageSubnet, wait: wait)
    if json { try printJSON(report) } else { printReport(report) }
    if !report.converged { throw ExitCode(1) }
}

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what apply would change: the recorded placements against each host's hardware and the subnet manager.")
    @OptionGroup var options: OperatorOptions
    @OptionGroup var output: JSONOption

    func run() throws {
        try operating {
            if options.remote.isRemote { return try options.remote.call(.GET, "/v1/plan", json: true) }
            let report = try options.makeOperator().plan()
            if output.json { return try printJSON(report) }
            if report.changes.isEmpty && report.unreachable.isEmpty && report.waiting.isEmpty { print("nothing to do: the hardware matches the recorded placements") }
            for change in report.changes { print(terminalSafe(change.description)) }
            for host in report.unreachable { print("UNREACHABLE: \(terminalSafe(host.hostName)): \(terminalSafe(host.error))") }
            for line in report.waiting { print("waiting: \(terminalSafe(line))") }
            for problem in report.problems { print("problem: \(terminalSafe(problem))") }
        }
    }
}

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Converge the hardware on the recorded placements: detach, subnet manager, wait, attach (journaled; one at a time).",
        discussion: "Exit status 0 when converged; 1 when a change failed, a host was unreachable or something still waits.")
    @OptionGroup var options: OperatorOptions
    @Option(help: ArgumentHelp("Seconds to wait for the subnet manager to program the ports.", valueName: "S")) var wait: Double = 60
    @OptionGroup var output: JSONOption

    func validate() throws {
        guard wait >= 0 && wait <= 3600 else { throw ValidationError("--wait must be 0 to 3600 seconds") }
    }

    func run() throws {
        try operating { try printApply(try options.makeOperator(), json: output.json, wait: wait) }
    }
}

struct Reconcile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "At boot, before VMs start: bring one host's VFs back to the recorded placements (a rebooted mlx4 VF maps the default partition).",
        discussion: "Hardware/systemd/hpccloud-reconcile.service runs this. It leaves the subnet manager's configuration alone.")
    @OptionGroup var options: OperatorOptions
    @Option(help: "The host (inventory name or index); default: this machine's hostname.") var host: String?
    @Option(help: ArgumentHelp("Seconds to wait for the port's pkeys (the subnet manager reprograms a port that comes up).", valueName: "S")) var wait: Double = 120
    @OptionGroup var output: JSONOption

    func run() throws {
        try operating {
            let op = try options.makeOperator()
            let name = host ?? ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? ""
            guard let entry = op.hosts.first(where: { $0.isNamed(name) }) else {
                throw OperatorError("no host '\(name)' in the inventory (give --host)")
            }
            try printApply(op, json: output.json, only: [entry.index], manageSubnet: false, wait: wait)
        }
    }
}

struct HostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host", abstract: "The inventory: per-host capacity and use; drain a host (no new VMs) or return it to service.",
        subcommands: [List.self, Drain.self, Undrain.self])

    struct HostView: Codable {
        var index: Int
        var name: String
        var drained: Bool
        var cores: Int
        var freeCores: Int
        var memoryMiB: Int64
        var usedMemoryMiB: Int64
        var vfs: Int
        var usedVFs: Int
        var pkeyEntries: Int
        var usedPKeyEntries: Int
        var portGUID: String
        var membership: String
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each host's capacity and what the recorded placements use of it.")
        @OptionGroup var options: OperatorOptions
        @OptionGroup var output: JSONOption

        func run() throws {
            try operating {
                if options.remote.isRemote { return try options.remote.call(.GET, "/v1/hosts", json: true) }
                let op = try options.makeOperator()
                let loaded = try op.snapshot()
                let views = op.hosts.map { host in
                    let u = loaded.engine.usage(host: host.index)
                    return HostView(index: host.index, name: host.name, drained: u.drained, cores: u.cores, freeCores: u.freeCores,
                                    memoryMiB: u.memoryMiB, usedMemoryMiB: u.usedMemoryMiB, vfs: u.vfs, usedVFs: u.usedVFs,
                                    pkeyEntries: u.pkeyEntries, usedPKeyEntries: u.usedPKeyEntries, portGUID: GUIDFormat.hex(host.portGUID),
                                    membership: host.membership.rawValue)
                }
                if output.json { return try printJSON(views) }
                print("host  name              cores  free  mem GiB  used  VFs  used  pkey entries  used  state")
                for v in views {
                    let name = terminalSafe(v.name)
                    print(String(format: "%4d  ", v.index) + name.padding(toLength: max(16, name.count), withPad: " ", startingAt: 0)
                          + String(format: "  %5d  %4d  %7d  %4d  %3d  %4d  %12d  %4d  ", v.cores, v.freeCores, Int(v.memoryMiB / 1024),
                                   Int(v.usedMemoryMiB / 1024), v.vfs, v.usedVFs, v.pkeyEntries, v.usedPKeyEntries)
                          + (v.drained ? "drained" : "in service"))
                }
            }
        }
    }

    struct Drain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "No new VMs on the host; what runs there stays.",
            discussion: """
            With --plan, nothing changes: the engine works out, on a copy of the recorded
            state and with the scenario's policy, where each VM on the host would go to
            empty it (cluster, tenant, VM, source host and VF, destination host and VF),
            or names the first VM no other host takes and the rule that stops it.
            With --migrate, the host is drained and emptied: each VM in turn is recorded
            at its destination beside its source, the destination VF is attached (the
            subnet manager told first), the --hook command moves the VM (memory copy and
            switch to the new VF; it gets the move in HPCCLOUD_CLUSTER, _TENANT, _VM,
            _GUID, _PKEY, _FROM_HOST, _FROM_VF, _TO_HOST, _TO_VF), and only then is the
            source VF unmapped and the move recorded. A failed attach or hook (one that
            exits non-zero, or runs past --hook-timeout and is stopped: it must then leave
            the VM at its source) leaves the VM where it was (its destination VF detached)
            and stops the drain (exit 1).
            """)
        @OptionGroup var options: OperatorOptions
        @Argument(help: "The host (inventory name or index).") var host: String
        @Flag(help: "Show the migrations that would empty the host; change nothing.") var plan = false
        @Flag(help: "Drain the host and migrate every VM off it, destination first.") var migrate = false
        @Option(help: ArgumentHelp("With --migrate: the hypervisor's migration command (run by /bin/sh per VM); none: the VFs and partitions move, the memory is someone else's.",
                                   valueName: "CMD")) var hook: String?
        @Option(help: ArgumentHelp("With --migrate: seconds to wait for the subnet manager to program each port.", valueName: "S")) var wait: Double = 60
        @Option(name: .customLong("hook-timeout"), help: ArgumentHelp("With --hook: seconds each hook run may take; past it the hook's process group gets SIGTERM (SIGKILL 10 s later) and the move fails, the VM left at its source.", valueName: "S"))
        var hookTimeout: Double = Operator.defaultHookTimeout
        @OptionGroup var output: JSONOption

        func validate() throws {
            if plan && migrate { throw ValidationError("--plan and --migrate exclude each other") }
            if hook != nil && !migrate { throw ValidationError("--hook needs --migrate") }
            guard wait >= 0 && wait <= 3600 else { throw ValidationError("--wait must be 0 to 3600 seconds") }
            guard hookTimeout > 0 && hookTimeout <= 86_400 else { throw ValidationError("--hook-timeout must be above 0 and at most 86400 seconds") }
        }

        func run() throws {
            if migrate {
                return try operating {
                    guard !options.remote.isRemote else { throw OperatorError("--migrate drives the hosts: run it on the controller (no --controller)", kind: .refused) }
                    let moves = try options.makeOperator().drain(host: host, hook: hook, wait: wait, hookTimeout: hookTimeout)
                    if output.json { try printJSON(moves) } else {
                        print("Drained \(terminalSafe(host)); \(moves.filter { $0.outcome == "moved" }.count) of \(moves.count) VM\(moves.count == 1 ? "" : "s") moved:")
                        for m in moves {
                            print("  " + HostCommand.describe(m.move) + ": \(m.outcome)" + (m.detail.map { " (\(terminalSafe($0)))" } ?? ""))
                        }
                    }
                    if let failed = moves.first(where: { $0.outcome != "moved" }) {
                        throw OperatorError("cluster \(failed.move.cluster) VM \(failed.move.vm) did not move: \(failed.detail ?? "")", kind: .environment)
                    }
                }
            }
            guard plan else { return try HostCommand.setDrained(options, host, true, json: output.json) }
            try operating {
                guard !options.remote.isRemote else { throw OperatorError("--plan reads the state database: run it on the controller (no --controller)", kind: .refused) }
                let steps = try options.makeOperator().drainPlan(host: host)
                if output.json { return try printJSON(steps) }
                print("Draining \(terminalSafe(host)) moves \(steps.count) VM\(steps.count == 1 ? "" : "s") (nothing changed):")
                for step in steps { print("  " + HostCommand.describe(step)) }
            }
        }
    }

    struct Undrain: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Return a drained host to service.")
        @OptionGroup var options: OperatorOptions
        @Argument(help: "The host (inventory name or index).") var host: String
        @OptionGroup var output: JSONOption

        func run() throws { try HostCommand.setDrained(options, host, false, json: output.json) }
    }

    /// `cluster 1 (alice) VM 0: sim0 VF 0 -> sim1 VF 2`, every name terminal-safe.
    static func describe(_ step: PlannedMigration) -> String {
        "cluster \(step.cluster) (\(terminalSafe(step.tenant))) VM \(step.vm): \(terminalSafe(step.fromHost))" + (step.fromVF.map { " VF \($0)" } ?? "")
            + " -> \(terminalSafe(step.toHost))" + (step.toVF.map { " VF \($0)" } ?? "")
    }

    /// Prints the host as recorded afterwards: a line, or with `json` its inventory entry.
    static func setDrained(_ options: OperatorOptions, _ host: String, _ drained: Bool, json: Bool) throws {
        try operating {
            if options.remote.isRemote {
                let name = host.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? host
                return try options.remote.call(.POST, "/v1/hosts/\(name)/\(drained ? "drain" : "undrain")", json: true)
            }
            let entry = try options.makeOperator().setDrained(host: host, drained)
            if json { return try printJSON(entry) }
            print("host \(terminalSafe(entry.name)): \(drained ? "drained" : "in service")")
        }
    }
}

struct Journal: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The hardware journal (each change intended, applied or failed), or with --audit who asked what, when, and the outcome.")
    @OptionGroup var options: OperatorOptions
    @Flag(help: "The audit trail of operator commands instead.") var audit = false
    @Option(help: "At most this many rows, the newest.") var limit: Int = 200
    @OptionGroup var output: JSONOption

    func validate() throws {
        guard limit >= 1 && limit <= 1_000_000 else { throw ValidationError("--limit must be 1 to 1000000") }
    }

    func run() throws {
        try operating {
            if options.remote.isRemote { return try options.remote.call(.GET, "/v1/journal?audit=\(audit)&limit=\(limit)", json: true) }
            let op = try options.makeOperator()
            let rows = audit ? try op.operations(limit: limit) : try op.journal(limit: limit)
            if output.json { return try printJSON(rows) }
            let columns = audit ? ["seq", "time", "actor", "action", "clusterId", "arguments", "outcome", "detail"]
                : ["seq", "time", "host", "status", "change", "error"]
            for row in rows { print(terminalSafe(columns.map { row[$0] ?? "" }.filter { !$0.isEmpty }.joined(separator: "  "))) }
        }
    }
}

struct Partitions: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "OpenSM's partitions.conf as apply would write it (the site's lines kept, hpccloud's managed block).")
    @OptionGroup var options: OperatorOptions

    func run() throws {
        try operating {
            if options.remote.isRemote { return try options.remote.call(.GET, "/v1/partitions", json: false, text: { String(decoding: $0, as: UTF8.self) }) }
            let op = try options.makeOperator()
            guard let text = try op.desiredPartitionsText() else {
                throw OperatorError("a site partition uses a tenant's pkey: see `hpccloud plan`", kind: .environment)
            }
            print(text, terminator: "")
        }
    }
}
