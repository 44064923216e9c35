import Allocation
import CloudModel
import Foundation
import Overheads
import SimKernel

/// A model output with its 95% interval from the parameters' bands.
public struct ModelInterval: Equatable, Sendable {
    public var value: Double
    public var low: Double
    public var high: Double
}

/// What the overhead model says the accepted hpc clusters got.
public struct PerformanceSummary: Equatable, Sendable {
    public struct Intervals: Equatable, Sendable {
        public var efficiency: ModelInterval
        public var stretch: ModelInterval
        /// Mean run time of the work-based clusters, hours (nil: none).
        public var workRunHours: ModelInterval?
    }

    public var path: NetworkPath
    /// The application profile (`overheads.profile`).
    public var profile: String
    /// HPL-style efficiency of each accepted hpc cluster, as placed.
    public var efficiency: SampleSummary
    /// Run time against the same cores on bare metal (native efficiency / efficiency).
    public var stretch: SampleSummary
    /// Clusters whose run time came from their work.
    public var workBased: Int
    /// The means with the model's uncertainty (nil: no hpc cluster).
    public var intervals: Intervals?
    /// hpc clusters placed beyond the measurements, by what they leave (`Extrapolation.all` names).
    public var beyondData: [String: Int]
    public var beyondDataClusters: Int
}

/// How a queue (scenario `admission:`) behaved.
public struct QueueSummary: Equatable, Sendable {
    public var mode: AdmissionSpec.Mode
    public var maxWait: Nanoseconds?
    /// Arrivals that joined the queue (all but those no empty cloud could hold).
    public var queued: Int
    /// Gave up after `maxWait` (counted among the rejections as `max-wait`).
    public var expired: Int
    public var peakLength: Int
    /// Still queued when the events ran out (nothing left to free room).
    public var stillWaiting: Int
    /// Arrival to start, of every request that started.
    public var waitHours: SampleSummary
}

/// Clusters running and tenants with one running, averaged over the steady window.
public struct SteadyConcurrency: Equatable, Sendable {
    public var clusters: Double
    public var tenants: Double
}

/// One subnet of a cloud of several: the most of each limit it had in use at once,
/// and why the requests it could not take were turned away there.
public struct SubnetSummary: Equatable, Sendable {
    public var name: String
    public var hosts: Int
    /// What it has: cores, memory, VFs, pkey entries, LIDs and its pkey pool as `clusters`.
    public var capacity: Usage
    /// The most in use at once of each (build-time LIDs included).
    public var peak: Usage
    /// LIDs held from build time: the LIDs share counts only those left for VFs.
    public var buildTimeLIDs: Int
    /// For each rejected arrival, this subnet's own reason (`AllocationEngine.subnetReasons`).
    public var rejections: [RejectionReason: Int]

    /// The limits a subnet has, named as `limits` and `capacity` name them (and as a metric key), with their peak share.
    public var peakShares: [(limit: String, key: String, share: Double)] {
        func share(_ used: Int, _ total: Int) -> Double { total == 0 ? 0 : Double(used) / Double(total) }
        return [("cores", "physicalCores", share(peak.physicalCores, capacity.physicalCores)),
                ("memory", "memory", capacity.memoryMiB == 0 ? 0 : Double(peak.memoryMiB) / Double(capacity.memoryMiB)),
                ("VFs", "vfs", share(peak.vfs, capacity.vfs)), ("pkey tables", "pkeyEntries", share(peak.pkeyEntries, capacity.pkeyEntries)),
                ("LIDs", "lids", share(peak.lids - buildTimeLIDs, capacity.lids - buildTimeLIDs)),
                ("pkey space", "pkeys", share(peak.clusters, capacity.clusters))]
    }

