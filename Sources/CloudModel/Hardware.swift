import Foundation

/// How an HCA's SR-IOV Virtual Functions reach the subnet, which decides LID use (SEMANTICS 4).
public enum SRIOVMode: String, CaseIterable, Sendable {
    /// ConnectX-2/3 (mlx4): VFs share the PF's LID.
    case sharedPort = "shared-port"
    /// vSwitch (ConnectX-4+): each VF in use holds a LID while assigned.
    case vswitchDynamic = "vswitch-dynamic"
    /// vSwitch with every usable VF holding a LID from build time.
    case vswitchPrepopulated = "vswitch-prepopulated"
}

/// An InfiniBand link: lanes x per-lane signalling rate.
public struct LinkSpec: Hashable, Sendable {
    public let generation: String
    public let lanes: Int
    public let gbpsPerLane: Double
    public var gbps: Double { Double(lanes) * gbpsPerLane }

    public init(generation: String, lanes: Int, gbpsPerLane: Double) {
        self.generation = generation
        self.lanes = lanes
        self.gbpsPerLane = gbpsPerLane
    }

    /// `{ generation: QDR, lanes: 4, gbpsPerLane: 10 }`
    public static func parse(_ value: YAMLValue) throws -> LinkSpec {
        let map = try value.mapping(allowed: ["generation", "lanes", "gbpsPerLane"])
        return LinkSpec(generation: try map.required("generation").string(),
                        lanes: try map.required("lanes").int(in: 1...32),
                        gbpsPerLane: try map.required("gbpsPerLane").double(atLeast: 0.001, atMost: 10_000))
    }
}

/// One HCA generation, as its `Hardware/hca/*.yaml` file states it.
public struct HCAProfile: Hashable, Sendable {
    public let name: String
    public let model: String
    public let driver: String
    public let vfPCIDeviceID: Int
    public let sriovMode: SRIOVMode
    public let link: LinkSpec
    /// VFs a cloud uses by default (what works in practice, not the firmware maximum).
    public let usableVFs: Int
    /// The most VFs the driver and firmware allow; a scenario may not ask for more.
    public let maxVFs: Int
    /// Usable pkey table entries per port, including the default partition's.
    public let pkeyTable: Int
    /// Where each number comes from (`field: source`).
    public let sources: [String: String]
    public let unverified: [String]
    public let file: String

    public init(name: String, model: String, driver: String, vfPCIDeviceID: Int, sriovMode: SRIOVMode, link: LinkSpec,
                usableVFs: Int, maxVFs: Int, pkeyTable: Int, sources: [String: String], unverified: [String], file: String) {
        self.name = name
        self.model = model
        self.driver = driver
        self.vfPCIDeviceID = vfPCIDeviceID
        self.sriovMode = sriovMode
        self.link = link
        self.usableVFs = usableVFs
        self.maxVFs = maxVFs
        self.pkeyTable = pkeyTable
        self.sources = sources
        self.unverified = unverified
        self.file = file
    }
}

/// A server model, as its `Hardware/hosts/*.yaml` file states it.
public struct HostModel: Hashable, Sendable {
    public let name: String
    public let cpu: String
    public let sockets: Int
    public let coresPerSocket: Int
    public let ghz: Double
    public let flopsPerCycle: Int
    public let memoryGiB: Int
    public let hca: String?
    public let sources: [String: String]
    public let file: String

    public var cores: Int { sockets * coresPerSocket }
    public var gflopsPerCore: Double { ghz * Double(flopsPerCycle) }
}

/// The HCA profiles and host models of a `Hardware/` directory.
public struct HardwareCatalog: Sendable {
    public let directory: String
    public let hcas: [String: HCAProfile]
    public let hostModels: [String: HostModel]

    /// Reads `DIR/hca/*.yaml` and `DIR/hosts/*.yaml`, validating every key.
    public static func load(directory: String) throws -> HardwareCatalog {
        var hcas: [String: HCAProfile] = [:]
        for file in try yamlFiles(in: directory + "/hca") {
            let profile = try parseHCA(yaml: try readText(file), file: file)
            if let other = hcas[profile.name] {
                throw InputError(file: file, field: "name", message: "profile '\(profile.name)' is also defined in \(other.file)")
            }
            hcas[profile.name] = profile
        }
        var hostModels: [String: HostModel] = [:]
        for file in try yamlFiles(in: directory + "/hosts") {
            let model = try parseHostModel(yaml: try readText(file), file: file)
            if let other = hostModels[model.name] {
                throw InputError(file: file, field: "name", message: "host model '\(model.name)' is also defined in \(other.file)")
            }
            hostModels[model.name] = model
        }
        return HardwareCatalog(directory: directory, hcas: hcas, hostModels: hostModels)
    }

