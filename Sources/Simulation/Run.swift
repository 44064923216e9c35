import Allocation
import CloudModel
import ExternalPolicies
import Overheads
import SimKernel
import Workloads

/// The run's `placement` stream, as the engine's random source.
final class PlacementRandom: RandomSource {
    let stream: RandomStream
    init(_ stream: RandomStream) { self.stream = stream }
    func uniformInt(below n: Int) -> Int { stream.uniformInt(below: n) }
}

/// One simulation run: a cloud, a workload, a policy and a seed.
public struct Run {
    public let scenario: Scenario
    public let workload: Workload
    /// What reading the workload reported (an SWF log's counts), printed before the summary.
    public let workloadReport: [String]
    public let policyName: String
    public let seed: UInt64
    /// From the scenario's `Hardware/overheads.yaml`.
    public let overheads: OverheadModel
    public let path: NetworkPath
    /// The application profile hpc clusters run (`overheads.profile`; HPL by default).
    public let profile: ApplicationProfile
    /// Which part of the run the steady-state averages cover.
    public let steadyState: SteadyStateRule
    /// Diagnostics by category (`--log`); none by default.
    public var log: SimulationLog?
    /// Live migration (`migration:`): the policy and `Hardware/migration.yaml`'s costs; nil: VMs never move.
    public let migration: MigrationSetup?

