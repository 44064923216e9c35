import ControlAgent
import ControlPlane
import ControlServer
import Foundation
import Logging
import Testing
import TestSupport

/// HTTPS when given a certificate: a private CA (openssl) signs the
/// controller's certificate; a client that trusts that CA gets answers, one
/// that trusts only the system's roots is refused; plain HTTP off loopback
/// is refused unless `--insecure`.
@Suite struct TLSTests {
    @Test func theControllerServesHTTPSWithTheGivenCertificate() async throws {
        let dir = try Fixtures.scratchDirectory("tls")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for arguments in [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=hpccloud test CA"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tls.key", "-out", "tls.csr", "-subj", "/CN=localhost"],
            ["x509", "-req", "-in", "tls.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "tls.crt", "-days", "2",
             "-extfile", "san.cnf"],
        ] {
            try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(toFile: dir + "/san.cnf", atomically: true, encoding: .utf8)
            let result = try CleanSpawn.run("/usr/bin/openssl", arguments, timeout: 60, directory: dir)
            try #require(result.status == 0, "openssl \(arguments[0]): \(result.output)")
        }
        let live = try await LiveController(tenants: ["acme": Quota()], tls: (dir + "/tls.crt", dir + "/tls.key"))
        let trusting = try ControllerClient(url: "https://127.0.0.1:\(live.port)", token: live.tokens["acme"], caFile: dir + "/ca.pem")
        let list = try await trusting.call(.GET, "/v1/clusters", as: ClusterList.self)
        #expect(list.clusters.isEmpty)
        let stranger = try ControllerClient(url: "https://127.0.0.1:\(live.port)", token: live.tokens["acme"])
        await #expect(throws: ClientError.self) { _ = try await stranger.send(.GET, "/healthz") }
        await trusting.shutdown()
        await stranger.shutdown()
        await live.stop()

        var plain = ServeConfiguration(state: dir + "/x.sqlite")
        plain.host = "0.0.0.0"
        #expect(throws: InputErrorLike.self) { try plain.checkTransport() }
        plain.insecure = true
        try plain.checkTransport()
    }
}

typealias InputErrorLike = any Error
