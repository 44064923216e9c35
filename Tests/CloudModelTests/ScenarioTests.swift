import CloudModel
import Testing
import TestSupport

@Suite struct ScenarioTests {
    func load(_ yaml: String) throws -> Scenario {
        try Fixtures.loader().load(yaml: yaml, file: "/tmp/s.yaml")
    }

    /// The one-line message of the error `yaml` raises.
    func failure(_ yaml: String) throws -> InputError {
        do {
            _ = try load(yaml)
        } catch let error as InputError {
            #expect(!error.description.contains("\n"))
            return error
        }
        Issue.record("expected an InputError")
        return InputError(file: "", message: "")
    }

    @Test func theFullKeySetLoads() throws {
        let scenario = try load("""
        name: example
        seed: 42
        policy: best-fit
        overcommit: "3/2"
        subnet: { switches: 2, pkeyPool: [0x0010, 0x00FF], lidSpace: 40000 }
        hosts:
          - { count: 16, cores: 16, memoryGiB: 64, hca: connectx-3, vfs: 7, pkeyTable: 8 }
          - { count: 2, model: dell-r710 }
          - { count: 4, cores: 32, memoryGiB: 256, hca: connectx-6, sriovMode: vswitch-prepopulated }
        workload: { trace: traces/t.csv }
        """)
        #expect(scenario.name == "example" && scenario.seed == 42 && scenario.policy == "best-fit")
        #expect(scenario.cloud.overcommit == Overcommit(3, 2))
        #expect(scenario.cloud.subnet == SubnetSpec(switches: 2, pkeyPool: 0x10...0xFF, lidSpace: 40000))
        let groups = scenario.cloud.groups
        #expect(groups[0].vfs == 7 && groups[0].pkeyTable == 8 && groups[0].sriovMode == .sharedPort)
        #expect(groups[1].cores == 8 && groups[1].memoryMiB == 64 * 1024 && groups[1].hca.name == "connectx-2" && groups[1].vfs == 7)
        #expect(groups[2].vfs == 127 && groups[2].sriovMode == .vswitchPrepopulated)
        #expect(scenario.cloud.hostCount == 22)
        #expect(scenario.cloud.buildTimeLIDs.total == 2 + 22 + 4 * 127)
        #expect(scenario.workload == .trace(path: "/tmp/traces/t.csv"))
    }

    @Test func unknownKeyNamesItsPathAndLine() throws {
        let error = try failure("""
        hosts:
          - { count: 4, cores: 16, memoryGiB: 64, hca: connectx-3 }
          - count: 2
            corse: 8
        workload: { trace: t.csv }
        """)
        #expect(error.file == "/tmp/s.yaml" && error.line == 4 && error.field == "hosts[1].corse")
        #expect(error.description.hasPrefix("/tmp/s.yaml:4:5: hosts[1].corse: unknown key (expected one of: count, cores,"))
    }

    @Test func missingProfileIsNamed() throws {
        let error = try failure("hosts: [ { count: 1, cores: 4, memoryGiB: 8, hca: connectx-9 } ]\nworkload: { trace: t.csv }")
        #expect(error.field == "hosts[0].hca" && error.line == 1)
        #expect(error.message.hasPrefix("unknown HCA profile 'connectx-9' (in "))
        #expect(error.message.contains("connectx-2, connectx-3, connectx-4, connectx-5, connectx-6, connectx-7"))
    }

    @Test func negativeCountIsRejected() throws {
        let error = try failure("hosts:\n  - { count: -3, cores: 4, memoryGiB: 8, hca: connectx-3 }\nworkload: { trace: t.csv }")
        #expect(error.description == "/tmp/s.yaml:2:14: hosts[0].count: expected a host count in 0...10000000, got -3")
    }

    @Test func infeasibleLIDBudgetStatesTheNumbers() throws {
        // 1,024 ConnectX-6 hosts with 127 prepopulated VF LIDs each need 131,073 LIDs.
        let error = try failure("""
        subnet: { switches: 1 }
        hosts: [ { count: 1024, cores: 64, memoryGiB: 512, hca: connectx-6, sriovMode: vswitch-prepopulated } ]
        workload: { trace: t.csv }
        """)
        #expect(error.field == "subnet.lidSpace")
        #expect(error.message == "infeasible LID budget: build-time LIDs 131073 (1 switches + 1024 PF ports + 130048 prepopulated VF LIDs) exceed the LID space of 49151")
    }

    @Test func malformedYAMLGivesItsPosition() throws {
        let error = try failure("hosts:\n  - { count: 1, cores: 4\nworkload: [")
        #expect(error.line != nil && error.message.hasPrefix("malformed YAML"))
    }

