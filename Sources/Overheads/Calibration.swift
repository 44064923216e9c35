import CloudModel
import Foundation

/// A published HPL measurement table (`Hardware/measurements/*.yaml`).
public struct HPLTable: Sendable {
    public struct Row: Sendable {
        public var label: String
        /// Bare metal (no VMs); otherwise `vms` VMs of `vcores` vCPUs with `pinning`.
        public var native: Bool
        public var vms: Int
        public var vcores: Int
        public var pinning: Pinning
        public var gflops: Double
        public var efficiency: Double
    }

    public var source: String
    public var hosts: Int
    public var hostModel: String
    public var switchLink: LinkSpec
    public var rpeakGFlops: Double
    public var rows: [Row]
    public let file: String

    public static func load(path: String) throws -> HPLTable {
        try parse(yaml: try readText(path), file: path)
    }

    /// A table from its text.
    public static func parse(yaml: String, file path: String) throws -> HPLTable {
        let root = try YAMLValue.parse(yaml, file: path)
        let map = try root.mapping(allowed: ["source", "hosts", "hostModel", "switchLink", "rpeakGFlops", "rows"])
        let rows = try map.required("rows").sequence().map { value in
            let row = try value.mapping(allowed: ["label", "native", "vms", "vcores", "pinning", "gflops", "efficiency"])
            let native = try row["native"]?.bool() ?? false
            var pinning = Pinning.fixed
            if let text = try row["pinning"]?.string() {
                guard let parsed = Pinning(rawValue: text) else { throw value.error("unknown pinning '\(text)'") }
                pinning = parsed
            }
            if !native && (row["vms"] == nil || row["vcores"] == nil) { throw value.error("a virtualized row needs 'vms' and 'vcores'") }
            return Row(label: try row.required("label").string(), native: native,
                       vms: try row["vms"]?.int(in: 1...10_000, what: "a VM count") ?? 0,
                       vcores: try row["vcores"]?.int(in: 1...10_000, what: "a vCPU count") ?? 0,
                       pinning: pinning,
                       gflops: try row.required("gflops").double(atLeast: 0),
                       efficiency: try row.required("efficiency").double(atLeast: 0, atMost: 1))
        }
        return HPLTable(source: try map.required("source").string(),
                        hosts: try map.required("hosts").int(in: 1...1_000_000, what: "a host count"),
                        hostModel: try map.required("hostModel").string(),
                        switchLink: try LinkSpec.parse(try map.required("switchLink")),
                        rpeakGFlops: try map.required("rpeakGFlops").double(atLeast: 0),
                        rows: rows, file: path)
    }
}

/// Fits the model's calibrated HPL parameters to measurements.
public enum Calibration {
    /// Least squares on ln(efficiency), where the model is linear in
    /// (ln nativeEfficiency, ln(1 - vmBase), vmCrowding, ln(1 - dynamicPinning)).
    /// The network and sharing factors are divided out first. With as many
    /// independent rows as parameters the fit is exact.
    /// - Throws: when the rows do not determine every parameter.
    public static func fit(_ model: OverheadModel, to rows: [(configuration: ClusterConfiguration, efficiency: Double)],
                           file: String) throws -> OverheadModel {
        var normal = [[Double]](repeating: [Double](repeating: 0, count: 5), count: 4)
        for (configuration, measured) in rows {
            let path = model.paths[configuration.path]!
            let virtualized = path.virtualized
            let v = Double(max(configuration.vmsPerHost, 1))
            let features: [Double] = [1, virtualized ? 1 : 0, virtualized ? -(v - 1) * (v - 1) : 0,
                                      configuration.pinning == .dynamic ? 1 : 0]
            var y = log(measured) - log(model.span(configuration.path, hosts: configuration.hostsSpanned)
                                        / model.span(.nativeIB, hosts: model.referenceHosts))
            if configuration.pinning == .dynamic { y -= log(model.sharingFactor(configuration.sharing)) }
            for i in 0..<4 {
                for j in 0..<4 { normal[i][j] += features[i] * features[j] }
                normal[i][4] += features[i] * y
            }
        }
        guard let theta = solve(normal) else {
            throw InputError(file: file, message: "the calibration rows do not determine all four parameters (need native, two VM counts with fixed vCPUs, and a dynamic row)")
        }
        var fitted = model
        let how = "least squares on ln(efficiency) over \(rows.count) rows of \(file)"
        fitted.nativeEfficiency = Parameter(exp(theta[0]), kind: .calibrated, source: how)
        fitted.vmBase = Parameter(1 - exp(theta[1]), kind: .calibrated, source: how)
        fitted.vmCrowding = Parameter(theta[2], kind: .calibrated, source: how)
        fitted.dynamicPinning = Parameter(1 - exp(theta[3]), kind: .calibrated, source: how)
        fitted.resolveDerivedShares()
        return fitted
    }

    /// Gaussian elimination with partial pivoting on an n x (n+1) augmented matrix; nil if singular.
    static func solve(_ augmented: [[Double]]) -> [Double]? {
        var m = augmented
        let n = m.count
        for column in 0..<n {
            let pivot = (column..<n).max { abs(m[$0][column]) < abs(m[$1][column]) }!
            guard abs(m[pivot][column]) > 1e-9 else { return nil }
            m.swapAt(column, pivot)
            for row in 0..<n where row != column {
                let factor = m[row][column] / m[column][column]
                for k in column...n { m[row][k] -= factor * m[column][k] }
            }
        }
        return (0..<n).map { m[$0][n] / m[$0][$0] }
    }
}