    /// The limit that binds here: the reason of most of its rejections, or, with none,
    /// the limit it came closest to (peak share).
    public var bindingLimit: String {
        if let top = rejections.filter({ $0.value > 0 }).max(by: { ($0.value, $1.key.rawValue) < ($1.value, $0.key.rawValue) }) {
            return CapacitySearch.limitName(top.key)
        }
        let closest = peakShares.max { $0.share < $1.share }!
        guard closest.share > 0 else { return "none (idle)" }
        return String(format: "none reached (closest: %@ at %.1f%%)", closest.limit, closest.share * 100)
    }
}

/// What every run reports (SEMANTICS 9).
public struct Summary: Equatable, Sendable {
    public var hosts: Int
    public var requests: Int
    public var accepted: Int
    public var rejected: [RejectionReason: Int]
    public var resizes: Int
    public var resizesAccepted: Int
    public var resizesRejected: [RejectionReason: Int]
    public var resizesIgnored: Int
    public var departures: Int
    public var events: Int
    /// The measured window: first to last event.
    public var windowStart: Nanoseconds
    public var windowEnd: Nanoseconds
    /// Where the steady-state averages were taken (`SteadyStateRule`).
    public var steadyWindow: Range<Nanoseconds>
    public var steadyState: SteadyStateRule
    public var utilization: [Resource: Utilization]
    public var peakConcurrentClusters: Int
    /// Tenants with at least one cluster running, at the most.
    public var peakConcurrentTenants: Int
    /// Clusters running and tenants served, averaged over the steady window (nil when it spans no time).
    public var steadyConcurrency: SteadyConcurrency?
    /// Distinct hosts of each accepted hpc cluster at admission, averaged.
    public var meanHostsSpanned: Double
    public var buildTimeLIDs: Int
    /// Wait, turnaround and bounded slowdown of the clusters that ended.
    public var jobs: JobSummary
    /// Nil when the run has no overhead model.
    public var performance: PerformanceSummary?
    /// Nil for the default reject-on-arrival admission.
    public var queue: QueueSummary?
    /// Nil when the run has no migration policy.
    public var migration: MigrationSummary?
    /// Each subnet's peaks and rejections, in a cloud of several subnets (else empty).
    public var subnets: [SubnetSummary] = []
    /// Stopped before its last event (Ctrl-C): the numbers cover what ran.
    public var interrupted = false

    public var rejectedTotal: Int { rejected.values.reduce(0, +) }
    public var acceptanceRatio: Double { requests == 0 ? 0 : Double(accepted) / Double(requests) }

