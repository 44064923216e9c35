import Allocation
import Foundation
import Operations

// The documents of the HTTP API (openapi.yaml describes each one by the same
// name). In tenants' and operators' documents GUIDs and pkeys travel as hex
// strings (JavaScript's numbers cannot hold 64 bits); the agents' documents
// carry the operator core's values as numbers, which Swift decodes exactly.

/// A request for a new virtual cluster.
public struct ClusterCreate: Codable, Sendable {
    public var vms: Int
    public var vcores: Int
    public var memoryGiB: Int
    /// `hpc` (a VF each, in the cluster's partition; the default) or `common`.
    public var kind: String?
    /// `fixed` (the default) or `dynamic` (overcommitted vCPUs).
    public var pinning: String?
    /// A placement policy other than the cloud's.
    public var policy: String?
    /// Operators only: the tenant the cluster is for.
    public var tenant: String?

    public init(vms: Int, vcores: Int, memoryGiB: Int, kind: String? = nil, pinning: String? = nil, policy: String? = nil, tenant: String? = nil) {
        self.vms = vms
        self.vcores = vcores
        self.memoryGiB = memoryGiB
        self.kind = kind
        self.pinning = pinning
        self.policy = policy
        self.tenant = tenant
    }
}

/// Grow (`by` > 0) or shrink a cluster.
public struct ClusterResize: Codable, Sendable {
    public var by: Int
    public var policy: String?

    public init(by: Int, policy: String? = nil) {
        self.by = by
        self.policy = policy
    }
}

/// A cluster as its tenant sees it: what a hypervisor needs to pass each VF through.
public struct ClusterView: Codable, Sendable, Equatable {
    public struct VM: Codable, Sendable, Equatable {
        public var seq: Int
        public var host: String
        public var vf: Int?
        /// The VF's PCI address on its host, once the host's agent reported it.
        public var pci: String?
        public var guid: String?
        public var pkey: String?
        /// `active`, `retiring` (being detached) or `detached`.
        public var status: String
        /// Whether the host reported the VF configured as recorded (the VM may start).
        public var ready: Bool
    }

    public var id: Int64
    public var tenant: String
    /// `active`, `deleting` or `deleted`.
    public var status: String
    public var pkey: String?
    public var vcores: Int
    public var memoryGiB: Int
    public var kind: String
    public var pinning: String
    public var created: String
    public var vms: [VM]
}

public struct ClusterList: Codable, Sendable {
    public var clusters: [ClusterView]
}

/// Limits per tenant; nil is unlimited.
public struct Quota: Codable, Sendable, Equatable {
    public var clusters: Int?
    public var vms: Int?
    public var vfs: Int?

    public init(clusters: Int? = nil, vms: Int? = nil, vfs: Int? = nil) {
        self.clusters = clusters
        self.vms = vms
        self.vfs = vfs
    }
}

public struct TenantUsage: Codable, Sendable, Equatable {
    public var clusters: Int
    public var vms: Int
    public var vfs: Int
}

public struct TenantView: Codable, Sendable, Equatable {
    public var name: String
    public var quota: Quota
    public var usage: TenantUsage
    public var created: String
}

public struct TenantList: Codable, Sendable {
    public var tenants: [TenantView]
}

public struct TenantCreate: Codable, Sendable {
    public var name: String
    public var quota: Quota?

    public init(name: String, quota: Quota? = nil) {
        self.name = name
        self.quota = quota
    }
}

/// A bearer token, shown once: only its hash is kept.
public struct IssuedToken: Codable, Sendable {
    public var name: String
    public var role: String
    public var token: String
}

public struct AgentCreate: Codable, Sendable {
    /// A host's inventory name, or `sm` for the subnet manager's agent.
    public var name: String
}

/// A host for operators: inventory, capacity, and its agent.
public struct HostView: Codable, Sendable {
    public struct Agent: Codable, Sendable {
        /// The desired state's generation, and the last one the agent applied.
        public var generation: Int64
        public var applied: Int64?
        public var lastReport: String?
        /// Seconds the agent has been behind the desired state (0 when it has caught up).
        public var lagSeconds: Double
        public var waiting: [String]
        public var failed: [String]
        /// Changes the agent found needed although nothing was asked (someone touched the HCA).
        public var drift: [String]
    }

    public var index: Int
    public var name: String
    public var registered: Bool
    public var drained: Bool
    public var membership: String
    public var device: String?
    public var driver: String?
    public var port: Int
    public var nodeGUID: String
    public var portGUID: String
    /// Cores, memory, VF slots and pkey entries: the engine's own count (drained hosts take no new VM).
    public var capacity: AllocationEngine.HostUsage
    public var agent: Agent?
}

public struct HostList: Codable, Sendable {
    public var hosts: [HostView]
}

/// An RFC 9457 problem document.
public struct Problem: Codable, Sendable, Error, Equatable {
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String

    public init(status: Int, title: String, detail: String, type: String = "about:blank") {
        self.type = type
        self.title = title
        self.status = status
        self.detail = detail
    }

