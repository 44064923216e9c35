// swift-tools-version:6.0
import PackageDescription

// Module graph (dependencies point down; see ../shared/design/ARCHITECTURE.md):
//   hpccloud -> Reporting (GRDB) -> Simulation -> {Allocation, Workloads, Overheads, SimKernel, ExternalPolicies}
//   ExternalPolicies (policies that are programs: JSON lines over pipes) -> {Allocation, CloudModel}
//   Workloads -> {SimKernel, CloudModel};  Allocation -> CloudModel;  Overheads -> {CloudModel, CGSL (least squares)};  CloudModel -> Yams
//   SimKernel -> CGSL (its own 4-ary event heap)
//   Operations (operator core: state, plan/apply, protocols) -> {Allocation, GRDB};  SimulatedHardware -> Operations;
//   ConnectX (the real mlx4/mlx5 backend) -> {Operations, CIBVerbs}
//   ControlPlane (API documents, tokens, quotas, desired state per host) -> {Operations, GRDB, Crypto}
//   ControlServer (hpccloud serve: Hummingbird, Prometheus, ServiceLifecycle) -> ControlPlane
//   ControlAgent (hpccloud agent run and the API client: AsyncHTTPClient) -> {ControlPlane, ConnectX}
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
        // The control plane (controller and agents).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    ],
    targets: [
        // System-library shims: one per C library, wrapping macros and C globals.
        .systemLibrary(name: "CGSL", pkgConfig: "gsl", providers: [.apt(["libgsl-dev"])]),
        .systemLibrary(name: "CIBVerbs", pkgConfig: "libibverbs", providers: [.apt(["libibverbs-dev"])]),

        .target(name: "SimKernel", dependencies: ["CGSL"], swiftSettings: hotPath),
        .target(name: "CloudModel", dependencies: ["Yams"]),
        .target(name: "Allocation", dependencies: ["CloudModel"], swiftSettings: hotPath),
        .target(name: "Workloads", dependencies: ["SimKernel", "CloudModel"]),
        .target(name: "Overheads", dependencies: ["CloudModel", "CGSL"]),
        // Policies that are programs (the JSON-lines protocol of policies/PROTOCOL.md).
        .target(name: "ExternalPolicies", dependencies: ["Allocation", "CloudModel"]),
        .target(name: "Simulation", dependencies: [
            "SimKernel", "CloudModel", "Allocation", "Workloads", "Overheads", "ExternalPolicies", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: hotPath),
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
        // The control plane: its core (API documents, tenants, tokens, quotas, desired
        // state per host) apart from the HTTP server and the agent's HTTP client.
        .target(name: "ControlPlane", dependencies: [
            "Operations", "Allocation", "CloudModel", .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "ControlServer", dependencies: [
            "ControlPlane", "Operations",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], resources: [.embedInCode("openapi.yaml")]),
        .target(name: "ControlAgent", dependencies: [
            "ControlPlane", "Operations", "ConnectX",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        .executableTarget(name: "hpccloud", dependencies: [
            "Simulation", "CloudModel", "Allocation", "Overheads", "Workloads", "Reporting", "Operations", "SimulatedHardware", "ConnectX",
            "ControlPlane", "ControlServer", "ControlAgent",
            .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Logging", package: "swift-log"),
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
        .testTarget(name: "ExternalPoliciesTests", dependencies: ["ExternalPolicies", "Allocation", "CloudModel", "TestSupport"]),
        .testTarget(name: "SimulationTests", dependencies: ["Simulation", "TestSupport"], exclude: ["Golden"]),
        .testTarget(name: "ReportingTests", dependencies: ["Reporting", "Simulation", "TestSupport",
                                                           .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "HPCCloudCLITests", dependencies: ["hpccloud", "Reporting", "Operations", "ConnectX", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "OperationsTests", dependencies: ["Operations", "SimulatedHardware", "Allocation", "CloudModel", "TestSupport",
                                                            .product(name: "GRDB", package: "GRDB.swift")]),
        // The end-to-end test's compute host: the real agent over a fake ConnectX-3, as its own process.
        .executableTarget(name: "FakeHostAgent", dependencies: [
            "ControlAgent", "ControlPlane", "ConnectX", "Operations", "TestSupport", .product(name: "Logging", package: "swift-log"),
        ], path: "Tests/FakeHostAgent"),
        .testTarget(name: "ControlPlaneTests", dependencies: [
            "ControlPlane", "ControlServer", "ControlAgent", "Operations", "SimulatedHardware", "TestSupport", "Yams", "FakeHostAgent", "hpccloud",
            .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"), .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
        .testTarget(name: "CIBVerbsTests", dependencies: ["CIBVerbs"]),
        .testTarget(name: "ConnectXTests", dependencies: ["ConnectX", "Operations", "SimulatedHardware", "Allocation", "CloudModel", "TestSupport",
                                                          .product(name: "GRDB", package: "GRDB.swift")]),
    ]
)
