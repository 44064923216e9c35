import Foundation
import Testing
import TestSupport

/// Policies that are programs, from the command line: the same decisions as the
/// built-in policy they mirror, usable by sweep, and the Python package's own tests.
@Suite(.requires(.python3)) struct ExternalPolicyCLITests {
    static let scenario = "Workloads/cx3-private-cloud-64.yaml"

    @Test func thePythonFirstFitDecidesAsTheBuiltInOne() throws {
        let directory = try Fixtures.scratchDirectory("exec-policy")
        var logs: [String] = []
        for policy in ["first-fit", "exec:python3 policies/first_fit.py"] {
            let log = directory + "/\(logs.count).csv"
            let result = try Tool.run(["simulate", Self.scenario, "--horizon", "48", "--no-db", "--policy", policy, "--decisions", log])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("policy \(policy)"))
            logs.append(try String(contentsOfFile: log, encoding: .utf8))
        }
        #expect(logs[0] == logs[1] && logs[0].split(separator: "\n").count > 100)
    }

    @Test func aSweepComparesAProgramWithABuiltInPolicy() throws {
        let database = try Fixtures.scratchDirectory("exec-sweep") + "/sweep.sqlite"
        let result = try Tool.run(["sweep", Self.scenario, "--horizon", "24", "--replications", "2", "--jobs", "2", "--db", database,
                                   "--vary", "policy=first-fit,exec:python3 policies/balance_vfs.py", "--baseline", "policy=first-fit"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("exec:python3 policies/balance_vfs.py"))
        #expect(result.stdout.contains("Paired differences against policy=first-fit"))
    }

    @Test func aBrokenProgramFailsTheRunInOneLine() throws {
        let result = try Tool.run(["simulate", Self.scenario, "--horizon", "2", "--no-db", "--policy", "exec:python3 -c pass"])
        #expect(result.status == 2)
        #expect(result.stderr == "hpccloud: error: exec:python3 -c pass: hello: the policy program exited with 0 before answering\n", "\(result.stderr)")
        let missing = try Tool.run(["simulate", Self.scenario, "--no-db", "--policy", "exec:"])
        #expect(missing.status != 0 && missing.stderr.contains("'exec:' needs a command"))
    }

    @Test func thePythonPackagesOwnTestsPass() throws {
        let result = try CleanSpawn.run("/usr/bin/env", ["python3", "-m", "unittest", "discover", "-s", "policies/tests"],
                                        environment: ["PYTHONDONTWRITEBYTECODE": "1"], timeout: 120, directory: Fixtures.repoRoot)
        #expect(result.status == 0, "\(result.output)")
    }
}
