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
    /// The index of its subnet in `CloudSpec.subnets` (the groups of one subnet are contiguous).
    public var subnet: Int

    public init(count: Int, cores: Int, memoryMiB: Int64, hca: HCAProfile, vfs: Int? = nil,
                pkeyTable: Int? = nil, sriovMode: SRIOVMode? = nil, model: String? = nil, gflopsPerCore: Double? = nil,
                coresPerSocket: Int? = nil, subnet: Int = 0) {
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
        self.subnet = subnet
    }
}

/// One InfiniBand subnet: its pkey pool and unicast LID space (SEMANTICS 2), its
/// switches, and the router ports facing it. Each subnet has its own subnet
/// manager, so pools and LIDs are never shared between subnets (Hardware/routers.md 1-4).
public struct SubnetSpec: Hashable, Sendable {
    public static let defaultPKeyPool = 0x0001...0x7FFE
    public static let unicastLIDs = 49151

    /// Unique in the cloud; "subnet" for a single-subnet scenario.
    public var name: String
    public var switches: Int
    /// Router ports in this subnet: end ports, one LID each at LMC 0 (opensm
    /// osm_port_info_rcv.c:791-800 handles router ports as CA ports). Held from build time.
    public var routerPorts: Int
    public var pkeyPool: ClosedRange<Int>
    public var lidSpace: Int
    /// The switches' port link; nil: as fast as the HCAs (inter-host MPI runs at the slower).
    public var switchLink: LinkSpec?
    /// The production backend's VM GUIDs are this prefix (upper 32 bits) and a
    /// serial that is never reused; give each cloud on a subnet its own prefix.
    public var vmGUIDPrefix: UInt32
    /// The flags of tenant partitions in the subnet manager's configuration.
    public var partitionFlags: PartitionFlags

    /// The most subnets a scenario may describe.
    public static let maximumSubnets = 65_536

