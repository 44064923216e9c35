import CGSL
import CloudModel
import Foundation

/// A published HPL measurement table (`Hardware/measurements/seed-paper-hpl.yaml`):
/// absolute efficiencies of configurations on one testbed.
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
            if !native && (row["vms"] == nil || row["vcores"] == nil) { throw value.error("a virtualized row needs 'vms' and 'vcores'") }
            return Row(label: try row.required("label").string(), native: native,
                       vms: try row["vms"]?.int(in: 1...10_000, what: "a VM count") ?? 0,
                       vcores: try row["vcores"]?.int(in: 1...10_000, what: "a vCPU count") ?? 0,
                       pinning: try parsePinning(row["pinning"]),
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

/// A published series of virtualization overheads over node counts
/// (`Hardware/measurements/cloudcom2014-hpl-scale.yaml`): one VM per node, the
/// same VM shape at every scale; overhead = 1 - virtual / native performance.
public struct ScaleSeries: Sendable {
    public struct Point: Sendable {
        public var hosts: Int
        public var overhead: Double
        /// Absolute efficiencies (of peak) where the source gives them.
        public var nativeEfficiency: Double?
        public var virtualEfficiency: Double?
        public var heldOut: Bool
    }

    public var source: String
    public var hostModel: String
    public var switchLink: LinkSpec
    public var vcpusPerVM: Int
    public var pinning: Pinning
    /// What the source's numbers carry: rounding of whole percents is +-0.5 pp.
    public var resolution: Double
    public var points: [Point]
    public let file: String

    public static func load(path: String) throws -> ScaleSeries {
        try parse(yaml: try readText(path), file: path)
    }

    public static func parse(yaml: String, file path: String) throws -> ScaleSeries {
        let root = try YAMLValue.parse(yaml, file: path)
        let map = try root.mapping(allowed: ["source", "hostModel", "switchLink", "vcpusPerVM", "pinning", "resolution", "points"])
        let points = try map.required("points").sequence().map { value in
            let point = try value.mapping(allowed: ["hosts", "overhead", "nativeEfficiency", "virtualEfficiency", "heldOut"])
            return Point(hosts: try point.required("hosts").int(in: 1...1_000_000, what: "a host count"),
                         overhead: try point.required("overhead").double(atLeast: -1, atMost: 1),
                         nativeEfficiency: try point["nativeEfficiency"]?.double(atLeast: 0, atMost: 1),
                         virtualEfficiency: try point["virtualEfficiency"]?.double(atLeast: 0, atMost: 1),
                         heldOut: try point["heldOut"]?.bool() ?? false)
        }
        return ScaleSeries(source: try map.required("source").string(),
                           hostModel: try map.required("hostModel").string(),
                           switchLink: try LinkSpec.parse(try map.required("switchLink")),
                           vcpusPerVM: try map.required("vcpusPerVM").int(in: 1...10_000, what: "a vCPU count"),
                           pinning: try parsePinning(map["pinning"]),
                           resolution: try map.required("resolution").double(atLeast: 0, atMost: 1),
                           points: points, file: path)
    }
}

func parsePinning(_ value: YAMLValue?) throws -> Pinning {
    guard let value else { return .fixed }
    let text = try value.string()
    guard let pinning = Pinning(rawValue: text) else { throw value.error("unknown pinning '\(text)' (expected fixed or dynamic)") }
    return pinning
}

/// One measured number the model is fitted to or judged on.
public struct CalibrationPoint: Sendable {
    public enum Measure: Sendable {
        /// Efficiency of `configuration` (of peak).
        case efficiency
        /// 1 - efficiency(configuration) / efficiency(native): the cost of virtualization at that scale.
        case overhead(native: ClusterConfiguration)
    }

    public var dataset: String
    public var label: String
    public var configuration: ClusterConfiguration
    public var measure: Measure
    public var measured: Double
    public var heldOut: Bool

    public init(dataset: String, label: String, configuration: ClusterConfiguration, measure: Measure, measured: Double, heldOut: Bool) {
        self.dataset = dataset
        self.label = label
        self.configuration = configuration
        self.measure = measure
        self.measured = measured
        self.heldOut = heldOut
    }

    /// What `model` says of this point (running HPL unless `profile` is given).
    public func predicted(by model: OverheadModel, profile: ApplicationProfile? = nil) -> Double {
        let profile = profile ?? model.hpl
        return switch measure {
        case .efficiency: model.efficiency(configuration, profile: profile)
        case .overhead(let native): 1 - model.efficiency(configuration, profile: profile) / model.efficiency(native, profile: profile)
        }
    }
}

/// Fits the model's calibrated parameters to measurements from several sources.
public enum Calibration {
    /// The parameters the data determine.
    public static var fitted: [(name: String, path: WritableKeyPath<OverheadModel, Parameter>)] {
        [("nativeEfficiency", \.nativeEfficiency), ("vmBase", \.vmBase), ("vmCrowding", \.vmCrowding),
         ("dynamicPinning", \.dynamicPinning), ("virtualJitter", \.virtualJitter)]
    }

    public struct Result: Sendable {
        public var model: OverheadModel
        /// Every point, fitted or held out, with the fitted model's value.
        public var points: [(point: CalibrationPoint, predicted: Double)]
        /// Standard errors of `fitted` (residual variance times (J'J)^-1).
        public var standardErrors: [Double]
        /// Correlations of the `fitted` parameters (row-major p x p), from the fit's covariance.
        public var correlation: [Double] { model.fitCorrelation! }
        public var degreesOfFreedom: Int
        /// Student's t for a two-sided 95% interval at those degrees of freedom.
        public var t95: Double

        public func residual(_ i: Int) -> Double { points[i].predicted - points[i].point.measured }
    }

    /// Nonlinear least squares (GSL's trust-region Levenberg-Marquardt) of the
    /// `fitted` parameters on the points not held out; each calibrated parameter gets
    /// its 95% band from the fit's covariance.
    /// - Throws: with fewer points than parameters, or when the fit fails.
    public static func fit(_ model: OverheadModel, to points: [CalibrationPoint], file: String) throws -> Result {
        let calibration = points.filter { !$0.heldOut }
        let p = fitted.count, n = calibration.count
        guard n > p else {
            throw InputError(file: file, message: "\(n) calibration points cannot determine \(p) parameters with a residual left: hold fewer out")
        }
        let residuals: ([Double]) -> [Double] = { theta in
            var trial = model
            for (k, parameter) in fitted.enumerated() { trial[keyPath: parameter.path].value = theta[k] }
            return calibration.map { $0.predicted(by: trial) - $0.measured }
        }
        let start = fitted.map { model[keyPath: $0.path].value }
        let (theta, covariance) = try LeastSquares.solve(start: start, count: n, residuals: residuals, file: file)
        let dof = n - p
        let ssr = residuals(theta).reduce(0) { $0 + $1 * $1 }
        let variance = ssr / Double(dof)
        let errors = (0..<p).map { (covariance[$0 * p + $0] * variance).squareRoot() }
        let t95 = gsl_cdf_tdist_Pinv(0.975, Double(dof))
        let correlation = (0..<p * p).map { covariance[$0] / ((covariance[($0 / p) * p + $0 / p] * covariance[($0 % p) * p + $0 % p]).squareRoot()) }
        var result = model
        result.fitCorrelation = correlation
        let how = "least squares over \(n) points (\(Set(calibration.map(\.dataset)).sorted().joined(separator: "; "))); band: t(\(dof)) 95% from the fit's covariance"
        for (k, parameter) in fitted.enumerated() {
            result[keyPath: parameter.path] = Parameter(theta[k], kind: .calibrated, source: how, band: t95 * errors[k])
        }
        return Result(model: result, points: points.map { ($0, $0.predicted(by: result)) }, standardErrors: errors,
                      degreesOfFreedom: dof, t95: t95)
    }
}

/// GSL's `gsl_multifit_nlinear` driven from Swift (finite-difference Jacobian).
enum LeastSquares {
    final class Context {
        let residuals: ([Double]) -> [Double]
        let p: Int
        init(residuals: @escaping ([Double]) -> [Double], p: Int) {
            self.residuals = residuals
            self.p = p
        }
    }

    /// The parameters minimizing the sum of squared residuals, and (J'J)^-1 at them (row-major p x p).
    static func solve(start: [Double], count n: Int, residuals: @escaping ([Double]) -> [Double], file: String) throws -> ([Double], [Double]) {
        hpccloud_gsl_disable_abort()
        let p = start.count
        let context = Unmanaged.passRetained(Context(residuals: residuals, p: p))
        defer { context.release() }
        // GSL keeps the pointer to the function record for the whole fit (gsl_multifit_nlinear.h: the workspace holds `gsl_multifit_nlinear_fdf * fdf`):
        // it needs storage of its own, not a Swift temporary.
        let fdf = UnsafeMutablePointer<gsl_multifit_nlinear_fdf>.allocate(capacity: 1)
        fdf.initialize(to: gsl_multifit_nlinear_fdf())
        defer { fdf.deallocate() }
        fdf.pointee.f = { x, params, f in
            let context = Unmanaged<Context>.fromOpaque(params!).takeUnretainedValue()
            let theta = (0..<context.p).map { gsl_vector_get(x, $0) }
            for (i, r) in context.residuals(theta).enumerated() { gsl_vector_set(f, i, r.isFinite ? r : 1e6) }
            return Int32(GSL_SUCCESS)
        }
        fdf.pointee.df = nil   // forward differences (gsl_multifit_nlinear.h: df may be NULL)
        fdf.pointee.fvv = nil
        fdf.pointee.n = n
        fdf.pointee.p = p
        fdf.pointee.params = context.toOpaque()
        var parameters = gsl_multifit_nlinear_default_parameters()
        guard let workspace = gsl_multifit_nlinear_alloc(hpccloud_gsl_multifit_nlinear_trust(), &parameters, n, p) else {
            throw InputError(file: file, message: "the least-squares workspace could not be allocated")
        }
        defer { gsl_multifit_nlinear_free(workspace) }
        let x = gsl_vector_alloc(p)!
        defer { gsl_vector_free(x) }
        for (k, value) in start.enumerated() { gsl_vector_set(x, k, value) }
        gsl_multifit_nlinear_init(x, fdf, workspace)
        var info: Int32 = 0
        let status = gsl_multifit_nlinear_driver(500, 1e-12, 1e-12, 1e-12, nil, nil, &info, workspace)
        guard status == GSL_SUCCESS else {
            throw InputError(file: file, message: "the least-squares fit did not converge: \(String(cString: gsl_strerror(status)))")
        }
        let position = gsl_multifit_nlinear_position(workspace)!
        let theta = (0..<p).map { gsl_vector_get(position, $0) }
        let covariance = gsl_matrix_alloc(p, p)!
        defer { gsl_matrix_free(covariance) }
        gsl_multifit_nlinear_covar(gsl_multifit_nlinear_jac(workspace), 0, covariance)
        var flat: [Double] = []
        for i in 0..<p { for j in 0..<p { flat.append(gsl_matrix_get(covariance, i, j)) } }
        return (theta, flat)
    }
}
