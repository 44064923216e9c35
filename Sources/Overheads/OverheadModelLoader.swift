import CloudModel

extension OverheadModel {
    /// Reads `Hardware/overheads.yaml`, validating every key.
    public static func load(path: String) throws -> OverheadModel {
        try parse(yaml: try readText(path), file: path)
    }

    /// The model from the text of an `overheads.yaml`.
    public static func parse(yaml: String, file path: String) throws -> OverheadModel {
        let root = try YAMLValue.parse(yaml, file: path)
        let map = try root.mapping(allowed: ["reference", "range", "compute", "fitCorrelation", "sharedMemory", "encoding", "profiles", "paths"])

        let reference = try map.required("reference").mapping(allowed: ["hosts", "coresPerHost", "hca", "switchLink", "latencyUs",
                                                                        "protocolEfficiency", "source"])
        let range = try map.required("range").mapping(allowed: ["hosts", "vmsPerHost", "source"])
        let compute = try map.required("compute").mapping(allowed: ["nativeEfficiency", "vmBase", "vmCrowding", "virtualJitter",
                                                                    "dynamicPinning", "numaPinning", "coscheduling"])
        let sharedMemory = try map.required("sharedMemory").mapping(allowed: ["latencyUs", "gbps"])

        let encodingValue = try map.required("encoding").mapping(allowed: ["value", "kind", "source"])
        var encoding: [String: Double] = [:]
        for (generation, value) in try encodingValue.required("value").mapping(allowed: []).entries {
            encoding[generation] = try value.double(atLeast: 0, atMost: 1)
        }

        var profiles: [String: ApplicationProfile] = [:]
        for (name, value) in try map.required("profiles").mapping(allowed: []).entries {
            profiles[name] = try ApplicationProfile.parse(value, name: name)
        }
        guard profiles[defaultProfile] != nil else {
            throw try map.required("profiles").error("missing profile '\(defaultProfile)' (the default)")
        }

        let pathsValue = try map.required("paths")
        var paths: [NetworkPath: PathParameters] = [:]
        for (name, value) in try pathsValue.mapping(allowed: NetworkPath.allCases.map(\.rawValue)).entries {
            let path = NetworkPath(rawValue: name)!
            let entry = try value.mapping(allowed: ["virtualized", "gbps", "latencyUs", "intraHostLatencyUs", "protocolEfficiency"])
            let gbps = try entry["gbps"]?.double(atLeast: Self.smallest, atMost: 1e6)
            if path.isInfiniBand != (gbps == nil) {
                throw value.error(path.isInfiniBand ? "an InfiniBand path takes its rate from the links: no 'gbps'"
                                                    : "an Ethernet path needs its line rate 'gbps'")
            }
            paths[path] = PathParameters(
                virtualized: try entry.required("virtualized").bool(),
                latencyMicroseconds: try parameter(try entry.required("latencyUs")),
                intraHostLatencyMicroseconds: try parameter(try entry.required("intraHostLatencyUs")),
                protocolEfficiency: try parameter(try entry.required("protocolEfficiency"), atLeast: Self.smallest, atMost: 1),
                gbps: gbps)
        }
        if let missing = NetworkPath.allCases.first(where: { paths[$0] == nil }) {
            throw pathsValue.error("missing path '\(missing.rawValue)'")
        }
        return OverheadModel(
            referenceHosts: try reference.required("hosts").int(in: 1...CloudLimits.maximumHosts, what: "a host count"),
            referenceCoresPerHost: try reference.required("coresPerHost").int(in: 1...100_000, what: "a core count"),
            referenceHCA: try LinkSpec.parse(try reference.required("hca")),
            referenceSwitch: try LinkSpec.parse(try reference.required("switchLink")),
            referenceLatencyMicroseconds: try parameter(try reference.required("latencyUs")),
            referenceProtocolEfficiency: try parameter(try reference.required("protocolEfficiency"), atLeast: Self.smallest, atMost: 1),
            range: CalibratedRange(hosts: try range.required("hosts").int(in: 1...CloudLimits.maximumHosts, what: "a host count"),
                                   vmsPerHost: try range.required("vmsPerHost").int(in: 1...10_000, what: "a VM count"),
                                   source: try range.required("source").string()),
            nativeEfficiency: try parameter(try compute.required("nativeEfficiency"), atLeast: Self.smallest, atMost: 1),
            vmBase: try parameter(try compute.required("vmBase"), atMost: 0.999),
            vmCrowding: try parameter(try compute.required("vmCrowding")),
            virtualJitter: try parameter(try compute.required("virtualJitter")),
            dynamicPinning: try parameter(try compute.required("dynamicPinning"), atMost: 0.999),
            numaPinning: try parameter(try compute.required("numaPinning"), atMost: 0.999),
            coscheduling: try parameter(try compute.required("coscheduling")),
            sharedMemoryLatencyMicroseconds: try parameter(try sharedMemory.required("latencyUs")),
            sharedMemoryGbps: try parameter(try sharedMemory.required("gbps"), atLeast: Self.smallest),
            encoding: encoding, paths: paths, profiles: profiles,
            fitCorrelation: try map["fitCorrelation"].map(parseCorrelation), file: path)
    }

