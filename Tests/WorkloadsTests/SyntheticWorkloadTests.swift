import CloudModel
import SimKernel
import Testing
import Workloads

@Suite struct SyntheticWorkloadTests {
    let spec = SyntheticWorkloadSpec(
        requests: 20_000, arrivalsPerHour: 30,
        vms: [.init(value: 1, weight: 0.5), .init(value: 4, weight: 0.5)],
        vcores: [.init(value: 2, weight: 1)], memoryGiBPerVcore: 4, meanDurationHours: 2,
        commonShare: 0.25, pinnedShare: 0.5)

    @Test func sameSeedSameRequestsAndDifferentSeedDifferentRequests() {
        let a = SyntheticWorkload.generate(spec, streams: RandomStreams(seed: 9))
        #expect(a.requests == SyntheticWorkload.generate(spec, streams: RandomStreams(seed: 9)).requests)
        #expect(a.requests != SyntheticWorkload.generate(spec, streams: RandomStreams(seed: 10)).requests)
    }

    @Test func drawsFollowTheSpecifiedDistributions() {
        let requests = SyntheticWorkload.generate(spec, streams: RandomStreams(seed: 9)).requests
        let n = Double(requests.count)
        // Poisson arrivals: mean gap 120 s; 20,000 gaps give a standard error of 0.85 s.
        let meanGap = Double(requests.last!.arrival) / 1e9 / n
        #expect(abs(meanGap - 120) < 4.5)
        let meanDuration = requests.reduce(0.0) { $0 + Double($1.duration) / 1e9 } / n
        #expect(abs(meanDuration - 7200) < 260)  // 5 standard errors of 51 s
        let common = Double(requests.filter { $0.shape.kind == .common }.count) / n
        #expect(abs(common - 0.25) < 0.016)
        #expect(Set(requests.map(\.vms)) == [1, 4])
        #expect(requests.allSatisfy { $0.shape.memoryMiB == 8192 && $0.shape.vcores == 2 })
        #expect(zip(requests, requests.dropFirst()).allSatisfy { $0.arrival <= $1.arrival })
    }
}
