import ControlAgent
import Foundation
import Testing
import TestSupport

/// The running controller against its own OpenAPI document: schemathesis
/// (from PyPI; `make test` installs it) generates requests from
/// `openapi.yaml`, as an operator and as a tenant, bounded in examples and
/// time. The checks: no 5xx, answers that match the document (status codes,
/// content types, bodies), and the controller still alive afterwards.
@Suite(.serialized) struct FuzzTests {
    /// `python3 -m schemathesis.cli` through the first python3 on PATH (pip's console scripts may not be on it).
    static func python() -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/local/bin", "/usr/bin"]
        return path.map { $0 + "/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test(.requires(.schemathesis)) func theDocumentedAPINeverAnswersWithA5xxUnderSchemathesis() async throws {
        let python = try #require(Self.python(), "python3 is missing")
        let check = try CleanSpawn.run(python, ["-m", "schemathesis.cli", "--version"], timeout: 60, directory: "/")
        try #require(check.status == 0, "schemathesis is missing: `make test` installs it (python3 -m pip install schemathesis): \(check.output)")
        let dir = try Fixtures.scratchDirectory("fuzz")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
        name: fuzz
        seed: 1
        hosts:
          - { count: 8, cores: 16, memoryGiB: 64, hca: connectx-3, vfs: 8, pkeyTable: 16 }
        """.write(toFile: dir + "/cloud.yaml", atomically: true, encoding: .utf8)
        try "state: state.sqlite\nscenario: cloud.yaml\nhardware: \(Fixtures.hardwareDirectory)\nbackend: simulated\nlisten: 127.0.0.1:0\n"
            .write(toFile: dir + "/controller.yaml", atomically: true, encoding: .utf8)
        let hpccloud = Fixtures.product("hpccloud")
        func token(_ arguments: [String]) throws -> String {
            let result = try CleanSpawn.run(hpccloud, arguments + ["--config", dir + "/controller.yaml"], timeout: 60, directory: dir)
            try #require(result.status == 0, "\(arguments): \(result.output)")
            return try #require(result.output.split(separator: "\n").first { $0.hasPrefix("hpcc_") }.map(String.init))
        }
        let tokens = [try token(["operator", "add", "ops"]), try token(["tenant", "add", "acme", "--max-vms", "40"])]
        let server = try CleanSpawn.spawn(hpccloud, ["serve", "--config", dir + "/controller.yaml", "--port-file", dir + "/port", "--log-level", "warning"],
                                          output: dir + "/controller.log", directory: dir)
        defer { CleanSpawn.stop(server) }
        var port = 0
        for _ in 0..<100 where port == 0 {
            try await Task.sleep(for: .milliseconds(100))
            port = Int(((try? String(contentsOfFile: dir + "/port", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }
        try #require(port > 0, "the controller never listened")
        for token in tokens {
            let result = try CleanSpawn.run(python, ["-m", "schemathesis.cli", "run", "http://127.0.0.1:\(port)/openapi.yaml", "-H", "Authorization: Bearer \(token)",
                                                   "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                                                   "--max-examples", "12", "--seed", "1", "--request-timeout", "10"],
                                            timeout: 400, directory: dir)
            #expect(result.status == 0, "schemathesis found problems:\n\(result.output.suffix(4000))")
        }
        let url = "http://127.0.0.1:\(port)"
        let client = try ControllerClient(url: url, token: nil)
        let health = try await client.send(.GET, "/healthz").status
        await client.shutdown()
        #expect(health == 200, "the controller died under the fuzzer: \(String((try? String(contentsOfFile: dir + "/controller.log", encoding: .utf8))?.suffix(2000) ?? ""))")
    }
}
