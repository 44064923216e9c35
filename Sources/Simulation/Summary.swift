import Allocation
import CloudModel
import Foundation

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
    public var utilization: [Resource: Utilization]
    public var peakConcurrentClusters: Int
    /// Distinct hosts of each accepted hpc cluster at admission, averaged.
    public var meanHostsSpanned: Double
    public var buildTimeLIDs: Int

    public var rejectedTotal: Int { rejected.values.reduce(0, +) }
    public var acceptanceRatio: Double { requests == 0 ? 0 : Double(accepted) / Double(requests) }

    /// The summary as an aligned, human-readable table.
    public func formatted(title: String) -> String {
        var lines: [String] = [title, String(repeating: "=", count: title.count)]
        func add(_ label: String, _ value: String) {
            lines.append(label.padding(toLength: 34, withPad: " ", startingAt: 0) + value)
        }
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
        add("Departures", "\(departures)")
        add("Peak concurrent clusters", "\(peakConcurrentClusters)")
        add("Mean hosts per hpc cluster", String(format: "%.3f", meanHostsSpanned))
        lines.append("")
        lines.append("Utilization".padding(toLength: 18, withPad: " ", startingAt: 0)
                     + pad("time-avg", 12) + pad("avg %", 10) + pad("peak", 10) + pad("peak %", 10) + pad("capacity", 11))
        for resource in Resource.allCases {
            guard let u = utilization[resource] else { continue }
            lines.append("  " + resource.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)
                         + pad(String(format: "%.2f", u.timeAverage), 12) + pad(percent(u.averageFraction), 10)
                         + pad("\(u.peak)", 10) + pad(percent(u.peakFraction), 10) + pad("\(u.capacity)", 11))
        }
        lines.append("  (pkey entries exclude each port's default entry; LIDs include \(buildTimeLIDs) held from build time)")
        return lines.joined(separator: "\n")
    }

    private func percent(_ fraction: Double) -> String { String(format: "%.2f%%", fraction * 100) }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? " " + text : String(repeating: " ", count: width - text.count) + text
    }

    private func hoursText(_ ns: Nanoseconds) -> String {
        String(format: "%.2f h", Double(ns) / 3.6e12)
    }
}
