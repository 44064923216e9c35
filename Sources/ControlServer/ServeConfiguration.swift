import CloudModel
import ControlPlane
import Foundation

/// `hpccloud serve --config controller.yaml`: where the state lives, what the
/// cloud is, where to listen and how the hardware is reached.
///
/// ```yaml
/// state: /var/lib/hpccloud/state.sqlite
/// scenario: /etc/hpccloud/cloud.yaml   # read when the state is new
/// backend: agents                      # or simulated
/// hosts: [node01, node02]              # agents: inventory names, in the scenario's host order
/// listen: 0.0.0.0:8443
/// tls: {certificate: /etc/hpccloud/tls.crt, key: /etc/hpccloud/tls.key}
/// manageSubnet: true                   # agents: an `sm` agent writes OpenSM's partitions
/// passInterval: 5                      # seconds between reconcile passes
/// ```
public struct ServeConfiguration: Sendable, Equatable {
    public var state: String
    public var scenario: String?
    public var backend: String = "simulated"
    public var hosts: [String] = []
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    public var certificate: String?
    public var key: String?
    public var insecure = false
    public var manageSubnet = true
    public var passInterval: Double = 5
    public var hardware: String?

    public init(state: String) { self.state = state }

    static let keys = ["state", "scenario", "backend", "hosts", "listen", "tls", "insecure", "manageSubnet", "passInterval", "hardware"]

    /// Reads the file; relative paths in it are relative to the file.
    public static func load(_ path: String) throws -> ServeConfiguration {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw InputError(file: path, message: "cannot read: \(error.localizedDescription)")
        }
        let root = try YAMLValue.parse(text, file: path).mapping(allowed: keys)
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        func resolve(_ value: YAMLValue) throws -> String {
            let text = try value.string()
            return text.hasPrefix("/") ? text : directory.appendingPathComponent(text).standardizedFileURL.path
        }
        var config = ServeConfiguration(state: try resolve(try root.required("state")))
        config.scenario = try root["scenario"].map(resolve)
        config.hardware = try root["hardware"].map(resolve)
        if let value = root["backend"] {
            config.backend = try value.string()
            guard ["simulated", "agents"].contains(config.backend) else { throw value.error("expected simulated or agents, got '\(config.backend)'") }
        }
        if let value = root["hosts"] {
            config.hosts = try value.sequence().map { item in
                let name = try item.string()
                guard Names.isValid(name) else { throw item.error("expected a host name of A-Z a-z 0-9 . _ -, got '\(name)'") }
                return name
            }
            guard Set(config.hosts).count == config.hosts.count else { throw value.error("host names must be unique") }
        }
        if let value = root["listen"] {
            let text = try value.string()
            guard let (host, port) = parseListen(text) else { throw value.error("expected HOST:PORT (port 0 to 65535), got '\(text)'") }
            (config.host, config.port) = (host, port)
        }
        if let value = root["tls"] {
            let tls = try value.mapping(allowed: ["certificate", "key"])
            config.certificate = try resolve(try tls.required("certificate"))
            config.key = try resolve(try tls.required("key"))
        }
        if let value = root["insecure"] { config.insecure = try value.bool() }
        if let value = root["manageSubnet"] { config.manageSubnet = try value.bool() }
        if let value = root["passInterval"] { config.passInterval = try value.double(atLeast: 0.1, atMost: 3600) }
        return config
    }

    /// `HOST:PORT` or `[V6]:PORT`.
    public static func parseListen(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        return (host, port)
    }

    /// Plain HTTP is for loopback only, unless the operator said `--insecure`.
    public func checkTransport() throws {
        guard certificate == nil else { return }
        let loopback = host == "localhost" || host == "::1" || host.hasPrefix("127.")
        guard loopback || insecure else {
            throw InputError(file: "serve", field: "listen",
                             message: "\(host):\(port) is not loopback: give tls.certificate and tls.key, or say --insecure to serve plain HTTP")
        }
    }
}
