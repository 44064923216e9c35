/// A group of identical hosts in inventory order (SEMANTICS 2).
public struct HostGroup: Hashable, Sendable {
    public var count: Int
    public var cores: Int
    public var memoryMiB: Int64
    public var hca: HCAProfile
    /// Usable VFs per host (the profile's unless overridden).
    public var vfs: Int
    /// Usable pkey table entries per port, including the default partition's entry.
    public var pkeyTable: Int
    public var sriovMode: SRIOVMode
    public var model: String?
    /// Peak double-precision GFlop/s of one core (clock x flops per cycle), when
    /// known: work-based clusters need it.
    public var gflopsPerCore: Double?
    /// Cores of one socket, from the host model (nil: not known); the overhead model's NUMA term reads it.
    public var coresPerSocket: Int?

    public init(count: Int, cores: Int, memoryMiB: Int64, hca: HCAProfile, vfs: Int? = nil,
                pkeyTable: Int? = nil, sriovMode: SRIOVMode? = nil, model: String? = nil, gflopsPerCore: Double? = nil,
                coresPerSocket: Int? = nil) {
        self.count = count
        self.cores = cores
        self.memoryMiB = memoryMiB
        self.hca = hca
        self.vfs = vfs ?? hca.usableVFs
        self.pkeyTable = pkeyTable ?? hca.pkeyTable
        self.sriovMode = sriovMode ?? hca.sriovMode
        self.model = model
        self.gflopsPerCore = gflopsPerCore
        self.coresPerSocket = coresPerSocket
    }
}

/// The subnet's pkey pool and unicast LID space (SEMANTICS 2).
public struct SubnetSpec: Hashable, Sendable {
    public static let defaultPKeyPool = 0x0001...0x7FFE
    public static let unicastLIDs = 49151

    public var switches: Int
    public var pkeyPool: ClosedRange<Int>
    public var lidSpace: Int
    /// The switches' port link; nil: as fast as the HCAs (inter-host MPI runs at the slower).
    public var switchLink: LinkSpec?
    /// The production backend's VM GUIDs are this prefix (upper 32 bits) and a
    /// serial that is never reused; give each cloud on a subnet its own prefix.
    public var vmGUIDPrefix: UInt32
    /// The flags of tenant partitions in the subnet manager's configuration.
    public var partitionFlags: PartitionFlags

    /// `02:00:00:00`: locally administered, unicast (ib-kubernetes' default GUID pool starts here too).
    public static let defaultVMGUIDPrefix: UInt32 = 0x0200_0000

    public init(switches: Int = 1, pkeyPool: ClosedRange<Int> = SubnetSpec.defaultPKeyPool,
                lidSpace: Int = SubnetSpec.unicastLIDs, switchLink: LinkSpec? = nil,
                vmGUIDPrefix: UInt32 = SubnetSpec.defaultVMGUIDPrefix, partitionFlags: PartitionFlags = PartitionFlags()) {
        self.switches = switches
        self.pkeyPool = pkeyPool
        self.lidSpace = lidSpace
        self.switchLink = switchLink
        self.vmGUIDPrefix = vmGUIDPrefix
        self.partitionFlags = partitionFlags
    }
}

/// OpenSM partition flags for tenant partitions (partition-config.txt): an
/// IPoIB broadcast group, and optionally its MTU and rate codes and service level.
public struct PartitionFlags: Hashable, Sendable {
    public var ipoib: Bool
    /// IB MTU code: 1 = 256 ... 5 = 4096.
    public var mtu: Int?
    /// IB rate code (3 = 10 Gb/s ... ).
    public var rate: Int?
    public var serviceLevel: Int?

    public init(ipoib: Bool = true, mtu: Int? = nil, rate: Int? = nil, serviceLevel: Int? = nil) {
        self.ipoib = ipoib
        self.mtu = mtu
        self.rate = rate
        self.serviceLevel = serviceLevel
    }
}

/// LIDs held from build time: every switch, every PF port, and every usable VF of
/// a `vswitch-prepopulated` HCA (SEMANTICS 4).
public struct BuildTimeLIDs: Hashable, Sendable {
    public let switches: Int
    public let pfPorts: Int
    public let prepopulatedVFs: Int
    public var total: Int { switches + pfPorts + prepopulatedVFs }

    public init(switches: Int, pfPorts: Int, prepopulatedVFs: Int) {
        self.switches = switches
        self.pfPorts = pfPorts
        self.prepopulatedVFs = prepopulatedVFs
    }
}

/// The whole simulated cloud: hosts, overcommit and subnet.
public struct CloudSpec: Hashable, Sendable {
    public var groups: [HostGroup]
    public var overcommit: Overcommit
    public var subnet: SubnetSpec

    public init(groups: [HostGroup], overcommit: Overcommit = .none, subnet: SubnetSpec = SubnetSpec()) {
        self.groups = groups
        self.overcommit = overcommit
        self.subnet = subnet
    }

    public var hostCount: Int { groups.reduce(0) { $0 + $1.count } }
    /// Memory for VMs on every host, in GiB.
    public var memoryGiB: Double { Double(groups.reduce(Int64(0)) { $0 + Int64($1.count) * $1.memoryMiB }) / 1024 }

    public var buildTimeLIDs: BuildTimeLIDs {
        BuildTimeLIDs(switches: subnet.switches,
                      pfPorts: hostCount,
                      prepopulatedVFs: groups.reduce(0) { $0 + ($1.sriovMode == .vswitchPrepopulated ? $1.count * $1.vfs : 0) })
    }
}
