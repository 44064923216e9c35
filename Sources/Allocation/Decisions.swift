import CloudModel

/// A cluster's InfiniBand partition key (15 bits; SEMANTICS 2).
public struct PartitionKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let value: Int

    public init(_ value: Int) {
        precondition((0...0x7FFF).contains(value), "pkey out of range")
        self.value = value
    }

    public static func < (a: PartitionKey, b: PartitionKey) -> Bool { a.value < b.value }

    /// `0x` and four lowercase hex digits, as in the decision log.
    public var description: String {
        var bytes: [UInt8] = []
        appendHex(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `description` appended as ASCII bytes (the decision log's hot path).
    public func appendHex(to out: inout [UInt8]) {
        out.append(contentsOf: "0x".utf8)
        for shift in stride(from: 12, through: 0, by: -4) {
            let nibble = UInt8((value >> shift) & 0xF)
            out.append(nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10)
        }
    }
}

/// Why a request or resize was turned down (SEMANTICS 5).
public enum RejectionReason: String, CaseIterable, Sendable {
    /// No empty host of any kind could hold one VM.
    case infeasible
    /// The subnet's pkey pool is empty (in a cloud of several: every pool the cluster may use).
    case pkeySpace = "pkey-space"
    case vf
    case pkeyTable = "pkey-table"
    case lid
    case cores
    case memory
    /// Every rule is met somewhere, never all on one host.
    case fragmented
    /// Never from the engine: a simulated admission queue gave up on a request
    /// that waited longer than its scenario's `maxWaitHours`.
    case maxWait = "max-wait"
}

/// One VM as placed: its host and, for an hpc VM, the VF index on that host's HCA.
public struct PlacedVM: Hashable, Sendable {
    public let host: Int
    public let virtualFunction: Int?

    public init(host: Int, virtualFunction: Int?) {
        self.host = host
        self.virtualFunction = virtualFunction
    }
}

/// A running virtual cluster.
public struct ClusterRecord: Equatable, Sendable {
    public let id: Int64
    public let shape: VMShape
    /// Taken with the cluster's first hpc VM (the lowest free key of its subnet).
    public internal(set) var pkey: PartitionKey?
    /// VMs in the order they were added (shrink removes from the end).
    public internal(set) var vms: [PlacedVM]
    /// Distinct hosts when the cluster was admitted.
    public internal(set) var initialSpan: Int
    /// Distinct hosts with their VM counts, in first-use order.
    var hostCounts: [HostCount]

    struct HostCount: Equatable, Sendable {
        var host: Int
        var vms: Int
    }

    /// Hosts holding at least one VM of this cluster.
    public var hosts: [Int] { hostCounts.map(\.host) }
    /// The most VMs of this cluster on one host.
    public var mostVMsOnOneHost: Int { hostCounts.reduce(0) { max($0, $1.vms) } }
    /// Distinct hosts holding VMs of the cluster now.
    public var hostsSpanned: Int { hostCounts.count }
    /// The host of the cluster's oldest host entry.
    public var firstHost: Int? { hostCounts.first?.host }

    @inline(__always)
    func holds(host: Int) -> Bool {
        hostCounts.contains { $0.host == host }
    }
}

/// The engine's answer to an admission or resize.
public enum Decision: Equatable, Sendable {
    /// `vms` are the VMs this decision placed (admission, extend) or removed (shrink).
    case accepted(pkey: PartitionKey?, vms: [PlacedVM])
    case rejected(RejectionReason)
    /// A resize for a cluster that is not running.
    case ignored
}

/// Cloud-wide counts of resources in use (or, as `AllocationEngine.capacity`, available).
public struct Usage: Equatable, Sendable {
    public var physicalCores: Int
    public var memoryMiB: Int64
    public var vfs: Int
    /// Tenant pkey table entries (the default partition's entry excluded).
    public var pkeyEntries: Int
    /// LIDs held, including build-time LIDs of switches, PF ports and prepopulated VFs.
    public var lids: Int
    public var clusters: Int

    public init(physicalCores: Int, memoryMiB: Int64 = 0, vfs: Int, pkeyEntries: Int, lids: Int, clusters: Int) {
        self.physicalCores = physicalCores
        self.memoryMiB = memoryMiB
        self.vfs = vfs
        self.pkeyEntries = pkeyEntries
        self.lids = lids
        self.clusters = clusters
    }
}