    /// Finds a `Hardware/` directory: `$HPCCLOUD_HARDWARE` if set, else the first
    /// `Hardware/hca` found walking up from each of `searchFrom` (e.g. the
    /// scenario's directory, the working directory, the executable's directory).
    public static func locate(searchFrom: [String]) throws -> String {
        try ProjectDirectory.locate("Hardware", containing: "hca", environment: "HPCCLOUD_HARDWARE",
                                    searchFrom: searchFrom, flag: "--hardware")
    }

    /// One HCA profile from its text (`hca/*.yaml`), as `load` reads each file.
    public static func parseHCA(yaml: String, file: String) throws -> HCAProfile {
        try parseHCA(try YAMLValue.parse(yaml, file: file))
    }

    /// One host model from its text (`hosts/*.yaml`), as `load` reads each file.
    public static func parseHostModel(yaml: String, file: String) throws -> HostModel {
        try parseHostModel(try YAMLValue.parse(yaml, file: file))
    }

    static func yamlFiles(in directory: String) throws -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw InputError(file: directory, message: "cannot list the directory")
        }
        return names.filter { $0.hasSuffix(".yaml") }.sorted().map { directory + "/" + $0 }
    }

    static func parseSources(_ value: YAMLValue?) throws -> [String: String] {
        guard let value else { return [:] }
        var sources: [String: String] = [:]
        for (key, text) in try value.mapping(allowed: []).entries { sources[key] = try text.string() }
        return sources
    }

    static func parseHCA(_ root: YAMLValue) throws -> HCAProfile {
        let keys = ["name", "model", "driver", "vfPciId", "sriovMode", "link", "usableVFs", "maxVFs",
                    "pkeyTable", "sources", "unverified"]
        let map = try root.mapping(allowed: keys)
        let link = try LinkSpec.parse(try map.required("link"))
        let modeValue = try map.required("sriovMode")
        guard let mode = SRIOVMode(rawValue: try modeValue.string()) else {
            throw modeValue.error("expected one of \(SRIOVMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let maxVFs = try map.required("maxVFs").int(in: 0...4096)
        let usableValue = try map.required("usableVFs")
        let usable = try usableValue.int(in: 0...4096)
        guard usable <= maxVFs else { throw usableValue.error("usableVFs \(usable) exceeds maxVFs \(maxVFs)") }
        return HCAProfile(
            name: try map.required("name").string(),
            model: try map.required("model").string(),
            driver: try map.required("driver").string(),
            vfPCIDeviceID: try map.required("vfPciId").int(in: 0...0xFFFF),
            sriovMode: mode,
            link: link,
            usableVFs: usable,
            maxVFs: maxVFs,
            pkeyTable: try map.required("pkeyTable").int(in: 1...65536),
            sources: try parseSources(map["sources"]),
            unverified: try map["unverified"]?.sequence().map { try $0.string() } ?? [],
            file: root.file)
    }

    static func parseHostModel(_ root: YAMLValue) throws -> HostModel {
        let keys = ["name", "cpu", "sockets", "coresPerSocket", "ghz", "flopsPerCycle", "memoryGiB", "hca", "sources"]
        let map = try root.mapping(allowed: keys)
        return HostModel(
            name: try map.required("name").string(),
            cpu: try map.required("cpu").string(),
            sockets: try map.required("sockets").int(in: 1...64),
            coresPerSocket: try map.required("coresPerSocket").int(in: 1...4096),
            ghz: try map.required("ghz").double(atLeast: 0.001, atMost: 1_000),
            flopsPerCycle: try map.required("flopsPerCycle").int(in: 1...1024),
            memoryGiB: try map.required("memoryGiB").int(in: 1...1_048_576),
            hca: try map["hca"]?.string(),
            sources: try parseSources(map["sources"]),
            file: root.file)
    }
}

public func readText(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw InputError(file: path, message: "cannot read the file (missing or unreadable)")
    }
    guard let text = String(data: data, encoding: .utf8) else {
        throw InputError(file: path, message: "the file is not UTF-8 text")
    }
    return text
}
