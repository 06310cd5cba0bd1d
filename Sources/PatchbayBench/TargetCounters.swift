import AsyncHTTPClient
import Foundation
import NIOCore

/// The target's own view of a run: its Prometheus counters read before and after, as differences.
///
/// What a gateway does to audio inside (a frame concealed because it missed its mixing tick, a queue
/// trimmed) never shows on the wire as a lost frame; a target that exports counters can say it.
enum TargetCounters {
    /// Every unlabelled sample whose name ends in `_total`, from Prometheus text format.
    static func parse(_ text: String) -> [String: Double] {
        samples(text).filter { $0.key.hasSuffix("_total") }
    }

    /// Every unlabelled sample (counters and gauges), by name, from Prometheus text format.
    static func samples(_ text: String) -> [String: Double] {
        var values: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.contains("{") {
            let parts = line.split(separator: " ")
            guard parts.count >= 2, let value = Double(parts[1]) else { continue }
            values[String(parts[0])] = value
        }
        return values
    }

    static func read(_ url: String) async throws(Unreadable) -> [String: Double] {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "accept", value: "text/plain")
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
            body = try await response.body.collect(upTo: 4 << 20)
        } catch {
            throw Unreadable(url: url, reason: "\(error)")
        }
        guard response.status == .ok else { throw Unreadable(url: url, reason: "HTTP \(response.status.code)") }
        return parse(String(buffer: body))
    }

    /// after - before, for every counter present in both.
    static func difference(_ before: [String: Double], _ after: [String: Double]) -> [String: Double] {
        var d: [String: Double] = [:]
        for (name, value) in after {
            if let old = before[name] { d[name] = value - old }
        }
        return d
    }

    struct Unreadable: Error, CustomStringConvertible {
        let url: String
        let reason: String
        var description: String { "cannot read the target's metrics at \(url): \(reason)" }
    }
}
