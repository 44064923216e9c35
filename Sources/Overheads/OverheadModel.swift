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
    /// Half-width of the value's 95% interval: from the fit's covariance for a
    /// calibrated value, a documented band otherwise; nil when taken as exact.
    public var band: Double?

    public init(_ value: Double, kind: Kind, source: String, band: Double? = nil) {
        self.value = value
        self.kind = kind
        self.source = source
        self.band = band
    }
}

/// What a code does between its computations, as far as run time goes
/// (`profiles:` in `Hardware/overheads.yaml`, or a scenario's own).
public struct ApplicationProfile: Hashable, Sendable {
    public var name: String
    /// Communication time per unit of compute time if every message went over
    /// native IB on the reference links (the model's yardstick), before the growth with hosts.
    public var commRatio: Parameter
    /// How that ratio grows per doubling of the hosts spanned: (1 + growth log2 h).
    public var growth: Parameter
    /// The size of a typical message: small ones pay latency, large ones bandwidth.
    public var messageBytes: Parameter

    public init(name: String, commRatio: Parameter, growth: Parameter, messageBytes: Parameter) {
        self.name = name
        self.commRatio = commRatio
        self.growth = growth
        self.messageBytes = messageBytes
    }
}

/// Where a cluster runs, as far as the overhead model cares.
public struct ClusterConfiguration: Hashable, Sendable {
    /// The most VMs of the cluster on one host (0 on bare metal).
    public var vmsPerHost: Int
    public var hostsSpanned: Int
    public var pinning: Pinning
    /// Dynamic vCPUs per physical core left for them, on the busiest host of the
    /// cluster (1 when not overcommitted; ignored for fixed vCPUs).
    public var sharing: Double
    public var path: NetworkPath
    /// MPI ranks in one VM (its vCPUs), or on one bare-metal host (its cores).
    public var ranksPerVM: Int
    /// Cores of one socket; a VM with more vCPUs spans sockets (nil: not known, taken as one socket).
    public var coresPerSocket: Int?
    /// The HCA's link and the switch's (nil: the model's reference links).
    public var hcaLink: LinkSpec?
    public var switchLink: LinkSpec?
    /// Share of the messages between hosts that cross an IB router (a cluster spanning
    /// subnets): each pays the router's hop latency, and its bytes carry a GRH.
    public var routedShare: Double = 0
    /// Added to a routed message (`RouterSpec.hopLatencyMicroseconds`).
    public var routerLatencyMicroseconds: Double = 0
    /// Payload share of a routed packet (`RouterSpec.goodputFactor`).
    public var routerGoodput: Double = 1

    public init(vmsPerHost: Int, hostsSpanned: Int, pinning: Pinning, sharing: Double = 1, path: NetworkPath,
                ranksPerVM: Int = 1, coresPerSocket: Int? = nil, hcaLink: LinkSpec? = nil, switchLink: LinkSpec? = nil) {
        self.vmsPerHost = vmsPerHost
        self.hostsSpanned = hostsSpanned
        self.pinning = pinning
        self.sharing = sharing
        self.path = path
        self.ranksPerVM = ranksPerVM
        self.coresPerSocket = coresPerSocket
        self.hcaLink = hcaLink
        self.switchLink = switchLink
    }

    /// The same cores on bare metal over native IB, on `hosts` hosts of `coresPerHost` cores.
    public static func native(hosts: Int, coresPerHost: Int, hcaLink: LinkSpec? = nil, switchLink: LinkSpec? = nil) -> ClusterConfiguration {
        ClusterConfiguration(vmsPerHost: 0, hostsSpanned: hosts, pinning: .fixed, path: .nativeIB, ranksPerVM: coresPerHost,
                             hcaLink: hcaLink, switchLink: switchLink)
    }

    /// Whether a VM's vCPUs spread over more than one socket (NUMA).
    public var spansSockets: Bool { coresPerSocket.map { ranksPerVM > $0 } ?? false }
}

