import Allocation
import ArgumentParser
import CloudModel
import Foundation
import Simulation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the fixed benchmark suite (build with -c release) and print or write its report.",
        discussion: """
        Cases: the event kernel (10M events); placement alone per policy at 1k, 10k and
        100k hosts (first-fit also at 1M), with the O(H) reference policy at 1k hosts whose
        checksum must match; a full simulation of 1M requests on 100k hosts per policy;
        first-fit at 1k, 10k, 100k and 1M hosts with 10k, 100k, 1M and 10M requests
        (scaling); replay of a 400k-request trace CSV on 40k hosts, without and with the
        decision log written; the Lublin SWF log repeated to 1M jobs; the external policy
        protocol (policies/first_fit.py through python3 at 100 and 1k hosts, 20k
        admissions, checked against the built-in first-fit: every question lists every
        candidate host, so its cost grows with the cloud). Each: wall time, events/s,
        requests/s, peak memory, checksum.
        """)

    @Flag(help: "A smaller suite (each case a tenth the size), for a quick look.")
    var quick = false

    @Option(help: ArgumentHelp("Also write the Markdown report here.", valueName: "FILE"))
    var out: String?

    @Option(help: ArgumentHelp("Run only the cases one of whose words starts with this (kernel, placement, simulation, replay, policy protocol, SWF, or a policy such as best-fit).", valueName: "PREFIX"))
    var only: String?

    @Option(help: ArgumentHelp("The committed report to show each case against (its wall time as a ratio). Default: the newest Reports/benchmarks/YYYY-MM-DD.md beside the hardware catalog, --out left out.",
                               valueName: "FILE"))
    var previous: String?

    @Option(name: .customLong("repeat"), help: ArgumentHelp("Run each case N times and report the median wall time with the fastest and slowest (a loaded machine shows as a wide spread). The O(H) reference, and a case whose first run took over a minute, run once.", valueName: "N"))
    var repeats = 1

    @Flag(help: "Print the cases and targets as one JSON object (times in seconds, checksums in hex) instead of the Markdown report; --out still writes the Markdown.")
    var json = false

    @OptionGroup var hardware: HardwareOptions

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeat must be at least 1, got \(repeats)") }
    }

    func run() throws {
        try reportingInputErrors {
            let catalog = try hardware.catalog(scenarioPath: nil)
            let scale = quick ? 10 : 1
            var results: [Benchmark.Result] = []
            // "kernel" picks "event kernel": a prefix of any word of the case kind, or the kind and more.
            func wanted(_ kind: String) -> Bool {
                only.map { (" " + kind.lowercased()).contains(" " + $0.lowercased()) || $0.lowercased().hasPrefix(kind.lowercased()) } ?? true
            }
            // Each case `repeats` times: the median run, with the fastest and slowest; the decisions must not vary.
            func repeated(_ make: () throws -> [Benchmark.Result]) rethrows -> [Benchmark.Result] {
                var runs: [[Benchmark.Result]] = []
                // A case past a minute runs once: its spread matters less than the bench's length.
                for _ in 0..<repeats where runs.isEmpty || runs[0].reduce(0, { $0 + $1.seconds }) < 60 { runs.append(try make()) }
                return runs[0].indices.map { i in
                    let all = runs.map { $0[i] }.sorted { $0.seconds < $1.seconds }
                    var median = all[(all.count - 1) / 2]
                    if all.count > 1 { median.spread = all.first!.seconds...all.last!.seconds }
                    if Set(all.map(\.checksum)).count > 1 { median.note += (median.note.isEmpty ? "" : "; ") + "CHECKSUM VARIES BETWEEN RUNS" }
                    return median
                }
            }
            func add(_ result: Benchmark.Result) {
                results.append(result)
                FileHandle.standardError.write(Data(String(format: "%-80@ %8.2f s  %@\n", result.name as NSString, result.seconds,
                                                           result.referenceMatches.map { $0 ? "reference matches" : "REFERENCE DIFFERS" } ?? "").utf8))
            }
            if wanted("event kernel") { repeated { [Benchmark.eventKernel(events: 10_000_000 / scale)] }.forEach(add) }
            for policy in PlacementPolicies.names where wanted("placement \(policy)") {
                // 1M hosts for first-fit alone: the scaling table's last row.
                for hosts in [1_000, 10_000, 100_000] + (policy == "first-fit" ? [1_000_000] : []) {
                    var result = repeated { [Benchmark.placement(policy: policy, hosts: hosts, operations: 300_000 / scale, catalog: catalog)] }[0]
                    if hosts == 1_000 {
                        let reference = Benchmark.placement(policy: policy, hosts: hosts, operations: 300_000 / scale, catalog: catalog, reference: true)
                        result.referenceMatches = reference.checksum == result.checksum
                        result.note = String(format: "reference %.2f s", reference.seconds)
                    }
                    add(result)
                }
            }
            for (hosts, requests) in [(1_000, 10_000), (10_000, 100_000)] where wanted("simulation first-fit") {
                repeated { [Benchmark.simulation(policy: "first-fit", hosts: hosts / scale, requests: requests / scale, catalog: catalog)] }.forEach(add)
            }
            for policy in PlacementPolicies.names where wanted("simulation \(policy)") {
                repeated { [Benchmark.simulation(policy: policy, hosts: 100_000 / scale, requests: 1_000_000 / scale, catalog: catalog)] }.forEach(add)
            }
            if wanted("simulation first-fit") {
                repeated { [Benchmark.simulation(policy: "first-fit", hosts: 1_000_000 / scale, requests: 10_000_000 / scale, catalog: catalog)] }.forEach(add)
            }
            if wanted("replay") {
                let scratch = NSTemporaryDirectory() + "hpccloud-bench-\(getpid())"
                try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(atPath: scratch) }
                try repeated { try Benchmark.replay(hosts: 40_000 / scale, requests: 400_000 / scale, catalog: catalog, directory: scratch) }.forEach(add)
            }
            if wanted("policy protocol") {
                // The Python example that decides as first-fit, from the checkout the hardware catalog is in.
                let script = URL(fileURLWithPath: catalog.directory + "/../policies/first_fit.py").standardized.path
                for hosts in [100, 1_000] {
                    try repeated {
                        [try Benchmark.externalPlacement(command: ["python3", script], reference: "first-fit", hosts: hosts,
                                                         operations: 20_000 / scale, catalog: catalog)]
                    }.forEach(add)
                }
            }
            if wanted("SWF") {
            let lublin = try loadScenario(FileManager.default.fileExists(atPath: catalog.directory + "/../Workloads/swf-lublin-256.yaml")
                                          ? catalog.directory + "/../Workloads/swf-lublin-256.yaml" : "Workloads/swf-lublin-256.yaml",
                                          hardware: hardware).scenario
            try repeated { [try Benchmark.swfReplay(lublin, jobs: 1_000_000 / scale)] }.forEach(add)
            }
            var history: (path: String, history: BenchmarkHistory)?
            if let previous {
                history = (previous, BenchmarkHistory(markdown: try readText(previous)))
            } else {
                history = BenchmarkHistory.newest(in: catalog.directory + "/../Reports/benchmarks", excluding: out)
            }
            if results.isEmpty { throw InputError(file: "--only", message: "no case matches '\(only ?? "")' (kernel, placement, simulation, replay, policy protocol, SWF, or a policy)") }
            let bench = BenchReport(results: results, quick: quick, previous: history)
            let report = bench.markdown
            if json { try printJSON(bench.json) } else { print(report) }
            if let out {
                try writeReport(report, to: out)
            }
        }
    }
}

