import ArgumentParser
import ControlAgent
import ControlPlane
import ControlServer
import Foundation
import Logging
import Operations
import SimulatedHardware

/// `hpccloud api-bench`: the controller's create/delete throughput and latency
/// on loopback over the simulated backend (reconcile passes running, as served).
struct APIBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api-bench",
        abstract: "Measure the controller API: create/delete throughput and p50/p99 latency on loopback over the simulated backend.",
        discussion: "A fresh state in a scratch directory, N tenants each creating and deleting one-VM clusters back to back.")
    @Option(help: "Tenants issuing requests at once.") var tenants = 16
    @Option(help: "Create+delete pairs per tenant.") var pairs = 100
    @Option(help: ArgumentHelp("Also write the result (Markdown) here.", valueName: "FILE")) var out: String?
    @OptionGroup var hardware: HardwareOptions
    @OptionGroup var output: JSONOption

    func validate() throws {
        guard (1...500).contains(tenants) else { throw ValidationError("--tenants must be 1 to 500") }
        guard (1...100_000).contains(pairs) else { throw ValidationError("--pairs must be 1 to 100000") }
    }

    struct Result: Codable {
        var tenants: Int
        var operations: Int
        var seconds: Double
        var operationsPerSecond: Double
        var p50Milliseconds: Double
        var p99Milliseconds: Double
        var maxMilliseconds: Double
        var failures: Int
    }

    static let scenario = """
    name: api-bench
    seed: 1
    policy: first-fit
    hosts:
      - { count: 64, cores: 32, memoryGiB: 256, hca: connectx-3, vfs: 16, pkeyTable: 128 }
    """

    func run() throws {
        LoggingSystem.bootstrap { SwiftLogNoOpLogHandler($0) }
        let directory = NSTemporaryDirectory() + "hpccloud-api-bench-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let state = try OperatorState(path: directory + "/state.sqlite", migrations: ControlSchema.migrations)
        let catalog = try hardware.catalog(scenarioPath: nil)
        try Operator.initialize(state: state, scenarioYAML: Self.scenario, scenarioFile: "api-bench.yaml", catalog: catalog, discovered: nil,
                                backend: "simulated", partitions: nil)
        let controller = try Controller(state: state, catalog: catalog, mode: .simulated, simulated: simulatedHardware(beside:))
        let names = (0..<tenants).map { "bench\($0)" }
        let tokens = try names.map { name in try state.writeImmediate { try ControlSchema.addTenant($0, name: name, quota: Quota()) }.token }
        var configuration = ServeConfiguration(state: state.path)
        configuration.port = 0
        let (pairs, tenants, served) = (self.pairs, self.tenants, configuration)
        let result = try blocking { () -> Result in
            let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
            let app = try ControlServer.application(controller: controller, configuration: served, logger: Logger(label: "bench")) {
                continuation.yield($0)
            }
            let server = Task { try await app.run() }
            let passes = Task { await controller.runPasses(interval: .seconds(1)) { _ in } }
            var port = 0
            for await bound in ports { port = bound; break }
            let url = "http://127.0.0.1:\(port)"
            let body = try API.encoder.encode(ClusterCreate(vms: 1, vcores: 1, memoryGiB: 1))
            let start = ContinuousClock.now
            let samples = try await withThrowingTaskGroup(of: ([Double], Int).self) { group in
                for token in tokens {
                    group.addTask {
                        let client = try ControllerClient(url: url, token: token)
                        var latencies: [Double] = [], failures = 0
                        for _ in 0..<pairs {
                            let t0 = ContinuousClock.now
                            let (status, data) = try await client.send(.POST, "/v1/clusters", body: body)
                            latencies.append((ContinuousClock.now - t0).milliseconds)
                            guard status == 201, let id = try? JSONDecoder().decode(ClusterView.self, from: data).id else { failures += 1; continue }
                            let t1 = ContinuousClock.now
                            let (deleted, _) = try await client.send(.DELETE, "/v1/clusters/\(id)")
                            latencies.append((ContinuousClock.now - t1).milliseconds)
                            if deleted >= 300 { failures += 1 }
                        }
                        await client.shutdown()
                        return (latencies, failures)
                    }
                }
                return try await group.reduce(into: ([Double](), 0)) { $0.0 += $1.0; $0.1 += $1.1 }
            }
            let seconds = (ContinuousClock.now - start).milliseconds / 1000
            server.cancel()
            passes.cancel()
            _ = await server.result
            let sorted = samples.0.sorted()
            func percentile(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)] }
            return Result(tenants: tenants, operations: sorted.count, seconds: seconds, operationsPerSecond: Double(sorted.count) / seconds,
                          p50Milliseconds: percentile(0.5), p99Milliseconds: percentile(0.99), maxMilliseconds: sorted.last ?? 0, failures: samples.1)
        }
        let text = """
        # Controller API benchmark

        `hpccloud api-bench --tenants \(result.tenants) --pairs \(self.pairs)`: \(result.tenants) tenants at once, each creating and
        deleting one-VM clusters back to back over HTTP/1.1 on loopback; the simulated backend (64 hosts, 16 VFs each) with
        reconcile passes running; SQLite in WAL mode, every decision in a BEGIN IMMEDIATE transaction. Machine: \(ProcessInfo.processInfo.activeProcessorCount) cores.

        | operations | seconds | operations/s | p50 ms | p99 ms | max ms | failures |
        |---:|---:|---:|---:|---:|---:|---:|
        | \(result.operations) | \(String(format: "%.2f", result.seconds)) | \(String(format: "%.0f", result.operationsPerSecond)) | \(String(format: "%.2f", result.p50Milliseconds)) | \(String(format: "%.2f", result.p99Milliseconds)) | \(String(format: "%.2f", result.maxMilliseconds)) | \(result.failures) |

        """
        if let out { try AtomicFile.write(text, to: out) }
        if output.json { try printJSON(result) } else { print(text, terminator: "") }
    }
}

extension Duration {
    var milliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
}