    /// `fitCorrelation: { nativeEfficiency: [1, ...], vmBase: [...], ... }`: one row per
    /// calibrated parameter, in `Calibration.fitted` order, each within -1...1.
    static func parseCorrelation(_ value: YAMLValue) throws -> [Double] {
        let names = Calibration.fitted.map(\.name)
        let rows = try value.mapping(allowed: names)
        var matrix: [Double] = []
        for name in names {
            let row = try rows.required(name)
            let entries = try row.sequence()
            guard entries.count == names.count else { throw row.error("expected \(names.count) correlations (\(names.joined(separator: ", ")))") }
            matrix += try entries.map { try $0.double(atLeast: -1, atMost: 1) }
        }
        return matrix
    }

    /// What a rate or an efficiency that divides must be at least: 0 would give infinite times (`-nan` in summaries).
    static let smallest = 1e-6

    /// `{ value: x, kind: k, source: "...", band: b }` with a value in `low...high`
    /// (latencies up to a second); `band` (optional) is the 95% half-width.
    public static func parameter(_ value: YAMLValue, atLeast low: Double = 0, atMost high: Double = 1e6) throws -> Parameter {
        let map = try value.mapping(allowed: ["value", "kind", "source", "band"])
        let kindValue = try map.required("kind")
        guard let kind = Parameter.Kind(rawValue: try kindValue.string()) else {
            throw kindValue.error("expected one of: \(Parameter.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return Parameter(try map.required("value").double(atLeast: low, atMost: high), kind: kind,
                         source: try map.required("source").string(),
                         band: try map["band"]?.double(atLeast: 0, atMost: high))
    }

    /// The model beside a hardware catalog: `DIR/overheads.yaml`.
    public static func load(hardwareDirectory: String) throws -> OverheadModel {
        try load(path: hardwareDirectory + "/overheads.yaml")
    }
}

extension ApplicationProfile {
    /// `{ commRatio: P, growth: P, messageBytes: P }`, each a parameter with its source.
    public static func parse(_ value: YAMLValue, name: String) throws -> ApplicationProfile {
        let map = try value.mapping(allowed: ["commRatio", "growth", "messageBytes"])
        return ApplicationProfile(name: name,
                                  commRatio: try OverheadModel.parameter(try map.required("commRatio"), atMost: 100),
                                  growth: try OverheadModel.parameter(try map.required("growth"), atMost: 100),
                                  messageBytes: try OverheadModel.parameter(try map.required("messageBytes"), atLeast: 1, atMost: 1e10))
    }
}
