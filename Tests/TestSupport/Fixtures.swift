import Allocation
import CloudModel
import Foundation

/// Paths and loaders shared by the test targets.
public enum Fixtures {
    /// A new empty directory under the system's temp directory, for one test's files.
    public static func scratchDirectory(_ label: String) throws -> String {
        let path = NSTemporaryDirectory() + "hpccloud-\(label)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The repository root, found from this file's location.
    public static let repoRoot: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }()

    /// A product the package built (`hpccloud`, `FakeHostAgent`): the test bundle sits beside the
    /// products (…/debug/HPCCloudPackageTests.xctest), else the checkout's debug build.
    public static func product(_ name: String) -> String {
        let candidates = ([Bundle.main.executableURL, URL(fileURLWithPath: CommandLine.arguments[0])].compactMap { $0 }
            + Bundle.allBundles.map(\.bundleURL)).map { $0.deletingLastPathComponent() }
        for directory in candidates {
            for base in [directory, directory.deletingLastPathComponent()] {
                let path = base.appendingPathComponent(name).path
                if FileManager.default.isExecutableFile(atPath: path) { return path }
            }
        }
        return repoRoot + "/.build/debug/" + name
    }

    public static var hardwareDirectory: String { repoRoot + "/Hardware" }

    public static func catalog() throws -> HardwareCatalog {
        try HardwareCatalog.load(directory: hardwareDirectory)
    }

    public static func loader() throws -> ScenarioLoader {
        ScenarioLoader(catalog: try catalog(), policies: PlacementPolicies.names)
    }

    /// A profile for hand-built clouds in tests (not read from disk).
    public static func profile(vfs: Int = 8, pkeyTable: Int = 16, mode: SRIOVMode = .sharedPort) -> HCAProfile {
        HCAProfile(name: "test-hca", model: "test", driver: "mlx4", vfPCIDeviceID: 0x1004, sriovMode: mode,
                   link: LinkSpec(generation: "FDR", lanes: 4, gbpsPerLane: 14), usableVFs: vfs, maxVFs: 127,
                   pkeyTable: pkeyTable, sources: [:], unverified: [], file: "test")
    }

    /// One host group from plain numbers.
    public static func group(_ count: Int, cores: Int, memoryGiB: Int64 = 64, vfs: Int = 8, pkeyTable: Int = 16,
                             mode: SRIOVMode = .sharedPort) -> HostGroup {
        HostGroup(count: count, cores: cores, memoryMiB: memoryGiB * 1024, hca: profile(vfs: vfs, pkeyTable: pkeyTable, mode: mode))
    }

    public static func shape(vcores: Int, memoryGiB: Int64 = 1, kind: VMKind = .hpc, pinning: Pinning = .fixed) -> VMShape {
        VMShape(vcores: vcores, memoryMiB: memoryGiB * 1024, kind: kind, pinning: pinning)
    }

    public static func request(_ id: Int64, vms: Int, _ shape: VMShape, arrival: Int64 = 0, duration: Int64 = 1) -> ClusterRequest {
        ClusterRequest(id: id, arrival: arrival, tenant: "t", vms: vms, shape: shape, duration: duration)
    }
}

/// SplitMix64: a tiny, fixed, seedable generator for test inputs, independent of
/// the library's streams so the tests do not share the code they check.
public struct TestRandom: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// A `RandomSource` over `TestRandom`, for the `random` policy in tests.
public final class TestRandomSource: RandomSource {
    private var generator: TestRandom
    public init(seed: UInt64) { generator = TestRandom(seed: seed) }
    public func uniformInt(below n: Int) -> Int { Int.random(in: 0..<n, using: &generator) }
}
