import Allocation
import ArgumentParser
import CloudModel
import ConnectX
import Foundation

/// What every operator command shares: the state database and how to reach the hardware.
struct OperatorOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The operator's state database (created on first use).", valueName: "DB"))
    var state: String = "hpccloud-state.sqlite"

    @Option(help: ArgumentHelp("simulated (rehearse, record changes in the state database) or connectx (write sysfs). Fixed at the first command.",
                               valueName: "B"))
    var backend: String?

    @Option(name: .customLong("sysfs-root"), help: ArgumentHelp("connectx: the hosts' sysfs: a directory holding sys/ (one host) or one subdirectory per host. Default /.",
                                                               valueName: "DIR"))
    var sysfsRoot: String?

    @Option(help: ArgumentHelp("The cloud (hosts in inventory order, policy, seed); needed on the first command only.", valueName: "S.yaml"))
    var scenario: String?

    @Option(help: ArgumentHelp("Where apply writes OpenSM's partitions.conf. Default: <state>.partitions.conf.", valueName: "FILE"))
    var partitions: String?

    @Option(name: .customLong("sm-pidfile"), help: ArgumentHelp("After writing partitions.conf, SIGHUP the pid in this file (OpenSM re-reads it).", valueName: "FILE"))
    var smPidfile: String?

    @Option(name: .customLong("sm-command"), help: ArgumentHelp("After writing partitions.conf, run this command instead.", valueName: "CMD"))
    var smCommand: String?

    @OptionGroup var hardware: HardwareOptions

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
            let discovered = kind == "connectx" ? try Operator.discoverHosts(sysfsRoot: sysfsRoot ?? "/") : nil
            try Operator.initialize(state: database, scenarioYAML: try String(contentsOfFile: scenario, encoding: .utf8),
                                    scenarioFile: URL(fileURLWithPath: scenario).standardizedFileURL.path, catalog: catalog,
                                    discovered: discovered, partitions: partitions)
            try database.setMeta(["backend": kind])
        }
        let kind = try database.meta("backend") ?? "simulated"
        if let backend, backend != kind { throw OperatorError("\(state) drives the \(kind) backend; start a new state for \(backend)") }
        let reload: SubnetManagerReload = smPidfile.map { .pidFile($0) } ?? smCommand.map { .command($0) } ?? .none
        return try Operator(state: database, catalog: catalog,
                            backend: kind == "connectx" ? ConnectXBackend() : SimulatedBackend(state: database),
                            partitionsPath: partitions, reloadSubnetManager: { try reload.perform() })
    }
}

/// Runs an operator command; its failures are one line and exit 2.
func operating(_ body: () throws -> Void) throws {
    try reportingInputErrors {
        do {
            try body()
        } catch let error as OperatorError {
            throw InputError(file: "hpccloud", message: error.description)
        } catch let error as SysfsError {
            throw InputError(file: error.path, message: error.description)
        }
    }
}

func describe(_ decision: Decision) -> String {
    switch decision {
    case .accepted(let pkey, let vms):
        let placed = vms.map { vm in "host \(vm.host)" + (vm.virtualFunction.map { " VF \($0)" } ?? "") }.joined(separator: ", ")
        return "accepted" + (pkey.map { ", pkey \($0)" } ?? "") + (placed.isEmpty ? "" : ": " + placed)
    case .rejected(let reason): return "rejected: \(reason.rawValue)"
    case .ignored: return "ignored: no such running cluster"
    }
}

