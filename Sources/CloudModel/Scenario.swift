import Foundation

/// A simple synthetic workload: Poisson arrivals, discrete cluster sizes and vCPU
/// counts, exponential lifetimes (SEMANTICS 10 `workload:`; richer generators extend it).
public struct SyntheticWorkloadSpec: Hashable, Sendable {
    public var requests: Int
    public var arrivalsPerHour: Double
    /// (value, weight) pairs; weights need not sum to 1.
    public var vms: [DiscreteOutcome]
    public var vcores: [DiscreteOutcome]
    public var memoryGiBPerVcore: Double
    public var meanDurationHours: Double
    /// Fraction of requests that are `common` (no VF, no pkey).
    public var commonShare: Double
    /// Fraction of requests with fixed (pinned) vCPUs.
    public var pinnedShare: Double

    public struct DiscreteOutcome: Hashable, Sendable {
        public var value: Int
        public var weight: Double

        public init(value: Int, weight: Double) {
            self.value = value
            self.weight = weight
        }
    }

    public init(requests: Int, arrivalsPerHour: Double, vms: [DiscreteOutcome], vcores: [DiscreteOutcome],
                memoryGiBPerVcore: Double, meanDurationHours: Double, commonShare: Double, pinnedShare: Double) {
        self.requests = requests
        self.arrivalsPerHour = arrivalsPerHour
        self.vms = vms
        self.vcores = vcores
        self.memoryGiBPerVcore = memoryGiBPerVcore
        self.meanDurationHours = meanDurationHours
        self.commonShare = commonShare
        self.pinnedShare = pinnedShare
    }
}

/// Where a scenario's requests come from.
public enum WorkloadSpec: Hashable, Sendable {
    /// A trace CSV (SEMANTICS 7), path resolved against the scenario's directory.
    case trace(path: String)
    case synthetic(SyntheticWorkloadSpec)
}

/// A validated scenario file (SEMANTICS 10).
public struct Scenario: Sendable {
    public var name: String
    public var description: String?
    public var seed: UInt64
    public var policy: String
    public var cloud: CloudSpec
    /// Nil when the file has none (a cloud for `replay`, which brings its own trace).
    public var workload: WorkloadSpec?
    /// The file it came from (or a label for the embedded default).
    public var file: String
}

/// Reads and validates scenario files. Every problem is an `InputError` naming
/// the file, line, column and key path.
public struct ScenarioLoader {
    public let catalog: HardwareCatalog
    /// Policy names the engine knows; `policy:` must be one of them.
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
        let map = try root.mapping(allowed: ["name", "description", "seed", "policy", "overcommit", "subnet", "hosts", "workload"])

        let policyValue = map["policy"]
        let policy = try policyValue?.string() ?? "first-fit"
        if let policyValue, !policies.contains(policy) {
            throw policyValue.error("unknown policy '\(policy)' (expected one of: \(policies.joined(separator: ", ")))")
        }

        var overcommit = Overcommit.none
        if let value = map["overcommit"] {
            let text = try value.scalarText(expecting: "a ratio such as 1.5 or 3/2")
            guard let parsed = Overcommit(parsing: text.trimmingSpaces) else {
                throw value.error("expected a ratio >= 1 such as 2, 1.5 or 3/2, got '\(text)'")
            }
            overcommit = parsed
        }

        let subnet = try map["subnet"].map(parseSubnet) ?? SubnetSpec()
        let hostsValue = try map.required("hosts")
        let groups = try hostsValue.sequence().map(parseHostGroup)
        let cloud = CloudSpec(groups: groups, overcommit: overcommit, subnet: subnet)
        guard cloud.hostCount > 0 else { throw hostsValue.error("the cloud has no hosts (every count is 0)") }
        guard cloud.hostCount <= 10_000_000 else { throw hostsValue.error("more than 10,000,000 hosts") }

        let lids = cloud.buildTimeLIDs
        if lids.total > subnet.lidSpace {
            let at = map["subnet"].flatMap { try? $0.mapping(allowed: [])["lidSpace"] } ?? hostsValue
            throw InputError(file: file, line: at.node.mark?.line, column: at.node.mark?.column,
                             field: "subnet.lidSpace",
                             message: "infeasible LID budget: build-time LIDs \(lids.total) (\(lids.switches) switches + \(lids.pfPorts) PF ports + \(lids.prepopulatedVFs) prepopulated VF LIDs) exceed the LID space of \(subnet.lidSpace)")
        }

