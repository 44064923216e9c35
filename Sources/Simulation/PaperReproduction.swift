import Allocation
import CloudModel
import Foundation
import Overheads

/// `hpccloud reproduce paper`: the seed paper's testbed rebuilt as a cloud, its
/// HPL configurations placed by the engine, and the overhead model calibrated on
/// some rows and judged on the others.
public struct PaperReproduction {
    public struct Row {
        public var measured: HPLTable.Row
        public var configuration: ClusterConfiguration
        public var heldOut: Bool
        /// Efficiency from the model fitted without the held-out rows.
        public var modelled: Double
        /// Efficiency predicted by a fit on every other row (leave-one-out); nil for the native row.
        public var leftOut: Double?
        public var errorPoints: Double { (modelled - measured.efficiency) * 100 }
    }

    public let table: HPLTable
    /// The model as committed in `Hardware/overheads.yaml`.
    public let committed: OverheadModel
    /// The model fitted on the calibration rows.
    public let fitted: OverheadModel
    public let rows: [Row]
    public let hca: LinkSpec

    /// - Parameter holdOut: 1-based rows left out of the calibration.
    public init(catalog: HardwareCatalog, model: OverheadModel, table: HPLTable, holdOut: Set<Int>) throws {
        guard let host = catalog.hostModels[table.hostModel], let hcaName = host.hca, let hca = catalog.hcas[hcaName] else {
            throw InputError(file: table.file, field: "hostModel", message: "unknown host model '\(table.hostModel)' or its HCA")
        }
        if let bad = holdOut.first(where: { !(1...table.rows.count).contains($0) }) {
            throw InputError(file: table.file, message: "no row \(bad) to hold out (rows 1...\(table.rows.count))")
        }
        let cloud = CloudSpec(groups: [HostGroup(count: table.hosts, cores: host.cores,
                                                 memoryMiB: Int64(host.memoryGiB) * Units.mebibytesPerGibibyte,
                                                 hca: hca, model: host.name, gflopsPerCore: host.gflopsPerCore)],
                              subnet: SubnetSpec(switchLink: table.switchLink))
        let configurations = try table.rows.map { try Self.place($0, on: cloud, hosts: table.hosts, file: table.file) }
        let samples = zip(configurations, table.rows).map { (configuration: $0, efficiency: $1.efficiency) }
        let calibration = samples.indices.filter { !holdOut.contains($0 + 1) }.map { samples[$0] }
        let fitted = try Calibration.fit(model, to: calibration, file: table.file)
        var rows: [Row] = []
        for (i, measured) in table.rows.enumerated() {
            var leftOut: Double?
            if !measured.native {
                let others = samples.indices.filter { $0 != i }.map { samples[$0] }
                leftOut = try? Calibration.fit(model, to: others, file: table.file).efficiency(configurations[i])
            }
            rows.append(Row(measured: measured, configuration: configurations[i], heldOut: holdOut.contains(i + 1),
                            modelled: fitted.efficiency(configurations[i]), leftOut: leftOut))
        }
        self.table = table
        committed = model
        self.fitted = fitted
        self.rows = rows
        self.hca = hca.link
    }

    /// The configuration the engine gives a row on the testbed: its VMs placed
    /// first-fit as one hpc cluster (native rows use every host, bare metal).
    static func place(_ row: HPLTable.Row, on cloud: CloudSpec, hosts: Int, file: String) throws -> ClusterConfiguration {
        if row.native { return .native(hosts: hosts) }
        let engine = AllocationEngine(cloud: cloud)
        let request = ClusterRequest(id: 1, arrival: 0, tenant: "hpl", vms: row.vms,
                                     shape: VMShape(vcores: row.vcores, memoryMiB: Int64(row.vcores) * 1024, kind: .hpc, pinning: row.pinning),
                                     duration: 0)
        guard case .accepted = engine.admit(request, policy: FirstFit()), let record = engine.cluster(1) else {
            throw InputError(file: file, message: "row '\(row.label)' does not fit the testbed")
        }
        return ClusterConfiguration(placed: record, in: engine, path: .sriovIB)
    }

    public var calibrationRows: [Row] { rows.filter { !$0.heldOut } }
    public var heldOutRows: [Row] { rows.filter(\.heldOut) }
    public var largestCalibrationError: Double { calibrationRows.map { abs($0.errorPoints) }.max() ?? 0 }
    public var largestHeldOutError: Double { heldOutRows.map { abs($0.errorPoints) }.max() ?? 0 }

    /// Whether the committed calibrated parameters equal this fit (to 1e-5).
    public var committedMatchesFit: Bool {
        [(committed.nativeEfficiency, fitted.nativeEfficiency), (committed.vmBase, fitted.vmBase),
         (committed.vmCrowding, fitted.vmCrowding), (committed.dynamicPinning, fitted.dynamicPinning)]
            .allSatisfy { abs($0.value - $1.value) < 1e-5 }
    }

    // MARK: Report