    /// - Parameters:
    ///   - workload: overrides the scenario's own (as `replay` does with its trace).
    ///   - policy: overrides the scenario's `policy`.
    ///   - seed: overrides the scenario's `seed`.
    ///   - horizon: keep only arrivals up to this time (a short run of a long workload).
    ///   - steadyState: the warm-up rule of the steady-state averages (nil: the scenario's `steadyState.warmup`).
    ///   - segment: replay only this segment of the workload's arrival span (`Workload.segment`).
    public init(scenario: Scenario, workload: Workload? = nil, policy: String? = nil, seed: UInt64? = nil,
                horizon: Nanoseconds? = nil, steadyState: SteadyStateRule? = nil,
                segment: (index: Int, count: Int)? = nil) throws {
        self.scenario = scenario
        self.steadyState = steadyState ?? SteadyStateRule(warmup: scenario.steadyWarmup)
        self.seed = seed ?? scenario.seed
        policyName = policy ?? scenario.policy
        if let problem = PolicyReference.validate(policyName, names: PlacementPolicies.names) {
            throw InputError(file: scenario.file, field: "policy", message: problem)
        }
        var loaded: LoadedWorkload
        if let workload {
            loaded = LoadedWorkload(workload: workload)
        } else if let spec = scenario.workload {
            loaded = try WorkloadLoader.load(spec, seed: self.seed, file: scenario.file)
        } else {
            throw InputError(file: scenario.file, field: "workload", message: "missing: this scenario has no workload to simulate")
        }
        if let horizon { loaded.workload = loaded.workload.prefix(through: horizon) }
        if let segment { loaded.workload = loaded.workload.segment(segment.index, of: segment.count) }
        overheads = try OverheadModel.load(hardwareDirectory: scenario.hardwareDirectory)
        guard let path = NetworkPath(rawValue: scenario.networkPath) else {
            throw InputError(file: scenario.file, field: "overheads.path",
                             message: "unknown network path '\(scenario.networkPath)' (expected one of: \(NetworkPath.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        self.path = path
        profile = try Run.profile(scenario.overheadProfile, in: overheads, file: scenario.file)
        if case .swf(let spec) = scenario.workload, spec.lifetime == .work, workload == nil {
            try Run.workFromRuntimes(&loaded.workload, cloud: scenario.cloud, overheads: overheads, file: scenario.file)
        }
        try Run.planWork(&loaded.workload, cloud: scenario.cloud, overheads: overheads, file: scenario.file)
        self.workload = loaded.workload
        workloadReport = loaded.reportLines
        let spec = scenario.migration
        migration = spec.policy == .none && spec.maintenance.isEmpty ? nil
            : MigrationSetup(policy: MigrationPolicies.make(spec), model: try MigrationModel.load(path: scenario.hardwareDirectory + "/migration.yaml"),
                             dirtyMiBPerSecond: spec.dirtyMiBPerSecond, maintenance: spec.maintenance)
    }

    /// The scenario's profile: one of the model's by name, or its own numbers.
    static func profile(_ spec: OverheadProfileSpec?, in model: OverheadModel, file: String) throws -> ApplicationProfile {
        switch spec {
        case nil:
            return model.hpl
        case .named(let name)?:
            guard let profile = model.profiles[name] else {
                throw InputError(file: file, field: "overheads.profile",
                                 message: "unknown profile '\(name)' (expected one of: \(model.profiles.keys.sorted().joined(separator: ", ")), or { commRatio, growth, messageBytes })")
            }
            return profile
        case .custom(let commRatio, let growth, let bytes)?:
            let source = "the scenario's own (\(file))"
            return ApplicationProfile(name: "custom", commRatio: Parameter(commRatio, kind: .assumption, source: source),
                                      growth: Parameter(growth, kind: .assumption, source: source),
                                      messageBytes: Parameter(bytes, kind: .assumption, source: source))
        }
    }

    /// An SWF log's run times as bare-metal times (`lifetime: work`): each job's
    /// work is what its cores do in its logged run time at the slowest host's peak
    /// and the native efficiency, so unplaced it would take exactly that time, and
    /// placed, what the overhead model says. The logged time stays the estimate.
    static func workFromRuntimes(_ workload: inout Workload, cloud: CloudSpec, overheads: OverheadModel, file: String) throws {
        let slowest = try slowestPeak(cloud, file: file, field: "workload.swf.lifetime", needs: "'work' needs")
        let native = overheads.referenceNativeEfficiency
        for i in workload.requests.indices {
            let request = workload.requests[i]
            workload.requests[i].work = Double(request.duration) / 1e9 * Double(request.vms * request.shape.vcores) * slowest * native
            workload.requests[i].estimate = request.duration
        }
    }

    /// Work-based requests need every host's peak rate; a queue plans with the
    /// run time the work would take on bare metal at the slowest peak.
    static func planWork(_ workload: inout Workload, cloud: CloudSpec, overheads: OverheadModel, file: String) throws {
        guard workload.requests.contains(where: { $0.work != nil }) else { return }
        let slowest = try slowestPeak(cloud, file: file, field: "hosts", needs: "work-based requests need")
        let native = overheads.referenceNativeEfficiency
        for i in workload.requests.indices {
            guard let work = workload.requests[i].work, workload.requests[i].estimate == 0 else { continue }
            let cores = Double(workload.requests[i].vms * workload.requests[i].shape.vcores)
            workload.requests[i].estimate = Nanoseconds((min(work / (cores * slowest * native), LifetimeCap.seconds) * 1e9).rounded())
        }
    }

    /// The lowest per-core peak (GFlop/s) of the cloud's hosts; every group must give one.
    static func slowestPeak(_ cloud: CloudSpec, file: String, field: String, needs: String) throws -> Double {
        let peaks = cloud.groups.filter { $0.count > 0 }.map(\.gflopsPerCore)
        guard let slowest = peaks.compactMap({ $0 }).min(), !peaks.contains(nil) else {
            throw InputError(file: file, field: field, message: "\(needs) every host group's peak: give 'gflopsPerCore' or a 'model'")
        }
        return slowest
    }

    /// The policy, with the run's own `placement` stream when it needs randomness;
    /// an external policy's program is started (and says hello).
    public func makePolicy() throws -> any PlacementPolicy {
        switch PolicyReference(policyName) {
        case .external(let command):
            let requests = Dictionary(workload.requests.map { ($0.id, (tenant: $0.tenant, vms: $0.vms)) }, uniquingKeysWith: { first, _ in first })
            return try ExternalPolicy(command: command, cloud: scenario.cloud, seed: seed, requests: requests)
        default:
            return PlacementPolicies.make(policyName, random: PlacementRandom(RandomStreams(seed: seed).stream("placement")))!
        }
    }

    /// Runs the simulation.
    /// - Throws: an external policy's protocol error or failed exit (`InputError`): its run is not a result.
    public func simulate(record: ((DecisionRow) -> Void)? = nil, monitor: RunMonitor = RunMonitor()) throws -> Summary {
        let policy = try makePolicy()
        var monitor = monitor
        if let external = policy as? ExternalPolicy {
            let stop = monitor.shouldStop
            monitor.shouldStop = { external.failed || stop?() == true }
            // A Ctrl-C while the program thinks ends the wait (and then the run, as interrupted).
            external.interrupted = { stop?() == true }
        }
        let summary = Simulator(cloud: scenario.cloud, workload: workload, policy: policy, admission: scenario.admission,
                                overheads: overheads, path: path, profile: profile, steadyState: steadyState, log: log,
                                migration: migration)
            .run(record: record, monitor: monitor)
        try (policy as? ExternalPolicy)?.finish()
        return summary
    }

    public var title: String {
        "\(scenario.name): \(scenario.cloud.hostCount) hosts, policy \(policyName), seed \(seed)"
    }
}

/// Scenarios built into the binary.
public enum EmbeddedScenarios {
    public static let defaultFile = "<embedded default scenario>"

    /// The seed paper's testbed grown to a small cloud: 64 ConnectX-3 hosts
    /// (16 cores, 128 GiB, 15 VFs) under a synthetic stream that loads it enough
    /// to reject some requests.
    public static let defaultYAML = """
    name: default-64-host-cx3
    description: 64-host ConnectX-3 private cloud under synthetic load heavy enough to reject some requests
    seed: 42
    policy: first-fit
    overcommit: 2
    subnet: { switches: 4 }
    hosts:
      - { count: 64, cores: 16, memoryGiB: 128, hca: connectx-3, vfs: 15 }
    workload:
      synthetic:
        requests: 5000
        arrivals: { process: poisson, perHour: 12 }
        vms: { 1: 0.25, 2: 0.25, 4: 0.25, 8: 0.15, 16: 0.1 }
        vcores: { 1: 0.2, 2: 0.4, 4: 0.3, 8: 0.1 }
        memGiBPerVcore: 4
        lifetime: { distribution: exponential, meanHours: 8 }
        commonShare: 0.2
        pinnedShare: 0.5
    """
}
