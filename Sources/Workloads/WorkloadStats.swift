import CloudModel
import SimKernel

/// What a workload looks like, without simulating it (`hpccloud workload stats`).
public struct WorkloadStats: Sendable {
    public let requests: Int
    public let resizes: Int
    /// First to last arrival.
    public let firstArrival: Nanoseconds
    public let lastArrival: Nanoseconds
    public let vms: SampleSummary
    public let vcoresPerVM: SampleSummary
    public let memoryGiBPerVM: SampleSummary
    public let lifetimeHours: SampleSummary
    public let commonShare: Double
    public let pinnedShare: Double
    public let tenants: Int
    /// Offered load: the time integral of demand over the arrival span, i.e.
    /// the mean number of vcores (or VFs) wanted at once if nothing were refused.
    public let offeredPinnedVcores: Double
    public let offeredDynamicVcores: Double
    public let offeredVFs: Double
    /// Mean GiB of VM memory wanted at once (every VM, either kind).
    public let offeredMemoryGiB: Double

    public init(_ workload: Workload) {
        let requests = workload.requests
        self.requests = requests.count
        resizes = workload.resizes.count
        firstArrival = requests.map(\.arrival).min() ?? 0
        lastArrival = requests.map(\.arrival).max() ?? 0
        vms = SampleSummary(requests.map { Double($0.vms) })
        vcoresPerVM = SampleSummary(requests.map { Double($0.shape.vcores) })
        memoryGiBPerVM = SampleSummary(requests.map { Double($0.shape.memoryMiB) / 1024 })
        lifetimeHours = SampleSummary(requests.map { Double($0.duration) / 3.6e12 })
        let count = Double(max(requests.count, 1))
        commonShare = Double(requests.count { $0.shape.kind == .common }) / count
        pinnedShare = Double(requests.count { $0.shape.pinning == .fixed }) / count
        tenants = Set(requests.map(\.tenant)).count
        // vcore-, VF- and MiB-nanoseconds, exact in 128 bits.
        var pinned: Int128 = 0, dynamic: Int128 = 0, vfs: Int128 = 0, memory: Int128 = 0
        for request in requests {
            let vmTime = Int128(request.vms) * Int128(request.duration)
            let vcoreTime = vmTime * Int128(request.shape.vcores)
            if request.shape.pinning == .fixed { pinned += vcoreTime } else { dynamic += vcoreTime }
            if request.shape.kind == .hpc { vfs += vmTime }
            memory += vmTime * Int128(request.shape.memoryMiB)
        }
        let span = Double(max(lastArrival - firstArrival, 1))
        offeredPinnedVcores = Double(pinned) / span
        offeredDynamicVcores = Double(dynamic) / span
        offeredVFs = Double(vfs) / span
        offeredMemoryGiB = Double(memory) / span / 1024
    }

    public var spanHours: Double { Double(lastArrival - firstArrival) / 3.6e12 }
    public var arrivalsPerHour: Double { spanHours > 0 ? Double(requests - 1) / spanHours : 0 }

    /// Physical cores the offered load needs at overcommit `r`: pinned vcores own
    /// cores, dynamic ones share them at r.
    public func offeredPhysicalCores(overcommit: Overcommit) -> Double {
        offeredPinnedVcores + offeredDynamicVcores * Double(overcommit.denominator) / Double(overcommit.numerator)
    }
}

extension WorkloadStats {
    /// The report `hpccloud workload stats` prints; with a cloud, the offered
    /// load is also shown against its capacity.
    public func formatted(title: String, cloud: CloudSpec?) -> String {
        var lines = [title, String(repeating: "=", count: title.count)]
        func add(_ label: String, _ value: String) {
            lines.append(label.rightPadded(to: 30) + value)
        }
        func percent(_ x: Double) -> String { String(format: "%.1f%%", x * 100) }
        add("Requests", "\(requests)")
        add("Resizes", "\(resizes)")
        add("Arrivals", String(format: "%.3f h .. %.3f h (span %.2f h), mean rate %.3f per hour",
                               Double(firstArrival) / 3.6e12, Double(lastArrival) / 3.6e12, spanHours, arrivalsPerHour))
        add("Tenants", "\(tenants)")
        add("Kinds", "hpc \(percent(1 - commonShare)), common \(percent(commonShare)); pinned \(percent(pinnedShare))")
        lines.append("")
        let columns = ["mean", "min", "p50", "p90", "p99", "max"]
        lines.append("".rightPadded(to: 22)
                     + columns.map { $0.leftPadded(to: 11) }.joined())
        for (label, sample) in [("VMs per cluster", vms), ("vcores per VM", vcoresPerVM), ("memory per VM (GiB)", memoryGiBPerVM),
                                ("lifetime (h)", lifetimeHours)] {
            let values = [sample.mean, sample.minimum, sample.quantile(0.5), sample.quantile(0.9), sample.quantile(0.99), sample.maximum]
            lines.append("  " + label.rightPadded(to: 20)
                         + values.map { String(format: "%.3f", $0).leftPadded(to: 11) }.joined())
        }
        lines.append("")
        lines.append("Offered load (mean demand over the arrival span, if nothing were refused)")
        add("  vcores, pinned", String(format: "%.1f", offeredPinnedVcores))
        add("  vcores, dynamic", String(format: "%.1f", offeredDynamicVcores))
        if let cloud {
            let cores = cloud.groups.reduce(0) { $0 + $1.count * $1.cores }
            let vfs = cloud.groups.reduce(0) { $0 + $1.count * $1.vfs }
            let r = cloud.overcommit
            let physical = offeredPhysicalCores(overcommit: r)
            add("  physical cores at r=\(r)", String(format: "%.1f", physical) + " (\(percent(physical / Double(max(cores, 1)))) of \(cores))")
            add("  VFs", String(format: "%.1f", offeredVFs) + " (\(percent(offeredVFs / Double(max(vfs, 1)))) of \(vfs))")
            let memory = cloud.memoryGiB
            add("  memory (GiB)", String(format: "%.1f", offeredMemoryGiB) + " (\(percent(offeredMemoryGiB / max(memory, 1)))"
                + " of \(String(format: "%.0f", memory)))")
        } else {
            add("  physical cores at r=1", String(format: "%.1f", offeredPhysicalCores(overcommit: .none)))
            add("  VFs", String(format: "%.1f", offeredVFs))
            add("  memory (GiB)", String(format: "%.1f", offeredMemoryGiB))
        }
        return lines.joined(separator: "\n")
    }
}
