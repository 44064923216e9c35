import CloudModel
import Testing
import TestSupport

@Suite struct CloudLimitsTests {
    @Test func ceilingsFollowTheirFormulas() {
        let cloud = CloudSpec(groups: [Fixtures.group(10, cores: 16, vfs: 8, pkeyTable: 16, mode: .sharedPort),
                                       Fixtures.group(5, cores: 32, vfs: 100, pkeyTable: 128, mode: .vswitchDynamic)],
                              overcommit: Overcommit(3, 2), subnet: SubnetSpec(switches: 4, pkeyPool: 0x10...0x1F, lidSpace: 400))
        let limits = Dictionary(uniqueKeysWithValues: CloudLimits(cloud: cloud).lines.map { ($0.label, $0) })
        #expect(limits["VMs with a VF (hpc VMs) at once"]?.value == 10 * 8 + 5 * 100)
        #expect(limits["vCPUs at once (all dynamic, overcommit 3/2)"]?.value == (160 + 160) * 3 / 2)
        #expect(limits["tenant pkey entries in the cloud"]?.value == 10 * 15 + 5 * 127)
        #expect(limits["concurrent hpc clusters (pkey space)"]?.value == 16)
        #expect(limits["LIDs at build time"]?.value == 4 + 15)
        #expect(limits["LIDs at full VF use"]?.value == 19 + 500)
        #expect(limits["VFs in use that LIDs allow (vswitch-dynamic)"]?.value == 400 - 19)
        let prepopulated = limits["if every host were vswitch-prepopulated: LIDs at build / at full VF use"]!
        #expect(prepopulated.value == 19 + 580 && prepopulated.formula.contains("EXCEEDS the LID space of 400"))
        #expect(CloudLimits(cloud: cloud).lines.allSatisfy { !$0.formula.isEmpty })
    }
}
