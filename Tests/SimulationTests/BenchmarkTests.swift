import Allocation
import Simulation
import Testing
import TestSupport

/// The benchmark's cases decide exactly as the O(H) reference policies (speed
/// never changes decisions), and its checksums are reproducible.
@Suite struct BenchmarkTests {
    @Test(arguments: PlacementPolicies.names)
    func indexedPlacementMatchesTheReference(policy: String) throws {
        let catalog = try Fixtures.catalog()
        let indexed = Benchmark.placement(policy: policy, hosts: 300, operations: 4_000, catalog: catalog)
        let reference = Benchmark.placement(policy: policy, hosts: 300, operations: 4_000, catalog: catalog, reference: true)
        #expect(indexed.checksum == reference.checksum)
        #expect(indexed.events > 0 && indexed.requests == 4_000)
    }

    @Test func simulationChecksumsAreReproducible() throws {
        let catalog = try Fixtures.catalog()
        let a = Benchmark.simulation(policy: "best-fit", hosts: 200, requests: 2_000, catalog: catalog)
        let b = Benchmark.simulation(policy: "best-fit", hosts: 200, requests: 2_000, catalog: catalog)
        #expect(a.checksum == b.checksum && a.events == b.events)
        #expect(Benchmark.simulation(policy: "worst-fit", hosts: 200, requests: 2_000, catalog: catalog).checksum != a.checksum)
        let kernel = Benchmark.eventKernel(events: 100_000)
        #expect(kernel.checksum == Benchmark.eventKernel(events: 100_000).checksum)
    }
}