    /// A valid synthetic scenario with one line of its `synthetic:` block replaced.
    static func synthetic(_ replacement: String) -> String {
        var lines = ["requests: 5", "arrivals: { process: poisson, perHour: 1 }", "vms: { 1: 1 }", "vcores: { 1: 1 }",
                     "lifetime: { distribution: exponential, meanHours: 1 }"]
        let key = replacement.prefix { $0 != ":" }
        if let i = lines.firstIndex(where: { $0.hasPrefix(key + ":") }) { lines[i] = replacement } else { lines.append(replacement) }
        return "hosts: [ { count: 1, cores: 4, memoryGiB: 8, hca: connectx-3 } ]\nworkload:\n  synthetic:\n"
            + lines.map { "    " + $0 }.joined(separator: "\n")
    }

    @Test(arguments: [
        ("hosts: [ { count: 1, cores: 4, memoryGiB: 8, hca: connectx-3, vfs: 64 } ]", "hosts[0].vfs", "64 VFs exceed connectx-3's maximum of 63"),
        ("hosts: [ { count: 1, cores: four, memoryGiB: 8, hca: connectx-3 } ]", "hosts[0].cores", "expected an integer, got 'four'"),
        ("hosts: [ { count: 1, cores: 4, hca: connectx-3 } ]", "hosts[0]", "missing required key 'memoryGiB'"),
        ("hosts: [ { count: 1, cores: 4, memoryGiB: 8, hca: connectx-3, sriovMode: vswitch } ]", "hosts[0].sriovMode", "unknown SR-IOV mode 'vswitch'"),
        ("policy: fastest\nhosts: [ { count: 1, cores: 4, memoryGiB: 8, hca: connectx-3 } ]", "policy", "unknown policy 'fastest'"),
        ("overcommit: 0.5\nhosts: [ { count: 1, cores: 4, memoryGiB: 8, hca: connectx-3 } ]", "overcommit", "expected a ratio from 1 to 64"),
        // The hostile-input report's cases: each a clear error where it used to trap, hang or round.
        ("overcommit: '1.0000001'\nhosts: [ { count: 1, cores: 4, memoryGiB: 8, hca: connectx-3 } ]", "overcommit", "expected a ratio from 1 to 64"),
        ("overcommit: 10000\nhosts: [ { count: 1, cores: 1000000, memoryGiB: 8, hca: connectx-3 } ]", "overcommit", "expected a ratio from 1 to 64"),
        (ScenarioTests.synthetic("memGiBPerVcore: 1e300"), "workload.synthetic.memGiBPerVcore", "expected a number in 0.0...65536.0, got 1e+300"),
        (ScenarioTests.synthetic("arrivals: { process: poisson, perHour: 1e-12 }"), "workload.synthetic.arrivals.perHour", "expected arrivals per hour in 1e-06...1000000000.0"),
        (ScenarioTests.synthetic("vms: { family: geometric, mean: 1e12, max: 1 }"), "workload.synthetic.vms.mean", "expected a mean of at most max (1)"),
        (ScenarioTests.synthetic("arrivals: { process: mmpp, states: [ { perHour: 1, meanHours: 1e-300 }, { perHour: 2, meanHours: 1 } ] }"),
         "workload.synthetic.arrivals.states[0].meanHours", "expected hours in 0.0001...1000000.0"),
        ("hosts: [ { count: 1, cores: 4, memoryGiB: 8, hca: connectx-3 } ]\nadmission: { mode: fcfs, maxWaitHours: 2e9 }",
         "admission.maxWaitHours", "expected a number of hours in (0, 1000000]"),
        ("hosts: [ { count: 1, cores: 4, memoryGiB: 8, hca: connectx-3 } ]\nworkload: { swf: { file: x.swf, timeScale: 1e12 } }",
         "workload.swf.timeScale", "expected a number in (0, 1000000]"),
        ("subnet: { pkeyPool: [0x7FFF, 0x7FFF] }\nhosts: [ { count: 1, cores: 4, memoryGiB: 8, hca: connectx-3 } ]", "subnet.pkeyPool[0]", "expected a pkey in 1...32766, got 32767"),
        ("hosts: [ { count: 0, cores: 4, memoryGiB: 8, hca: connectx-3 } ]", "hosts", "the cloud has no hosts"),
        ("hosts: []\nworkload: { trace: a, synthetic: {} }", "hosts", "the cloud has no hosts"),
        (ScenarioTests.synthetic("vms: { 0: 1 }"), "workload.synthetic.vms.0", "expected an integer in 1...1000000 as the value, got '0'"),
        (ScenarioTests.synthetic("arrivals: { process: hawkes, perHour: 1 }"), "workload.synthetic.arrivals.process", "unknown process 'hawkes' (expected one of: poisson, diurnal, mmpp)"),
        (ScenarioTests.synthetic("arrivals: { process: poisson, perHour: 1, amplitude: 0.5 }"), "workload.synthetic.arrivals.amplitude", "unknown key (expected one of: process, perHour)"),
        (ScenarioTests.synthetic("arrivals: { process: diurnal, perHour: 1, amplitude: 1.5 }"), "workload.synthetic.arrivals.amplitude", "expected a number in 0.0...1.0, got 1.5"),
        (ScenarioTests.synthetic("arrivals: { process: mmpp, states: [ { perHour: 1, meanHours: 1 } ] }"), "workload.synthetic.arrivals.states", "an MMPP needs at least 2 states, got 1"),
        (ScenarioTests.synthetic("vms: { family: powers-of-two, min: 1, max: 12 }"), "workload.synthetic.vms.max", "expected a power of two, got 12"),
        (ScenarioTests.synthetic("vms: { family: uniform, min: 4, max: 2 }"), "workload.synthetic.vms.max", "max 2 is below min 4"),
        (ScenarioTests.synthetic("vms: { family: geometric, mean: 0.5, max: 8 }"), "workload.synthetic.vms.mean", "expected a number >= 1.0, got 0.5"),
        (ScenarioTests.synthetic("lifetime: { distribution: weibull, shape: 0.7 }"), "workload.synthetic.lifetime", "missing required key 'scaleHours'"),
        (ScenarioTests.synthetic("lifetime: { distribution: lognormal, medianHours: 2, sigma: -1 }"), "workload.synthetic.lifetime.sigma", "expected a number in 1e-06...20.0, got -1.0"),
        (ScenarioTests.synthetic("resize: { probability: 0.5, delta: { 1: 1 }, atLifeFraction: [0.5, 1] }"), "workload.synthetic.resize.atLifeFraction", "expected 0 <= from <= to < 1, got [0.5, 1.0]"),
        (ScenarioTests.synthetic("work: { distribution: exponential, meanGFlop: 1000 }"), "workload.synthetic",
         "expected exactly one of 'lifetime' (durations) or 'work' (GFlop per cluster)"),
        ("hosts: [ { count: 1, cores: 4, memoryGiB: 8, hca: connectx-3 } ]\noverheads: { route: x }", "overheads.route", "unknown key (expected one of: path, profile)"),
        (ScenarioTests.synthetic("tenants: 0"), "workload.synthetic.tenants", "expected a tenant count in 1...100000000, got 0"),
        ("hosts: [ { count: 1, cores: 4, memoryGiB: 8, hca: connectx-3 } ]\nworkload: { swf: { file: x.swf, coresPerVM: 2, lifetime: walltime } }",
         "workload.swf.lifetime", "unknown value 'walltime' (expected one of: runtime, requested, work)"),
        ("hosts: [ { count: 1, cores: 4, memoryGiB: 8, hca: connectx-3 } ]\nworkload: { swf: { file: x.swf, timeScale: 0 } }",
         "workload.swf.timeScale", "expected a number in (0, 1000000] such as 0.5"),
        ("hosts: [ { count: 1, cores: 4, memoryGiB: 8, hca: connectx-3 } ]\nadmission: { mode: reject, maxWaitHours: 2 }",
         "admission.maxWaitHours", "a maximum wait needs a queue (mode fcfs or easy)"),
        ("hosts: [ { count: 1, cores: 4, memoryGiB: 8, hca: connectx-3 } ]\nadmission: { mode: fcfs, backfillDepth: 5 }",
         "admission.backfillDepth", "a backfill depth needs mode easy"),
        ("hosts: [ { count: 1, cores: 4, memoryGiB: 8, hca: connectx-3 } ]\nadmission: { mode: lottery }",
         "admission.mode", "unknown value 'lottery' (expected one of: reject, fcfs, easy)"),
    ])
    func badValuesAreNamed(yaml: String, field: String, message: String) throws {
        let error = try failure(yaml)
        #expect(error.field == field)
        #expect(error.message.hasPrefix(message), "\(error)")
    }

    @Test func aScenarioWithoutWorkloadIsACloudForReplay() throws {
        let scenario = try load("hosts: [ { count: 2, cores: 4, memoryGiB: 8, hca: connectx-3 } ]")
        #expect(scenario.workload == nil && scenario.policy == "first-fit" && scenario.seed == 1)
        #expect(scenario.name == "s")
    }
}
