import CloudModel

extension OverheadModel {
    /// Reads `Hardware/overheads.yaml`, validating every key, and solves the derived shares.
    public static func load(path: String) throws -> OverheadModel {
        try parse(yaml: try readText(path), file: path)
    }

    /// The model from the text of an `overheads.yaml`.
    public static func parse(yaml: String, file path: String) throws -> OverheadModel {
        let root = try YAMLValue.parse(yaml, file: path)
        let map = try root.mapping(allowed: ["hpl", "encoding", "paths"])
        let hpl = try map.required("hpl").mapping(allowed: ["referenceHosts", "nativeEfficiency", "vmBase", "vmCrowding",
                                                             "dynamicPinning", "coscheduling"])
        let referenceValue = try hpl.required("referenceHosts")
        let reference = try parameter(referenceValue)
        guard reference.value >= 1, reference.value <= Double(CloudLimits.maximumHosts), reference.value == reference.value.rounded() else {
            throw referenceValue.error("expected a whole number of hosts from 1 to \(CloudLimits.maximumHosts)")
        }
        let encodingValue = try map.required("encoding").mapping(allowed: ["value", "kind", "source"])
        var encoding: [String: Double] = [:]
        for (generation, value) in try encodingValue.required("value").mapping(allowed: []).entries {
            encoding[generation] = try value.double(atLeast: 0, atMost: 1)
        }

        let pathsValue = try map.required("paths")
        var paths: [NetworkPath: PathParameters] = [:]
        for (name, value) in try pathsValue.mapping(allowed: NetworkPath.allCases.map(\.rawValue)).entries {
            let path = NetworkPath(rawValue: name)!
            let entry = try value.mapping(allowed: ["virtualized", "networkShare", "relativeTo", "ratio", "anchor", "gbps",
                                                    "latencyUs", "intraHostLatencyUs", "protocolEfficiency"])
            var derivation: Derivation?
            var share = Parameter(0, kind: .anchored, source: "(solved)")
            if let given = entry["networkShare"] {
                share = try parameter(given, atMost: 1)
            } else if let base = entry["relativeTo"] {
                let baseName = try base.string()
                guard let basePath = NetworkPath(rawValue: baseName), basePath != path else {
                    throw base.error("expected another path, one of: \(NetworkPath.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                derivation = .relative(base: basePath, ratio: try parameter(try entry.required("ratio"), atMost: 1))
            } else if let anchor = entry["anchor"] {
                let anchorMap = try anchor.mapping(allowed: ["efficiency", "hosts", "kind", "source"])
                derivation = .anchor(efficiency: try anchorMap.required("efficiency").double(atLeast: Self.smallest, atMost: 1),
                                     hosts: try anchorMap.required("hosts").int(in: 2...10_000_000, what: "a host count"),
                                     source: try anchorMap.required("source").string())
            } else {
                throw value.error("expected one of 'networkShare', 'relativeTo' (with 'ratio') or 'anchor'")
            }
            let isInfiniBand = path.isInfiniBand
            let gbps = try entry["gbps"]?.double(atLeast: Self.smallest, atMost: 1e6)
            if isInfiniBand != (gbps == nil) {
                throw value.error(isInfiniBand ? "an InfiniBand path takes its rate from the links: no 'gbps'"
                                               : "an Ethernet path needs its line rate 'gbps'")
            }
            paths[path] = PathParameters(
                virtualized: try entry.required("virtualized").bool(),
                networkShare: share,
                latencyMicroseconds: try parameter(try entry.required("latencyUs")),
                intraHostLatencyMicroseconds: try parameter(try entry.required("intraHostLatencyUs")),
                protocolEfficiency: try parameter(try entry.required("protocolEfficiency"), atLeast: Self.smallest, atMost: 1),
                gbps: gbps, derivation: derivation)
        }
        if let missing = NetworkPath.allCases.first(where: { paths[$0] == nil }) {
            throw pathsValue.error("missing path '\(missing.rawValue)'")
        }
        for (path, parameters) in paths {
            if case .relative(let base, _)? = parameters.derivation, paths[base]?.derivation != nil {
                throw pathsValue.error("'\(path.rawValue)' is relative to '\(base.rawValue)', which is itself derived")
            }
        }
        var model = OverheadModel(
            referenceHosts: Int(reference.value),
            nativeEfficiency: try parameter(try hpl.required("nativeEfficiency"), atLeast: Self.smallest, atMost: 1),
            vmBase: try parameter(try hpl.required("vmBase"), atMost: 1),
            vmCrowding: try parameter(try hpl.required("vmCrowding")),
            dynamicPinning: try parameter(try hpl.required("dynamicPinning"), atMost: 1),
            coscheduling: try parameter(try hpl.required("coscheduling")),
            encoding: encoding, paths: paths, file: path)
        model.resolveDerivedShares()
        return model
    }

    /// What a rate or an efficiency that divides must be at least: 0 would give infinite times (`-nan` in summaries).
    static let smallest = 1e-6

    /// `{ value: x, kind: k, source: "..." }` with a value in `low...high` (latencies up to a second).
    static func parameter(_ value: YAMLValue, atLeast low: Double = 0, atMost high: Double = 1e6) throws -> Parameter {
        let map = try value.mapping(allowed: ["value", "kind", "source"])
        let kindValue = try map.required("kind")
        guard let kind = Parameter.Kind(rawValue: try kindValue.string()) else {
            throw kindValue.error("expected one of: \(Parameter.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return Parameter(try map.required("value").double(atLeast: low, atMost: high), kind: kind,
                         source: try map.required("source").string())
    }

    /// The model beside a hardware catalog: `DIR/overheads.yaml`.
    public static func load(hardwareDirectory: String) throws -> OverheadModel {
        try load(path: hardwareDirectory + "/overheads.yaml")
    }
}