    /// The summary as an aligned, human-readable table.
    public func formatted(title: String) -> String {
        var lines: [String] = [title, String(repeating: "=", count: title.count)]
        func add(_ label: String, _ value: String) {
            lines.append(label.rightPadded(to: 34) + value)
        }
        if interrupted { lines.append("INTERRUPTED: the run stopped early; these numbers cover what ran.") }
        add("Simulated window", "\(Units.formatSeconds(windowStart)) s .. \(Units.formatSeconds(windowEnd)) s (\(hoursText(windowEnd - windowStart)))")
        add("Events processed", "\(events)")
        add("Requests", "\(requests)")
        add("  accepted", "\(accepted) (\(percent(acceptanceRatio)))")
        add("  rejected", "\(rejectedTotal) (\(percent(requests == 0 ? 0 : Double(rejectedTotal) / Double(requests))))")
        for reason in RejectionReason.allCases {
            if let count = rejected[reason], count > 0 { add("    \(reason.rawValue)", "\(count)") }
        }
        if resizes > 0 {
            let rejectedResizes = resizesRejected.values.reduce(0, +)
            add("Resizes", "\(resizes): \(resizesAccepted) accepted, \(rejectedResizes) rejected, \(resizesIgnored) ignored")
            for reason in RejectionReason.allCases {
                if let count = resizesRejected[reason], count > 0 { add("    \(reason.rawValue)", "\(count)") }
            }
        }
        if let queue {
            let limit = queue.maxWait.map { String(format: ", max wait %g h", Double($0) / 3.6e12) } ?? ", no max wait"
            add("Admission", (queue.mode == .easy ? "queue, FCFS with EASY backfilling" : "queue, FCFS") + limit)
            add("  queued on arrival", "\(queue.queued)")
            add("  started from the queue", "\(queue.waitHours.count)")
            add("  expired (max-wait)", "\(queue.expired)")
            add("  still waiting at the end", "\(queue.stillWaiting)")
            add("  peak queue length", "\(queue.peakLength)")
            let w = queue.waitHours
            add("  wait (h) mean, p50, p90, p99, max", [w.mean, w.quantile(0.5), w.quantile(0.9), w.quantile(0.99), w.maximum]
                .map { String(format: "%.3f", $0) }.joined(separator: ", "))
        }
        if let performance, performance.efficiency.count > 0 {
            let e = performance.efficiency, st = performance.stretch
            add("Efficiency (hpc, \(performance.path.rawValue), \(performance.profile))", "mean \(fixed3(e.mean)); p10, p50, p90: "
                + [e.quantile(0.1), e.quantile(0.5), e.quantile(0.9)].map(fixed3).joined(separator: ", ")
                + "; min \(fixed3(e.minimum))")
            add("Stretch vs bare metal", "mean \(fixed3(st.mean)); p50, p90: "
                + [st.quantile(0.5), st.quantile(0.9)].map(fixed3).joined(separator: ", ") + "; max \(fixed3(st.maximum))")
            if let intervals = performance.intervals {
                func band(_ i: ModelInterval) -> String { "[\(fixed3(i.low)), \(fixed3(i.high))]" }
                add("  model's 95% interval", "efficiency mean \(band(intervals.efficiency)); stretch mean \(band(intervals.stretch))")
                if let hours = intervals.workRunHours {
                    add("  work-based run time (h)", "mean \(fixed3(hours.value)) \(band(hours))")
                }
            }
            if performance.workBased > 0 { add("  work-based clusters", "\(performance.workBased)") }
            let beyond = Extrapolation.all.map(\.1).compactMap { name in performance.beyondData[name].flatMap { $0 > 0 ? "\(name) \($0)" : nil } }
            add("  beyond the measurements", performance.beyondDataClusters == 0 ? "none"
                : "\(performance.beyondDataClusters) clusters (\(beyond.joined(separator: ", ")); capped where the data stop)")
        }
        if let migration {
            let d = migration.downtimeSeconds
            add("Migration (\(migration.policy))", "\(migration.migrations) migrations, \(String(format: "%.1f", migration.bytesMoved / 1_073_741_824)) GiB moved")
            add("  admitted by defragmenting", "\(migration.rescued) (\(migration.unrescued) tries found no room)")
            if migration.maintenanceEmptied + migration.maintenanceBlocked > 0 {
                add("  maintenance", "\(migration.maintenanceEmptied) hosts emptied, \(migration.maintenanceBlocked) left to drain (a VM fit nowhere else)")
            }
            if migration.consolidationPasses > 0 {
                add("  consolidation", "\(migration.consolidationPasses) passes, \(migration.hostsEmptied) hosts emptied")
            }
            if d.count > 0 {
                add("  downtime (s) mean, p90, max", [d.mean, d.quantile(0.9), d.maximum].map(fixed3).joined(separator: ", ")
                    + (migration.forced > 0 ? "; \(migration.forced) forced (pre-copy did not converge)" : ""))
                add("  clusters stalled", "\(String(format: "%.2f", migration.stallSeconds / 3600)) h in all (VF detached while migrating)")
                add("  subnet manager", "\(migration.smps) SMPs, \(migration.pathQueries) path queries")
            }
        }
        add("Departures", "\(departures)")
        let steady = steadyConcurrency
        add("Concurrent clusters", "peak \(peakConcurrentClusters)" + (steady.map { "; steady mean \(fixed3($0.clusters))" } ?? ""))
        add("Concurrent tenants", "peak \(peakConcurrentTenants)" + (steady.map { "; steady mean \(fixed3($0.tenants))" } ?? ""))
        add("Mean hosts per hpc cluster", String(format: "%.3f", meanHostsSpanned))
        // Without a queue every wait is 0 and every slowdown 1: nothing to print.
        if queue != nil, jobs.wait.count > 0 {
            let w = jobs.wait, b = jobs.boundedSlowdown
            add("Jobs ended", "\(w.count)")
            add("  wait (s) mean, p50, p90, max", [w.mean, w.quantile(0.5), w.quantile(0.9), w.maximum].map { String(format: "%.1f", $0) }
                .joined(separator: ", "))
            add("  bounded slowdown mean, p90, max", [b.mean, b.quantile(0.9), b.maximum].map(fixed3).joined(separator: ", "))
        }
        lines.append("")
        lines.append("Utilization".rightPadded(to: 18)
                     + "time-avg".leftPadded(to: 12) + "avg %".leftPadded(to: 10) + "steady %".leftPadded(to: 10)
                     + "peak".leftPadded(to: 10) + "peak %".leftPadded(to: 10) + "capacity".leftPadded(to: 11))
        for resource in Resource.allCases {
            guard let u = utilization[resource] else { continue }
            lines.append("  " + resource.rawValue.rightPadded(to: 16)
                         + String(format: "%.2f", u.timeAverage).leftPadded(to: 12) + percent(u.averageFraction).leftPadded(to: 10)
                         + (u.steadyFraction.map(percent) ?? "-").leftPadded(to: 10)
                         + "\(u.peak)".leftPadded(to: 10) + percent(u.peakFraction).leftPadded(to: 10) + "\(u.capacity)".leftPadded(to: 11))
        }
        lines.append("  (steady: \(Units.formatSeconds(steadyWindow.lowerBound)) s .. \(Units.formatSeconds(steadyWindow.upperBound)) s, "
                     + "arrivals after a \(String(format: "%g", steadyState.warmup * 100))% warm-up, drain excluded)")
        lines.append("  (pkey entries exclude each port's default entry; LIDs include \(buildTimeLIDs) held from build time)")
        if !subnets.isEmpty { lines += subnetTable() }
        return lines.joined(separator: "\n")
    }

