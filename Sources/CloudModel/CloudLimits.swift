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
        func terms(_ part: (HostGroup) -> String) -> String { groups.map(part).joined(separator: " + ") }

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
        for (i, group) in groups.enumerated() {
            add("concurrent hpc clusters per host (group \(i + 1), \(group.hca.name))", group.pkeyTable - 1,
                "pkeyTable - 1 (the default partition's entry) = \(group.pkeyTable) - 1")
        }
        let entries = groups.reduce(0) { $0 + $1.count * ($1.pkeyTable - 1) }
        add("tenant pkey entries in the cloud", entries, "sum of count x (pkeyTable - 1) = " + terms { "\($0.count) x \($0.pkeyTable - 1)" })
        let pool = cloud.subnet.pkeyPool
        add("concurrent hpc clusters (pkey space)", pool.count,
            "last - first + 1 = 0x\(String(pool.upperBound, radix: 16)) - 0x\(String(pool.lowerBound, radix: 16)) + 1")

        let space = cloud.subnet.lidSpace
        let build = cloud.buildTimeLIDs
        add("LIDs at build time", build.total,
            "switches + PF ports + prepopulated VFs = \(build.switches) + \(build.pfPorts) + \(build.prepopulatedVFs)")
        let dynamic = groups.reduce(0) { $0 + ($1.sriovMode == .vswitchDynamic ? $1.count * $1.vfs : 0) }
        add("LIDs at full VF use", build.total + dynamic, "build time + VFs of vswitch-dynamic hosts = \(build.total) + \(dynamic)")
        add("LID space", space, "subnet.lidSpace (49151 unicast LIDs by default)")
        add("VFs in use that LIDs allow (vswitch-dynamic)", max(0, space - build.total),
            "LID space - LIDs at build time = \(space) - \(build.total)")
        // The same hosts under each SR-IOV mode: what the choice of HCA generation does to LIDs.
        let vfsAll = groups.reduce(0) { $0 + $1.count * $1.vfs }
        let hosts = cloud.hostCount, switches = cloud.subnet.switches
        for mode in SRIOVMode.allCases {
            let atBuild = switches + hosts + (mode == .vswitchPrepopulated ? vfsAll : 0)
            let atFull = atBuild + (mode == .vswitchDynamic ? vfsAll : 0)
            add("if every host were \(mode.rawValue): LIDs at build / at full VF use", atFull,
                "\(switches) switches + \(hosts) PF ports" + (mode == .sharedPort ? " (VFs share the PF's LID)" : " + \(vfsAll) VFs")
                + " = \(atBuild) at build, \(atFull) at full use" + (atFull > space ? ": EXCEEDS the LID space of \(space)" : ""))
        }
    }

    private mutating func add(_ label: String, _ value: Int, _ formula: String) {
        lines.append(Line(label: label, value: value, formula: formula))
    }

    /// The report as aligned text.
    public func formatted(title: String) -> String {
        var out = [title, String(repeating: "=", count: title.count)]
        let width = (lines.map(\.label.count).max() ?? 0) + 2
        for line in lines {
            out.append(line.label.rightPadded(to: width) + "\(line.value)".leftPadded(to: 9) + "   " + line.formula)
        }
        return out.joined(separator: "\n")
    }
}
