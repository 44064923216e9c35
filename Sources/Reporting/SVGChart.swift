import Foundation

/// Inline SVG charts drawn by the project: no scripts, no fonts or files from
/// the network. Each chart has a title, labelled axes with units, and a legend.
enum SVGChart {
    static let width = 560.0, height = 310.0
    /// The plot's margins; the legend's rows go below the x axis label.
    static let left = 64.0, right = 16.0, top = 36.0, bottom = 40.0
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
    }

    /// Lines over a numeric x axis; `step`: values hold until the next point (samples, CDFs).
    static func lines(title: String, xLabel: String, yLabel: String, series: [Series], yMax: Double? = nil, step: Bool = true) -> String {
        let xs = series.flatMap { $0.points.map(\.x) }, ys = series.flatMap { $0.points.map(\.y) }
        guard var xMin = xs.min(), var xMax = xs.max() else { return empty(title) }
        // One x value: an axis around it, not a zero-width one.
        if xMin == xMax { xMin -= 1; xMax += 1 }
        let yTop = niceCeiling(yMax ?? top(ys))
        var svg = frame(title: title, xLabel: xLabel, yLabel: yLabel)
        svg += axes(xMin: xMin, xMax: xMax, yMin: 0, yMax: yTop)
        for (i, s) in series.enumerated() {
            var path = ""
            var previousY: Double?
            for p in s.points {
                let x = fmt(sx(p.x, xMin, xMax)), y = fmt(sy(p.y, 0, yTop))
                if let previousY, step { path += " L\(x),\(fmt(previousY)) L\(x),\(y)" } else { path += (previousY == nil ? "M" : " L") + "\(x),\(y)" }
                previousY = sy(p.y, 0, yTop)
            }
            svg += "<path class=\"series\" d=\"\(path)\" fill=\"none\" stroke=\"\(color(i))\" stroke-width=\"1.6\"/>"
        }
        return close(svg, legend: series.map(\.name))
    }

    /// A mean with its confidence interval at one x.
    struct Band {
        var name: String
        var points: [(x: Double, mean: Double, lower: Double, upper: Double)]
    }

    /// Lines through means with shaded confidence bands; `categories` labels
    /// x = 0, 1, ... when the varied values are not numbers.
    static func bands(title: String, xLabel: String, yLabel: String, series: [Band], categories: [String]? = nil) -> String {
        let xs = series.flatMap { $0.points.map(\.x) }, ys = series.flatMap { $0.points.flatMap { [$0.lower, $0.upper] } }
        guard var xMin = xs.min(), var xMax = xs.max() else { return empty(title) }
        if xMin == xMax { xMin -= 1; xMax += 1 }
        // Categories (policies) are not a scale: half a slot of room on each side, and no line between them.
        if let categories { (xMin, xMax) = (-0.5, Double(categories.count) - 0.5) }
        let yMin = min(0, ys.min() ?? 0), yTop = niceCeiling(top(ys))
        var svg = frame(title: title, xLabel: xLabel, yLabel: yLabel)
        svg += axes(xMin: categories == nil ? xMin : nil, xMax: categories == nil ? xMax : nil, yMin: yMin, yMax: yTop)
        if let categories {
            for (i, label) in categories.enumerated() {
                svg += "<text x=\"\(fmt(sx(Double(i), xMin, xMax)))\" y=\"\(fmt(height - bottom + 16))\" text-anchor=\"middle\" class=\"tick\">\(escape(label))</text>"
            }
        }
        for (i, s) in series.enumerated() where categories != nil {
            // Error bars, the series side by side within a category.
            let offset = (Double(i) - Double(series.count - 1) / 2) * min(0.12, 0.6 / Double(series.count))
            for p in s.points {
                svg += errorBar(x: sx(p.x + offset, xMin, xMax), p, yMin, yTop, color: color(i), name: s.name + ": ")
            }
        }
        for (i, s) in series.enumerated() where categories == nil {
            let upper = s.points.map { "\(fmt(sx($0.x, xMin, xMax))),\(fmt(sy($0.upper, yMin, yTop)))" }
            let lower = s.points.reversed().map { "\(fmt(sx($0.x, xMin, xMax))),\(fmt(sy($0.lower, yMin, yTop)))" }
            svg += "<polygon class=\"band\" points=\"\((upper + lower).joined(separator: " "))\" fill=\"\(color(i))\" fill-opacity=\"0.18\" stroke=\"none\"/>"
            let line = s.points.map { "\(fmt(sx($0.x, xMin, xMax))),\(fmt(sy($0.mean, yMin, yTop)))" }
            svg += "<polyline class=\"series\" points=\"\(line.joined(separator: " "))\" fill=\"none\" stroke=\"\(color(i))\" stroke-width=\"1.8\"/>"
            for p in s.points {
                svg += "<circle cx=\"\(fmt(sx(p.x, xMin, xMax)))\" cy=\"\(fmt(sy(p.mean, yMin, yTop)))\" r=\"2.5\" fill=\"\(color(i))\"><title>\(escape(s.name)): \(fmt(p.mean)) [\(fmt(p.lower)), \(fmt(p.upper))]</title></circle>"
            }
        }
        return close(svg, legend: series.map(\.name))
    }

    /// Bars per category; with several series, bars side by side (`stacked`: on top of each other).
    static func bars(title: String, xLabel: String, yLabel: String, categories: [String], series: [Series], stacked: Bool) -> String {
        guard !categories.isEmpty, !series.isEmpty else { return empty(title) }
        let totals = categories.indices.map { c in series.map { $0.points.count > c ? $0.points[c].y : 0 } }
        let yTop = niceCeiling(max(totals.map { stacked ? $0.reduce(0, +) : ($0.max() ?? 0) }.max() ?? 1, 1))
        var svg = frame(title: title, xLabel: xLabel, yLabel: yLabel)
        svg += axes(xMin: nil, xMax: nil, yMin: 0, yMax: yTop)
        let plotWidth = width - left - right
        let slot = plotWidth / Double(categories.count)
        let barWidth = stacked ? slot * 0.8 : slot * 0.8 / Double(series.count)
        let labelEvery = max(1, categories.count / 12)
        for (c, category) in categories.enumerated() {
            var base = 0.0
            for (i, s) in series.enumerated() {
                let value = s.points.count > c ? s.points[c].y : 0
                guard value > 0 || !stacked else { continue }
                let x = left + slot * Double(c) + slot * 0.1 + (stacked ? 0 : barWidth * Double(i))
                let y0 = sy(base, 0, yTop), y1 = sy(base + value, 0, yTop)
                svg += "<rect class=\"bar\" x=\"\(fmt(x))\" y=\"\(fmt(y1))\" width=\"\(fmt(barWidth))\" height=\"\(fmt(max(y0 - y1, 0)))\" fill=\"\(color(i))\"><title>\(escape(s.name)) \(escape(category)): \(fmt(value))</title></rect>"
                if stacked { base += value }
            }
            if c % labelEvery == 0 {
                svg += "<text x=\"\(fmt(left + slot * (Double(c) + 0.5)))\" y=\"\(fmt(height - bottom + 16))\" text-anchor=\"middle\" class=\"tick\">\(escape(category))</text>"
            }
        }
        return close(svg, legend: series.map(\.name))
    }

    /// A mean with its interval per category (error bars), and the zero line:
    /// differences against a baseline, where an interval clear of zero is a difference.
    static func intervals(title: String, xLabel: String, yLabel: String, categories: [String],
                          points: [(x: Double, mean: Double, lower: Double, upper: Double)]) -> String {
        guard !points.isEmpty else { return empty(title) }
        let lows = points.map(\.lower), highs = points.map(\.upper)
        // All zero: a unit axis around the zero line, not one of a billionth.
        let span = max(abs(lows.min()!), abs(highs.max()!)) > 0 ? max(abs(lows.min()!), abs(highs.max()!)) : 1
        let yMin = min(0, lows.min()!) < 0 ? -niceCeiling(abs(min(0, lows.min()!))) : 0
        let yMax = max(0, highs.max()!) > 0 ? niceCeiling(max(0, highs.max()!)) : 0
        let (lo, hi) = yMin == yMax ? (-span, span) : (yMin, yMax)
        let xMin = -0.5, xMax = Double(categories.count) - 0.5
        var svg = frame(title: title, xLabel: xLabel, yLabel: yLabel)
        svg += axes(xMin: nil, xMax: nil, yMin: lo, yMax: hi)
        svg += "<line x1=\"\(fmt(left))\" x2=\"\(fmt(width - right))\" y1=\"\(fmt(sy(0, lo, hi)))\" y2=\"\(fmt(sy(0, lo, hi)))\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>"
        for (i, label) in categories.enumerated() {
            svg += "<text x=\"\(fmt(sx(Double(i), xMin, xMax)))\" y=\"\(fmt(height - bottom + 16))\" text-anchor=\"middle\" class=\"tick\">\(escape(label))</text>"
        }
        for p in points { svg += errorBar(x: sx(p.x, xMin, xMax), p, lo, hi, color: color(Int(p.x)), name: "") }
        return close(svg, legend: [])
    }

    /// A mean's dot and its interval's bar with caps, at plot x `x`.
    static func errorBar(x: Double, _ p: (x: Double, mean: Double, lower: Double, upper: Double), _ lo: Double, _ hi: Double,
                         color c: String, name: String) -> String {
        var svg = "<line x1=\"\(fmt(x))\" x2=\"\(fmt(x))\" y1=\"\(fmt(sy(p.lower, lo, hi)))\" y2=\"\(fmt(sy(p.upper, lo, hi)))\" stroke=\"\(c)\" stroke-width=\"2\"/>"
        for y in [p.lower, p.upper] {
            svg += "<line x1=\"\(fmt(x - 5))\" x2=\"\(fmt(x + 5))\" y1=\"\(fmt(sy(y, lo, hi)))\" y2=\"\(fmt(sy(y, lo, hi)))\" stroke=\"\(c)\" stroke-width=\"2\"/>"
        }
        return svg + "<circle cx=\"\(fmt(x))\" cy=\"\(fmt(sy(p.mean, lo, hi)))\" r=\"3.5\" fill=\"\(c)\"><title>\(escape(name))\(fmt(p.mean)) [\(fmt(p.lower)), \(fmt(p.upper))]</title></circle>"
    }

    // MARK: Pieces

    /// The chart's opening tag stands in for its height: `close` fills it once the legend's rows are known.
    static let heightMark = "HPCCLOUD-CHART-HEIGHT"

    static func frame(title: String, xLabel: String, yLabel: String) -> String {
        """
        <svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 \(fmt(width)) \(heightMark)" width="\(fmt(width))" height="\(heightMark)" role="img" aria-label="\(escape(title))">\
        <rect width="100%" height="100%" fill="#fff"/>\
        <text x="\(fmt(width / 2))" y="20" text-anchor="middle" class="title">\(escape(title))</text>\
        <text x="\(fmt(left + (width - left - right) / 2))" y="\(fmt(height - 8))" text-anchor="middle" class="label">\(escape(xLabel))</text>\
        <text x="14" y="\(fmt(top + (height - top - bottom) / 2))" text-anchor="middle" class="label" transform="rotate(-90 14 \(fmt(top + (height - top - bottom) / 2)))">\(escape(yLabel))</text>
        """
    }

    /// Adds the legend below the plot, in as many rows as its names need (a
    /// legend never runs off the chart or over the data), and closes the chart.
    static func close(_ svg: String, legend names: [String]) -> String {
        let (legendSVG, rows) = legend(names)
        let total = height + 8 + Double(rows) * legendRow
        return svg.replacingOccurrences(of: heightMark, with: fmt(total)) + legendSVG + "</svg>"
    }

    static let legendRow = 16.0

    /// The legend's rows under the x axis label: names wrap to the next row, and
    /// a name too long for a row is cut with an ellipsis (in full on hover).
    static func legend(_ names: [String]) -> (svg: String, rows: Int) {
        guard !names.isEmpty else { return ("", 0) }
        let charWidth = 6.2, usable = width - left - right
        var svg = "<g class=\"legend\">"
        var x = left, row = 0
        for (i, name) in names.enumerated() {
            let maxCharacters = Int((usable - 22) / charWidth)
            let shown = name.count > maxCharacters ? String(name.prefix(maxCharacters - 1)) + "…" : name
            let itemWidth = 22 + Double(shown.count) * charWidth
            if x > left && x + itemWidth > width - right {
                row += 1
                x = left
            }
            let y = height + 6 + Double(row) * legendRow
            svg += "<g><title>\(escape(name))</title><rect x=\"\(fmt(x))\" y=\"\(fmt(y - 9))\" width=\"10\" height=\"10\" fill=\"\(color(i))\"/>"
            svg += "<text x=\"\(fmt(x + 14))\" y=\"\(fmt(y))\" class=\"tick\">\(escape(shown))</text></g>"
            x += itemWidth
        }
        return (svg + "</g>", row + 1)
    }

    /// A chart as a file of its own: its styles inside, no page around it.
    static func standalone(_ chart: String) -> String {
        let style = """
        <style>text { font-family: DejaVu Sans, Liberation Sans, Arial, sans-serif; fill: #222; } .title { font-size: 14px; font-weight: bold; } \
        .label { font-size: 12px; fill: #333; } .tick { font-size: 10px; fill: #444; } .grid { stroke: #eee; }</style>
        """
        guard let end = chart.range(of: ">") else { return chart }
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + chart[..<end.upperBound] + style + chart[end.upperBound...] + "\n"
    }

    static func axes(xMin: Double?, xMax: Double?, yMin: Double, yMax: Double) -> String {
        var svg = "<g class=\"axes\">"
        for tick in ticks(yMin, yMax) {
            let y = fmt(sy(tick, yMin, yMax))
            svg += "<line x1=\"\(fmt(left))\" x2=\"\(fmt(width - right))\" y1=\"\(y)\" y2=\"\(y)\" class=\"grid\"/>"
            svg += "<text x=\"\(fmt(left - 6))\" y=\"\(y)\" dy=\"4\" text-anchor=\"end\" class=\"tick\">\(tickText(tick))</text>"
        }
        if let xMin, let xMax {
            for tick in ticks(xMin, xMax) {
                let x = fmt(sx(tick, xMin, xMax))
                svg += "<line x1=\"\(x)\" x2=\"\(x)\" y1=\"\(fmt(height - bottom))\" y2=\"\(fmt(height - bottom + 4))\" stroke=\"#444\"/>"
                svg += "<text x=\"\(x)\" y=\"\(fmt(height - bottom + 16))\" text-anchor=\"middle\" class=\"tick\">\(tickText(tick))</text>"
            }
        }
        svg += "<line x1=\"\(fmt(left))\" x2=\"\(fmt(left))\" y1=\"\(fmt(top))\" y2=\"\(fmt(height - bottom))\" stroke=\"#444\"/>"
        svg += "<line x1=\"\(fmt(left))\" x2=\"\(fmt(width - right))\" y1=\"\(fmt(height - bottom))\" y2=\"\(fmt(height - bottom))\" stroke=\"#444\"/>"
        return svg + "</g>"
    }

    static func empty(_ title: String) -> String {
        close(frame(title: title, xLabel: "", yLabel: "") + "<text x=\"\(fmt(width / 2))\" y=\"\(fmt(height / 2))\" text-anchor=\"middle\" class=\"label\">no data</text>", legend: [])
    }

    static func color(_ i: Int) -> String { palette[i % palette.count] }
    static func sx(_ x: Double, _ lo: Double, _ hi: Double) -> Double { left + (x - lo) / (hi - lo) * (width - left - right) }
    static func sy(_ y: Double, _ lo: Double, _ hi: Double) -> Double { height - bottom - (y - lo) / (hi - lo) * (height - top - bottom) }

    /// The top of a y axis from 0: the largest value, or 1 when none is above 0 (not a degenerate axis).
    static func top(_ values: [Double]) -> Double {
        let largest = values.max() ?? 0
        return largest > 0 ? largest : 1
    }

    /// 1, 2 or 5 times a power of ten, at least `x`.
    static func niceCeiling(_ x: Double) -> Double {
        let magnitude = pow(10, floor(log10(x)))
        for step in [1.0, 2, 5, 10] where step * magnitude >= x { return step * magnitude }
        return 10 * magnitude
    }

    /// About five round ticks over [lo, hi].
    static func ticks(_ lo: Double, _ hi: Double) -> [Double] {
        let step = niceCeiling((hi - lo) / 5)
        var tick = (lo / step).rounded(.up) * step
        var result: [Double] = []
        while tick <= hi + step * 1e-9 {
            result.append(tick)
            tick += step
        }
        return result
    }

    static func tickText(_ x: Double) -> String {
        let x = abs(x) < 1e-9 ? 0 : x  // no "-0" from a tick that summed to a hair below zero
        if abs(x) >= 10_000 { return String(format: "%.0fk", x / 1000) }
        return x == x.rounded() ? String(format: "%.0f", x) : String(format: "%.2g", x)
    }

    static func fmt(_ x: Double) -> String { String(format: "%.1f", x) }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "'", with: "&#39;")
    }
}
