import Foundation

/// A validated scenario file (SEMANTICS 10).
public struct Scenario: Sendable {
    public var name: String
    public var description: String?
    public var seed: UInt64
    public var policy: String
    public var cloud: CloudSpec
    /// Nil when the file has none (a cloud for `replay`, which brings its own trace).
    public var workload: WorkloadSpec?
    /// Reject on arrival (the default), or queue (FCFS, EASY backfilling).
    public var admission: AdmissionSpec
    /// Share of the arrivals' span left out of the steady-state averages as warm-up
    /// (`steadyState.warmup`, 0.1 when absent); the drain after the last arrival is always left out.
    public var steadyWarmup: Double
    /// Whether and how running VMs move (`migration:`; absent: never).
    public var migration: MigrationSpec
    /// The network path of hpc clusters in the overhead model (`overheads.path`):
    /// `sriov-ib` unless a scenario compares another (an overlay, Ethernet).
    public var networkPath: String
    /// The application profile of the overhead model (`overheads.profile`): a name
    /// from `Hardware/overheads.yaml` (nil: its `hpl`), or the scenario's own numbers.
    public var overheadProfile: OverheadProfileSpec?
    /// The hardware directory the scenario was loaded against (its overhead model lives there).
    public var hardwareDirectory: String
    /// The file it came from (or a label for the embedded default).
    public var file: String
}

/// Reads and validates scenario files. Every problem is an `InputError` naming
/// the file, line, column and key path.
public struct ScenarioLoader: Sendable {
    public let catalog: HardwareCatalog
    /// Policy names the engine knows; `policy:` must be one of them or `exec:COMMAND`.
    public let policies: [String]

    public init(catalog: HardwareCatalog, policies: [String]) {
        self.catalog = catalog
        self.policies = policies
    }

    public func load(path: String) throws -> Scenario {
        try load(yaml: try readText(path), file: path)
    }

    /// - Parameter file: named in errors; relative paths inside resolve against its directory.
    public func load(yaml: String, file: String) throws -> Scenario {
        let root = try YAMLValue.parse(yaml, file: file)
        let map = try root.mapping(allowed: ["name", "description", "seed", "policy", "overcommit", "subnet", "subnets", "routers", "hosts", "workload",
                                             "admission", "overheads", "migration", "steadyState"])
        let overheads = try map["overheads"]?.mapping(allowed: ["path", "profile"])

        let policyValue = map["policy"]
        let policy = try policyValue?.string() ?? "first-fit"
        if let policyValue, let problem = PolicyReference.validate(policy, names: policies) {
            throw policyValue.error(problem)
        }

        var overcommit = Overcommit.none
        if let value = map["overcommit"] {
            let text = try value.scalarText(expecting: "a ratio such as 1.5 or 3/2")
            guard let parsed = Overcommit(parsing: text.trimmingSpaces) else {
                throw value.error("expected a ratio from 1 to \(Overcommit.maximum) such as 2, 1.5 (at most 6 decimals) or 3/2, got '\(text)'")
            }
            overcommit = parsed
        }

        let cloud = try parseCloud(map, overcommit: overcommit, file: file)
        return Scenario(
            name: try map["name"]?.string() ?? URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent,
            description: try map["description"]?.string(),
            seed: UInt64(try map["seed"]?.int(in: 0...Int.max, what: "a seed") ?? 1),
            policy: policy,
            cloud: cloud,
            workload: try map["workload"].map { try parseWorkload($0, scenarioFile: file) },
            admission: try map["admission"].map(parseAdmission) ?? .reject,
            steadyWarmup: try map["steadyState"].map { try $0.mapping(allowed: ["warmup"]).required("warmup").double(atLeast: 0, atMost: 0.99) } ?? 0.1,
            migration: try map["migration"].map { try parseMigration($0, hostCount: cloud.hostCount) } ?? .none,
            networkPath: try overheads?["path"]?.string() ?? "sriov-ib",
            overheadProfile: try overheads?["profile"].map(OverheadProfileSpec.parse),
            hardwareDirectory: catalog.directory,
            file: file)
    }