    public static func badRequest(_ detail: String) -> Problem { Problem(status: 400, title: "Bad Request", detail: detail) }
    public static func unauthorized(_ detail: String) -> Problem { Problem(status: 401, title: "Unauthorized", detail: detail) }
    public static func forbidden(_ detail: String) -> Problem { Problem(status: 403, title: "Forbidden", detail: detail) }
    public static func notFound(_ detail: String) -> Problem { Problem(status: 404, title: "Not Found", detail: detail) }
    public static func conflict(_ detail: String) -> Problem { Problem(status: 409, title: "Conflict", detail: detail) }
    public static func unprocessable(_ detail: String) -> Problem { Problem(status: 422, title: "Unprocessable Content", detail: detail) }
    public static func unavailable(_ detail: String) -> Problem { Problem(status: 503, title: "Service Unavailable", detail: detail) }

    /// The operator core's one-line errors, by kind: the caller's input (400),
    /// a refusal (409), or our environment (503: the state or a host failed).
    public init(_ error: OperatorError) {
        switch error.kind {
        case .input: self = .badRequest(error.description)
        case .refused: self = .conflict(error.description)
        case .environment: self = .unavailable(error.description)
        }
    }
}

// MARK: - Agents

/// What an agent says about itself when it starts.
public struct AgentRegistration: Codable, Sendable {
    /// `compute` or `sm`.
    public var role: String
    /// Compute agents: the HCA found on the host.
    public var device: String?
    public var driver: String?
    public var port: Int?
    public var nodeGUID: String?
    public var portGUID: String?
    public var membership: String?
    public var vfAddresses: [String]?

    public init(role: String, device: String? = nil, driver: String? = nil, port: Int? = nil, nodeGUID: String? = nil,
                portGUID: String? = nil, membership: String? = nil, vfAddresses: [String]? = nil) {
        self.role = role
        self.device = device
        self.driver = driver
        self.port = port
        self.nodeGUID = nodeGUID
        self.portGUID = portGUID
        self.membership = membership
        self.vfAddresses = vfAddresses
    }
}

/// One compute host's desired state.
public struct HostDesiredState: Codable, Sendable, Equatable {
    public var generation: Int64
    /// The host as recorded (its index, port and membership).
    public var host: HostEntry
    public var desire: HostDesire
}

/// The subnet manager's desired state: the managed block of partitions.conf.
public struct SubnetDesiredState: Codable, Sendable, Equatable {
    public var generation: Int64
    public var block: String
    /// The tenant pkeys in the block.
    public var pkeys: [Int]
}

/// One VF as an agent read it back.
public struct ReportedVF: Codable, Sendable, Equatable {
    public var vf: Int
    /// `detached`, `attached` or `other`.
    public var state: String
    public var pkey: Int?
    public var guid: String?
    public var limitedDefault: Bool?
    public var detail: String?

    public init(vf: Int, _ state: VFState) {
        self.vf = vf
        switch state {
        case .detached: self.state = "detached"
        case .attached(let pkey, let guid, let limited):
            self.state = "attached"
            self.pkey = pkey
            self.guid = GUIDFormat.hex(guid)
            limitedDefault = limited
        case .other(let text):
            self.state = "other"
            detail = text
        }
    }

    public var vfState: VFState {
        switch state {
        case "detached": .detached
        case "attached": .attached(pkey: pkey, guid: guid.flatMap(GUIDFormat.parse) ?? 0, limitedDefault: limitedDefault)
        default: .other(detail ?? state)
        }
    }
}

/// A compute agent's report after a round: the hardware as read back, and what it did.
public struct HostReport: Codable, Sendable {
    /// The desired generation this round applied.
    public var generation: Int64
    public var vfCount: Int
    public var vfs: [ReportedVF]
    public var portPKeys: [Int]?
    public var assigned: [Int]
    public var vfAddresses: [String]
    public var changes: [String]
    public var failed: [String]
    public var waiting: [String]
    public var notes: [String]
    /// Changes needed although the generation had not moved (drift).
    public var drift: [String]

    public init(generation: Int64, hardware: HostHardware, vfAddresses: [String], changes: [String] = [], failed: [String] = [],
                waiting: [String] = [], notes: [String] = [], drift: [String] = []) {
        self.generation = generation
        vfCount = hardware.vfCount
        vfs = hardware.vfs.sorted { $0.key < $1.key }.map { ReportedVF(vf: $0.key, $0.value) }
        portPKeys = hardware.portPKeys
        assigned = hardware.assigned.sorted()
        self.vfAddresses = vfAddresses
        self.changes = changes
        self.failed = failed
        self.waiting = waiting
        self.notes = notes
        self.drift = drift
    }

    public var hardware: HostHardware {
        HostHardware(vfCount: vfCount, vfs: Dictionary(vfs.map { ($0.vf, $0.vfState) }, uniquingKeysWith: { a, _ in a }),
                     portPKeys: portPKeys, assigned: Set(assigned))
    }
}

/// The subnet manager agent's report.
public struct SubnetReport: Codable, Sendable {
    public var generation: Int64
    /// partitions.conf as it is now (the site's statements with our block).
    public var text: String?
    /// Whether the block of `generation` is written and OpenSM was told to re-read it.
    public var applied: Bool
    /// The tenant pkeys the written block holds.
    public var pkeys: [Int]
    public var error: String?

    public init(generation: Int64, text: String?, applied: Bool, pkeys: [Int], error: String? = nil) {
        self.generation = generation
        self.text = text
        self.applied = applied
        self.pkeys = pkeys
        self.error = error
    }
}