/// Where a configuration leaves the measurements the model was calibrated on.
public struct Extrapolation: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// More hosts than any measurement: the growth with hosts is capped there.
    public static let hosts = Extrapolation(rawValue: 1)
    /// More VMs per host than any measurement: the crowding curve is capped there.
    public static let vmsPerHost = Extrapolation(rawValue: 2)
    /// Overcommitted dynamic vCPUs: no measurement; the coscheduling term is an assumption.
    public static let overcommit = Extrapolation(rawValue: 4)

    public static let all: [(Extrapolation, String)] = [(.hosts, "hosts"), (.vmsPerHost, "vms-per-host"), (.overcommit, "overcommit")]
}

/// The virtualization overhead model (formulas in `Hardware/overheads.yaml`):
/// compute efficiency (virtualization, VMs per host, pinning, NUMA, overcommit,
/// synchronization jitter over the hosts spanned) and a communication time
/// derived from the placement through MPI point-to-point latency and bandwidth.
public struct OverheadModel: Sendable {
    public struct PathParameters: Sendable {
        public var virtualized: Bool
        public var latencyMicroseconds: Parameter
        /// Between two VMs on one host (VF to VF through the HCA for SR-IOV).
        public var intraHostLatencyMicroseconds: Parameter
        public var protocolEfficiency: Parameter
        /// Ethernet line rate; nil for InfiniBand (the links decide).
        public var gbps: Double?
    }

    /// The measurements' extent: beyond it the model flags and caps.
    public struct CalibratedRange: Sendable {
        public var hosts: Int
        public var vmsPerHost: Int
        public var source: String
    }

    /// Where `commRatio` is counted: bare metal, `hosts` hosts, these links.
    public var referenceHosts: Int
    public var referenceCoresPerHost: Int
    public var referenceHCA: LinkSpec
    public var referenceSwitch: LinkSpec
    /// The yardstick message: MPI latency and the share of the data rate it reaches there.
    public var referenceLatencyMicroseconds: Parameter
    public var referenceProtocolEfficiency: Parameter
    public var range: CalibratedRange

    /// Compute efficiency of one bare-metal host (HPL's DGEMM share).
    public var nativeEfficiency: Parameter
    public var vmBase: Parameter
    public var vmCrowding: Parameter
    /// Per doubling of the hosts a virtualized cluster spans.
    public var virtualJitter: Parameter
    public var dynamicPinning: Parameter
    /// Dynamic vCPUs of a VM that spans sockets.
    public var numaPinning: Parameter
    public var coscheduling: Parameter
    /// MPI between ranks of one OS image.
    public var sharedMemoryLatencyMicroseconds: Parameter
    public var sharedMemoryGbps: Parameter
    /// Line-code efficiency by IB generation.
    public var encoding: [String: Double]
    public var paths: [NetworkPath: PathParameters]
    public var profiles: [String: ApplicationProfile]
    /// Correlations of the calibrated parameters, in `Calibration.fitted` order
    /// (row-major), as the fit gives them; nil: taken as independent.
    public var fitCorrelation: [Double]?
    public let file: String

    /// The profile runs use unless a scenario names another.
    public static let defaultProfile = "hpl"
    public var hpl: ApplicationProfile { profiles[Self.defaultProfile]! }

    /// The model's parameters that carry a band, for intervals.
    public static var bandedParameters: [WritableKeyPath<OverheadModel, Parameter>] {
        [\.nativeEfficiency, \.vmBase, \.vmCrowding, \.virtualJitter, \.dynamicPinning, \.numaPinning, \.coscheduling]
    }
    public static var bandedProfileParameters: [WritableKeyPath<ApplicationProfile, Parameter>] { [\.commRatio, \.growth] }

    // MARK: Efficiency

    /// HPL-style efficiency (achieved / peak of the cores) of a cluster in `configuration`
    /// running `profile`: 1 / (1 / compute + communication), both per unit of peak work.
    /// - Complexity: O(1), no allocation (called once per admitted cluster).
    public func efficiency(_ configuration: ClusterConfiguration, profile: ApplicationProfile) -> Double {
        1 / (1 / compute(configuration) + communication(configuration, profile: profile))
    }

