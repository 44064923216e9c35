/// The hard ceilings of a cloud, by arithmetic alone (`hpccloud limits`): each
/// number with the formula that gives it.
public struct CloudLimits: Sendable {
    /// The most hosts a scenario may describe (the loader's bound; capacity searches stay within it).
    public static let maximumHosts = 10_000_000

    public struct Line: Sendable, Encodable {
        public var label: String
        public var value: Int
        public var formula: String
    }

    public let cloud: CloudSpec
    public private(set) var lines: [Line] = []

    public init(cloud: CloudSpec) {
        self.cloud = cloud
        let groups = cloud.groups.filter { $0.count > 0 }
        // Alike groups in a row (a subnet repeated) are written once with their number.
        func terms(_ part: (HostGroup) -> String) -> String {
            var runs: [(term: String, count: Int)] = []
            for group in groups {
                let term = part(group)
                if runs.last?.term == term { runs[runs.count - 1].count += 1 } else { runs.append((term, 1)) }
            }
            return runs.map { $0.count == 1 ? $0.term : "\($0.count) x (\($0.term))" }.joined(separator: " + ")
        }

        let vfs = groups.reduce(0) { $0 + $1.count * $1.vfs }
        add("VMs with a VF (hpc VMs) at once", vfs, "sum of count x vfs = " + terms { "\($0.count) x \($0.vfs)" })
        let cores = groups.reduce(0) { $0 + $1.count * $1.cores }
        let r = cloud.overcommit
        add("vCPUs at once (all dynamic, overcommit \(r))", cores * r.numerator / r.denominator,
            "floor(sum of count x cores x r) = floor(\(cores) x \(r))")
        add("vCPUs at once (all fixed)", cores, "sum of count x cores = " + terms { "\($0.count) x \($0.cores)" })
        // Whole GiB: a host's memory is given in MiB and rarely leaves a fraction.
        add("GiB of VM memory at once", Int(cloud.memoryGiB.rounded(.down)),
            "floor(sum of count x memory) = floor(" + terms { "\($0.count) x \(Units.formatGiB($0.memoryMiB))" } + ")")
        var seen = Set<String>()
        for (i, group) in groups.enumerated() where seen.insert("\(group.hca.name) \(group.pkeyTable)").inserted {
            add("concurrent hpc clusters per host (group \(i + 1), \(group.hca.name))", group.pkeyTable - 1,
                "pkeyTable - 1 (the default partition's entry) = \(group.pkeyTable) - 1")
        }
        let entries = groups.reduce(0) { $0 + $1.count * ($1.pkeyTable - 1) }
        add("tenant pkey entries in the cloud", entries, "sum of count x (pkeyTable - 1) = " + terms { "\($0.count) x \($0.pkeyTable - 1)" })
        let subnets = cloud.subnets
        if subnets.count == 1 {
            let pool = cloud.subnet.pkeyPool
            add("concurrent hpc clusters (pkey space)", pool.count,
                "last - first + 1 = 0x\(String(pool.upperBound, radix: 16)) - 0x\(String(pool.lowerBound, radix: 16)) + 1")
            addLIDs(subnet: 0, prefix: "")
        } else {
            add("subnets", subnets.count, "each with its own subnet manager, pkey pool and LID space")
            let pools = subnets.reduce(0) { $0 + $1.pkeyPool.count }
            add("concurrent hpc clusters (pkey space)", pools,
                cloud.routers.spanning ? "sum of the pools (a spanning cluster takes its key in each subnet it touches)" : "sum of the subnets' pools")
            let build = cloud.buildTimeLIDs
            add("LIDs at build time (all subnets)", build.total, build.terms)
            // Alike subnets (same settings and hosts) are reported once.
            var kinds: [(first: Int, count: Int)] = []
            for s in subnets.indices {
                if let k = kinds.firstIndex(where: { alike($0.first, s) }) { kinds[k].count += 1 } else { kinds.append((s, 1)) }
            }
            for kind in kinds {
                let name = subnets[kind.first].name
                addLIDs(subnet: kind.first, prefix: kind.count == 1 ? "subnet \(name): " : "each of \(kind.count) subnets like \(name): ")
            }
            let routers = cloud.routers
            if routers.spanning {
                let count = routers.routersForAllPairs(subnets: subnets.count)
                add("router boxes for single-hop spanning (at most)", count.construction,
                    "every pair of subnets shares a router of \(routers.subnetsPerRouter) subnets: groups of \(max(1, routers.subnetsPerRouter / 2)), a router per pair of groups")
                add("router boxes for single-hop spanning (at least)", count.lowerBound,
                    "Schönheim bound ceil(S/k ceil((S-1)/(k-1))), S = \(subnets.count), k = \(routers.subnetsPerRouter)")
            } else {
                add("router boxes needed", 0, "clusters stay in one subnet (routers.spanning: false)")
            }
        }
    }

