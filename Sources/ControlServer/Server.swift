import ControlPlane
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import Operations
import Prometheus
import ServiceLifecycle
import Synchronization

extension HTTPField.Name {
    static let idempotencyKey = Self("Idempotency-Key")!
}

/// The request context: Hummingbird's core storage and a 1 MiB body limit.
public struct ControlContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public init(source: ApplicationRequestContextSource) { coreContext = .init(source: source) }
    public var maxUploadSize: Int { 1 << 20 }
}

/// The API's routes, one table: the server registers these and a test checks
/// them against `openapi.yaml` (method and path template, both ways).
public enum Routes {
    public struct Route: Sendable {
        public var method: HTTPRequest.Method
        /// The OpenAPI path template (`/v1/clusters/{id}`).
        public var path: String
        /// Who may call it; nil for everyone (no token).
        public var authenticated: Bool
        let handle: @Sendable (Controller, Request, ControlContext, Principal?) async throws -> Response
    }

    static func json(_ result: APIResult) -> Response {
        Response(status: .init(code: result.status), headers: [.contentType: result.status >= 400 ? "application/problem+json" : "application/json"],
                 body: .init(byteBuffer: ByteBuffer(bytes: result.body)))
    }

    static func body(_ request: Request) async throws -> Data {
        var request = request
        return Data(try await request.collectBody(upTo: 1 << 20).readableBytesView)
    }

    static func id(_ context: ControlContext) throws -> Int64 {
        guard let text = context.parameters.get("id"), let id = Int64(text), id > 0 else {
            throw Problem.notFound("no cluster \(context.parameters.get("id") ?? "")")
        }
        return id
    }

    static func name(_ context: ControlContext) -> String { context.parameters.get("name") ?? "" }

    static func query(_ request: Request, _ key: String) -> String? { request.uri.queryParameters.get(key) }

    static func int(_ request: Request, _ key: String, default value: Int64?) throws -> Int64? {
        guard let text = query(request, key) else { return value }
        guard let number = Int64(text) else { throw Problem.badRequest("\(key) '\(text.prefix(40))': expected an integer") }
        return number
    }

