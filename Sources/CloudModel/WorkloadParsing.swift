import Foundation

/// The `workload:` and `admission:` blocks. Every key is validated; a block
/// with a discriminator (`process`, `family`, `distribution`, `mode`) accepts
/// only the keys of the variant it names.
extension ScenarioLoader {
    func parseWorkload(_ value: YAMLValue, scenarioFile: String) throws -> WorkloadSpec {
        let map = try value.mapping(allowed: ["trace", "synthetic", "swf"])
        guard map.entries.count == 1 else {
            throw value.error("expected exactly one of 'trace', 'synthetic' or 'swf'")
        }
        if let trace = map["trace"] {
            return .trace(path: resolve(try trace.string(), against: scenarioFile))
        }
        if let swf = map["swf"] {
            return .swf(try parseSWF(swf, scenarioFile: scenarioFile))
        }
        return .synthetic(try parseSynthetic(try map.required("synthetic")))
    }

    /// `path` relative to the scenario file's directory, unless absolute.
    func resolve(_ path: String, against scenarioFile: String) -> String {
        if path.hasPrefix("/") { return path }
        let base = URL(fileURLWithPath: scenarioFile).deletingLastPathComponent()
        return base.appendingPathComponent(path).standardizedFileURL.path
    }

    func parseSynthetic(_ value: YAMLValue) throws -> SyntheticWorkloadSpec {
        let map = try value.mapping(allowed: ["requests", "arrivals", "vms", "vcores", "memGiBPerVcore", "lifetime",
                                              "work", "commonShare", "pinnedShare", "tenants", "resize"])
        guard (map["lifetime"] == nil) != (map["work"] == nil) else {
            throw value.error("expected exactly one of 'lifetime' (durations) or 'work' (GFlop per cluster)")
        }
        if let resize = map["resize"], map["work"] != nil {
            throw resize.error("resizes happen at a fraction of a known lifetime; work-based clusters have none until placed")
        }
        return SyntheticWorkloadSpec(
            requests: try map.required("requests").int(in: 1...100_000_000, what: "a request count"),
            arrivals: try parseArrivals(try map.required("arrivals")),
            vms: try parseCount(try map.required("vms"), upTo: 1_000_000),
            vcores: try parseCount(try map.required("vcores"), upTo: 1_000_000),
            memoryGiBPerVcore: try map["memGiBPerVcore"]?.double(atLeast: 0, atMost: WorkloadBounds.memoryGiBPerCore) ?? 2,
            lifetime: try map["lifetime"].map { try parseLifetime($0, unit: "Hours", scale: 3600) },
            commonShare: try map["commonShare"]?.double(atLeast: 0, atMost: 1) ?? 0,
            pinnedShare: try map["pinnedShare"]?.double(atLeast: 0, atMost: 1) ?? 1,
            tenants: try map["tenants"]?.int(in: 1...100_000_000, what: "a tenant count"),
            resize: try map["resize"].map(parseResize),
            work: try map["work"].map { try parseLifetime($0, unit: "GFlop", scale: 1) })
    }

    func parseArrivals(_ value: YAMLValue) throws -> ArrivalProcess {
        let (process, map) = try variant(value, key: "process", [
            "poisson": ["perHour"],
            "diurnal": ["perHour", "amplitude", "peakHour", "periodHours"],
            "mmpp": ["states"],
        ])
        switch process {
        case "poisson":
            return .poisson(perHour: try rate(try map.required("perHour")))
        case "diurnal":
            let period = try map["periodHours"].map(positive) ?? 24
            return .diurnal(perHour: try rate(try map.required("perHour")),
                            amplitude: try map.required("amplitude").double(atLeast: 0, atMost: 1),
                            peakHour: try map["peakHour"]?.double(atLeast: 0, atMost: period) ?? 14,
                            periodHours: period)
        default:
            let statesValue = try map.required("states")
            let states = try statesValue.sequence().map { item in
                let state = try item.mapping(allowed: ["perHour", "meanHours"])
                let perHour = try state.required("perHour").double(atLeast: 0, atMost: WorkloadBounds.ratePerHour.upperBound)
                if perHour > 0 { _ = try rate(try state.required("perHour")) }
                // Sojourns shorter than this switch states more often than requests arrive: a hang, not a model.
                return MMPPState(perHour: perHour, meanHours: try hours(try state.required("meanHours"), atLeast: WorkloadBounds.minimumSojournHours))
            }
            guard states.count >= 2 else { throw statesValue.error("an MMPP needs at least 2 states, got \(states.count)") }
            guard states.contains(where: { $0.perHour > 0 }) else { throw statesValue.error("every state has rate 0") }
            return .mmpp(states: states)
        }
    }