    public var markdown: String {
        var out: [String] = []
        func f(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }
        func signed(_ x: Double) -> String { String(format: "%+.2f", x) }
        out.append("# The seed paper's HPL table, reproduced")
        out.append("")
        out.append("Generated by `hpccloud reproduce paper` (`make reproduce`) from `Hardware/overheads.yaml` and")
        out.append("`Hardware/measurements/seed-paper-hpl.yaml` (\(table.source)). Testbed: \(table.hosts) x \(table.hostModel),")
        out.append("\(table.switchLink.generation) switch, Rpeak \(f(table.rpeakGFlops)) GFlops. Each VM row is placed by the allocation")
        out.append("engine (first-fit) on that testbed; the overhead model turns the placement into an efficiency.")
        out.append("")
        out.append("| # | configuration | placed as | measured GFlops | model GFlops | measured eff. | model eff. | error (pp) | role | leave-one-out eff. (error) |")
        out.append("|---|---|---|---|---|---|---|---|---|---|")
        for (i, row) in rows.enumerated() {
            let c = row.configuration
            let placed = row.measured.native ? "bare metal, \(c.hostsSpanned) hosts" : "\(c.vmsPerHost) VMs/host on \(c.hostsSpanned) hosts"
            let loo = row.leftOut.map { "\(f($0 * 100))% (\(signed(($0 - row.measured.efficiency) * 100)))" } ?? "n/a (fixes the scale)"
            out.append("| \(i + 1) | \(row.measured.label) | \(placed) | \(f(row.measured.gflops)) | \(f(row.modelled * table.rpeakGFlops)) | "
                       + "\(f(row.measured.efficiency * 100))% | \(f(row.modelled * 100, 2))% | \(signed(row.errorPoints)) | "
                       + "\(row.heldOut ? "held out" : "calibration") | \(loo) |")
        }
        out.append("")
        out.append("- Largest efficiency error on the calibration rows: \(f(largestCalibrationError, 2)) percentage points.")
        if heldOutRows.isEmpty {
            out.append("- No row held out.")
        } else {
            out.append("- Held out (\(heldOutRows.map(\.measured.label).joined(separator: "; "))): largest error \(f(largestHeldOutError, 2)) percentage points.")
        }
        let loo = rows.compactMap { row in row.leftOut.map { abs($0 - row.measured.efficiency) * 100 } }
        out.append("- Leave-one-out over the four VM rows (each predicted by a fit on the other four): largest error \(f(loo.max() ?? 0, 2)) pp.")
        out.append("- With four parameters and four calibration rows the fit is exact; the held-out and leave-one-out errors are the test of the model's form.")
        out.append("")
        out.append("Fitted parameters (the committed `Hardware/overheads.yaml` \(committedMatchesFit ? "matches" : "DOES NOT match") this fit):")
        out.append("")
        out.append("| parameter | fitted | meaning |")
        out.append("|---|---|---|")
        out.append("| nativeEfficiency | \(f(fitted.nativeEfficiency.value, 6)) | native IB, \(fitted.referenceHosts) hosts |")
        out.append("| vmBase | \(f(fitted.vmBase.value, 6)) | cost of virtualization with one VM per host |")
        out.append("| vmCrowding | \(f(fitted.vmCrowding.value, 7)) | extra cost per (VMs per host - 1)^2 |")
        out.append("| dynamicPinning | \(f(fitted.dynamicPinning.value, 6)) | cost of dynamic (unpinned) vCPUs |")
        out.append("")
        out.append("## Other network paths (the model's points against their published figures)")
        out.append("")
        out.append("| point | model | published | source |")
        out.append("|---|---|---|---|")
        for (overlay, base, hosts) in [(NetworkPath.vnetp1G, NetworkPath.ethernet1G, 16), (.vnetp10G, .ethernet10G, 16)] {
            let ratio = fitted.efficiency(ClusterConfiguration(vmsPerHost: 1, hostsSpanned: hosts, pinning: .fixed, path: overlay))
                / fitted.efficiency(ClusterConfiguration(vmsPerHost: 1, hostsSpanned: hosts, pinning: .fixed, path: base))
            out.append("| VNET/P over \(base.rawValue), \(hosts) hosts, against native \(base.rawValue) | \(f(ratio * 100))% | over 95% (NAS) | \(fitted.paths[overlay]!.networkShare.source) |")
        }
        let ec2Hosts = 1064
        let ec2 = fitted.efficiency(ClusterConfiguration(vmsPerHost: 1, hostsSpanned: ec2Hosts, pinning: .fixed, path: .virtualEthernet10G))
        out.append("| Virtualized 10 GbE, \(ec2Hosts) hosts (Amazon EC2 cluster compute) | \(f(ec2 * 100))% HPL | 67.8% (240 of 354.1 TFlops) | \(fitted.paths[.virtualEthernet10G]!.networkShare.source) |")
        let sriov = fitted.efficiency(ClusterConfiguration(vmsPerHost: 1, hostsSpanned: ec2Hosts, pinning: .fixed, path: .sriovIB))
        out.append("| SR-IOV IB, same \(ec2Hosts) hosts (the model's prediction) | \(f(sriov * 100))% HPL | none | this model |")
        out.append("")
        out.append("The VNET/P and EC2 points are anchors: the model meets them by construction (their network share is solved from them).")
        out.append("")
        out.append("## MPI point to point on the testbed (model)")
        out.append("")
        out.append("| path | between | latency (us) | bandwidth (Gb/s) |")
        out.append("|---|---|---|---|")
        for path in [NetworkPath.nativeIB, .sriovIB, .vnetpIB, .virtualEthernet10G, .vnetp10G] {
            // Bare-metal ranks on one host use shared memory, not the network: only VMs get an intra-host row.
            for intraHost in fitted.paths[path]!.virtualized ? [true, false] : [false] {
                let p = fitted.pointToPoint(path, hca: hca, switchLink: table.switchLink, intraHost: intraHost)
                out.append("| \(path.rawValue) | \(intraHost ? "two VMs (ranks) on one host" : "two hosts") | \(f(p.latencyMicroseconds)) | \(f(p.bandwidthGbps)) |")
            }
        }
        out.append("")
        out.append("SR-IOV traffic between VMs on one host loops through the HCA at its \(hca.generation) rate; across hosts the")
        out.append("\(table.switchLink.generation) switch sets the rate, as on the paper's testbed. Latencies are assumptions (see `Hardware/overheads.yaml`).")
        return out.joined(separator: "\n") + "\n"
    }
}