        return Scenario(
            name: try map["name"]?.string() ?? URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent,
            description: try map["description"]?.string(),
            seed: UInt64(try map["seed"]?.int(in: 0...Int.max, what: "a seed") ?? 1),
            policy: policy,
            cloud: cloud,
            workload: try map["workload"].map { try parseWorkload($0, scenarioFile: file) },
            file: file)
    }

    func parseSubnet(_ value: YAMLValue) throws -> SubnetSpec {
        let map = try value.mapping(allowed: ["switches", "pkeyPool", "lidSpace"])
        var subnet = SubnetSpec()
        if let switches = map["switches"] { subnet.switches = try switches.int(in: 0...SubnetSpec.unicastLIDs, what: "a switch count") }
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
        let map = try value.mapping(allowed: ["count", "cores", "memoryGiB", "hca", "vfs", "pkeyTable", "sriovMode", "model"])
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
        return HostGroup(count: count, cores: cores, memoryMiB: memoryMiB, hca: hca, vfs: vfs,
                         pkeyTable: pkeyTable, sriovMode: mode, model: model?.name)
    }

    func parseWorkload(_ value: YAMLValue, scenarioFile: String) throws -> WorkloadSpec {
        let map = try value.mapping(allowed: ["trace", "synthetic"])
        guard map.entries.count == 1 else {
            throw value.error("expected exactly one of 'trace' or 'synthetic'")
        }
        if let trace = map["trace"] {
            let path = try trace.string()
            let base = URL(fileURLWithPath: scenarioFile).deletingLastPathComponent()
            return .trace(path: path.hasPrefix("/") ? path : base.appendingPathComponent(path).standardizedFileURL.path)
        }
        return .synthetic(try parseSynthetic(try map.required("synthetic")))
    }

    func parseSynthetic(_ value: YAMLValue) throws -> SyntheticWorkloadSpec {
        let map = try value.mapping(allowed: ["requests", "arrivalsPerHour", "vms", "vcores", "memGiBPerVcore",
                                              "meanDurationHours", "commonShare", "pinnedShare"])
        return SyntheticWorkloadSpec(
            requests: try map.required("requests").int(in: 1...100_000_000, what: "a request count"),
            arrivalsPerHour: try positive(try map.required("arrivalsPerHour")),
            vms: try discreteTable(try map.required("vms")),
            vcores: try discreteTable(try map.required("vcores")),
            memoryGiBPerVcore: try map["memGiBPerVcore"]?.double(atLeast: 0) ?? 2,
            meanDurationHours: try positive(try map.required("meanDurationHours")),
            commonShare: try map["commonShare"]?.double(atLeast: 0, atMost: 1) ?? 0,
            pinnedShare: try map["pinnedShare"]?.double(atLeast: 0, atMost: 1) ?? 1)
    }

    func positive(_ value: YAMLValue) throws -> Double {
        let number = try value.double()
        guard number > 0 else { throw value.error("expected a positive number, got \(number)") }
        return number
    }

    /// `{ value: weight, ... }` with positive integer values and non-negative weights.
    func discreteTable(_ value: YAMLValue) throws -> [SyntheticWorkloadSpec.DiscreteOutcome] {
        let map = try value.mapping(allowed: [])
        guard !map.entries.isEmpty else { throw value.error("expected a table { value: weight, ... }, got an empty one") }
        var outcomes: [SyntheticWorkloadSpec.DiscreteOutcome] = []
        for (key, weight) in map.entries {
            guard let number = YAMLValue.parseInt(key), number >= 1 else {
                throw weight.error("expected a positive integer as the value, got '\(key)'")
            }
            outcomes.append(.init(value: number, weight: try weight.double(atLeast: 0)))
        }
        guard outcomes.contains(where: { $0.weight > 0 }) else { throw value.error("all weights are 0") }
        return outcomes
    }
}
