import CloudModel
import Overheads
import Testing
import TestSupport

@Suite struct OverheadModelTests {
    let model: OverheadModel
    static let qdr = LinkSpec(generation: "QDR", lanes: 4, gbpsPerLane: 10), ddr = LinkSpec(generation: "DDR", lanes: 4, gbpsPerLane: 5)
    static let fdr = LinkSpec(generation: "FDR", lanes: 4, gbpsPerLane: 14)

    init() throws { model = try OverheadModel.load(hardwareDirectory: Fixtures.hardwareDirectory) }

    func config(v: Int, hosts: Int = 2, pinning: Pinning = .fixed, sharing: Double = 1, path: NetworkPath = .sriovIB,
                ranks: Int = 2, link: LinkSpec? = nil, socket: Int = 4) -> ClusterConfiguration {
        ClusterConfiguration(vmsPerHost: v, hostsSpanned: hosts, pinning: pinning, sharing: sharing, path: path,
                             ranksPerVM: ranks, coresPerSocket: socket, hcaLink: link, switchLink: link)
    }

    @Test func everyParameterHasASourceAndTheFittedOnesABand() {
        for parameter in OverheadModel.bandedParameters.map({ model[keyPath: $0] }) {
            #expect(!parameter.source.isEmpty)
            #expect(parameter.kind != .calibrated || (parameter.band ?? 0) > 0)
        }
        for path in NetworkPath.allCases {
            let parameters = model.paths[path]!
            #expect(!parameters.latencyMicroseconds.source.isEmpty && !parameters.protocolEfficiency.source.isEmpty)
        }
        for name in ["hpl", "latency-bound", "bandwidth-bound"] { #expect(model.profiles[name] != nil, "\(name)") }
    }

    @Test(arguments: [Pinning.fixed, .dynamic], [NetworkPath.sriovIB, .vnetp10G, .virtualEthernet10G])
    func efficiencyFallsWithMoreVMsPerHostThenStopsWhereTheDataStop(pinning: Pinning, path: NetworkPath) {
        // The same 16 cores per host (one socket: NUMA apart) in ever more, smaller VMs.
        let limit = model.range.vmsPerHost
        let values = [1, 2, 4].map { model.efficiency(config(v: $0, pinning: pinning, path: path, ranks: 16 / $0, socket: 16)) }
        #expect(limit == 4 && zip(values, values.dropFirst()).allSatisfy { $0 > $1 })
        #expect(values.allSatisfy { $0 > 0 && $0 < 1 })
        // Beyond the measurements the crowding term is capped (traffic between more VMs still costs) and flagged.
        let beyond = config(v: 16, pinning: pinning, path: path, ranks: 1, socket: 16)
        #expect(model.efficiency(beyond) <= values.last! && model.efficiency(beyond) > values.last! - 0.05)
        #expect(model.extrapolation(beyond).contains(.vmsPerHost))
        #expect(!model.extrapolation(config(v: limit, pinning: pinning, path: path)).contains(.vmsPerHost))
    }

    @Test func efficiencyFallsWithOvercommit() {
        let values = stride(from: 1.0, through: 4.0, by: 0.25).map { model.efficiency(config(v: 2, pinning: .dynamic, sharing: $0)) }
        #expect(zip(values, values.dropFirst()).allSatisfy { $0 > $1 })
        // Below one vCPU per core nothing is shared: no gain either.
        #expect(model.efficiency(config(v: 2, pinning: .dynamic, sharing: 0.5)) == values[0])
        #expect(model.extrapolation(config(v: 2, pinning: .dynamic, sharing: 1.5)).contains(.overcommit))
    }

    @Test func pinningNeverLowersEfficiencyAndMattersMostAcrossSockets() {
        for path in NetworkPath.allCases {
            for v in 1...16 {
                for hosts in [1, 2, 8, 1000] {
                    for sharing in [0.5, 1, 1.5, 2, 4] {
                        let fixed = model.efficiency(config(v: v, hosts: hosts, pinning: .fixed, sharing: sharing, path: path))
                        let dynamic = model.efficiency(config(v: v, hosts: hosts, pinning: .dynamic, sharing: sharing, path: path))
                        #expect(fixed >= dynamic)
                    }
                }
            }
        }
        // CloudCom 2014: unpinned 20-vCPU VMs over two 10-core sockets run at about half speed.
        let wide = config(v: 1, hosts: 16, pinning: .dynamic, ranks: 8)
        let narrow = config(v: 2, hosts: 16, pinning: .dynamic, ranks: 4)
        #expect(model.efficiency(wide) < 0.6 * model.efficiency(config(v: 1, hosts: 16, ranks: 8)))
        #expect(model.efficiency(narrow) > 0.9 * model.efficiency(config(v: 2, hosts: 16, ranks: 4)))
    }

    @Test func spanningMoreHostsCostsUpToTheDataThenIsCapped() {
        for path in NetworkPath.allCases {
            let values = [1, 2, 4, 16, 128].map { model.efficiency(config(v: 1, hosts: $0, path: path)) }
            #expect(zip(values, values.dropFirst()).allSatisfy { $0 > $1 }, "\(path)")
            let beyond = config(v: 1, hosts: 100_000, path: path)
            #expect(model.efficiency(beyond) <= values.last! && model.extrapolation(beyond).contains(.hosts))
        }
        // Over Ethernet the network costs far more than over InfiniBand.
        #expect(model.efficiency(config(v: 1, hosts: 64, path: .ethernet1G)) < model.efficiency(config(v: 1, hosts: 64, path: .nativeIB)) - 0.15)
    }

    @Test func fasterLinksNeverLowerEfficiency() {
        let links = [LinkSpec(generation: "SDR", lanes: 1, gbpsPerLane: 2.5), LinkSpec(generation: "SDR", lanes: 4, gbpsPerLane: 2.5),
                     Self.ddr, Self.qdr, Self.fdr, LinkSpec(generation: "EDR", lanes: 4, gbpsPerLane: 25), LinkSpec(generation: "HDR", lanes: 4, gbpsPerLane: 50)]
        for profile in model.profiles.values {
            let values = links.map { model.efficiency(config(v: 1, hosts: 16, link: $0), profile: profile) }
            #expect(zip(values, values.dropFirst()).allSatisfy { $0 <= $1 }, "\(profile.name)")
            #expect(values.first! < values.last!, "\(profile.name): SDR 1x must cost more than HDR")
        }
        // Ethernet paths take their rate from the Ethernet, not the HCA.
        #expect(model.efficiency(config(v: 1, hosts: 16, path: .ethernet10G, link: Self.ddr))
                == model.efficiency(config(v: 1, hosts: 16, path: .ethernet10G, link: Self.fdr)))
    }

