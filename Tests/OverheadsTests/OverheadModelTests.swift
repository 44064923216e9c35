import CloudModel
import Overheads
import Testing
import TestSupport

@Suite struct OverheadModelTests {
    let model: OverheadModel

    init() throws { model = try OverheadModel.load(hardwareDirectory: Fixtures.hardwareDirectory) }

    func config(v: Int, hosts: Int = 2, pinning: Pinning = .fixed, sharing: Double = 1, path: NetworkPath = .sriovIB) -> ClusterConfiguration {
        ClusterConfiguration(vmsPerHost: v, hostsSpanned: hosts, pinning: pinning, sharing: sharing, path: path)
    }

    @Test func everyParameterHasASourceAndEveryPathAShare() {
        for parameter in [model.nativeEfficiency, model.vmBase, model.vmCrowding, model.dynamicPinning, model.coscheduling] {
            #expect(!parameter.source.isEmpty)
        }
        for path in NetworkPath.allCases {
            let parameters = model.paths[path]!
            #expect(parameters.networkShare.value > 0 && parameters.networkShare.value < 1, "\(path)")
            #expect(!parameters.latencyMicroseconds.source.isEmpty && !parameters.protocolEfficiency.source.isEmpty)
        }
    }

    @Test(arguments: [Pinning.fixed, .dynamic], [NetworkPath.sriovIB, .vnetp10G, .virtualEthernet10G])
    func efficiencyFallsWithMoreVMsPerHost(pinning: Pinning, path: NetworkPath) {
        let values = (1...32).map { model.efficiency(config(v: $0, pinning: pinning, path: path)) }
        #expect(zip(values, values.dropFirst()).allSatisfy { $0 > $1 })
        #expect(values.allSatisfy { $0 > 0 && $0 < 1 })
    }

    @Test func efficiencyFallsWithOvercommit() {
        let values = stride(from: 1.0, through: 4.0, by: 0.25).map { model.efficiency(config(v: 2, pinning: .dynamic, sharing: $0)) }
        #expect(zip(values, values.dropFirst()).allSatisfy { $0 > $1 })
        // Below one vCPU per core nothing is shared: no gain either.
        #expect(model.efficiency(config(v: 2, pinning: .dynamic, sharing: 0.5)) == values[0])
    }

    @Test func pinningNeverLowersEfficiency() {
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
    }

    @Test func spanningMoreHostsNeverHelps() {
        for path in NetworkPath.allCases {
            let values = [1, 2, 4, 16, 256, 100_000].map { model.efficiency(config(v: 1, hosts: $0, path: path)) }
            #expect(zip(values, values.dropFirst()).allSatisfy { $0 >= $1 }, "\(path)")
        }
        // Over Ethernet the network costs far more than over InfiniBand.
        #expect(model.efficiency(config(v: 1, hosts: 64, path: .ethernet10G)) < model.efficiency(config(v: 1, hosts: 64, path: .nativeIB)) - 0.15)
    }

    @Test func calibrationIsExactOnFourRowsAndRefusesTooFew() throws {
        let rows = [(config(v: 0, path: .nativeIB), 0.9), (config(v: 2), 0.85), (config(v: 4), 0.8), (config(v: 2, pinning: .dynamic), 0.82)]
        let fitted = try Calibration.fit(model, to: rows.map { (configuration: $0.0, efficiency: $0.1) }, file: "t")
        for (configuration, efficiency) in rows { #expect(abs(fitted.efficiency(configuration) - efficiency) < 1e-12) }
        #expect(throws: InputError.self) {
            try Calibration.fit(model, to: rows.prefix(3).map { (configuration: $0.0, efficiency: $0.1) }, file: "t")
        }
    }

    @Test func mpiRatesFollowTheLinks() {
        let qdr = LinkSpec(generation: "QDR", lanes: 4, gbpsPerLane: 10), ddr = LinkSpec(generation: "DDR", lanes: 4, gbpsPerLane: 5)
        let intra = model.pointToPoint(.sriovIB, hca: qdr, switchLink: ddr, intraHost: true)
        let inter = model.pointToPoint(.sriovIB, hca: qdr, switchLink: ddr, intraHost: false)
        #expect(abs(intra.bandwidthGbps - 40 * 0.8 * 0.9) < 1e-9)   // VF to VF at the HCA's QDR data rate
        #expect(abs(inter.bandwidthGbps - 20 * 0.8 * 0.9) < 1e-9)   // the DDR switch decides across hosts
        #expect(model.pointToPoint(.sriovIB, hca: qdr, switchLink: nil, intraHost: false).bandwidthGbps == intra.bandwidthGbps)
        let native = model.pointToPoint(.nativeIB, hca: qdr, switchLink: ddr, intraHost: false)
        #expect(inter.latencyMicroseconds >= native.latencyMicroseconds)
        #expect(model.pointToPoint(.virtualEthernet10G, hca: qdr, switchLink: ddr, intraHost: false).latencyMicroseconds > 10 * inter.latencyMicroseconds)
    }
}