/// The Markdown report: machine, commit, the cases, the targets.
struct BenchReport {
    let results: [Benchmark.Result]
    let quick: Bool
    /// The committed report the cases are compared with.
    var previous: (path: String, history: BenchmarkHistory)?

    var markdown: String {
        var lines = ["# hpccloud bench" + (quick ? " (quick: cases a tenth the size)" : ""), ""]
        lines.append("- date: \(Date().formatted(.iso8601))")
        lines.append("- commit: \(Self.commit())")
        lines.append("- machine: \(Self.cpu()), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.physicalMemory >> 30) GiB; one core used (the suite is sequential)")
        lines.append("- build: release (`swift build -c release`), \(ToolInfo.swift)")
        // A quick run's cases are a tenth the size: a ratio to a full run would say nothing.
        let comparable = previous.flatMap { $0.history.quick == quick ? $0 : nil }
        if let previous {
            let name = URL(fileURLWithPath: previous.path).lastPathComponent
            lines.append("- previous: \(name) (\(previous.history.date ?? "no date"), commit \(previous.history.commit.map { String($0.prefix(12)) } ?? "unknown"))"
                         + (comparable == nil ? "; not compared: one of the two is a --quick run" : "; `vs previous` is this wall time over that one (above 1: slower)"))
        }
        let runs = results.compactMap(\.spread).isEmpty ? "one run each" : "wall is the median run, min / max the fastest and slowest"
        lines.append("- runs: \(runs); outcome: the share of requests accepted and the rejection mix (what the time was spent on)")
        lines.append("")
        lines.append("| case | wall (s) | min / max (s) | vs previous | events/s | requests/s | peak MiB | checksum | reference | outcome |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for r in results {
            let reference = r.referenceMatches.map { ($0 ? "matches" : "DIFFERS") + " (\(r.note))" } ?? r.note
            let ratio = comparable?.history.ratio(r.name, seconds: r.seconds).map { String(format: "%.2fx", $0) } ?? ""
            let spread = r.spread.map { String(format: "%.3f / %.3f", $0.lowerBound, $0.upperBound) } ?? ""
            lines.append(String(format: "| %@ | %.3f | %@ | %@ | %@ | %@ | %.0f | %016llx | %@ | %@ |", r.name, r.seconds, spread, ratio,
                                Self.rate(r.eventsPerSecond), r.requests > 0 ? Self.rate(r.requestsPerSecond) : "", r.peakMiB,
                                r.checksum, reference, r.outcome))
        }
        lines.append("")
        lines.append("## Targets")
        lines.append("")
        for target in targets { lines.append("- \(target.text) (\(target.met ? "met" : "NOT met"))") }
        lines.append("")
        lines.append("## Scaling")
        lines.append("")
        lines.append("| case | hosts | per request (us) | per placement or event (us) |")
        lines.append("|---|---|---|---|")
        for r in results where r.name.hasPrefix("placement: first-fit") || (r.name.hasPrefix("simulation: first-fit")) {
            let hosts = r.name.components(separatedBy: ", ").first { $0.hasSuffix(" hosts") }?.replacingOccurrences(of: " hosts", with: "") ?? ""
            lines.append(String(format: "| %@ | %@ | %.2f | %.3f |", r.name, hosts, r.seconds / Double(max(r.requests, 1)) * 1e6,
                                r.seconds / Double(max(r.events, 1)) * 1e6))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One target of the suite and whether this run meets it.
    struct Target: Encodable {
        var text: String
        var met: Bool
    }

    var targets: [Target] {
        var targets: [Target] = []
        func find(_ text: String) -> [Benchmark.Result] { results.filter { $0.name.contains(text) } }
        let full = find(quick ? "100,000 requests, 10,000 hosts" : "1,000,000 requests, 100,000 hosts")
        if let firstFit = full.first(where: { $0.name.contains("first-fit") }) {
            targets.append(Target(text: String(format: "1M requests on 100k hosts, first-fit, under 10 s: %.2f s", firstFit.seconds), met: firstFit.seconds < 10))
        }
        if let slowest = full.max(by: { $0.seconds < $1.seconds }) {
            targets.append(Target(text: String(format: "every policy under 30 s: slowest %.2f s, %@", slowest.seconds, slowest.name), met: slowest.seconds < 30))
        }
        if let kernel = find("event kernel").first {
            targets.append(Target(text: "event kernel above 20M events/s: \(Self.rate(kernel.eventsPerSecond))", met: kernel.eventsPerSecond > 20e6))
        }
        if let peak = full.map(\.peakMiB).max() {
            targets.append(Target(text: String(format: "peak memory under 2 GiB at 100k hosts: %.0f MiB", peak), met: peak < 2048))
        }
        for size in ["1,000 hosts", "10,000 hosts", "100,000 hosts"] {
            let cases = find("placement: ").filter { $0.name.contains(", \(size),") }
            guard let firstFit = cases.first(where: { $0.name.contains("first-fit") }) else { continue }
            for policy in ["best-fit", "worst-fit"] {
                guard let other = cases.first(where: { $0.name.contains(policy) }) else { continue }
                let ratio = other.seconds / max(firstFit.seconds, 1e-9)
                targets.append(Target(text: String(format: "%@ within 2x of first-fit, placement at %@: %.2fx", policy, size, ratio), met: ratio <= 2))
            }
        }
        let replays = find("replay: trace CSV")
        if let bare = replays.first(where: { $0.name.hasSuffix("no decision log") }), let logged = replays.first(where: { $0.name.hasSuffix(", decision log") }) {
            let ratio = logged.seconds / max(bare.seconds, 1e-9)
            targets.append(Target(text: String(format: "replay with a decision log within 1.5x of the run without: %.2fx", ratio), met: ratio <= 1.5))
        }
        let checked = results.filter { $0.referenceMatches != nil }
        if !checked.isEmpty {
            let mismatches = checked.filter { $0.referenceMatches == false }
            targets.append(Target(text: "checksums equal the O(H) reference policies at 1k hosts: "
                                  + (mismatches.isEmpty ? "all \(checked.count)" : "not " + mismatches.map(\.name).joined(separator: "; ")),
                                  met: mismatches.isEmpty))
        }
        return targets
    }

    /// `bench --json`: the cases and targets, by name.
    struct JSON: Encodable {
        struct Case: Encodable {
            var name: String, seconds: Double, minSeconds: Double?, maxSeconds: Double?, vsPrevious: Double?
            var events: Int, requests: Int, eventsPerSecond: Double, requestsPerSecond: Double, peakMiB: Double
            var checksum: String, referenceMatches: Bool?, note: String, outcome: String
        }
        var commit: String, machine: String, quick: Bool, previous: String?
        var cases: [Case]
        var targets: [Target]
    }

    var json: JSON {
        let comparable = previous.flatMap { $0.history.quick == quick ? $0 : nil }
        return JSON(commit: Self.commit(), machine: "\(Self.cpu()), \(ProcessInfo.processInfo.activeProcessorCount) cores", quick: quick,
                    previous: comparable?.path,
                    cases: results.map { r in
                        JSON.Case(name: r.name, seconds: r.seconds, minSeconds: r.spread?.lowerBound, maxSeconds: r.spread?.upperBound,
                                  vsPrevious: comparable?.history.ratio(r.name, seconds: r.seconds), events: r.events, requests: r.requests,
                                  eventsPerSecond: r.eventsPerSecond, requestsPerSecond: r.requestsPerSecond, peakMiB: r.peakMiB,
                                  checksum: String(format: "%016llx", r.checksum), referenceMatches: r.referenceMatches, note: r.note,
                                  outcome: r.outcome)
                    },
                    targets: targets)
    }

    static func rate(_ x: Double) -> String {
        x >= 1e6 ? String(format: "%.2fM", x / 1e6) : x >= 1e3 ? String(format: "%.1fk", x / 1e3) : String(format: "%.0f", x)
    }

    static func cpu() -> String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        return info.split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last?
            .trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
    }

    /// The repository's HEAD, read from .git (no git process needed).
    static func commit() -> String {
        var url = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        for _ in 0..<6 {
            let head = url.appendingPathComponent(".git/HEAD").path
            if let text = try? String(contentsOfFile: head, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) {
                if text.hasPrefix("ref: ") {
                    let ref = url.appendingPathComponent(".git/" + text.dropFirst(5)).path
                    return (try? String(contentsOfFile: ref, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)) ?? text
                }
                return text
            }
            url.deleteLastPathComponent()
        }
        return "unknown"
    }
}

enum ToolInfo {
    #if compiler(>=6.3)
    static let swift = "Swift 6.3 or later"
    #else
    static let swift = "Swift before 6.3"
    #endif
}
