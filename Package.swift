// swift-tools-version:6.0
import PackageDescription

// Module graph (dependencies point down; see ../shared/design/ARCHITECTURE.md):
//   hpccloud -> Reporting (GRDB) -> Simulation -> {Allocation, Workloads, Overheads, SimKernel}
//   Workloads -> {SimKernel, CloudModel};  Allocation, Overheads -> CloudModel;  CloudModel -> Yams
//   SimKernel -> CGSL (its own 4-ary event heap)
//   Operations (operator core: state, plan/apply, protocols) -> {Allocation, GRDB};  SimulatedHardware -> Operations;
//   ConnectX (the real mlx4/mlx5 backend) -> {Operations, CIBVerbs}
// Release builds skip the runtime exclusivity checks in the hot modules (a third
// of the engine's time in profiles); debug builds, which run the tests, keep them.
let hotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "HPCCloud",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hpccloud", targets: ["hpccloud"]),
        .library(name: "Allocation", targets: ["Allocation"]),
        .library(name: "Simulation", targets: ["Simulation"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
    ],
    targets: [
        // System-library shims: one per C library, wrapping macros and C globals.
        .systemLibrary(name: "CGSL", pkgConfig: "gsl", providers: [.apt(["libgsl-dev"])]),
        .systemLibrary(name: "CIBVerbs", pkgConfig: "libibverbs", providers: [.apt(["libibverbs-dev"])]),

        .target(name: "SimKernel", dependencies: ["CGSL"], swiftSettings: hotPath),
        .target(name: "CloudModel", dependencies: ["Yams"]),
        .target(name: "Allocation", dependencies: ["CloudModel"], swiftSettings: hotPath),
        .target(name: "Workloads", dependencies: ["SimKernel", "CloudModel"]),
        .target(name: "Overheads", dependencies: ["CloudModel"]),
        .target(name: "Simulation", dependencies: ["SimKernel", "CloudModel", "Allocation", "Workloads", "Overheads"],
                swiftSettings: hotPath),
        .target(name: "Reporting", dependencies: [
            "Simulation", "CloudModel", "Allocation", "SimKernel", .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        // The operator: its core (state machine, recorded placements, plan/apply, the
        // Backend and SubnetManager protocols) apart from any vendor's driver code,
        // as swift-nio keeps NIOCore, NIOPosix and NIOEmbedded apart.
        .target(name: "Operations", dependencies: [
            "Allocation", "CloudModel", .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .target(name: "SimulatedHardware", dependencies: ["Operations", "Allocation", "CloudModel"]),
        .target(name: "ConnectX", dependencies: ["CIBVerbs", "Operations", "Allocation", "CloudModel"]),
        .executableTarget(name: "hpccloud", dependencies: [
            "Simulation", "CloudModel", "Allocation", "Overheads", "Workloads", "Reporting", "Operations", "SimulatedHardware", "ConnectX",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Test support: fixtures and the naive reference policies, shared by test targets.
        .target(name: "TestSupport", dependencies: ["Allocation", "CloudModel", "CGSL", "Operations", "ConnectX"], path: "Tests/TestSupport"),
        .testTarget(name: "SimKernelTests", dependencies: ["SimKernel"]),
        .testTarget(name: "CloudModelTests", dependencies: ["CloudModel", "TestSupport"]),
        .testTarget(name: "AllocationTests", dependencies: ["Allocation", "CloudModel", "TestSupport"]),
        // Fixture files are read from the source tree, not bundled.
        .testTarget(name: "WorkloadsTests", dependencies: ["Workloads", "CloudModel", "SimKernel", "TestSupport", "CGSL"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "OverheadsTests", dependencies: ["Overheads", "CloudModel", "TestSupport"]),
        .testTarget(name: "SimulationTests", dependencies: ["Simulation", "TestSupport"], exclude: ["Golden"]),
        .testTarget(name: "ReportingTests", dependencies: ["Reporting", "Simulation", "TestSupport",
                                                           .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "HPCCloudCLITests", dependencies: ["hpccloud", "Reporting", "Operations", "ConnectX", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "OperationsTests", dependencies: ["Operations", "SimulatedHardware", "Allocation", "CloudModel", "TestSupport",
                                                            .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "CIBVerbsTests", dependencies: ["CIBVerbs"]),
        .testTarget(name: "ConnectXTests", dependencies: ["ConnectX", "Operations", "SimulatedHardware", "Allocation", "CloudModel", "TestSupport",
                                                          .product(name: "GRDB", package: "GRDB.swift")]),
    ]
)
