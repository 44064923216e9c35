import CloudModel
import Foundation
import Overheads
import Simulation
import Testing
import TestSupport

@Suite struct PaperReproductionTests {
    func reproduction(holdOut: Set<Int> = [4]) throws -> PaperReproduction {
        let catalog = try Fixtures.catalog()
        return try PaperReproduction(catalog: catalog, model: try OverheadModel.load(hardwareDirectory: catalog.directory),
                                     table: try HPLTable.load(path: catalog.directory + "/measurements/seed-paper-hpl.yaml"),
                                     holdOut: holdOut)
    }

    @Test func allFiveRowsWithinOnePointOnCalibrationAndTheYAMLIsTheFit() throws {
        let r = try reproduction()
        #expect(r.rows.count == 5)
        #expect(r.largestCalibrationError <= 1.0)
        #expect(r.heldOutRows.map(\.measured.label) == ["8 VMs x 2 vCores, dynamic"])
        #expect(r.largestHeldOutError > 0 && r.largestHeldOutError < 1.0)
        #expect(r.committedMatchesFit)
        // The engine places 4 VMs as 2 per host, 8 VMs as 4 per host.
        #expect(r.rows.map(\.configuration.vmsPerHost) == [0, 2, 2, 4, 4])
    }

    @Test func theCommittedReportIsCurrent() throws {
        let committed = try String(contentsOfFile: Fixtures.repoRoot + "/Reports/reference/paper-reproduction.md", encoding: .utf8)
        #expect(committed == (try reproduction()).markdown, "run `make reproduce` and commit the result")
    }

    @Test func anotherHoldOutIsReportedHonestly() throws {
        let r = try reproduction(holdOut: [3])
        #expect(r.heldOutRows.count == 1 && r.largestCalibrationError < 1e-6)
        #expect(r.markdown.contains("Held out (4 VMs x 4 vCores, fixed)"))
        #expect(throws: InputError.self) { try reproduction(holdOut: [2, 3]) }  // no fixed row pair left: underdetermined
    }
}