    /// A table `{ value: weight }` or a named family `{ family: ..., ... }`.
    func parseCount(_ value: YAMLValue, upTo limit: Int) throws -> CountDistribution {
        if case .mapping = value.node, try value.mapping(allowed: [])["family"] != nil {
            let (family, map) = try variant(value, key: "family", [
                "uniform": ["min", "max"], "geometric": ["mean", "max"], "powers-of-two": ["min", "max"],
            ])
            let maxValue = try map.required("max")
            let high = try maxValue.int(in: 1...limit, what: "a maximum")
            switch family {
            case "geometric":
                let meanValue = try map.required("mean")
                let mean = try meanValue.double(atLeast: 1)
                // Truncation is by rejection: with the mean above the maximum almost every draw
                // would be rejected (a hang); at or below it, most draws are kept (at least 1 - 1/e).
                guard mean <= Double(high) else {
                    throw meanValue.error("expected a mean of at most max (\(high)), got \(mean): a larger mean truncated at max is almost always rejected")
                }
                return .geometric(mean: mean, max: high)
            default:
                let minValue = try map.required("min")
                let low = try minValue.int(in: 1...limit, what: "a minimum")
                guard low <= high else { throw maxValue.error("max \(high) is below min \(low)") }
                if family == "uniform" { return .uniform(min: low, max: high) }
                for (bound, number) in [(minValue, low), (maxValue, high)] where number & (number - 1) != 0 {
                    throw bound.error("expected a power of two, got \(number)")
                }
                return .powersOfTwo(min: low, max: high)
            }
        }
        let map = try value.mapping(allowed: [])
        guard !map.entries.isEmpty else { throw value.error("expected a table { value: weight, ... }, got an empty one") }
        var outcomes: [DiscreteOutcome] = []
        for (key, weight) in map.entries {
            guard let number = YAMLValue.parseInt(key), (1...limit).contains(number) else {
                throw weight.error("expected an integer in 1...\(limit) as the value, got '\(key)'")
            }
            outcomes.append(DiscreteOutcome(value: number, weight: try weight.double(atLeast: 0)))
        }
        guard outcomes.contains(where: { $0.weight > 0 }) else { throw value.error("all weights are 0") }
        return .table(outcomes)
    }

    /// A positive distribution whose location keys carry `unit` (`meanHours`,
    /// `medianGFlop`, ...), scaled by `scale` into the model's unit.
    func parseLifetime(_ value: YAMLValue, unit: String, scale: Double) throws -> LifetimeDistribution {
        // Hours up to 11 years (lifetimes are capped at 100 years when drawn); GFlop up to an exaflop-second.
        let limit = unit == "Hours" ? 1e5 : 1e12
        func location(_ value: YAMLValue) throws -> Double { try self.location(value, limit: limit) }
        let mean = "mean" + unit, median = "median" + unit, scaleKey = "scale" + unit
        let (distribution, map) = try variant(value, key: "distribution", [
            "exponential": [mean], "lognormal": [median, "sigma"], "weibull": ["shape", scaleKey],
        ])
        switch distribution {
        case "exponential":
            return .exponential(mean: try location(try map.required(mean)) * scale)
        case "lognormal":
            return .lognormal(median: try location(try map.required(median)) * scale,
                              sigma: try map.required("sigma").double(atLeast: 1e-6, atMost: 20))
        default:
            return .weibull(shape: try map.required("shape").double(atLeast: 1e-3, atMost: 1e3),
                            scale: try location(try map.required(scaleKey)) * scale)
        }
    }