struct ClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Create, resize, delete and list tenant clusters with the shared allocation engine (then `plan` and `apply`).",
        subcommands: [Create.self, Resize.self, Delete.self, List.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Admit a virtual cluster: the engine picks hosts, VFs and the pkey.")
        @OptionGroup var options: OperatorOptions
        @Option(help: "The tenant.") var tenant: String
        @Option(help: "VMs in the cluster.") var vms: Int
        @Option(help: "vCPUs per VM.") var vcores: Int
        @Option(name: .customLong("mem-gib"), help: "GiB of memory per VM.") var memGiB: Int = 2
        @Option(help: "hpc (a VF and the cluster's pkey) or common.") var kind: String = "hpc"
        @Option(help: "fixed (pinned vCPUs) or dynamic.") var pinning: String = "fixed"
        @Option(help: ArgumentHelp("Placement policy: \(PlacementPolicies.names.joined(separator: ", ")). Default: the scenario's.")) var policy: String?
        @Flag(help: "Apply right away.") var apply = false

        func validate() throws {
            guard vms >= 1, vcores >= 1, memGiB >= 0 else { throw ValidationError("--vms and --vcores must be at least 1") }
            guard VMKind(rawValue: kind) != nil else { throw ValidationError("--kind must be hpc or common") }
            guard Pinning(rawValue: pinning) != nil else { throw ValidationError("--pinning must be fixed or dynamic") }
            if let policy, !PlacementPolicies.names.contains(policy) { throw ValidationError("unknown policy '\(policy)'") }
        }

        func run() throws {
            try operating {
                let op = try options.makeOperator()
                let (id, decision) = try op.create(tenant: tenant, vms: vms, vcores: vcores, memoryGiB: memGiB,
                                                   kind: VMKind(rawValue: kind)!, pinning: Pinning(rawValue: pinning)!, policy: policy)
                print("cluster \(id) (\(tenant)): \(describe(decision))")
                if apply { try printApply(op) }
            }
        }
    }

    struct Resize: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Grow (+K) or shrink (-K) a running cluster.")
        @OptionGroup var options: OperatorOptions
        @Option(help: "The cluster id.") var id: Int64
        @Option(help: ArgumentHelp("VMs to add (positive) or remove (negative).", valueName: "K")) var by: Int
        @Option(help: "Placement policy for added VMs.") var policy: String?
        @Flag(help: "Apply right away.") var apply = false

        func run() throws {
            try operating {
                let op = try options.makeOperator()
                print("cluster \(id): \(describe(try op.resize(id: id, by: by, policy: policy)))")
                if apply { try printApply(op) }
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End a cluster: its VFs, host pkey entries and pkey come back.")
        @OptionGroup var options: OperatorOptions
        @Option(help: "The cluster id.") var id: Int64
        @Flag(help: "Apply right away.") var apply = false

        func run() throws {
            try operating {
                let op = try options.makeOperator()
                print("cluster \(id): \(describe(try op.delete(id: id)).replacingOccurrences(of: "accepted", with: "deleted"))")
                if apply { try printApply(op) }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The running clusters: pkey, VMs with host, VF and GUID.")
        @OptionGroup var options: OperatorOptions

        func run() throws {
            try operating {
                let op = try options.makeOperator()
                if op.clusters.isEmpty { print("no running clusters") }
                for cluster in op.clusters {
                    print("cluster \(cluster.id): pkey \(cluster.pkey?.description ?? "none"), \(cluster.vms.count) VMs x \(cluster.shape.vcores) vCPUs")
                    for (i, vm) in cluster.vms.enumerated() {
                        let vf = vm.virtualFunction.map { "VF \($0), GUID \(GUIDFormat.hex(Operator.vmGUID(host: vm.host, vf: $0)))" } ?? "no VF"
                        print("  vm \(i): host \(vm.host) (\(op.hosts[vm.host].name)), \(vf)")
                    }
                }
            }
        }
    }
}

func printApply(_ op: Operator) throws {
    let report = try op.apply()
    for change in report.applied { print("applied: \(change)") }
    for note in report.notes { print("note: \(note)") }
    for (change, error) in report.failed { print("FAILED: \(change): \(error)") }
    if report.applied.isEmpty && report.failed.isEmpty { print("nothing to do: the hardware matches the engine") }
    if !report.failed.isEmpty { throw ExitCode(1) }
}

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what apply would change: the engine's desired state against the hardware's actual state.")
    @OptionGroup var options: OperatorOptions

    func run() throws {
        try operating {
            let changes = try options.makeOperator().plan()
            if changes.isEmpty { print("nothing to do: the hardware matches the engine") }
            for change in changes { print(change) }
        }
    }
}

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Converge the hardware on the engine's decisions (journaled; safe to rerun; one at a time).")
    @OptionGroup var options: OperatorOptions

    func run() throws {
        try operating { try printApply(try options.makeOperator()) }
    }
}

struct Partitions: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "OpenSM's partitions.conf for the running clusters.")
    @OptionGroup var options: OperatorOptions
    @Flag(help: "Print the file without writing it.") var print = false

    func run() throws {
        try operating {
            let op = try options.makeOperator()
            if print {
                Swift.print(op.partitionsText, terminator: "")
            } else {
                try AtomicFile.write(op.partitionsText, to: op.partitionsPath)
                Swift.print("Wrote \(op.partitionsPath) (use apply to also reload the subnet manager)")
            }
        }
    }
}