    @Test func theIntraHostRouteMattersForVMsOnOneHost() {
        // Four VMs on one host talk VF to VF (SR-IOV) or through the overlay (VNET/P): not alike.
        let sriov = model.efficiency(config(v: 4, hosts: 1, path: .sriovIB), profile: model.profiles["latency-bound"]!)
        let overlay = model.efficiency(config(v: 4, hosts: 1, path: .vnetpIB), profile: model.profiles["latency-bound"]!)
        #expect(sriov > overlay + 0.01)
    }

    @Test func theMPITableReachesTheEfficiency() {
        var slower = model
        for path in NetworkPath.allCases {
            slower.paths[path]!.latencyMicroseconds.value *= 2
            slower.paths[path]!.protocolEfficiency.value /= 2
        }
        for profile in model.profiles.values {
            let c = config(v: 2, hosts: 16)
            #expect(slower.efficiency(c, profile: profile) < model.efficiency(c, profile: profile) - 0.005, "\(profile.name)")
        }
        // Small messages pay latency; large ones bandwidth.
        var laggy = model
        laggy.paths[.sriovIB]!.latencyMicroseconds.value *= 3
        let c = config(v: 1, hosts: 16)
        let latencyBound = model.profiles["latency-bound"]!, bandwidthBound = model.profiles["bandwidth-bound"]!
        let latencyCost = model.efficiency(c, profile: latencyBound) / laggy.efficiency(c, profile: latencyBound)
        let bandwidthCost = model.efficiency(c, profile: bandwidthBound) / laggy.efficiency(c, profile: bandwidthBound)
        #expect(latencyCost > 1.1 && bandwidthCost < 1.01)
    }

