import CloudModel
import Foundation

/// How a cluster's MPI traffic travels (PAPERS.md: SR-IOV IB against overlays and Ethernet).
public enum NetworkPath: String, CaseIterable, Sendable {
    case nativeIB = "native-ib"
    case sriovIB = "sriov-ib"
    case vnetpIB = "vnetp-ib"
    case ethernet1G = "ethernet-1g"
    case ethernet10G = "ethernet-10g"
    case virtualEthernet10G = "virtual-ethernet-10g"
    case vnetp1G = "vnetp-1g"
    case vnetp10G = "vnetp-10g"

    /// InfiniBand paths take their bandwidth from the HCA and switch links.
    public var isInfiniBand: Bool { self == .nativeIB || self == .sriovIB || self == .vnetpIB }
}

/// One number of the model with where it came from (`Hardware/overheads.yaml`).
public struct Parameter: Hashable, Sendable {
    /// `bound`: a limit a source states ("over 95% of native"), used as the value; not a measurement.
    public enum Kind: String, CaseIterable, Sendable { case measured, bound, calibrated, anchored, assumption }
    public var value: Double
    public var kind: Kind
    public var source: String

    public init(_ value: Double, kind: Kind, source: String) {
        self.value = value
        self.kind = kind
        self.source = source
    }
}

/// Where a cluster runs, as far as the overhead model cares.
public struct ClusterConfiguration: Hashable, Sendable {
    /// The most VMs of the cluster on one host.
    public var vmsPerHost: Int
    public var hostsSpanned: Int
    public var pinning: Pinning
    /// Dynamic vCPUs per physical core left for them, on the busiest host of the
    /// cluster (1 when not overcommitted; ignored for fixed vCPUs).
    public var sharing: Double
    public var path: NetworkPath

    public init(vmsPerHost: Int, hostsSpanned: Int, pinning: Pinning, sharing: Double = 1, path: NetworkPath) {
        self.vmsPerHost = vmsPerHost
        self.hostsSpanned = hostsSpanned
        self.pinning = pinning
        self.sharing = sharing
        self.path = path
    }

    /// The same cores on bare metal over native IB, on `hosts` hosts.
    public static func native(hosts: Int) -> ClusterConfiguration {
        ClusterConfiguration(vmsPerHost: 0, hostsSpanned: hosts, pinning: .fixed, path: .nativeIB)
    }
}

/// The virtualization overhead model: HPL-style efficiency and MPI
/// point-to-point latency and bandwidth (formulas in `Hardware/overheads.yaml`).
public struct OverheadModel: Sendable {
    public struct PathParameters: Sendable {
        public var virtualized: Bool
        /// Share of HPL time lost to communication as the hosts spanned grow.
        public var networkShare: Parameter
        public var latencyMicroseconds: Parameter
        public var intraHostLatencyMicroseconds: Parameter
        public var protocolEfficiency: Parameter
        /// Ethernet line rate; nil for InfiniBand (the links decide).
        public var gbps: Double?
        /// How `networkShare` is derived, when it is not given directly.
        public var derivation: Derivation?
    }

    /// A network share solved from a published figure rather than given.
    public enum Derivation: Sendable {
        /// Over many hosts the path keeps `ratio` of `base`'s efficiency (an overlay's "over 95% of native").
        case relative(base: NetworkPath, ratio: Parameter)
        /// One VM per host, fixed vCPUs, `hosts` hosts reach `efficiency` (a TOP500 entry).
        case anchor(efficiency: Double, hosts: Int, source: String)
    }

    public var referenceHosts: Int
    public var nativeEfficiency: Parameter
    public var vmBase: Parameter
    public var vmCrowding: Parameter
    public var dynamicPinning: Parameter
    public var coscheduling: Parameter
    /// Line-code efficiency by IB generation.
    public var encoding: [String: Double]
    public var paths: [NetworkPath: PathParameters]
    public let file: String

