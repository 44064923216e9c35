import Allocation
import CloudModel
import Foundation
import GRDB
import Simulation

/// Writes one run into a results database as it goes: the run row first
/// (status `running`), then requests, resizes and samples in batched
/// transactions, and at the end the summary and the final status. A run
/// killed part way leaves every committed batch and a `running` status; one
/// stopped by Ctrl-C is marked `interrupted`.
public final class RunRecorder {
    public let database: ResultsDatabase
    public let runID: Int64
    /// Requests admitted or queued, not yet finished.
    private var open: [Int64: RequestRow] = [:]
    private var finished: [RequestRow] = []
    private var resizes: [[DatabaseValueConvertible?]] = []
    private var samples: [[DatabaseValueConvertible?]] = []
    private let sampleStep: Nanoseconds
    private var nextSample: Nanoseconds = .min
    private var lastUsage: (time: Nanoseconds, usage: Usage, queued: Int)?
    /// Buffered rows at which the next commit is tried.
    private var flushAt: Int
    /// Rows per committed batch.
    let batchSize: Int

    struct RequestRow {
        var request: ClusterRequest
        var outcome = "waiting"
        var reason: String?
        var decidedAt: Nanoseconds?
        var vms: [PlacedVM] = []
        var span: Int?
        var pkey: String?
        var start: Nanoseconds?
        var end: Nanoseconds?
        var efficiency: Double?
    }

    /// Inserts the run (status `running`).
    /// - Parameters:
    ///   - scenarioYAML: the scenario as given (file contents or the embedded text).
    ///   - samples: about how many utilization samples to keep over the arrivals' span.
    ///   - batchSize: rows per committed batch.
    public init(database: ResultsDatabase, run: Run, scenarioYAML: String, samples: Int = 1000, batchSize: Int = 20_000) throws {
        self.database = database
        self.batchSize = max(1, batchSize)
        flushAt = self.batchSize
        let arrivals = run.workload.requests.map(\.arrival)
        sampleStep = max(1_000_000_000, ((arrivals.max() ?? 0) - (arrivals.min() ?? 0)) / Nanoseconds(max(samples, 1)))
        let admission = run.scenario.admission.mode.rawValue
        runID = try database.queue.write { db in
            try db.execute(sql: """
                INSERT INTO run (scenario, scenarioFile, scenarioYAML, seed, policy, admission, hosts, toolVersion, startedAt, status)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running')
                """, arguments: [run.scenario.name, run.scenario.file, scenarioYAML, Int64(bitPattern: run.seed), run.policyName,
                                 admission, run.scenario.cloud.hostCount, ToolVersion.string, Self.timestamp()])
            return db.lastInsertedRowID
        }
    }

    public static func timestamp() -> String { Date().formatted(.iso8601) }

    /// Feeds one decision row (pass as the run's `record`).
    public func record(_ row: DecisionRow) {
        switch (row.event, row.outcome) {
        case (.arrive, .queued):
            open[row.id] = RequestRow(request: row.request!)
        case (.arrive, .accepted), (.start, .accepted):
            var entry = open[row.id] ?? RequestRow(request: row.request!)
            entry.outcome = "accepted"
            entry.decidedAt = row.time
            entry.start = row.time
            entry.vms = row.vms
            entry.span = row.span
            entry.pkey = row.pkey?.description
            entry.efficiency = row.efficiency
            open[row.id] = entry
        case (.arrive, .rejected), (.expire, .rejected):
            var entry = open.removeValue(forKey: row.id) ?? RequestRow(request: row.request!)
            entry.outcome = "rejected"
            entry.reason = row.reason?.rawValue
            entry.decidedAt = row.time
            finish(entry)
        case (.depart, _):
            guard var entry = open.removeValue(forKey: row.id) else { return }
            entry.end = row.time
            finish(entry)
        case (.resize, _):
            resizes.append([runID, row.id, Self.seconds(row.time), row.outcome.rawValue, row.reason?.rawValue,
                            row.vms.isEmpty ? nil : Self.hostList(row.vms)])
            flushIfFull()
        default:
            break
        }
    }

    /// Feeds the usage after an event (pass as the run monitor's `sample`): one
    /// row per sampling step.
    public func sample(time: Nanoseconds, usage: Usage, queued: Int) {
        lastUsage = (time, usage, queued)
        guard time >= nextSample else { return }
        nextSample = time + sampleStep
        appendSample(time, usage, queued)
    }

    private func appendSample(_ time: Nanoseconds, _ usage: Usage, _ queued: Int) {
        samples.append([runID, Self.seconds(time), usage.physicalCores, Double(usage.memoryMiB) / 1024, usage.vfs, usage.pkeyEntries,
                        usage.lids, usage.clusters, queued])
        flushIfFull()
    }

    private func finish(_ entry: RequestRow) {
        finished.append(entry)
        flushIfFull()
    }