    /// Efficiency with the default (HPL) profile.
    public func efficiency(_ configuration: ClusterConfiguration) -> Double {
        efficiency(configuration, profile: hpl)
    }

    /// Bare metal on the reference hosts and links: what work-based requests are planned with.
    public var referenceNativeEfficiency: Double {
        efficiency(.native(hosts: referenceHosts, coresPerHost: referenceCoresPerHost))
    }

    /// Which measured ranges `configuration` leaves.
    public func extrapolation(_ configuration: ClusterConfiguration) -> Extrapolation {
        var flags: Extrapolation = []
        if configuration.hostsSpanned > range.hosts { flags.insert(.hosts) }
        if configuration.vmsPerHost > range.vmsPerHost, paths[configuration.path]!.virtualized { flags.insert(.vmsPerHost) }
        if configuration.pinning == .dynamic, configuration.sharing > 1 { flags.insert(.overcommit) }
        return flags
    }

    /// The compute share: peak work per unit of time, communication apart.
    public func compute(_ configuration: ClusterConfiguration) -> Double {
        var eff = nativeEfficiency.value
        if paths[configuration.path]!.virtualized {
            let v = Double(min(max(configuration.vmsPerHost, 1), range.vmsPerHost))
            eff *= (1 - vmBase.value) * exp(-vmCrowding.value * (v - 1) * (v - 1))
            // Bulk-synchronous steps wait for the slowest VM: the hypervisor's noise grows with the hosts.
            eff /= 1 + virtualJitter.value * log2(Double(cappedHosts(configuration)))
        }
        if configuration.pinning == .dynamic {
            eff *= 1 - (configuration.spansSockets ? numaPinning.value : dynamicPinning.value)
            eff *= sharingFactor(configuration.sharing)
        }
        return eff
    }

    /// Communication time per unit of peak work: the profile's ratio, grown with
    /// the hosts, times the mean message time over the rank pairs of the placement
    /// against the same message over the yardstick.
    public func communication(_ configuration: ClusterConfiguration, profile: ApplicationProfile) -> Double {
        let bytes = profile.messageBytes.value
        let h = Double(max(configuration.hostsSpanned, 1))
        let v = Double(max(configuration.vmsPerHost, 1))
        let r = Double(max(configuration.ranksPerVM, 1))
        let peers = r * v * h - 1
        guard peers > 0 else { return 0 }
        // Each rank talks alike to every other: in its own OS image, to other VMs on its host, to other hosts.
        var time = (r - 1) / peers * messageTime(latency: sharedMemoryLatencyMicroseconds.value, gbps: sharedMemoryGbps.value, bytes: bytes)
        if v > 1 { time += (v - 1) * r / peers * messageTime(configuration, intraHost: true, bytes: bytes) }
        if h > 1 { time += (h - 1) * v * r / peers * messageTime(configuration, intraHost: false, bytes: bytes) }
        // The yardstick is fixed (`reference`), not read from the path table: every latency and rate
        // of the table, native IB's too, reaches the result.
        let reference = messageTime(latency: referenceLatencyMicroseconds.value,
                                    gbps: min(dataRate(referenceHCA), dataRate(referenceSwitch)) * referenceProtocolEfficiency.value,
                                    bytes: bytes)
        let growth = 1 + profile.growth.value * log2(Double(cappedHosts(configuration)))
        return profile.commRatio.value * growth * time / reference
    }

    /// Hosts as far as the measurements go.
    func cappedHosts(_ configuration: ClusterConfiguration) -> Int { min(max(configuration.hostsSpanned, 1), range.hosts) }

    /// Microseconds for one message: latency plus its bits at the rate.
    func messageTime(latency: Double, gbps: Double, bytes: Double) -> Double {
        latency + bytes * 8 / (gbps * 1000)
    }