    func parseResize(_ value: YAMLValue) throws -> ResizeSpec {
        let map = try value.mapping(allowed: ["probability", "growShare", "delta", "atLifeFraction"])
        var fraction = 0.25...0.75
        if let range = map["atLifeFraction"] {
            let bounds = try range.sequence()
            guard bounds.count == 2 else { throw range.error("expected [from, to], got \(bounds.count) values") }
            let low = try bounds[0].double(atLeast: 0, atMost: 1), high = try bounds[1].double(atLeast: 0, atMost: 1)
            // Strictly before the end: a resize at the departure instant would always be ignored.
            guard low <= high, high < 1 else { throw range.error("expected 0 <= from <= to < 1, got [\(low), \(high)]") }
            fraction = low...high
        }
        return ResizeSpec(probability: try map.required("probability").double(atLeast: 0, atMost: 1),
                          growShare: try map["growShare"]?.double(atLeast: 0, atMost: 1) ?? 0.5,
                          delta: try parseCount(try map.required("delta"), upTo: 1_000_000),
                          lifeFraction: fraction)
    }

    func parseSWF(_ value: YAMLValue, scenarioFile: String) throws -> SWFImportSpec {
        let map = try value.mapping(allowed: ["file", "coresPerVM", "memGiBPerCore", "lifetime", "timeScale",
                                              "skip", "limit", "kind", "pinning"])
        var spec = SWFImportSpec(path: resolve(try map.required("file").string(), against: scenarioFile))
        if let cores = map["coresPerVM"] { spec.coresPerVM = try cores.int(in: 1...1_000_000, what: "cores per VM") }
        if let memory = map["memGiBPerCore"] { spec.memoryGiBPerCore = try memory.double(atLeast: 0, atMost: WorkloadBounds.memoryGiBPerCore) }
        if let lifetime = map["lifetime"] { spec.lifetime = try choice(lifetime, SWFImportSpec.Lifetime.self) }
        if let scale = map["timeScale"] {
            let text = try scale.scalarText(expecting: "a positive number such as 0.5")
            guard let nano = Units.parseDecimal(Substring(text.trimmingSpaces), scale: 1_000_000_000), nano > 0, nano <= 1_000_000 * 1_000_000_000 else {
                throw scale.error("expected a number in (0, 1000000] such as 0.5 (gaps are multiplied by it), got '\(text)'")
            }
            spec.timeScaleNano = nano
        }
        if let skip = map["skip"] { spec.skip = try skip.int(in: 0...Int.max, what: "a job count") }
        if let limit = map["limit"] { spec.limit = try limit.int(in: 1...Int.max, what: "a job count") }
        if let kind = map["kind"] { spec.kind = try choice(kind, VMKind.self) }
        if let pinning = map["pinning"] { spec.pinning = try choice(pinning, Pinning.self) }
        return spec
    }

    func parseAdmission(_ value: YAMLValue) throws -> AdmissionSpec {
        let map = try value.mapping(allowed: ["mode", "maxWaitHours", "backfillDepth"])
        var spec = AdmissionSpec(mode: try choice(try map.required("mode"), AdmissionSpec.Mode.self))
        if let wait = map["maxWaitHours"] {
            guard spec.mode != .reject else { throw wait.error("a maximum wait needs a queue (mode fcfs or easy)") }
            spec.maxWait = try hours(wait)
        }
        if let depth = map["backfillDepth"] {
            guard spec.mode == .easy else { throw depth.error("a backfill depth needs mode easy") }
            spec.backfillDepth = try depth.int(in: 1...1_000_000, what: "a request count")
        }
        return spec
    }