    /// `subnet:` and `hosts:` (one subnet), or `subnets:` (each with its own `hosts:`) and `routers:`.
    func parseCloud(_ map: YAMLMapping, overcommit: Overcommit, file: String) throws -> CloudSpec {
        var subnets: [SubnetSpec] = []
        var groups: [HostGroup] = []
        /// Where each subnet was described, for errors about it.
        var places: [YAMLValue] = []
        let hostsAt: YAMLValue
        if let list = map["subnets"] {
            for key in ["subnet", "hosts"] where map[key] != nil {
                throw map[key]!.error("'\(key)' and 'subnets' exclude each other: give each subnet its own keys and 'hosts' inside 'subnets'")
            }
            hostsAt = list
            let entries = try list.sequence()
            guard !entries.isEmpty else { throw list.error("expected at least one subnet") }
            var names = Set<String>()
            for entry in entries {
                let fields = try entry.mapping(allowed: ["name", "count", "switches", "routerPorts", "pkeyPool", "lidSpace", "switchLink", "hosts"])
                let base = try parseSubnet(entry, allowingAlso: ["name", "count", "hosts"])
                let name = try fields.required("name").string()
                guard SubnetSpec.isValidName(name) else {
                    throw fields["name"]!.error("a subnet name is 1 to 64 letters, digits, '-', '_' or '.', got '\(name)'")
                }
                let copies = try fields["count"]?.int(in: 1...100_000, what: "a number of identical subnets") ?? 1
                let hostGroups = try fields.required("hosts").sequence().map(parseHostGroup)
                for copy in 1...copies {
                    var subnet = base
                    subnet.name = copies == 1 ? name : "\(name)-\(copy)"
                    guard names.insert(subnet.name).inserted else { throw fields["name"]!.error("subnet '\(subnet.name)' is named twice") }
                    for var group in hostGroups {
                        group.subnet = subnets.count
                        groups.append(group)
                    }
                    subnets.append(subnet)
                    places.append(entry)
                }
            }
            guard subnets.count <= SubnetSpec.maximumSubnets else { throw list.error("more than \(SubnetSpec.maximumSubnets) subnets") }
        } else {
            // `routers:` may stand beside one subnet: how the subnets a planner splits it into are joined (`limits --hosts`).
            subnets = [try map["subnet"].map { try parseSubnet($0) } ?? SubnetSpec()]
            hostsAt = try map.required("hosts")
            groups = try hostsAt.sequence().map(parseHostGroup)
            places = [map["subnet"] ?? hostsAt]
        }
        let routers = try map["routers"].map(parseRouters) ?? RouterSpec()
        let cloud = CloudSpec(groups: groups, overcommit: overcommit, subnets: subnets, routers: routers)
        guard cloud.hostCount > 0 else { throw hostsAt.error("the cloud has no hosts (every count is 0)") }
        guard cloud.hostCount <= CloudLimits.maximumHosts else { throw hostsAt.error("more than \(CloudLimits.maximumHosts.formatted()) hosts") }

        for (s, subnet) in subnets.enumerated() {
            let lids = cloud.buildTimeLIDs(subnet: s)
            guard lids.total > subnet.lidSpace else { continue }
            let single = subnets.count == 1 && map["subnets"] == nil
            let at = (try? places[s].mapping(allowed: [])["lidSpace"]) ?? (single ? hostsAt : places[s])
            throw InputError(file: file, line: at.node.mark?.line, column: at.node.mark?.column,
                             field: single ? "subnet.lidSpace" : "subnets[\(subnet.name)].lidSpace",
                             message: "infeasible LID budget" + (single ? "" : " in subnet \(subnet.name)")
                                 + ": build-time LIDs \(lids.total) (\(lids.terms)) exceed the LID space of \(subnet.lidSpace)")
        }
        return cloud
    }

