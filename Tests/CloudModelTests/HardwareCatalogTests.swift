import CloudModel
import Testing
import TestSupport

@Suite struct HardwareCatalogTests {
    @Test func everyConnectXGenerationHasAProfileWithSources() throws {
        let catalog = try Fixtures.catalog()
        #expect(catalog.hcas.keys.sorted() == (2...7).map { "connectx-\($0)" })
        for profile in catalog.hcas.values {
            for field in ["vfPciId", "sriovMode", "link", "usableVFs", "maxVFs", "pkeyTable"] {
                #expect(profile.sources[field] != nil, "\(profile.name) has no source for \(field)")
            }
        }
        let cx2 = try #require(catalog.hcas["connectx-2"]), cx3 = try #require(catalog.hcas["connectx-3"])
        #expect(cx2.usableVFs == 7 && cx2.pkeyTable == 127 && cx2.sriovMode == .sharedPort && cx2.driver == "mlx4")
        #expect(cx2.link.gbps == 40 && cx2.vfPCIDeviceID == 0x1002)
        #expect(cx3.usableVFs == 15 && cx3.maxVFs == 63 && cx3.link.gbps == 56)
        let cx6 = try #require(catalog.hcas["connectx-6"]), cx7 = try #require(catalog.hcas["connectx-7"])
        #expect(cx6.driver == "mlx5" && cx6.sriovMode == .vswitchDynamic && cx6.maxVFs == 127 && cx6.link.gbps == 200)
        #expect(cx7.unverified == ["pkeyTable"] && cx7.link.gbps == 400)
    }

    @Test func theSeedTestbedHostModel() throws {
        let r710 = try #require(try Fixtures.catalog().hostModels["dell-r710"])
        #expect(r710.cores == 8 && r710.memoryGiB == 64 && r710.hca == "connectx-2")
        // Rpeak of the paper's 16 cores: 2.66 GHz x 4 flops/cycle x 16 = 170.2 GFlops.
        #expect(abs(r710.ghz * Double(r710.flopsPerCycle) * Double(2 * r710.cores) - 170.24) < 1e-9)
    }
}
