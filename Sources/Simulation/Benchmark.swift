import Allocation
import CloudModel
import ExternalPolicies
import Foundation
import Overheads
import SimKernel
import Workloads

/// `hpccloud bench`: a fixed suite. Each case reports wall time, events and
/// requests per second, peak memory (the OS's VmHWM, reset per case) and a
/// checksum of its decisions, so a faster run that decides differently shows.
public enum Benchmark {
    public struct Result: Sendable {
        public var name: String
        public var seconds: Double
        public var events: Int
        public var requests: Int
        public var peakMiB: Double
        public var checksum: UInt64
        /// For cases also run with the O(H) reference policy: whether its checksum matched.
        public var referenceMatches: Bool?
        public var note: String = ""
        /// The share of requests accepted and the rejection mix, where the case admits.
        public var outcome: String = ""
        /// With repeated runs: the fastest and slowest (`seconds` is then the median).
        public var spread: ClosedRange<Double>?

        public var eventsPerSecond: Double { Double(events) / max(seconds, 1e-9) }
        public var requestsPerSecond: Double { Double(requests) / max(seconds, 1e-9) }
    }

    /// FNV-1a, 64 bits: over decision bytes.
    struct Checksum {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        mutating func add(_ bytes: some Sequence<UInt8>) {
            for byte in bytes {
                value ^= UInt64(byte)
                value &*= 0x0000_0100_0000_01b3
            }
        }
        mutating func add(_ x: Int64) { withUnsafeBytes(of: x.littleEndian) { add($0) } }
    }

    // MARK: Peak memory

    /// Resets the kernel's peak-RSS mark for this process (`clear_refs` 5).
    static func resetPeak() {
        // A plain write(2): Foundation's file writing would try to create or truncate a procfs file.
        let fd = open("/proc/self/clear_refs", O_WRONLY)
        guard fd >= 0 else { return }
        _ = write(fd, "5", 1)
        close(fd)
    }

