import CloudModel
import Testing
import TestSupport

/// `subnets:` and `routers:` in scenario files, and how a planner scales a cloud over subnets.
/// In `ScenarioTests` (its `load` and `failure`).
extension ScenarioTests {
    @Test func subnetsExpandInOrderWithTheirHosts() throws {
        let scenario = try load("""
        subnets:
          - name: pod
            count: 3
            switches: 10
            routerPorts: 2
            pkeyPool: [0x0100, 0x01FF]
            hosts:
              - { count: 4, cores: 16, memoryGiB: 64, hca: connectx-3 }
              - { count: 2, cores: 32, memoryGiB: 128, hca: connectx-6 }
          - name: edge
            lidSpace: 1000
            hosts: [ { count: 5, cores: 8, memoryGiB: 32, hca: connectx-5 } ]
        routers: { spanning: true, subnetsPerRouter: 4, hopLatencyUs: 0.2, mtu: 2048 }
        workload: { trace: t.csv }
        """)
        let cloud = scenario.cloud
        #expect(cloud.subnets.map(\.name) == ["pod-1", "pod-2", "pod-3", "edge"])
        #expect(cloud.groups.map(\.subnet) == [0, 0, 1, 1, 2, 2, 3])
        #expect(cloud.hostCount == 23)
        #expect(cloud.hostRange(subnet: 1) == 6..<12 && cloud.hostRange(subnet: 3) == 18..<23)
        #expect(cloud.subnets[2].pkeyPool == 0x100...0x1FF && cloud.subnets[3].lidSpace == 1000)
        #expect(cloud.buildTimeLIDs(subnet: 0) == BuildTimeLIDs(switches: 10, pfPorts: 6, prepopulatedVFs: 0, routerPorts: 2))
        #expect(cloud.buildTimeLIDs.total == 3 * 18 + 1 + 5)
        #expect(cloud.routers == RouterSpec(spanning: true, subnetsPerRouter: 4, hopLatencyMicroseconds: 0.2, mtuBytes: 2048))
        // 2,048-byte MTU: 2,074 bytes a packet, 40 more with the GRH.
        #expect(abs(cloud.routers.goodputFactor - 2074.0 / 2114) < 1e-12)
    }

    @Test func mistakesAreNamedWhereTheyAre() throws {
        let hosts = "hosts: [ { count: 1, cores: 4, memoryGiB: 8, hca: connectx-3 } ]"
        var error = try failure("subnet: { switches: 1 }\nsubnets: [ { name: a, \(hosts) } ]\nworkload: { trace: t.csv }")
        #expect(error.field == "subnet" && error.message.contains("'subnet' and 'subnets' exclude each other"))
        // Beside one subnet, routers say how the subnets a planner splits it into are joined.
        #expect(try load("routers: { spanning: true }\n\(hosts)\nworkload: { trace: t.csv }").cloud.routers.spanning)
        error = try failure("subnets: [ { name: a, \(hosts) }, { name: a, \(hosts) } ]\nworkload: { trace: t.csv }")
        #expect(error.message == "subnet 'a' is named twice")
        error = try failure("subnets: [ { name: 'a b', \(hosts) } ]\nworkload: { trace: t.csv }")
        #expect(error.field == "subnets[0].name")
        error = try failure("subnets: [ { name: a, \(hosts) } ]\nrouters: { subnetsPerRouter: 7 }\nworkload: { trace: t.csv }")
        #expect(error.field == "routers.subnetsPerRouter")
        // A subnet past its LIDs is named, with its numbers.
        error = try failure("""
        subnets:
          - { name: ok, hosts: [ { count: 2, cores: 4, memoryGiB: 8, hca: connectx-3 } ] }
          - { name: full, lidSpace: 10, switches: 3, hosts: [ { count: 8, cores: 4, memoryGiB: 8, hca: connectx-3 } ] }
        workload: { trace: t.csv }
        """)
        #expect(error.field == "subnets[full].lidSpace" && error.line == 3)
        #expect(error.message == "infeasible LID budget in subnet full: build-time LIDs 11 (3 switches + 8 PF ports + 0 prepopulated VF LIDs) exceed the LID space of 10")
    }

    /// 200,000 ConnectX-6 hosts: 5 subnets when only build-time LIDs must fit, 523 when every VF may hold a LID.
    @Test func scalingSplitsSubnetsByTheirLIDs() throws {
        let scenario = try Fixtures.loader().load(path: Fixtures.repoRoot + "/Workloads/cx6-vswitch-1024.yaml")
        let build = try scenario.cloud.scaled(by: 200_000 / 1024, fit: .buildTime)
        #expect(build.hostCount == 200_000 && build.subnets.count == 5)
        #expect(build.subnets.indices.allSatisfy { build.buildTimeLIDs(subnet: $0).total <= 49_151 })
        #expect(build.subnets.map(\.name).first == "subnet.1")
        // 64 switches + 128 LIDs a host (its PF and 127 VFs): 383 hosts a subnet.
        let full = try scenario.cloud.scaled(by: 200_000 / 1024, fit: .fullVFUse)
        #expect(full.hostCount == 200_000 && full.subnets.count == 523)
        // 200,000 = 214 x 383 + 309 x 382: the groups dealt out evenly.
        #expect(full.hostRange(subnet: 0).count == 383 && full.hostRange(subnet: 213).count == 383 && full.hostRange(subnet: 214).count == 382)
        #expect(try scenario.cloud.scaled(by: 200_000 / 1024, maxHostsPerSubnet: 10_000).subnets.count == 20)
        // One host's own LIDs past the space: no layout.
        var tiny = scenario.cloud
        tiny.subnet.lidSpace = 100
        #expect(throws: PlanError.self) { try tiny.scaled(by: 1, fit: .fullVFUse) }
    }

    /// Single-hop spanning: every pair of subnets shares a router of k subnets.
    @Test func routersForEveryPair() {
        let six = RouterSpec(spanning: true, subnetsPerRouter: 6)
        #expect(six.routersForAllPairs(subnets: 1) == (0, 0))
        #expect(six.routersForAllPairs(subnets: 6) == (1, 1))
        // 7 subnets: groups of 3 (3 groups, 3 pairs of groups); Schönheim ceil(7/6 ceil(6/5)) = 3.
        #expect(six.routersForAllPairs(subnets: 7) == (3, 3))
        #expect(six.routersForAllPairs(subnets: 70) == (276, 164))
        #expect(RouterSpec(subnetsPerRouter: 2).routersForAllPairs(subnets: 10) == (45, 45))
    }
}