    /// Peak share of each limit per subnet, and what binds there.
    func subnetTable() -> [String] {
        let width = max(8, subnets.map(\.name.count).max()! + 2)
        var lines = ["", "Subnet".rightPadded(to: width + 2) + "hosts".leftPadded(to: 8)
                     + ["cores", "memory", "VFs", "pkey-tab", "VF LIDs", "pkeys"].map { $0.leftPadded(to: 9) }.joined()
                     + "  rejected  binding limit"]
        for subnet in subnets {
            let rejected = subnet.rejections.values.reduce(0, +)
            lines.append("  " + subnet.name.rightPadded(to: width) + "\(subnet.hosts)".leftPadded(to: 8)
                         + subnet.peakShares.map { String(format: "%.1f", $0.share * 100).leftPadded(to: 9) }.joined()
                         + "\(rejected)".leftPadded(to: 10) + "  " + subnet.bindingLimit)
        }
        lines.append("  (peak % of each limit in use at once, LIDs as a share of those left after build time; rejected:")
        lines.append("   arrivals turned away, each counted in every subnet with that subnet's own reason; binding limit:")
        lines.append("   the reason of most, else the limit nearest full)")
        return lines
    }

    private func fixed3(_ x: Double) -> String { String(format: "%.3f", x) }

    private func percent(_ fraction: Double) -> String { String(format: "%.2f%%", fraction * 100) }

    private func hoursText(_ ns: Nanoseconds) -> String {
        String(format: "%.2f h", Double(ns) / 3.6e12)
    }
}