    public static let table: [Route] = [
        Route(method: .get, path: "/healthz", authenticated: false) { controller, _, _, _ in
            _ = try controller.state.read { try Int.fetchOne($0, sql: "SELECT 1") }
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
        },
        Route(method: .get, path: "/openapi.yaml", authenticated: false) { _, _, _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.openapi_yaml)))
        },
        Route(method: .post, path: "/v1/clusters", authenticated: true) { c, request, _, p in
            json(try c.createCluster(p!, body: try await body(request), idempotencyKey: request.headers[.idempotencyKey]))
        },
        Route(method: .get, path: "/v1/clusters", authenticated: true) { c, request, _, p in
            json(try c.listClusters(p!, tenant: query(request, "tenant")))
        },
        Route(method: .get, path: "/v1/clusters/{id}", authenticated: true) { c, _, context, p in
            json(try c.showCluster(p!, id: try id(context)))
        },
        Route(method: .delete, path: "/v1/clusters/{id}", authenticated: true) { c, _, context, p in
            json(try c.deleteCluster(p!, id: try id(context)))
        },
        Route(method: .post, path: "/v1/clusters/{id}/resize", authenticated: true) { c, request, context, p in
            json(try c.resizeCluster(p!, id: try id(context), body: try await body(request), idempotencyKey: request.headers[.idempotencyKey]))
        },
        Route(method: .get, path: "/v1/hosts", authenticated: true) { c, _, _, p in json(try c.listHosts(p!)) },
        Route(method: .post, path: "/v1/hosts/{name}/drain", authenticated: true) { c, _, context, p in
            json(try c.setDrained(p!, host: name(context), true))
        },
        Route(method: .post, path: "/v1/hosts/{name}/undrain", authenticated: true) { c, _, context, p in
            json(try c.setDrained(p!, host: name(context), false))
        },
        Route(method: .get, path: "/v1/tenants", authenticated: true) { c, _, _, p in json(try c.listTenants(p!)) },
        Route(method: .post, path: "/v1/tenants", authenticated: true) { c, request, _, p in
            json(try c.addTenant(p!, body: try await body(request)))
        },
        Route(method: .get, path: "/v1/tenants/{name}", authenticated: true) { c, _, context, p in
            json(try c.showTenant(p!, name: name(context)))
        },
        Route(method: .put, path: "/v1/tenants/{name}/quota", authenticated: true) { c, request, context, p in
            json(try c.setQuota(p!, name: name(context), body: try await body(request)))
        },
        Route(method: .post, path: "/v1/tenants/{name}/token", authenticated: true) { c, _, context, p in
            json(try c.rotateToken(p!, tenant: name(context)))
        },
        Route(method: .post, path: "/v1/agents", authenticated: true) { c, request, _, p in
            json(try c.addAgent(p!, body: try await body(request)))
        },
        Route(method: .get, path: "/v1/plan", authenticated: true) { c, _, _, p in json(try c.plan(p!)) },
        Route(method: .get, path: "/v1/journal", authenticated: true) { c, request, _, p in
            let audit = query(request, "audit")
            guard audit == nil || audit == "true" || audit == "false" else { throw Problem.badRequest("audit: expected true or false") }
            let limit = try int(request, "limit", default: 1000)!
            guard (1...100_000).contains(limit) else { throw Problem.badRequest("limit \(limit): expected 1 to 100000") }
            return json(try c.journal(p!, audit: audit == "true", limit: Int(limit)))
        },
        Route(method: .get, path: "/v1/partitions", authenticated: true) { c, _, _, p in
            Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: try c.partitions(p!))))
        },
        Route(method: .post, path: "/v1/agent/register", authenticated: true) { c, request, _, p in
            json(try c.register(p!, body: try await body(request)))
        },
        Route(method: .get, path: "/v1/agent/desired", authenticated: true) { c, request, _, p in
            let after = try int(request, "after", default: nil)
            let wait = try int(request, "wait", default: 0)!
            return json(try await c.desired(p!, after: after, wait: Double(wait)))
        },
        Route(method: .post, path: "/v1/agent/report", authenticated: true) { c, request, _, p in
            json(try c.report(p!, body: try await body(request)))
        },
    ]
}

/// Requests and their latency, by route pattern, and the problems every error becomes.
struct Observe: RouterMiddleware {
    typealias Context = ControlContext
    let metrics: ServerMetrics
    let logger: Logger

