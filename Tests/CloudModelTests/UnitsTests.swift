import CloudModel
import Testing

@Suite struct UnitsTests {
    @Test(arguments: [
        ("0", Int64(0)), ("12", 12_000_000_000), ("0.5", 500_000_000), ("1.000000001", 1_000_000_001),
        ("1.0000000005", 1_000_000_001), ("1.0000000004", 1_000_000_000), ("3.", 3_000_000_000),
        (".25", 250_000_000), ("86400.123456789", 86_400_123_456_789),
    ])
    func decimalSecondsConvertExactlyRoundingHalfAwayFromZero(text: String, ns: Int64) {
        #expect(Units.nanoseconds(fromSeconds: Substring(text)) == ns)
    }

    @Test(arguments: ["", ".", "1.2.3", "-1", "1e3", "abc", "4a", " 1", "99999999999999999999"])
    func malformedDecimalsAreRejected(text: String) {
        #expect(Units.nanoseconds(fromSeconds: Substring(text)) == nil)
    }

    @Test func memoryAndTimeFormats() {
        #expect(Units.mebibytes(fromGibibytes: "4") == 4096)
        #expect(Units.mebibytes(fromGibibytes: "0.5") == 512)
        #expect(Units.mebibytes(fromGibibytes: "0.1") == 102)  // 102.4 MiB, rounded
        // Every whole MiB written as GiB reads back exactly (thousandths first made 64 MiB 65).
        #expect(Units.mebibytes(fromGibibytes: "0.0625") == 64)
        for mib in [Int64(1), 64, 1000, 1023, 1025, 123_456_789] {
            #expect(Units.mebibytes(fromGibibytes: Substring(Units.formatGiB(mib))) == mib, "\(mib) MiB")
        }
        #expect(Units.formatSeconds(0) == "0.000000")
        #expect(Units.formatSeconds(1_500_000) == "0.001500")
        #expect(Units.formatSeconds(12_000_000_500) == "12.000001")  // half a microsecond rounds up
        #expect(Units.formatSeconds(12_000_000_499) == "12.000000")
    }

    @Test func overcommitParsesExactRatios() {
        #expect(Overcommit(parsing: "1.5") == Overcommit(3, 2))
        #expect(Overcommit(parsing: "3/2") == Overcommit(3, 2))
        #expect(Overcommit(parsing: "2") == Overcommit(2, 1))
        #expect(Overcommit(parsing: "1.333333") == Overcommit(1_333_333, 1_000_000))
        for bad in ["0.5", "1/2", "x", "3/0", "", "1.5/2", "-2"] { #expect(Overcommit(parsing: bad) == nil, "\(bad)") }
        let r = Overcommit(3, 2)
        #expect(r.physicalCores(forDynamic: 3) == 2)
        #expect(r.physicalCores(forDynamic: 4) == 3)  // ceil(4 / 1.5) = ceil(2.67)
        #expect(r.dynamicCapacity(ofPhysical: 5) == 7)  // floor(5 * 1.5)
    }
}