    /// Whether subnets `a` and `b` have the same settings and host groups (names aside).
    private func alike(_ a: Int, _ b: Int) -> Bool {
        var x = cloud.subnets[a], y = cloud.subnets[b]
        (x.name, y.name) = ("", "")
        func groups(_ s: Int) -> [HostGroup] { cloud.groups.filter { $0.subnet == s }.map { var g = $0; g.subnet = 0; return g } }
        return x == y && groups(a) == groups(b)
    }

    /// The LID lines of subnet `s`, and what binds its hpc VMs and clusters.
    private mutating func addLIDs(subnet s: Int, prefix: String) {
        let subnet = cloud.subnets[s]
        let groups = cloud.groups.filter { $0.subnet == s && $0.count > 0 }
        let space = subnet.lidSpace
        let build = cloud.buildTimeLIDs(subnet: s)
        let hosts = groups.reduce(0) { $0 + $1.count }
        if !prefix.isEmpty { add(prefix + "hosts", hosts, groups.map { "\($0.count) x \($0.hca.name)" }.joined(separator: " + ")) }
        add(prefix + "LIDs at build time", build.total,
            "switches + PF ports + prepopulated VFs" + (build.routerPorts > 0 ? " + router ports" : "")
            + " = \(build.switches) + \(build.pfPorts) + \(build.prepopulatedVFs)" + (build.routerPorts > 0 ? " + \(build.routerPorts)" : ""))
        let dynamic = groups.reduce(0) { $0 + ($1.sriovMode == .vswitchDynamic ? $1.count * $1.vfs : 0) }
        add(prefix + "LIDs at full VF use", build.total + dynamic, "build time + VFs of vswitch-dynamic hosts = \(build.total) + \(dynamic)")
        add(prefix + "LID space", space, (prefix.isEmpty ? "subnet.lidSpace" : "lidSpace") + " (49151 unicast LIDs by default)")
        let lidAllowed = max(0, space - build.total)
        add(prefix + "VFs in use that LIDs allow (vswitch-dynamic)", lidAllowed,
            "LID space - LIDs at build time = \(space) - \(build.total)")
        // The same hosts under each SR-IOV mode: what the choice of HCA generation does to LIDs.
        let vfsAll = groups.reduce(0) { $0 + $1.count * $1.vfs }
        let fixed = subnet.switches + subnet.routerPorts
        for mode in SRIOVMode.allCases {
            let atBuild = fixed + hosts + (mode == .vswitchPrepopulated ? vfsAll : 0)
            let atFull = atBuild + (mode == .vswitchDynamic ? vfsAll : 0)
            add(prefix + "if every host were \(mode.rawValue): LIDs at build / at full VF use", atFull,
                "\(fixed) switches" + (subnet.routerPorts > 0 ? " and router ports" : "") + " + \(hosts) PF ports" + (mode == .sharedPort ? " (VFs share the PF's LID)" : " + \(vfsAll) VFs")
                + " = \(atBuild) at build, \(atFull) at full use" + (atFull > space ? ": EXCEEDS the LID space of \(space)" : ""))
        }
        // What binds: hpc VMs at once by VFs or LIDs; hpc clusters at once by the pool, the pkey tables or the VMs.
        let vfVMs = vfsAll
        let lidVMs = dynamic > 0 ? lidAllowed + (vfsAll - dynamic) : Int.max
        let vms = min(vfVMs, lidVMs)
        add(prefix + "hpc VMs at once", vms, lidVMs == .max ? "VFs (no vswitch-dynamic HCA: LIDs do not limit them): binds VFs"
            : "min(VFs \(vfVMs), VFs LIDs allow \(lidVMs)): binds " + (lidVMs < vfVMs ? "LIDs" : "VFs"))
        let entries = groups.reduce(0) { $0 + $1.count * ($1.pkeyTable - 1) }
        let pool = subnet.pkeyPool.count
        let clusters = min(pool, entries, vms)
        let binding = clusters == pool ? "pkey space" : clusters == entries ? "pkey tables" : lidVMs < vfVMs ? "LIDs" : "VFs"
        add(prefix + "hpc clusters at once", clusters, "min(pkey pool \(pool), tenant pkey entries \(entries), hpc VMs \(vms)): binds \(binding)")
    }

    private mutating func add(_ label: String, _ value: Int, _ formula: String) {
        lines.append(Line(label: label, value: value, formula: formula))
    }

    /// The report as aligned text.
    public func formatted(title: String) -> String {
        var out = [title, String(repeating: "=", count: title.count)]
        let width = (lines.map(\.label.count).max() ?? 0) + 2
        let digits = max(9, lines.map { "\($0.value)".count }.max() ?? 0)
        for line in lines {
            out.append(line.label.rightPadded(to: width) + "\(line.value)".leftPadded(to: digits) + "   " + line.formula)
        }
        return out.joined(separator: "\n")
    }
}