    func parseRouters(_ value: YAMLValue) throws -> RouterSpec {
        let map = try value.mapping(allowed: ["spanning", "subnetsPerRouter", "hopLatencyUs", "mtu"])
        var routers = RouterSpec()
        if let spanning = map["spanning"] { routers.spanning = try spanning.bool() }
        // MLNX-OS: "num-of-subnets ... Range: 2-6" (routers.md 5).
        if let k = map["subnetsPerRouter"] { routers.subnetsPerRouter = try k.int(in: 2...6, what: "subnets per router (2 to 6, as MLNX-OS routers take)") }
        if let latency = map["hopLatencyUs"] { routers.hopLatencyMicroseconds = try latency.double(atLeast: 0, atMost: 1000) }
        if let mtu = map["mtu"] {
            let bytes = try mtu.int(in: 256...4096, what: "an IB MTU in bytes")
            guard [256, 512, 1024, 2048, 4096].contains(bytes) else { throw mtu.error("an IB MTU is 256, 512, 1024, 2048 or 4096 bytes, got \(bytes)") }
            routers.mtuBytes = bytes
        }
        return routers
    }

    /// - Parameter allowingAlso: keys a caller reads itself (a `subnets:` entry's name, count and hosts).
    func parseSubnet(_ value: YAMLValue, allowingAlso extra: [String] = []) throws -> SubnetSpec {
        let map = try value.mapping(allowed: ["switches", "routerPorts", "pkeyPool", "lidSpace", "switchLink", "vmGUIDPrefix", "partitions"] + extra)
        var subnet = SubnetSpec()
        if let ports = map["routerPorts"] { subnet.routerPorts = try ports.int(in: 0...SubnetSpec.unicastLIDs, what: "a router port count") }
        if let prefix = map["vmGUIDPrefix"] {
            let value = try prefix.int(in: 0...Int(UInt32.max), what: "the upper 32 bits of VM GUIDs, such as 0x02000000")
            // EUI-64: bit 1 of the first octet marks a locally administered GUID, bit 0 a group address.
            guard value >> 24 & 0x02 != 0, value >> 24 & 0x01 == 0 else {
                throw prefix.error("0x\(String(value, radix: 16)) is not a locally administered unicast prefix (its first octet needs bit 0x02 set and 0x01 clear, as in 0x02000000)")
            }
            subnet.vmGUIDPrefix = UInt32(value)
        }
        if let flags = map["partitions"] {
            let fields = try flags.mapping(allowed: ["ipoib", "mtu", "rate", "sl"])
            subnet.partitionFlags = PartitionFlags(
                ipoib: try fields["ipoib"]?.bool() ?? true,
                mtu: try fields["mtu"]?.int(in: 1...5, what: "an IB MTU code (1 = 256 ... 5 = 4096)"),
                rate: try fields["rate"]?.int(in: 2...22, what: "an IB rate code"),
                serviceLevel: try fields["sl"]?.int(in: 0...15, what: "a service level"))
        }
        if let switches = map["switches"] { subnet.switches = try switches.int(in: 0...SubnetSpec.unicastLIDs, what: "a switch count") }
        if let link = map["switchLink"] { subnet.switchLink = try LinkSpec.parse(link) }
        if let lidSpace = map["lidSpace"] { subnet.lidSpace = try lidSpace.int(in: 1...SubnetSpec.unicastLIDs, what: "a LID count") }
        if let pool = map["pkeyPool"] {
            let bounds = try pool.sequence()
            guard bounds.count == 2 else { throw pool.error("expected [first, last], got \(bounds.count) values") }
            let range = SubnetSpec.defaultPKeyPool
            let first = try bounds[0].int(in: range, what: "a pkey")
            let last = try bounds[1].int(in: range, what: "a pkey")
            guard first <= last else { throw pool.error("first pkey 0x\(String(first, radix: 16)) is above last 0x\(String(last, radix: 16))") }
            subnet.pkeyPool = first...last
        }
        return subnet
    }

