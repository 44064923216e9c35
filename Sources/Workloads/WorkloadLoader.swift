import CloudModel
import SimKernel

/// A scenario's workload and what reading it found worth reporting.
public struct LoadedWorkload: Sendable {
    public var workload: Workload
    /// Set when the source was an SWF log: counts read and skipped, header.
    public var swf: SWFImport?

    public init(workload: Workload, swf: SWFImport? = nil) {
        self.workload = workload
        self.swf = swf
    }

    /// Lines a run prints before its summary (empty for generators and CSV).
    public var reportLines: [String] { swf?.reportLines ?? [] }
}

/// Loads a scenario's workload, whatever its source.
public enum WorkloadLoader {
    /// - Parameter file: the scenario that describes `spec`, for errors.
    public static func load(_ spec: WorkloadSpec, seed: UInt64, file: String) throws -> LoadedWorkload {
        switch spec {
        case .trace(let path):
            return LoadedWorkload(workload: try TraceCSV.read(path: path))
        case .synthetic(let synthetic):
            do {
                return LoadedWorkload(workload: try SyntheticWorkload.generate(synthetic, streams: RandomStreams(seed: seed)))
            } catch {
                throw InputError(file: file, field: "workload.synthetic.arrivals", message: error.description)
            }
        case .swf(let swf):
            let imported = try SWFImport.read(swf)
            return LoadedWorkload(workload: imported.workload, swf: imported)
        }
    }
}
