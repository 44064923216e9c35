import Allocation
import CloudModel
import Foundation
import Simulation
import Testing
import TestSupport
import Workloads

/// The decision logs of seeded synthetic runs, pinned across versions by
/// checksum: a change that alters any decision (a policy, a rule, a random
/// stream, the workload generator, the log format) changes a number here.
/// `hpccloud simulate SCENARIO --policy P --seed S --horizon H --decisions -`
/// writes the same bytes. Update a pin only for a change meant to alter
/// decisions, and say so in the commit.
@Suite struct DecisionChecksumTests {
    struct Pin: CustomTestStringConvertible, Sendable {
        /// A file under Workloads/, or nil for the embedded default.
        let scenario: String?
        let policy: String
        let seed: UInt64
        let horizonHours: Int64
        let rows: Int
        let checksum: UInt64
        var testDescription: String { "\(scenario ?? "default") \(policy) seed \(seed)" }
    }

    static let pins: [Pin] = [
        Pin(scenario: nil, policy: "first-fit", seed: 42, horizonHours: 200, rows: 4729, checksum: 0x302a_5e8f_84bd_9085),
        Pin(scenario: nil, policy: "best-fit", seed: 42, horizonHours: 200, rows: 4728, checksum: 0x5f9f_ce3e_8360_d74a),
        Pin(scenario: nil, policy: "worst-fit", seed: 42, horizonHours: 200, rows: 4665, checksum: 0x6902_058f_d821_b5f1),
        Pin(scenario: "cx3-private-cloud-64.yaml", policy: "pkey-pack", seed: 3, horizonHours: 100, rows: 2483, checksum: 0x61e5_6451_cb83_57c1),
        Pin(scenario: nil, policy: "random", seed: 42, horizonHours: 200, rows: 4727, checksum: 0xd6e5_3e1d_7f7d_6852),
        Pin(scenario: nil, policy: "random", seed: 7, horizonHours: 200, rows: 4813, checksum: 0x266e_45a1_ed49_75e1),
        Pin(scenario: "seed-testbed.yaml", policy: "first-fit", seed: 1, horizonHours: 100, rows: 332, checksum: 0x0257_b5f2_4bb0_bd22),
        Pin(scenario: "hpl-work-r710.yaml", policy: "best-fit", seed: 5, horizonHours: 100, rows: 1076, checksum: 0xe091_8eda_26ff_06c4),
        Pin(scenario: "cx6-vswitch-1024.yaml", policy: "first-fit", seed: 11, horizonHours: 6, rows: 18122, checksum: 0x84aa_15b1_835a_af2f),
    ]

    /// FNV-1a, 64 bits, over the log's bytes (written here, not taken from the tool).
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }

    @Test(arguments: pins)
    func decisionLogMatchesItsPin(_ pin: Pin) throws {
        let loader = try Fixtures.loader()
        let scenario = try pin.scenario.map { try loader.load(path: Fixtures.repoRoot + "/Workloads/" + $0) }
            ?? loader.load(yaml: EmbeddedScenarios.defaultYAML, file: EmbeddedScenarios.defaultFile)
        let run = try Run(scenario: scenario, policy: pin.policy, seed: pin.seed, horizon: pin.horizonHours * 3_600_000_000_000)
        let log = try GoldenTests.log(run)
        let rows = log.split(separator: "\n").count - 1
        let checksum = Self.fnv1a(log)
        #expect(rows == pin.rows && checksum == pin.checksum,
                "\(pin.testDescription): \(rows) rows, checksum 0x\(String(checksum, radix: 16)); pinned \(pin.rows) rows, 0x\(String(pin.checksum, radix: 16))")
    }
}