    func parseHostGroup(_ value: YAMLValue) throws -> HostGroup {
        let map = try value.mapping(allowed: ["count", "cores", "memoryGiB", "hca", "vfs", "pkeyTable", "sriovMode", "model",
                                              "gflopsPerCore"])
        var model: HostModel?
        if let modelValue = map["model"] {
            let name = try modelValue.string()
            guard let found = catalog.hostModels[name] else {
                throw modelValue.error("unknown host model '\(name)' (in \(catalog.directory)/hosts: \(catalog.hostModels.keys.sorted().joined(separator: ", ")))")
            }
            model = found
        }
        let count = try map.required("count").int(in: 0...10_000_000, what: "a host count")
        let cores = try map["cores"]?.int(in: 1...1_000_000, what: "a core count") ?? model?.cores
        guard let cores else { throw value.error("missing required key 'cores' (or a 'model' that gives it)") }
        let memoryMiB: Int64
        if let memoryValue = map["memoryGiB"] {
            let text = try memoryValue.scalarText(expecting: "a size in GiB")
            guard let mib = Units.mebibytes(fromGibibytes: Substring(text.trimmingSpaces)), mib > 0, mib <= Int64(Int32.max) else {
                throw memoryValue.error("expected a positive size in GiB, got '\(text)'")
            }
            memoryMiB = mib
        } else if let model {
            memoryMiB = Int64(model.memoryGiB) * Units.mebibytesPerGibibyte
        } else {
            throw value.error("missing required key 'memoryGiB' (or a 'model' that gives it)")
        }
        let hcaValue = map["hca"]
        guard let hcaName = try hcaValue?.string() ?? model?.hca else {
            throw value.error("missing required key 'hca' (or a 'model' that gives it)")
        }
        guard let hca = catalog.hcas[hcaName] else {
            throw (hcaValue ?? value).error("unknown HCA profile '\(hcaName)' (in \(catalog.directory)/hca: \(catalog.hcas.keys.sorted().joined(separator: ", ")))")
        }
        var vfs: Int?
        if let vfsValue = map["vfs"] {
            vfs = try vfsValue.int(in: 0...Int.max, what: "a VF count")
            if vfs! > hca.maxVFs {
                throw vfsValue.error("\(vfs!) VFs exceed \(hca.name)'s maximum of \(hca.maxVFs) (\(hca.sources["maxVFs"] ?? hca.file))")
            }
        }
        let pkeyTable = try map["pkeyTable"]?.int(in: 1...65536, what: "a pkey table size")
        var mode: SRIOVMode?
        if let modeValue = map["sriovMode"] {
            let text = try modeValue.string()
            guard let parsed = SRIOVMode(rawValue: text) else {
                throw modeValue.error("unknown SR-IOV mode '\(text)' (expected one of: \(SRIOVMode.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            mode = parsed
        }
        let gflops = try map["gflopsPerCore"].map(positive) ?? model?.gflopsPerCore
        return HostGroup(count: count, cores: cores, memoryMiB: memoryMiB, hca: hca, vfs: vfs,
                         pkeyTable: pkeyTable, sriovMode: mode, model: model?.name, gflopsPerCore: gflops,
                         coresPerSocket: model.flatMap { $0.cores == cores ? $0.coresPerSocket : nil })
    }
}

/// `overheads.profile`: a profile's name, or `{ commRatio, growth, messageBytes }`
/// (communication per unit of compute on native IB at the reference link, its growth
/// per doubling of hosts, a typical message's bytes).
public enum OverheadProfileSpec: Hashable, Sendable {
    case named(String)
    case custom(commRatio: Double, growth: Double, messageBytes: Double)

    static func parse(_ value: YAMLValue) throws -> OverheadProfileSpec {
        if case .scalar = value.node { return .named(try value.string()) }
        let map = try value.mapping(allowed: ["commRatio", "growth", "messageBytes"])
        return .custom(commRatio: try map.required("commRatio").double(atLeast: 0, atMost: 100),
                       growth: try map.required("growth").double(atLeast: 0, atMost: 100),
                       messageBytes: try map.required("messageBytes").double(atLeast: 1, atMost: 1e10))
    }
}