    /// Names reach reports, CSV and terminals: keep them to a safe alphabet.
    public static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2d || c == 0x5f || c == 0x2e
        }
    }

    /// `02:00:00:00`: locally administered, unicast (ib-kubernetes' default GUID pool starts here too).
    public static let defaultVMGUIDPrefix: UInt32 = 0x0200_0000

    public init(name: String = "subnet", switches: Int = 1, routerPorts: Int = 0, pkeyPool: ClosedRange<Int> = SubnetSpec.defaultPKeyPool,
                lidSpace: Int = SubnetSpec.unicastLIDs, switchLink: LinkSpec? = nil,
                vmGUIDPrefix: UInt32 = SubnetSpec.defaultVMGUIDPrefix, partitionFlags: PartitionFlags = PartitionFlags()) {
        self.name = name
        self.switches = switches
        self.routerPorts = routerPorts
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

/// LIDs held from build time: every switch, every PF port, every router port and
/// every usable VF of a `vswitch-prepopulated` HCA (SEMANTICS 4).
public struct BuildTimeLIDs: Hashable, Sendable {
    public let switches: Int
    public let pfPorts: Int
    public let prepopulatedVFs: Int
    public let routerPorts: Int
    public var total: Int { switches + pfPorts + prepopulatedVFs + routerPorts }

    public init(switches: Int, pfPorts: Int, prepopulatedVFs: Int, routerPorts: Int = 0) {
        self.switches = switches
        self.pfPorts = pfPorts
        self.prepopulatedVFs = prepopulatedVFs
        self.routerPorts = routerPorts
    }

    /// The parts, as the loader's error and `limits` name them.
    public var terms: String {
        "\(switches) switches + \(pfPorts) PF ports + \(prepopulatedVFs) prepopulated VF LIDs"
            + (routerPorts > 0 ? " + \(routerPorts) router ports" : "")
    }
}

/// IB routers between the subnets (Hardware/routers.md): whether a virtual cluster
/// may span subnets, and what crossing a router costs its MPI traffic.
public struct RouterSpec: Hashable, Sendable {
    /// A cluster may place VMs in several subnets, holding the same pkey in each
    /// (a router copies the P_Key from the packet: routers.md 6). Off: each cluster lives in one subnet.
    public var spanning: Bool
    /// Subnets one router box joins: MLNX-OS routers take 2-6 (routers.md 5).
    public var subnetsPerRouter: Int
    /// Added to each message between subnets, in microseconds: a router is a switch
    /// ASIC in an L3 profile, so one switch hop (routers.md 5 and 7).
    public var hopLatencyMicroseconds: Double
    /// The path MTU: a routed packet carries a 40-byte GRH (rdma-core verbs.h struct ibv_grh).
    public var mtuBytes: Int

    public static let defaultHopLatencyMicroseconds = 0.13

    public init(spanning: Bool = false, subnetsPerRouter: Int = 6, hopLatencyMicroseconds: Double = RouterSpec.defaultHopLatencyMicroseconds,
                mtuBytes: Int = 4096) {
        self.spanning = spanning
        self.subnetsPerRouter = subnetsPerRouter
        self.hopLatencyMicroseconds = hopLatencyMicroseconds
        self.mtuBytes = mtuBytes
    }

    /// Share of a full-MTU packet's bytes that is payload after the GRH: LRH 8 + BTH 12
    /// + ICRC 4 + VCRC 2 around the payload, plus the GRH's 40 (routers.md, "What the model should use").
    public var goodputFactor: Double {
        let plain = Double(mtuBytes + 26)
        return plain / (plain + 40)
    }

    /// Router boxes so that every pair of `subnets` shares one (single hop only: routers.md 5),
    /// each joining `subnetsPerRouter`: a construction's count and the Schönheim lower bound.
    /// The construction splits the subnets into groups of k/2 and gives each pair of groups a router.
    public func routersForAllPairs(subnets: Int) -> (construction: Int, lowerBound: Int) {
        let k = subnetsPerRouter
        guard subnets > 1 else { return (0, 0) }
        guard subnets > k else { return (1, 1) }
        let group = max(1, k / 2)
        let groups = (subnets + group - 1) / group
        let construction = groups * (groups - 1) / 2
        // Schönheim: C(v, k, 2) >= ceil(v/k * ceil((v-1)/(k-1))).
        let inner = (subnets - 1 + k - 2) / (k - 1)
        let lower = (subnets * inner + k - 1) / k
        return (construction, lower)
    }
}

/// The whole simulated cloud: hosts, overcommit, its subnets and the routers between them.
public struct CloudSpec: Hashable, Sendable {
    /// Every host group in inventory order; the groups of subnet s are contiguous, subnets in order.
    public var groups: [HostGroup]
    public var overcommit: Overcommit
    /// At least one.
    public var subnets: [SubnetSpec]
    public var routers: RouterSpec

    /// A single-subnet cloud (every group's `subnet` is 0).
    public init(groups: [HostGroup], overcommit: Overcommit = .none, subnet: SubnetSpec = SubnetSpec()) {
        self.init(groups: groups, overcommit: overcommit, subnets: [subnet])
    }

    /// - Precondition: the groups name their subnets in ascending order (a subnet may have no hosts).
    public init(groups: [HostGroup], overcommit: Overcommit = .none, subnets: [SubnetSpec], routers: RouterSpec = RouterSpec()) {
        precondition(!subnets.isEmpty, "a cloud has at least one subnet")
        precondition(zip(groups, groups.dropFirst()).allSatisfy { $0.subnet <= $1.subnet } && groups.allSatisfy { $0.subnet < subnets.count },
                     "host groups must list their subnets in order")
        self.groups = groups
        self.overcommit = overcommit
        self.subnets = subnets
        self.routers = routers
    }

    /// The first subnet: the only one of a single-subnet cloud (what the production backend drives).
    public var subnet: SubnetSpec {
        get { subnets[0] }
        set { subnets[0] = newValue }
    }

    public var hostCount: Int { groups.reduce(0) { $0 + $1.count } }
    /// Memory for VMs on every host, in GiB.
    public var memoryGiB: Double { Double(groups.reduce(Int64(0)) { $0 + Int64($1.count) * $1.memoryMiB }) / 1024 }

    /// Build-time LIDs summed over the subnets.
    public var buildTimeLIDs: BuildTimeLIDs {
        let parts = subnets.indices.map(buildTimeLIDs(subnet:))
        return BuildTimeLIDs(switches: parts.reduce(0) { $0 + $1.switches }, pfPorts: parts.reduce(0) { $0 + $1.pfPorts },
                             prepopulatedVFs: parts.reduce(0) { $0 + $1.prepopulatedVFs }, routerPorts: parts.reduce(0) { $0 + $1.routerPorts })
    }

    public func buildTimeLIDs(subnet s: Int) -> BuildTimeLIDs {
        let mine = groups.filter { $0.subnet == s }
        return BuildTimeLIDs(switches: subnets[s].switches,
                             pfPorts: mine.reduce(0) { $0 + $1.count },
                             prepopulatedVFs: mine.reduce(0) { $0 + ($1.sriovMode == .vswitchPrepopulated ? $1.count * $1.vfs : 0) },
                             routerPorts: subnets[s].routerPorts)
    }

    /// The host indices of subnet `s` (contiguous: hosts are numbered in group order).
    public func hostRange(subnet s: Int) -> Range<Int> {
        var start = 0, end = 0
        for group in groups {
            if group.subnet < s { start += group.count }
            if group.subnet <= s { end += group.count }
        }
        return start..<end
    }
}

/// How many hosts a subnet may have when a planner scales a cloud (`limits --hosts`,
/// `capacity --vary-hosts`): enough LIDs for what is held from build time, or for
/// every VF in use too (no `lid` rejection can happen).
public enum SubnetFit: String, CaseIterable, Sendable {
    case buildTime = "build"
    case fullVFUse = "full-vf-use"
}

extension CloudSpec {
    /// LIDs `hosts` hosts of `group` hold: PF ports, prepopulated VFs and, for
    /// `fullVFUse`, every VF of a `vswitch-dynamic` HCA.
    static func lids(_ group: HostGroup, hosts: Int, fit: SubnetFit) -> Int {
        let perHost = 1 + (group.sriovMode == .vswitchPrepopulated || (fit == .fullVFUse && group.sriovMode == .vswitchDynamic) ? group.vfs : 0)
        return hosts * perHost
    }

    /// The cloud with every group's count scaled by `factor` (at least one host each),
    /// then each subnet that no longer fits split into the fewest alike subnets that
    /// do: its groups dealt out evenly, each copy with the subnet's switches, router
    /// ports, pkey pool and LID space, named `name.1`, `name.2`, ...
    /// - Parameter maxHostsPerSubnet: also split a subnet past this many hosts.
    /// - Throws: when one host of each of a subnet's groups already exceeds its LIDs.
    public func scaled(by factor: Double, fit: SubnetFit = .buildTime, maxHostsPerSubnet: Int? = nil) throws(PlanError) -> CloudSpec {
        var groups: [HostGroup] = [], subnets: [SubnetSpec] = []
        for (s, subnet) in self.subnets.enumerated() {
            var mine = self.groups.filter { $0.subnet == s }
            for i in mine.indices where mine[i].count > 0 {
                mine[i].count = max(1, Int((Double(mine[i].count) * factor).rounded()))
            }
            let fixed = subnet.switches + subnet.routerPorts
            func fits(_ k: Int) -> Bool {
                let hosts = mine.reduce(0) { $0 + ($1.count + k - 1) / k }
                let lids = fixed + mine.reduce(0) { $0 + Self.lids($1, hosts: ($1.count + k - 1) / k, fit: fit) }
                return lids <= subnet.lidSpace && hosts <= (maxHostsPerSubnet ?? .max)
            }
            let most = max(1, mine.map(\.count).max() ?? 1)
            guard fits(most) else {
                throw PlanError("subnet \(subnet.name): even one host of each group needs more than its \(subnet.lidSpace) LIDs"
                                + (fit == .fullVFUse ? " at full VF use" : ""))
            }
            // The fewest copies that fit: fits(k) only improves as k grows.
            var low = 1, high = most
            while low < high {
                let middle = (low + high) / 2
                if fits(middle) { high = middle } else { low = middle + 1 }
            }
            let copies = low
            for j in 0..<copies {
                var copy = subnet
                if copies > 1 { copy.name = "\(subnet.name).\(j + 1)" }
                for var group in mine {
                    group.count = group.count / copies + (j < group.count % copies ? 1 : 0)
                    group.subnet = subnets.count
                    groups.append(group)
                }
                subnets.append(copy)
            }
        }
        return CloudSpec(groups: groups, overcommit: overcommit, subnets: subnets, routers: routers)
    }
}

/// A cloud that cannot be laid out as asked.
public struct PlanError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
