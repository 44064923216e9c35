import Foundation
import Testing
import TestSupport

/// The fuzz harness's seed corpus and every crasher it found (kept under
/// Tests/Fuzz/Crashers/<target>/ once fixed) replayed through the same
/// targets, without libFuzzer: `hpccloud fuzz-replay`. A trap, an error that
/// is not one line of bad input, or a slow input fails the test and names the file.
@Suite struct FuzzRegressionTests {
    static let targets = ["scenario", "hardware", "overheads", "trace", "swf", "arguments", "results"]

    @Test(arguments: targets)
    func keptInputsNeitherCrashNorFailOddly(target: String) throws {
        let root = Fixtures.repoRoot + "/Tests/Fuzz/"
        let inputs = ["Corpus/", "Crashers/"].map { root + $0 + target }.filter { FileManager.default.fileExists(atPath: $0) }
        let count = try inputs.reduce(0) { $0 + (try FileManager.default.contentsOfDirectory(atPath: $1).filter { !$0.hasPrefix(".") }.count) }
        #expect(count > 0, "no seed inputs for \(target)")
        let result = try Tool.run(["fuzz-replay", target] + inputs)
        #expect(result.status == 0, "\(target): exit \(result.status); last input: \(result.stderr.split(separator: "\n").suffix(3).joined(separator: " | "))")
        #expect(result.stdout == "\(count) inputs, no crash\n", "\(result.stdout)")
    }

    /// The first finding (a NULL migration name in a results database) is one line of bad input for `report`.
    @Test func aDamagedMigrationTableIsBadInput() throws {
        let path = Fixtures.repoRoot + "/Tests/Fuzz/Crashers/results/null-migration-identifier"
        let result = try Tool.run(["report", path])
        #expect(result.status == 2 && result.stderr.hasPrefix("hpccloud: error: \(path): damaged results database: ")
                && result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }
}