    /// A batch that cannot be committed now (a lock held past the busy timeout, a full
    /// disk) stays buffered and is tried again one batch later; `finish` fails the run
    /// if it still cannot. Rows leave the buffers only once committed.
    private func flushIfFull() {
        let buffered = finished.count + resizes.count + samples.count
        guard buffered >= flushAt else { return }
        do {
            try flush()
        } catch {
            flushAt = buffered + batchSize
        }
    }

    /// Commits what is buffered in one transaction; the buffers are emptied once it committed.
    public func flush() throws {
        try commit()
        finished.removeAll(keepingCapacity: true)
        resizes.removeAll(keepingCapacity: true)
        samples.removeAll(keepingCapacity: true)
        flushAt = batchSize
    }

    private func commit() throws {
        let requestRows = finished, resizeRows = resizes, sampleRows = samples
        try database.writing { db in
            let insertRequest = try db.makeStatement(sql: """
                INSERT INTO request (runId, id, arrival, tenant, vms, vcores, memoryMiB, kind, pinning, requestedTime, outcome, reason,
                                     decidedAt, hosts, vfs, span, pkey, start, "end", efficiency,
                                     waitTime, runTime, turnaround, slowdown, boundedSlowdown)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            // Typed values, bound without validation (the SQL and its 25 parameters are fixed
            // here): boxing each value as an existential and checking the arguments per row
            // stood high in the profile of a run with a database.
            for row in requestRows {
                let r = row.request
                let job = JobTimes(arrival: r.arrival, start: row.start, end: row.end)
                let hosts = row.vms.isEmpty ? nil : Self.hostList(row.vms)
                let vfs = row.vms.isEmpty || row.vms.allSatisfy({ $0.virtualFunction == nil }) ? nil
                    : row.vms.map { $0.virtualFunction.map(String.init) ?? "" }.joined(separator: ";")
                let values: [DatabaseValue] = [
                    runID.databaseValue, r.id.databaseValue, Self.seconds(r.arrival).databaseValue, r.tenant.databaseValue,
                    r.vms.databaseValue, r.shape.vcores.databaseValue, r.shape.memoryMiB.databaseValue,
                    r.shape.kind.rawValue.databaseValue, r.shape.pinning.rawValue.databaseValue,
                    Self.seconds(r.estimate).databaseValue, row.outcome.databaseValue, row.reason.databaseValue,
                    row.decidedAt.map(Self.seconds).databaseValue, hosts.databaseValue, vfs.databaseValue,
                    row.span.databaseValue, row.pkey.databaseValue, row.start.map(Self.seconds).databaseValue,
                    row.end.map(Self.seconds).databaseValue, row.efficiency.databaseValue,
                    job.wait.map(Self.seconds).databaseValue, job.runTime.map(Self.seconds).databaseValue,
                    job.turnaround.map(Self.seconds).databaseValue, job.slowdown.databaseValue, job.boundedSlowdown.databaseValue,
                ]
                insertRequest.setUncheckedArguments(StatementArguments(values))
                try insertRequest.execute()
            }
            let insertResize = try db.makeStatement(sql: "INSERT INTO resize (runId, id, time, outcome, reason, hosts) VALUES (?, ?, ?, ?, ?, ?)")
            for row in resizeRows { try insertResize.execute(arguments: StatementArguments(row)) }
            let insertSample = try db.makeStatement(sql: """
                INSERT INTO sample (runId, time, physicalCores, memoryGiB, vfs, pkeyEntries, lids, clusters, queued)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for row in sampleRows { try insertSample.execute(arguments: StatementArguments(row)) }
        }
    }

    /// Writes what is left, the summary's metrics and text, and the final status.
    public func finish(summary: Summary, title: String) throws {
        if let last = lastUsage, samples.isEmpty || last.time >= nextSample - sampleStep { appendSample(last.time, last.usage, last.queued) }
        // Still open: running when interrupted, or waiting in a queue that never got room.
        for entry in open.values.sorted(by: { $0.request.id < $1.request.id }) { finished.append(entry) }
        open.removeAll()
        try flush()
        let metrics = Self.metrics(summary)
        try database.writing { db in
            for (name, value) in metrics {
                try db.execute(sql: "INSERT INTO metric (runId, name, value) VALUES (?, ?, ?)", arguments: [runID, name, value])
            }
            try db.execute(sql: "UPDATE run SET status = ?, finishedAt = ?, summary = ? WHERE id = ?",
                           arguments: [summary.interrupted ? "interrupted" : "complete", Self.timestamp(),
                                       summary.formatted(title: title), runID])
        }
    }

    /// The summary's numbers by name (SEMANTICS 9, plus queue and overheads).
    public static func metrics(_ s: Summary) -> [(String, Double)] {
        var m: [(String, Double)] = [
            ("requests", Double(s.requests)), ("accepted", Double(s.accepted)), ("rejected", Double(s.rejectedTotal)),
            ("acceptanceRatio", s.acceptanceRatio), ("events", Double(s.events)), ("departures", Double(s.departures)),
            ("windowStart", seconds(s.windowStart)), ("windowEnd", seconds(s.windowEnd)),
            ("peakConcurrentClusters", Double(s.peakConcurrentClusters)), ("meanHostsSpanned", s.meanHostsSpanned),
            ("resizes", Double(s.resizes)), ("resizesAccepted", Double(s.resizesAccepted)),
            ("peakConcurrentTenants", Double(s.peakConcurrentTenants)),
        ]
        if let steady = s.steadyConcurrency {
            m += [("concurrentClusters.steadyMean", steady.clusters), ("concurrentTenants.steadyMean", steady.tenants)]
        }
        for reason in RejectionReason.allCases { m.append(("rejected.\(reason.rawValue)", Double(s.rejected[reason] ?? 0))) }
        for resource in Resource.allCases {
            guard let u = s.utilization[resource] else { continue }
            let key = resource.metricName
            m += [("\(key).average", u.timeAverage), ("\(key).peak", Double(u.peak)), ("\(key).capacity", Double(u.capacity))]
            if let steady = u.steadyAverage { m.append(("\(key).steadyAverage", steady)) }
        }
        m += [("steadyStart", seconds(s.steadyWindow.lowerBound)), ("steadyEnd", seconds(s.steadyWindow.upperBound))]
        // Subnet names are a safe alphabet (`SubnetSpec.isValidName`): they go into metric names as they are.
        for subnet in s.subnets {
            for share in subnet.peakShares { m.append(("subnet.\(subnet.name).\(share.key).peakShare", share.share)) }
            for reason in RejectionReason.allCases where (subnet.rejections[reason] ?? 0) > 0 {
                m.append(("subnet.\(subnet.name).rejected.\(reason.rawValue)", Double(subnet.rejections[reason]!)))
            }
        }
        // Without a queue every wait is 0 and every slowdown 1: metrics (and sweep charts) that say nothing.
        if s.queue != nil, s.jobs.wait.count > 0 {
            let j = s.jobs
            m += [("jobs.ended", Double(j.wait.count)), ("jobs.wait.mean", j.wait.mean), ("jobs.wait.p90", j.wait.quantile(0.9)),
                  ("jobs.turnaround.mean", j.turnaround.mean), ("jobs.boundedSlowdown.mean", j.boundedSlowdown.mean),
                  ("jobs.boundedSlowdown.p90", j.boundedSlowdown.quantile(0.9)), ("jobs.boundedSlowdown.max", j.boundedSlowdown.maximum)]
        }
        if let p = s.performance, p.efficiency.count > 0 {
            m += [("efficiency.mean", p.efficiency.mean), ("efficiency.p50", p.efficiency.quantile(0.5)),
                  ("stretch.mean", p.stretch.mean), ("stretch.p90", p.stretch.quantile(0.9)),
                  ("overheads.beyondData", Double(p.beyondDataClusters))]
            if let i = p.intervals {
                m += [("efficiency.mean.low", i.efficiency.low), ("efficiency.mean.high", i.efficiency.high),
                      ("stretch.mean.low", i.stretch.low), ("stretch.mean.high", i.stretch.high)]
            }
        }
        if let g = s.migration {
            m += [("migration.count", Double(g.migrations)), ("migration.rescued", Double(g.rescued)),
                  ("migration.unrescued", Double(g.unrescued)), ("migration.hostsEmptied", Double(g.hostsEmptied)),
                  ("migration.gib", g.bytesMoved / 1_073_741_824), ("migration.stallHours", g.stallSeconds / 3600),
                  ("migration.smps", Double(g.smps)), ("migration.pathQueries", Double(g.pathQueries)),
                  ("migration.forced", Double(g.forced)), ("migration.maintenance.emptied", Double(g.maintenanceEmptied)),
                  ("migration.maintenance.blocked", Double(g.maintenanceBlocked))]
            if g.downtimeSeconds.count > 0 {
                m += [("migration.downtime.mean", g.downtimeSeconds.mean), ("migration.downtime.max", g.downtimeSeconds.maximum)]
            }
        }
        if let q = s.queue {
            m += [("wait.meanHours", q.waitHours.mean), ("wait.p90Hours", q.waitHours.quantile(0.9)),
                  ("queue.peak", Double(q.peakLength)), ("queue.expired", Double(q.expired))]
        }
        return m
    }

    static func seconds(_ ns: Nanoseconds) -> Double { Double(ns) / 1e9 }
    /// The decision log's `hosts` field, as the database stores it.
    static func hostList(_ vms: [PlacedVM]) -> String {
        var bytes: [UInt8] = []
        DecisionRow.appendHosts(vms, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Resource {
    /// A column-friendly name: `physicalCores`, `memoryGiB`, `vfs`, `pkeyEntries`, `lids`.
    public var metricName: String {
        switch self {
        case .physicalCores: "physicalCores"
        case .memory: "memoryGiB"
        case .vfs: "vfs"
        case .pkeyEntries: "pkeyEntries"
        case .lids: "lids"
        }
    }
}