    /// VmHWM from /proc/self/status, in MiB.
    static func peakMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kib = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kib / 1024
    }

    /// What a case's body reports: its counts, a checksum of its decisions and its outcome.
    struct Measured {
        var events: Int
        var requests: Int
        var checksum: UInt64
        var outcome = ""
    }

    static func measure(_ name: String, _ body: () -> Measured) -> Result {
        resetPeak()
        let start = DispatchTime.now().uptimeNanoseconds
        let measured = body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Result(name: name, seconds: seconds, events: measured.events, requests: measured.requests,
                      peakMiB: peakMiB(), checksum: measured.checksum, outcome: measured.outcome)
    }

    /// "97.1% accepted; rejected: cores 2.0%, pkey-space 0.9%": what a case measured, beside its time
    /// (a case that mostly rejects measures cheap rejections, not placement).
    static func outcome(requests: Int, accepted: Int, rejected: [RejectionReason: Int]) -> String {
        guard requests > 0 else { return "" }
        func share(_ n: Int) -> String {
            let percent = 100 * Double(n) / Double(requests)
            return n > 0 && percent < 0.05 ? "<0.1%" : String(format: "%.1f%%", percent)  // a few, not none
        }
        let mix = rejected.filter { $0.value > 0 }
            .sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.rawValue < $1.key.rawValue }
            .map { "\($0.key.rawValue) \(share($0.value))" }
        return "\(share(accepted)) accepted" + (mix.isEmpty ? "" : "; rejected: " + mix.joined(separator: ", "))
    }

    // MARK: Cases

    /// The event kernel alone, classic hold model: 65,536 pending events; each
    /// step pops the earliest and schedules one a random time later.
    public static func eventKernel(events: Int = 10_000_000) -> Result {
        measure("event kernel: \(events / 1_000_000)M events (hold model, 65,536 pending)") {
            var queue = EventQueue<Int32>()
            let random = SplitMixRandom(seed: 1)
            for i in 0..<65_536 { queue.schedule(at: Int64(random.next() % 1_000_000), eventClass: 0, id: Int64(i), Int32(i)) }
            var checksum = Checksum()
            for i in 0..<events {
                let (key, payload) = queue.pop()!
                if i & 1023 == 0 { checksum.add(key.time ^ Int64(payload)) }
                queue.schedule(at: key.time + Int64(random.next() % 1_000_000), eventClass: 0, id: Int64(65_536 + i), payload)
            }
            return Measured(events: events, requests: 0, checksum: checksum.value)
        }
    }

    /// Hosts per subnet in the bench's clouds: at the synthetic load's 80% a subnet of
    /// 10,000 runs about 21,000 hpc clusters, within its 32,766 pkeys, so the large
    /// cases measure placement, not `pkey-space` rejections.
    public static let hostsPerSubnet = 10_000

    /// A cloud of `hosts` identical hosts (32 cores, 256 GiB, 15 VFs, ConnectX-3,
    /// overcommit 2) in subnets ("pods") of `hostsPerSubnet`, the last one smaller:
    /// the cloud `Workloads/bench/synthetic-*.yaml` describe.
    public static func cloud(hosts: Int, catalog: HardwareCatalog) -> CloudSpec {
        let hca = catalog.hcas["connectx-3"]!
        let pods = max(1, (hosts + hostsPerSubnet - 1) / hostsPerSubnet)
        let groups = (0..<pods).map { pod in
            HostGroup(count: min(hostsPerSubnet, hosts - pod * hostsPerSubnet), cores: 32, memoryMiB: 256 * 1024, hca: hca, vfs: 15, subnet: pod)
        }
        let subnets = (0..<pods).map { SubnetSpec(name: pods == 1 ? "subnet" : "pod-\($0 + 1)", switches: 1) }
        return CloudSpec(groups: groups, overcommit: Overcommit(2, 1), subnets: subnets)
    }

    /// Placement alone (`admissions`).
    public static func placement(policy name: String, hosts: Int, operations: Int, catalog: HardwareCatalog,
                                 reference: Bool = false) -> Result {
        let label = "placement: \(name), \(hosts.formatted()) hosts, \(operations.formatted()) admissions" + (reference ? " (O(H) reference)" : "")
        return measure(label) {
            let source = SplitMixRandom(seed: 7)
            let policy = reference ? ReferencePolicies.make(name, random: source) : PlacementPolicies.make(name, random: source)!
            return admissions(policy, hosts: hosts, operations: operations, catalog: catalog)
        }
    }

    /// The external policy protocol's cost: the placement case with a program as
    /// the policy (`exec:`), at most a few thousand admissions (a process per
    /// question is slow). The note gives the time per question; the checksum is
    /// the built-in `reference` policy's when the program decides as it does.
    public static func externalPlacement(command: [String], reference name: String, hosts: Int, operations: Int,
                                         catalog: HardwareCatalog) throws -> Result {
        let builtIn = measure("") {
            admissions(PlacementPolicies.make(name, random: SplitMixRandom(seed: 7))!, hosts: hosts, operations: operations, catalog: catalog)
        }
        let policy = try ExternalPolicy(command: command, cloud: cloud(hosts: hosts, catalog: catalog), seed: 7, requests: [:])
        var result = measure("policy protocol: \(command.joined(separator: " ")), \(hosts.formatted()) hosts, \(operations.formatted()) admissions") {
            admissions(policy, hosts: hosts, operations: operations, catalog: catalog)
        }
        try policy.finish()
        result.referenceMatches = result.checksum == builtIn.checksum
        result.note = String(format: "%.1f us per question (%d questions); built in: %.2f us per admission",
                             result.seconds / Double(max(policy.questions, 1)) * 1e6, policy.questions,
                             builtIn.seconds / Double(max(operations, 1)) * 1e6)
        return result
    }

    /// `operations` admissions of 1-4 VM clusters of mixed shapes, releasing the
    /// oldest cluster first whenever `4 x hosts` are running.
    static func admissions(_ policy: some PlacementPolicy, hosts: Int, operations: Int, catalog: HardwareCatalog)
        -> Measured {
        let engine = AllocationEngine(cloud: cloud(hosts: hosts, catalog: catalog))
        let random = SplitMixRandom(seed: 3)
        var live: [Int64] = []
        live.reserveCapacity(4 * hosts)
        var oldest = 0
        var checksum = Checksum()
        var placements = 0
        var accepted = 0
        var rejected: [RejectionReason: Int] = [:]
        for id in 1...Int64(operations) {
            if live.count - oldest >= 4 * hosts {
                engine.release(cluster: live[oldest])
                oldest += 1
            }
            let r = random.next()
            let shape = VMShape(vcores: [1, 2, 4, 8][Int(r % 4)], memoryMiB: 2048, kind: r & 16 == 0 ? .common : .hpc,
                                pinning: r & 32 == 0 ? .fixed : .dynamic)
            let request = ClusterRequest(id: id, arrival: 0, tenant: "b", vms: 1 + Int((r >> 8) % 4), shape: shape, duration: 0)
            switch engine.admit(request, policy: policy) {
            case .accepted(_, let vms):
                accepted += 1
                live.append(id)
                placements += vms.count
                for vm in vms { checksum.add(Int64(vm.host)) }
            case .rejected(let reason):
                rejected[reason, default: 0] += 1
                checksum.add(reason.rawValue.utf8)
            case .ignored:
                break
            }
        }
        return Measured(events: placements, requests: operations, checksum: checksum.value,
                        outcome: outcome(requests: operations, accepted: accepted, rejected: rejected))
    }

    /// A full simulation: `requests` clusters of 1-16 VMs (10% resize once) on
    /// `hosts` hosts, arrivals scaled to keep the cloud about 80% busy; the
    /// checksum covers every decision row.
    public static func simulation(policy name: String, hosts: Int, requests: Int, catalog: HardwareCatalog) -> Result {
        measure("simulation: \(name), \(requests.formatted()) requests, \(hosts.formatted()) hosts") {
            let workload = syntheticWorkload(hosts: hosts, requests: requests)
            return run(workload, cloud: cloud(hosts: hosts, catalog: catalog), policy: name)
        }
    }

    /// The synthetic workload of `simulation`: clusters of 1-16 VMs (10% resize once),
    /// arrivals scaled to keep `hosts` hosts about 80% busy.
    public static func syntheticWorkload(hosts: Int, requests: Int) -> Workload {
        // Capacity ~ hosts x 32 cores x 2; a cluster holds ~8.5 VMs x 2.3 vCPUs for 24 h on average.
        let perHour = Double(hosts) * 64 * 0.8 / (8.5 * 2.3) / 24
        let spec = SyntheticWorkloadSpec(
            requests: requests, arrivals: .poisson(perHour: perHour), vms: .uniform(min: 1, max: 16),
            vcores: .table([.init(value: 1, weight: 0.3), .init(value: 2, weight: 0.4), .init(value: 4, weight: 0.3)]),
            memoryGiBPerVcore: 2, lifetime: .exponential(mean: 24 * 3600), commonShare: 0.2, pinnedShare: 0.5,
            resize: ResizeSpec(probability: 0.1, growShare: 0.5,
                               delta: .table([.init(value: 1, weight: 0.5), .init(value: 2, weight: 0.3), .init(value: 4, weight: 0.2)]),
                               lifeFraction: 0.25...0.75))
        return try! SyntheticWorkload.generate(spec, streams: RandomStreams(seed: 1))  // fixed arrivals: a week at most
    }

    /// What `hpccloud replay` does, in two cases: a trace CSV (the synthetic workload,
    /// written to `directory` beforehand) read and parsed, then run with the overhead
    /// model and no decision log; and the same with the log written to a file as the
    /// command writes it (buffered, fsynced, renamed into place). The second's note
    /// gives the ratio. Checksums: the summary's counts without the log, the log's bytes with it.
    public static func replay(hosts: Int, requests: Int, catalog: HardwareCatalog, directory: String) throws -> [Result] {
        let trace = directory + "/trace.csv", log = directory + "/decisions.csv"
        try Data(TraceCSV.write(syntheticWorkload(hosts: hosts, requests: requests))).write(to: URL(fileURLWithPath: trace))
        defer {
            try? FileManager.default.removeItem(atPath: trace)
            try? FileManager.default.removeItem(atPath: log)
        }
        let cloud = cloud(hosts: hosts, catalog: catalog)
        let overheads = try OverheadModel.load(hardwareDirectory: catalog.directory)
        func simulator(_ workload: Workload) -> Simulator {
            Simulator(cloud: cloud, workload: workload, policy: FirstFit(), overheads: overheads, profile: overheads.hpl)
        }
        let label = "replay: trace CSV, \(requests.formatted()) requests, \(hosts.formatted()) hosts"
        var failure: Error?
        let bare = measure(label + ", no decision log") {
            do {
                let summary = simulator(try TraceCSV.read(path: trace)).run()
                var checksum = Checksum()
                for count in [summary.requests, summary.accepted, summary.resizesAccepted, summary.departures] { checksum.add(Int64(count)) }
                return Measured(events: summary.events, requests: summary.requests, checksum: checksum.value,
                                outcome: outcome(requests: summary.requests, accepted: summary.accepted, rejected: summary.rejected))
            } catch { failure = error; return Measured(events: 0, requests: 0, checksum: 0) }
        }
        var logged = measure(label + ", decision log") {
            do {
                let writer = try DecisionLogWriter(path: log)
                let summary = simulator(try TraceCSV.read(path: trace)).run(record: writer.write)
                try writer.finish()
                return Measured(events: summary.events, requests: summary.requests, checksum: 0,
                                outcome: outcome(requests: summary.requests, accepted: summary.accepted, rejected: summary.rejected))
            } catch { failure = error; return Measured(events: 0, requests: 0, checksum: 0) }
        }
        if let failure { throw failure }
        var checksum = Checksum()
        checksum.add(try Data(contentsOf: URL(fileURLWithPath: log)))
        logged.checksum = checksum.value
        logged.note = String(format: "%.2fx the run without a log", logged.seconds / max(bare.seconds, 1e-9))
        return [bare, logged]
    }

    /// The Lublin 256-node SWF log repeated back to back to `jobs` jobs, replayed
    /// on the library's swf-lublin-256 cloud with the default reject admission.
    public static func swfReplay(_ scenario: Scenario, jobs: Int) throws -> Result {
        guard case .swf(let spec) = scenario.workload else { preconditionFailure("an SWF scenario") }
        let log = try SWFImport.read(spec)
        return measure("SWF replay: Lublin 256-node log x \(jobs / max(log.used, 1)) = \(jobs.formatted()) jobs, \(scenario.cloud.hostCount) hosts") {
            let span = (log.workload.requests.map(\.arrival).max() ?? 0) + 1
            var requests: [ClusterRequest] = []
            requests.reserveCapacity(jobs)
            var copy: Int64 = 0
            while requests.count < jobs {
                for job in log.workload.requests where requests.count < jobs {
                    var shifted = job
                    shifted.id = job.id + copy * 1_000_000
                    shifted.arrival = job.arrival + copy * span
                    requests.append(shifted)
                }
                copy += 1
            }
            return run(Workload(requests: requests), cloud: scenario.cloud, policy: "first-fit")
        }
    }

    static func run(_ workload: Workload, cloud: CloudSpec, policy name: String) -> Measured {
        let policy = PlacementPolicies.make(name, random: SplitMixRandom(seed: 11))!
        var checksum = Checksum()
        var line: [UInt8] = []
        line.reserveCapacity(256)
        let summary = Simulator(cloud: cloud, workload: workload, policy: policy).run { row in
            line.removeAll(keepingCapacity: true)
            row.appendCSV(to: &line)
            checksum.add(line)
        }
        return Measured(events: summary.events, requests: summary.requests, checksum: checksum.value,
                        outcome: outcome(requests: summary.requests, accepted: summary.accepted, rejected: summary.rejected))
    }
}