    /// One message of the placement's path, between VMs on one host or across hosts (the model's reference links where the configuration names none).
    func messageTime(_ configuration: ClusterConfiguration, intraHost: Bool, bytes: Double) -> Double {
        let p = pointToPoint(configuration.path, hca: configuration.hcaLink ?? referenceHCA,
                             switchLink: configuration.switchLink ?? configuration.hcaLink ?? referenceSwitch, intraHost: intraHost)
        let direct = messageTime(latency: p.latencyMicroseconds, gbps: p.bandwidthGbps, bytes: bytes)
        let x = intraHost ? 0 : configuration.routedShare
        guard x > 0 else { return direct }
        // Through a router: one more hop, and a 40-byte GRH in every packet (Hardware/routers.md 3, 5).
        let routed = messageTime(latency: p.latencyMicroseconds + configuration.routerLatencyMicroseconds,
                                 gbps: p.bandwidthGbps * configuration.routerGoodput, bytes: bytes)
        return (1 - x) * direct + x * routed
    }

    /// O(rho): a vCPU gets 1/rho of a core, and bulk-synchronous steps wait for the slowest.
    public func sharingFactor(_ rho: Double) -> Double {
        let rho = max(rho, 1)
        return 1 / (rho * (1 + coscheduling.value * (rho - 1)))
    }

    // MARK: Uncertainty

    /// `measure`'s value and 95% interval from every banded parameter (the
    /// model's and `profile`'s), each moved by its band in turn. The calibrated
    /// parameters' moves combine through the fit's correlations (the delta
    /// method: a symmetric half-width); the others add in quadrature as independent.
    public func interval(profile: ApplicationProfile, _ measure: (OverheadModel, ApplicationProfile) -> Double) -> (value: Double, low: Double, high: Double) {
        let value = measure(self, profile)
        var down = 0.0, up = 0.0
        func add(_ a: Double, _ b: Double) {
            down += pow(max(0, value - min(a, b)), 2)
            up += pow(max(0, max(a, b) - value), 2)
        }
        func moves(_ path: WritableKeyPath<OverheadModel, Parameter>) -> (low: Double, high: Double)? {
            guard let band = self[keyPath: path].band, band > 0 else { return nil }
            var low = self, high = self
            low[keyPath: path].value -= band
            high[keyPath: path].value += band
            return (measure(low, profile), measure(high, profile))
        }
        let fitted = Calibration.fitted.map(\.path)
        var correlated: [WritableKeyPath<OverheadModel, Parameter>] = []
        if let correlation = fitCorrelation, correlation.count == fitted.count * fitted.count {
            correlated = fitted
            // Half the change across each band, then g' R g.
            let slopes = fitted.map { path in moves(path).map { ($0.high - $0.low) / 2 } ?? 0 }
            var variance = 0.0
            for i in slopes.indices { for j in slopes.indices { variance += slopes[i] * slopes[j] * correlation[i * slopes.count + j] } }
            down += max(0, variance)
            up += max(0, variance)
        }
        for path in Self.bandedParameters where !correlated.contains(path) {
            guard let move = moves(path) else { continue }
            add(move.low, move.high)
        }
        for path in Self.bandedProfileParameters {
            guard let band = profile[keyPath: path].band, band > 0 else { continue }
            var low = profile, high = profile
            low[keyPath: path].value = max(0, low[keyPath: path].value - band)
            high[keyPath: path].value += band
            add(measure(self, low), measure(self, high))
        }
        return (value, value - down.squareRoot(), value + up.squareRoot())
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
        // Large messages: Ethernet at its line rate; on one host the HCA loops traffic back at its own
        // rate; across hosts the slower of HCA and switch link decides.
        var line = parameters.gbps ?? dataRate(hca)
        if parameters.gbps == nil && !intraHost { line = min(line, dataRate(switchLink ?? hca)) }
        return PointToPoint(latencyMicroseconds: intraHost ? parameters.intraHostLatencyMicroseconds.value : parameters.latencyMicroseconds.value,
                            bandwidthGbps: line * parameters.protocolEfficiency.value)
    }

    /// A link's Gb/s after its line code.
    func dataRate(_ link: LinkSpec) -> Double { link.gbps * (encoding[link.generation] ?? 1) }
}
