/// Simulated time and durations, in integer nanoseconds (SEMANTICS section 1).
public typealias Nanoseconds = Int64

public enum Units {
    public static let nanosecondsPerSecond: Int64 = 1_000_000_000
    public static let mebibytesPerGibibyte: Int64 = 1024

    /// Parses a non-negative decimal number (`12`, `0.5`, `3.`, `1e3` is not accepted)
    /// exactly into an integer count of `1/scale` units, rounding half away from zero.
    /// Returns nil for anything that is not such a number or that overflows.
    public static func parseDecimal(_ text: Substring, scale: Int64) -> Int64? {
        parseDecimal(bytes: text.utf8, scale: scale)
    }

    /// `parseDecimal` over ASCII bytes (no String needed: the trace reader's hot path).
    @inlinable
    public static func parseDecimal(bytes text: some Collection<UInt8>, scale: Int64) -> Int64? {
        var whole: Int64 = 0
        var fraction: Int64 = 0
        var fractionScale: Int64 = 1
        var roundUp = false
        var sawDigit = false
        var seenPoint = false
        var fractionDone = false
        for byte in text {
            if byte == UInt8(ascii: ".") {
                if seenPoint { return nil }
                seenPoint = true
                continue
            }
            guard byte >= 48 && byte <= 57 else { return nil }
            sawDigit = true
            let digit = Int64(byte - 48)
            if !seenPoint {
                let (m, o1) = whole.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(digit)
                if o1 || o2 { return nil }
                whole = a
            } else if !fractionDone {
                if fractionScale < scale {
                    fraction = fraction * 10 + digit
                    fractionScale *= 10
                } else {
                    // First digit past the unit decides rounding (half away from zero).
                    roundUp = digit >= 5
                    fractionDone = true
                }
            }
        }
        guard sawDigit else { return nil }
        // Bring the fraction to `scale` units (scale is a power of ten).
        while fractionScale < scale {
            fraction *= 10
            fractionScale *= 10
        }
        let (w, o1) = whole.multipliedReportingOverflow(by: scale)
        let (t, o2) = w.addingReportingOverflow(fraction + (roundUp ? 1 : 0))
        if o1 || o2 { return nil }
        return t
    }

    /// Decimal seconds (`12.5`) to nanoseconds, exact.
    public static func nanoseconds(fromSeconds text: Substring) -> Nanoseconds? {
        nanoseconds(fromSeconds: text.utf8)
    }

    @inlinable
    public static func nanoseconds(fromSeconds text: some Collection<UInt8>) -> Nanoseconds? {
        parseDecimal(bytes: text, scale: nanosecondsPerSecond)
    }

    /// Decimal GiB to whole MiB, rounded half away from zero. Ten decimals are kept,
    /// so every whole MiB written as GiB (`formatGiB`, k / 1024 has at most ten) reads
    /// back exactly; rounding through thousandths first turned 0.0625 (64 MiB) into 65.
    public static func mebibytes(fromGibibytes text: Substring) -> Int64? {
        mebibytes(fromGibibytes: text.utf8)
    }

    @inlinable
    public static func mebibytes(fromGibibytes text: some Collection<UInt8>) -> Int64? {
        let scale: Int64 = 10_000_000_000
        guard let units = parseDecimal(bytes: text, scale: scale) else { return nil }
        let mib = (Int128(units) * Int128(mebibytesPerGibibyte) + Int128(scale / 2)) / Int128(scale)
        return mib <= Int128(Int64.max) ? Int64(mib) : nil
    }

    /// MiB as GiB, exactly: `256`, `1.5`, `0.0009765625` (a MiB over 1024 is a binary fraction, printed whole).
    public static func formatGiB(_ mib: Int64) -> String {
        mib % mebibytesPerGibibyte == 0 ? "\(mib / mebibytesPerGibibyte)" : "\(Double(mib) / Double(mebibytesPerGibibyte))"
    }

    /// Seconds with six decimals (microseconds, rounded half away from zero), as in the decision log.
    public static func formatSeconds(_ ns: Nanoseconds) -> String {
        var bytes: [UInt8] = []
        appendSeconds(ns, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `formatSeconds` appended as ASCII bytes, allocating nothing beyond `out`'s growth.
    public static func appendSeconds(_ ns: Nanoseconds, to out: inout [UInt8]) {
        precondition(ns >= 0, "negative time")
        let micro = (ns + 500) / 1000
        appendDecimal(micro / 1_000_000, to: &out)
        out.append(UInt8(ascii: "."))
        let start = out.count
        var fraction = micro % 1_000_000
        for _ in 0..<6 {
            out.append(48 + UInt8(fraction % 10))
            fraction /= 10
        }
        out[start...].reverse()
    }

    /// A non-negative integer in decimal, appended as ASCII bytes.
    public static func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
        precondition(value >= 0, "negative value")
        let start = out.count
        var rest = value
        repeat {
            out.append(48 + UInt8(rest % 10))
            rest /= 10
        } while rest > 0
        out[start...].reverse()
    }
}

/// Column alignment for the tool's text tables.
extension String {
    /// Right-aligned in `width` columns (one leading space at least, so columns never touch).
    public func leftPadded(to width: Int) -> String {
        count >= width ? " " + self : String(repeating: " ", count: width - count) + self
    }

    /// Left-aligned in `width` columns (one trailing space at least).
    public func rightPadded(to width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}

/// The simulated clock's reach: integer nanoseconds hold 292 years; an arrival and
/// a duration of at most 100 years each, plus the overheads' stretch, stay on it.
public enum SimulatedClock {
    public static let latestInput: Nanoseconds = Nanoseconds(LifetimeCap.seconds) * Units.nanosecondsPerSecond
}

/// Longest lifetime a cluster gets: heavy tails (lognormal, Weibull with shape
/// < 1, large work) can exceed what integer nanoseconds hold; 100 years is past any horizon.
public enum LifetimeCap {
    public static let seconds = 100 * 365.25 * 86_400
}
