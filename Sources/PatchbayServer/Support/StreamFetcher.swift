import AsyncHTTPClient
import Foundation
public import NIOCore
import NIOHTTP1

/// Why an audio stream could not be fetched.
public enum StreamFetchError: Error, Equatable, CustomStringConvertible {
    /// Not an absolute http or https URL.
    case invalidURL(String)
    /// The server answered with a status other than 200.
    case httpStatus(Int)
    /// The body is (or declares itself) larger than the limit.
    case tooLarge(limit: Int)
    /// The whole fetch took longer than the limit.
    case timedOut(limit: Duration)
    /// More redirects than the limit, or a redirect loop.
    case tooManyRedirects(limit: Int)
    /// Connecting or reading failed.
    case transport(String)

    public var description: String {
        switch self {
        case .invalidURL(let url): "not an http(s) URL: \(url)"
        case .httpStatus(let code): "the server answered HTTP \(code)"
        case .tooLarge(let limit): "the stream is larger than the limit of \(limit) bytes"
        case .timedOut(let limit): "fetching took longer than \(limit)"
        case .tooManyRedirects(let limit): "more than \(limit) redirects, or a redirect loop"
        case .transport(let reason): "fetch failed: \(reason)"
        }
    }
}

/// Fetches wav and mp3 streams over http(s) for players, with limits on size, time and redirects.
///
/// The body is collected whole (it is decoded, resampled and played from memory); nothing of it reaches
/// a media tick until it has been decoded.
public final class StreamFetcher: Sendable {
    public struct Limits: Sendable, Equatable {
        /// The largest body accepted (32 MiB holds over half an hour of 128 kbit/s mp3).
        public var maximumBytes: Int
        /// The longest a fetch may take, from the request to the last byte.
        public var timeout: Duration
        /// Redirects followed (cycles are refused).
        public var maximumRedirects: Int

        public init(maximumBytes: Int = 32 << 20, timeout: Duration = .seconds(10), maximumRedirects: Int = 3) {
            self.maximumBytes = maximumBytes
            self.timeout = timeout
            self.maximumRedirects = maximumRedirects
        }
    }

    public let limits: Limits
    private let client: HTTPClient

    /// - Parameter group: the event loops its connections run on (the gateway's own).
    public init(limits: Limits = Limits(), group: any EventLoopGroup) {
        self.limits = limits
        let timeout = TimeAmount(limits.timeout)
        client = HTTPClient(
            eventLoopGroupProvider: .shared(group),
            configuration: .init(
                redirectConfiguration: .follow(max: limits.maximumRedirects, allowCycles: false),
                timeout: .init(connect: timeout, read: timeout)))
    }

    /// Fetches `url` and returns its body.
    public func fetch(_ url: String) async throws(StreamFetchError) -> [UInt8] {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme),
            parsed.host?.isEmpty == false
        else {
            throw .invalidURL(url)
        }
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "accept", value: "audio/mpeg, audio/wav, audio/x-wav, audio/*;q=0.9, */*;q=0.5")
        do {
            let response = try await client.execute(request, timeout: TimeAmount(limits.timeout))
            guard response.status == .ok else {
                throw StreamFetchError.httpStatus(Int(response.status.code))
            }
            if let length = response.headers.first(name: "content-length").flatMap(Int.init), length > limits.maximumBytes {
                throw StreamFetchError.tooLarge(limit: limits.maximumBytes)
            }
            var body = try await response.body.collect(upTo: limits.maximumBytes)
            return body.readBytes(length: body.readableBytes) ?? []
        } catch let error as StreamFetchError {
            throw error
        } catch is NIOTooManyBytesError {
            throw .tooLarge(limit: limits.maximumBytes)
        } catch let error as HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .connectTimeout: throw .timedOut(limit: limits.timeout)
            case .redirectLimitReached, .redirectCycleDetected: throw .tooManyRedirects(limit: limits.maximumRedirects)
            default: throw .transport("\(error)")
            }
        } catch {
            throw .transport("\(error)")
        }
    }

    deinit {
        // AsyncHTTPClient insists on an explicit shutdown before its client goes away; a fetcher dropped
        // without one (a server that failed to start, say) shuts it down here. The task keeps the client
        // alive until it has.
        let client = client
        Task { try? await client.shutdown() }
    }

    /// Ends the client's connections.
    public func shutdown() async {
        try? await client.shutdown()
    }
}
