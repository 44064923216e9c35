import AsyncHTTPClient
import ControlPlane
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// The controller's API over HTTP(S), for agents and the operator CLI.
public final class ControllerClient: Sendable {
    public let base: String
    let token: String?
    let client: HTTPClient

    /// - Parameters:
    ///   - url: `http://127.0.0.1:8080` or `https://controller:8443`.
    ///   - caFile: trust only this CA's PEM (a private CA); nil trusts the system's roots.
    public init(url: String, token: String?, caFile: String? = nil) throws {
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
            throw ClientError("--controller '\(url)': expected http://HOST:PORT or https://HOST:PORT")
        }
        base = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.token = token
        var configuration = HTTPClient.Configuration()
        if let caFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(caFile)
            configuration.tlsConfiguration = tls
        }
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(90))
        configuration.redirectConfiguration = .disallow
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async { try? await client.shutdown() }

    /// One request; any answer (even 4xx/5xx) is returned, a transport failure throws.
    public func send(_ method: HTTPMethod, _ path: String, body: Data? = nil, headers: [(String, String)] = [],
                     timeout: TimeAmount = .seconds(90)) async throws -> (status: Int, body: Data) {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        do {
            let response = try await client.execute(request, timeout: timeout)
            let bytes = try await response.body.collect(upTo: 64 << 20)
            return (Int(response.status.code), Data(bytes.readableBytesView))
        } catch {
            throw ClientError("\(base): \(method) \(path): \(error)")
        }
    }

    /// A request whose 2xx answer decodes as `T`; a problem becomes its one-line detail.
    public func call<T: Decodable>(_ method: HTTPMethod, _ path: String, body: Data? = nil, headers: [(String, String)] = [],
                                   as type: T.Type, timeout: TimeAmount = .seconds(90)) async throws -> T {
        let (status, data) = try await send(method, path, body: body, headers: headers, timeout: timeout)
        guard (200..<300).contains(status) else { throw ClientError.problem(status: status, data) }
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw ClientError("\(base)\(path): answered \(status) with a document that is not \(type): \(error)")
        }
    }
}

/// A failure to reach or be served by the controller, in one line.
public struct ClientError: Error, CustomStringConvertible, Sendable {
    public var description: String
    /// The HTTP status, when the controller answered.
    public var status: Int?

    public init(_ description: String, status: Int? = nil) {
        self.description = description
        self.status = status
    }

    static func problem(status: Int, _ data: Data) -> ClientError {
        if let problem = try? JSONDecoder().decode(Problem.self, from: data) { return ClientError(problem.detail, status: status) }
        return ClientError("the controller answered \(status)", status: status)
    }
}
