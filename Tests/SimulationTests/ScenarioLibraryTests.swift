import Foundation
import Simulation
import Testing
import TestSupport

/// Every scenario shipped in Workloads/ loads and runs.
@Suite struct ScenarioLibraryTests {
    static let scenarios: [String] = {
        let directory = Fixtures.repoRoot + "/Workloads"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted().map { directory + "/" + $0 }
    }()

    @Test func theLibraryIsNotEmpty() { #expect(!Self.scenarios.isEmpty) }

    @Test(arguments: scenarios)
    func scenarioRuns(path: String) throws {
        let scenario = try Fixtures.loader().load(path: path)
        #expect(scenario.description != nil, "\(path) has no description")
        let summary = try Run(scenario: scenario).simulate()
        #expect(summary.requests > 0 && summary.accepted > 0)
    }
}