    /// A duration in hours, exact to the nanosecond: (0, 10 years], or [0, ...] with `zero`.
    func hours(_ value: YAMLValue, zero: Bool = false) throws -> Nanoseconds {
        let text = try value.scalarText(expecting: "hours")
        let limit = Int(WorkloadBounds.hours.upperBound)
        guard let seconds = Units.nanoseconds(fromSeconds: Substring(text.trimmingSpaces)), seconds > 0 || (zero && seconds == 0),
              seconds <= Nanoseconds(limit) * Units.nanosecondsPerSecond else {
            throw value.error("expected a number of hours in \(zero ? "[" : "(")0, \(limit)], got '\(text)'")
        }
        return seconds * 3600
    }

    /// `migration:`; `hostCount` bounds the maintenance windows' hosts.
    func parseMigration(_ value: YAMLValue, hostCount: Int) throws -> MigrationSpec {
        let map = try value.mapping(allowed: ["policy", "maxMigrations", "candidates", "periodHours", "dirtyMiBPerSecond", "maintenance"])
        var spec = MigrationSpec(policy: try choice(try map.required("policy"), MigrationSpec.Policy.self))
        if let count = map["maxMigrations"] { spec.maxMigrations = try count.int(in: 1...10_000, what: "a number of migrations") }
        if let count = map["candidates"] { spec.candidates = try count.int(in: 1...1_000_000, what: "a number of hosts") }
        if let period = map["periodHours"] {
            spec.period = try hours(period)
        } else if spec.policy.consolidates {
            throw value.error("policy \(spec.policy.rawValue) needs 'periodHours' (how often a consolidation pass runs)")
        }
        if let rate = map["dirtyMiBPerSecond"] { spec.dirtyMiBPerSecond = try rate.double(atLeast: 0, atMost: 1e7) }
        if let windows = map["maintenance"] {
            spec.maintenance = try windows.sequence().map { entry in
                let window = try entry.mapping(allowed: ["host", "atHours", "forHours"])
                return MigrationSpec.Maintenance(host: try window.required("host").int(in: 0...(hostCount - 1), what: "a host index"),
                                                 start: try hours(try window.required("atHours"), zero: true),
                                                 length: try hours(try window.required("forHours")))
            }
        }
        return spec
    }

    func positive(_ value: YAMLValue) throws -> Double {
        let number = try value.double()
        guard number > 0 else { throw value.error("expected a positive number, got \(number)") }
        return number
    }

    /// Arrivals per hour the clock can hold: from one in a century to a billion an hour.
    func rate(_ value: YAMLValue) throws -> Double {
        let number = try value.double()
        guard WorkloadBounds.ratePerHour.contains(number) else {
            throw value.error("expected arrivals per hour in \(WorkloadBounds.ratePerHour.lowerBound)...\(WorkloadBounds.ratePerHour.upperBound), got \(number)")
        }
        return number
    }

    /// A time in hours the clock can hold (integer nanoseconds, 292 years in all).
    func hours(_ value: YAMLValue, atLeast low: Double = WorkloadBounds.hours.lowerBound) throws -> Double {
        let number = try value.double()
        guard number >= low && number <= WorkloadBounds.hours.upperBound else {
            throw value.error("expected hours in \(low)...\(WorkloadBounds.hours.upperBound), got \(number)")
        }
        return number
    }

    /// A lifetime's or work's location (mean, median, scale): positive, at most `limit`.
    func location(_ value: YAMLValue, limit: Double) throws -> Double {
        let number = try value.double()
        guard number > 0 && number <= limit else { throw value.error("expected a number in (0, \(limit)], got \(number)") }
        return number
    }

    func choice<T: RawRepresentable & CaseIterable>(_ value: YAMLValue, _ type: T.Type) throws -> T where T.RawValue == String {
        let text = try value.string()
        guard let match = T(rawValue: text) else {
            throw value.error("unknown value '\(text)' (expected one of: \(T.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return match
    }

    /// Reads the discriminator `key`, then validates the mapping against that variant's keys.
    func variant(_ value: YAMLValue, key: String, _ variants: KeyValuePairs<String, [String]>) throws -> (String, YAMLMapping) {
        let names = variants.map(\.key)
        let loose = try value.mapping(allowed: [])
        let kindValue = try loose.required(key)
        let kind = try kindValue.string()
        guard let allowed = variants.first(where: { $0.key == kind })?.value else {
            throw kindValue.error("unknown \(key) '\(kind)' (expected one of: \(names.joined(separator: ", ")))")
        }
        return (kind, try value.mapping(allowed: [key] + allowed))
    }
}

/// The ranges workload numbers must keep so the model's integer clock (Int64
/// nanoseconds, about 292 years) and memory arithmetic cannot overflow.
public enum WorkloadBounds {
    /// Hours: 3.6 microseconds to a million hours (114 years).
    public static let hours: ClosedRange<Double> = 1e-9...1e6
    public static let ratePerHour: ClosedRange<Double> = 1e-6...1e9
    public static let minimumSojournHours = 1e-4
    /// GiB of memory per vCPU or core (64 TiB).
    public static let memoryGiBPerCore = 65_536.0
}
