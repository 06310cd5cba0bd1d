import Foundation

/// A self-contained SVG of a run: the round-trip distribution by percentile, and p99 per second.
enum BenchPlot {
    static func svg(_ r: BenchResult) -> String {
        let width = 900.0
        let height = 360.0
        let pad = 60.0
        let plotW = (width - 3 * pad) / 2
        let plotH = height - 2 * pad
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(pad)" y="24" font-size="14">patchbay bench \(escape(r.url)): \(r.calls) calls, \(r.sampleRate) Hz, \(Int(r.durationSeconds)) s</text>

            """
        // Left: round trip (ms) against percentile on a "nines" axis: x = -log10(1 - p/100).
        let curve = r.roundTripCurve.filter { $0[0] < 100 }
        let maxNines = 4.0
        let maxMs = max(0.1, (r.roundTripCurve.map { $0[1] }.max() ?? 0) / 1000) * 1.1
        func x1(_ p: Double) -> Double { pad + plotW * min(maxNines, -log10(max(1e-4, 1 - p / 100))) / maxNines }
        func y1(_ ms: Double) -> Double { pad + plotH - plotH * ms / maxMs }
        s += axes(x: pad, y: pad, w: plotW, h: plotH, title: "\(r.latencyName) by percentile", yLabel: "ms", yMax: maxMs)
        for (label, p) in [("50", 50.0), ("90", 90.0), ("99", 99.0), ("99.9", 99.9), ("99.99", 99.99)] {
            s += "<text x=\"\(x1(p))\" y=\"\(pad + plotH + 16)\" text-anchor=\"middle\">\(label)</text>\n"
        }
        s += polyline(curve.map { (x1($0[0]), y1($0[1] / 1000)) }, color: "#1f77b4")
        // Right: p99 of each second, with calls up.
        let x0 = 2 * pad + plotW
        let points = r.timeline
        let maxP99 = max(0.1, (points.map { Double($0.intervalP99Microseconds) / 1000 }.max() ?? 0) * 1.1)
        let seconds = Double(max(1, points.last?.elapsedSeconds ?? 1))
        s += axes(x: x0, y: pad, w: plotW, h: plotH, title: "p99 \(r.latencyName) per second", yLabel: "ms", yMax: maxP99)
        s += "<text x=\"\(x0 + plotW)\" y=\"\(pad + plotH + 16)\" text-anchor=\"end\">\(Int(seconds)) s</text>\n"
        s += polyline(
            points.map {
                (x0 + plotW * Double($0.elapsedSeconds) / seconds, pad + plotH - plotH * Double($0.intervalP99Microseconds) / 1000 / maxP99)
            },
            color: "#d62728")
        s += "</svg>\n"
        return s
    }

    private static func axes(x: Double, y: Double, w: Double, h: Double, title: String, yLabel: String, yMax: Double) -> String {
        var s = "<text x=\"\(x)\" y=\"\(y - 10)\">\(title)</text>\n"
        s += "<line x1=\"\(x)\" y1=\"\(y + h)\" x2=\"\(x + w)\" y2=\"\(y + h)\" stroke=\"black\"/>\n"
        s += "<line x1=\"\(x)\" y1=\"\(y)\" x2=\"\(x)\" y2=\"\(y + h)\" stroke=\"black\"/>\n"
        for i in 0...4 {
            let v = yMax * Double(i) / 4
            let yy = y + h - h * Double(i) / 4
            s += "<line x1=\"\(x)\" y1=\"\(yy)\" x2=\"\(x + w)\" y2=\"\(yy)\" stroke=\"#ddd\"/>\n"
            s += "<text x=\"\(x - 6)\" y=\"\(yy + 4)\" text-anchor=\"end\">\(String(format: "%.2f", v))</text>\n"
        }
        s += "<text x=\"\(x - 40)\" y=\"\(y - 10)\">\(yLabel)</text>\n"
        return s
    }

    private static func polyline(_ points: [(Double, Double)], color: String) -> String {
        guard !points.isEmpty else { return "" }
        let text = points.map { String(format: "%.1f,%.1f", $0.0, $0.1) }.joined(separator: " ")
        return "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(text)\"/>\n"
    }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
    }
}

extension BenchResult {
    /// The plot as SVG text.
    public var svg: String { BenchPlot.svg(self) }
}