    /// Solves the derived network shares from the current HPL parameters (call
    /// again after calibrating them). Bases are resolved before what depends on them.
    public mutating func resolveDerivedShares() {
        for path in NetworkPath.allCases {
            guard let derivation = paths[path]?.derivation else { continue }
            switch derivation {
            case .relative(let base, let ratio):
                // Over many hosts: V(1) (1 - share) = ratio (1 - baseShare), V counted only when this path
                // is virtualized and the base is not; the ratio then holds at every host count or better.
                let baseShare = paths[base]!.networkShare.value
                let vm = paths[path]!.virtualized && !paths[base]!.virtualized ? vmFactor(vmsPerHost: 1) : 1
                paths[path]!.networkShare = Parameter(max(0, 1 - ratio.value * (1 - baseShare) / vm), kind: .anchored,
                                                      source: "solved: keeps \(ratio.value) of \(base.rawValue) over many hosts (\(ratio.source))")
            case .anchor(let target, let hosts, let source):
                let vm = paths[path]!.virtualized ? vmFactor(vmsPerHost: 1) : 1
                let spanNeeded = target * span(.nativeIB, hosts: referenceHosts) / (nativeEfficiency.value * vm)
                paths[path]!.networkShare = Parameter((1 - spanNeeded) / (1 - 1 / Double(hosts)), kind: .anchored,
                                                      source: "solved: \(hosts) hosts reach \(target) (\(source))")
            }
        }
    }

    // MARK: Efficiency

    /// HPL-style efficiency (achieved / peak of the vCPUs' cores) of a cluster in `configuration`.
    public func efficiency(_ configuration: ClusterConfiguration) -> Double {
        let path = paths[configuration.path]!
        var eff = nativeEfficiency.value * span(configuration.path, hosts: configuration.hostsSpanned)
            / span(.nativeIB, hosts: referenceHosts)
        if path.virtualized { eff *= vmFactor(vmsPerHost: max(configuration.vmsPerHost, 1)) }
        if configuration.pinning == .dynamic {
            eff *= 1 - dynamicPinning.value
            eff *= sharingFactor(configuration.sharing)
        }
        return eff
    }

    /// S(path, h): the part of HPL not lost to communication over `hosts` hosts.
    public func span(_ path: NetworkPath, hosts: Int) -> Double {
        1 - paths[path]!.networkShare.value * (1 - 1 / Double(max(hosts, 1)))
    }

    /// V(v) for v VMs per host.
    public func vmFactor(vmsPerHost v: Int) -> Double {
        (1 - vmBase.value) * exp(-vmCrowding.value * Double((v - 1) * (v - 1)))
    }

    /// O(rho): a vCPU gets 1/rho of a core, and bulk-synchronous steps wait for the slowest.
    public func sharingFactor(_ rho: Double) -> Double {
        let rho = max(rho, 1)
        return 1 / (rho * (1 + coscheduling.value * (rho - 1)))
    }

    // MARK: MPI point to point

    public struct PointToPoint: Equatable, Sendable {
        public var latencyMicroseconds: Double
        public var bandwidthGbps: Double
    }

    /// Latency and large-message bandwidth between two ranks on `path`: on one
    /// host (VF to VF through the HCA for SR-IOV) or across hosts (through the switch).
    public func pointToPoint(_ path: NetworkPath, hca: LinkSpec, switchLink: LinkSpec?, intraHost: Bool) -> PointToPoint {
        let parameters = paths[path]!
        let latency = intraHost ? parameters.intraHostLatencyMicroseconds.value : parameters.latencyMicroseconds.value
        let line: Double
        if let gbps = parameters.gbps {
            line = gbps
        } else {
            // On one host the HCA loops traffic back at its own rate; across hosts the slower link decides.
            let links = intraHost ? [hca] : [hca, switchLink ?? hca]
            line = links.map { $0.gbps * (encoding[$0.generation] ?? 1) }.min()!
        }
        return PointToPoint(latencyMicroseconds: latency, bandwidthGbps: line * parameters.protocolEfficiency.value)
    }
}