    func handle(_ request: Request, context: ControlContext, next: (Request, ControlContext) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = problemResponse(error, request: request)
        }
        let route = context.endpointPath ?? "NotFound"
        metrics.observe(method: request.method.rawValue, route: route, status: response.status.code, duration: ContinuousClock.now - start)
        logger.debug("request", metadata: ["method": "\(request.method)", "route": "\(route)", "status": "\(response.status.code)"])
        return response
    }

    func problemResponse(_ error: any Error, request: Request) -> Response {
        let problem: Problem
        switch error {
        case let error as Problem: problem = error
        case let error as OperatorError: problem = Problem(error)
        case let error as HTTPError:
            problem = Problem(status: Int(error.status.code), title: error.status.reasonPhrase,
                              detail: error.status == .notFound ? "no such resource: \(request.method) \(request.uri.path)" : (error.body ?? error.status.reasonPhrase))
        case let error as any HTTPResponseError:
            problem = Problem(status: Int(error.status.code), title: error.status.reasonPhrase, detail: error.status == .contentTooLarge
                              ? "the request body is over 1 MiB" : error.status.reasonPhrase)
        default:
            // Ours: logged in full, answered without internals.
            logger.error("request failed", metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "error": "\(error)"])
            problem = Problem(status: 500, title: "Internal Server Error", detail: "the controller failed; see its log")
        }
        let body = (try? API.encoder.encode(problem)) ?? Data()
        var headers: HTTPFields = [.contentType: "application/problem+json"]
        if problem.status == 401 { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: .init(code: problem.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// The controller's Prometheus metrics.
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let applyFailuresSeen = Mutex<Int>(0)

    public init() {}

    static let buckets: [Duration] = [.microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                                      .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(5), .seconds(30)]

    func observe(method: String, route: String, status: Int, duration: Duration) {
        registry.makeCounter(descriptor: .init(namespace: "hpccloud", metricName: "http_requests", unitName: "total", helpText: "HTTP requests by route and status."),
                             labels: [("method", method), ("route", route), ("status", "\(status)")]).increment()
        registry.makeDurationHistogram(descriptor: .init(namespace: "hpccloud", metricName: "http_request_duration", unitName: "seconds",
                                                         helpText: "HTTP request latency by route."),
                                       labels: [("method", method), ("route", route)], buckets: Self.buckets).record(duration)
    }

    /// The state's gauges, read at scrape time.
    func emit(_ controller: Controller) throws -> [UInt8] {
        let gauges = try controller.gauges()
        func gauge(_ name: String, _ help: String, _ value: Int) {
            registry.makeGauge(descriptor: .init(namespace: "hpccloud", metricName: name, unitName: "", helpText: help)).set(Double(value))
        }
        gauge("clusters", "Clusters not yet deleted.", gauges.clusters)
        gauge("vms", "Active VMs.", gauges.vms)
        gauge("vfs_in_use", "VF slots held (active and being detached).", gauges.vfsInUse)
        gauge("pkeys_in_use", "Partition keys held by clusters.", gauges.pkeysInUse)
        for (target, lag) in gauges.agentLag {
            registry.makeGauge(descriptor: .init(namespace: "hpccloud", metricName: "agent_lag", unitName: "seconds",
                                                 helpText: "Seconds an agent is behind its desired state."), labels: [("target", target)]).set(lag)
        }
        let failures = controller.applyFailures.load(ordering: .relaxed)
        let delta = applyFailuresSeen.withLock { seen in defer { seen = failures }; return failures - seen }
        registry.makeCounter(descriptor: .init(namespace: "hpccloud", metricName: "apply_failures", unitName: "total",
                                               helpText: "Hardware changes that failed.")).increment(by: Int64(max(0, delta)))
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}

/// `hpccloud serve`: the HTTP API and the reconcile passes, until SIGTERM or SIGINT.
public enum ControlServer {
    /// Builds the application; `onRunning` learns the bound port (port 0 picks one).
    public static func application(controller: Controller, configuration: ServeConfiguration, logger: Logger,
                                   onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        try configuration.checkTransport()
        let metrics = ServerMetrics()
        let router = Router(context: ControlContext.self)
        router.add(middleware: Observe(metrics: metrics, logger: logger))
        for route in Routes.table {
            let hummingbirdPath = route.path.replacingOccurrences(of: "{", with: ":").replacingOccurrences(of: "}", with: "")
            router.on(RouterPath(hummingbirdPath), method: route.method) { request, context in
                let principal = route.authenticated ? try controller.authenticate(request.headers[.authorization]) : nil
                return try await route.handle(controller, request, context, principal)
            }
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: try metrics.emit(controller))))
        }
        let server: HTTPServerBuilder
        if let certificate = configuration.certificate, let key = configuration.key {
            let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
            var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            tls.minimumTLSVersion = .tlsv12
            server = try .tls(.http1(), tlsConfiguration: tls)
        } else {
            server = .http1()
        }
        return Application(router: router, server: server,
                           configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "hpccloud"),
                           onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? configuration.port) },
                           logger: logger)
    }

    /// Serves until SIGTERM/SIGINT, then stops taking requests and lets the current pass finish.
    public static func run(controller: Controller, configuration: ServeConfiguration, logger: Logger,
                           onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let app = try application(controller: controller, configuration: configuration, logger: logger, onRunning: onRunning)
        let passes = PassLoop(controller: controller, interval: .milliseconds(Int64(configuration.passInterval * 1000)), logger: logger)
        let group = ServiceGroup(services: [app, passes], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

/// The reconcile passes as a service: stops on graceful shutdown.
struct PassLoop: Service {
    let controller: Controller
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown { [controller, interval, logger] in
            await controller.runPasses(interval: interval) { logger.error("\($0)") }
        }
    }
}