    @Test func theIntervalWidensWithTheBandsAndVanishesWithout() {
        let c = config(v: 2, hosts: 16, pinning: .dynamic)
        let band = model.interval(profile: model.hpl) { m, p in m.efficiency(c, profile: p) }
        #expect(band.low < band.value && band.value < band.high && band.value == model.efficiency(c))
        var exact = model
        for path in OverheadModel.bandedParameters { exact[keyPath: path].band = nil }
        var profile = model.hpl
        profile.commRatio.band = nil
        profile.growth.band = nil
        let none = exact.interval(profile: profile) { m, p in m.efficiency(c, profile: p) }
        #expect(none.low == none.value && none.high == none.value)
    }

    @Test func fittedParametersMoveTogetherThroughTheirCorrelation() {
        // A measure that adds two fitted parameters: its half-width is sqrt(b1^2 + b2^2 + 2 rho b1 b2).
        var model = self.model
        for path in OverheadModel.bandedParameters { model[keyPath: path].band = nil }
        model.nativeEfficiency.band = 0.02
        model.vmBase.band = 0.02
        var profile = model.hpl
        profile.commRatio.band = nil
        profile.growth.band = nil
        let names = Calibration.fitted.map(\.name)
        func halfWidth(rho: Double) -> Double {
            var correlation = (0..<25).map { $0 / 5 == $0 % 5 ? 1.0 : 0.0 }
            let a = names.firstIndex(of: "nativeEfficiency")!, b = names.firstIndex(of: "vmBase")!
            correlation[a * 5 + b] = rho
            correlation[b * 5 + a] = rho
            model.fitCorrelation = correlation
            let band = model.interval(profile: profile) { m, _ in m.nativeEfficiency.value + m.vmBase.value }
            return band.high - band.value
        }
        #expect(abs(halfWidth(rho: 0) - 0.02 * 2.0.squareRoot()) < 1e-12)
        #expect(abs(halfWidth(rho: 1) - 0.04) < 1e-12)
        #expect(halfWidth(rho: -1) < 1e-12)
        // The committed model carries the fit's correlations.
        #expect(self.model.fitCorrelation?.count == names.count * names.count)
    }

    @Test func leastSquaresRecoversKnownParametersAndRefusesTooFewPoints() throws {
        var truth = model
        truth.nativeEfficiency.value = 0.9
        truth.vmBase.value = 0.03
        truth.vmCrowding.value = 0.01
        truth.dynamicPinning.value = 0.05
        truth.virtualJitter.value = 0.02
        let configurations = [config(v: 0, path: .nativeIB, ranks: 8), config(v: 1, hosts: 1, ranks: 8), config(v: 2), config(v: 4),
                              config(v: 2, pinning: .dynamic), config(v: 1, hosts: 64, ranks: 8), config(v: 1, hosts: 8, ranks: 8)]
        let points = configurations.enumerated().map { i, c in
            CalibrationPoint(dataset: "synthetic", label: "\(i)", configuration: c, measure: .efficiency, measured: truth.efficiency(c), heldOut: false)
        }
        let result = try Calibration.fit(model, to: points, file: "t")
        for parameter in Calibration.fitted {
            #expect(abs(result.model[keyPath: parameter.path].value - truth[keyPath: parameter.path].value) < 1e-6, "\(parameter.name)")
        }
        #expect(throws: InputError.self) { try Calibration.fit(model, to: Array(points.prefix(5)), file: "t") }
    }

    @Test func mpiRatesFollowTheLinks() {
        let intra = model.pointToPoint(.sriovIB, hca: Self.qdr, switchLink: Self.ddr, intraHost: true)
        let inter = model.pointToPoint(.sriovIB, hca: Self.qdr, switchLink: Self.ddr, intraHost: false)
        let efficiency = model.paths[.sriovIB]!.protocolEfficiency.value
        #expect(abs(intra.bandwidthGbps - 40 * 0.8 * efficiency) < 1e-9)   // VF to VF at the HCA's QDR data rate
        #expect(abs(inter.bandwidthGbps - 20 * 0.8 * efficiency) < 1e-9)   // the DDR switch decides across hosts
        #expect(model.pointToPoint(.sriovIB, hca: Self.qdr, switchLink: nil, intraHost: false).bandwidthGbps == intra.bandwidthGbps)
        let native = model.pointToPoint(.nativeIB, hca: Self.qdr, switchLink: Self.ddr, intraHost: false)
        #expect(inter.latencyMicroseconds >= native.latencyMicroseconds)
        #expect(model.pointToPoint(.virtualEthernet10G, hca: Self.qdr, switchLink: Self.ddr, intraHost: false).latencyMicroseconds > 10 * inter.latencyMicroseconds)
    }
}
