import Foundation
import PatchbayRecords

/// `/v1/files/{id}`: `GET` a recording's file (with `Range`), `DELETE` removes it;
/// `/v1/files/{id}/timeline`: `GET` its timeline (JSON). An application sees only its own recordings:
/// another's, one still being recorded, or one that failed is a 404.
struct FilesResource: APIResource {
    enum Part {
        case file, timeline
    }

    let recordings: Recordings
    let part: Part

    func respond(to request: APIRequest) async throws -> APIResponse {
        let text = request.path[2]
        guard let id = UUID(uuidString: text), let row = try await recordings.row(id),
            row.applicationID == request.application, row.status == .completed
        else {
            throw APIError.notFound("no recording \(text)")
        }
        switch (part, request.method) {
        case (.file, .GET), (.file, .HEAD):
            return try file(row, range: request.range)
        case (.file, .DELETE):
            await recordings.delete(row)
            return .noContent
        case (.timeline, .GET):
            guard let data = FileManager.default.contents(atPath: Recordings.timelinePath(of: row)) else {
                throw APIError.notFound("recording \(text) has no timeline")
            }
            return APIResponse(json: String(decoding: data, as: UTF8.self))
        case (.file, _):
            throw APIError.methodNotAllowed(request.method, allow: "GET, DELETE")
        case (.timeline, _):
            throw APIError.methodNotAllowed(request.method, allow: "GET")
        }
    }

    private func file(_ row: RecordingRecord, range: String?) throws -> APIResponse {
        guard let size = (try? FileManager.default.attributesOfItem(atPath: row.path)[.size]) as? Int else {
            throw APIError.notFound("recording \(row.id) has no file (removed from disk)")
        }
        let type =
            switch row.format {
            case "wav": "audio/wav"
            case "ogg": "audio/ogg"
            default: "audio/mpeg"
            }
        var headers = [("accept-ranges", "bytes")]
        guard let range else {
            return APIResponse(status: .ok, file: .init(path: row.path, offset: 0, length: size, contentType: type), headers: headers)
        }
        guard let (start, end) = Self.byteRange(range, size: size) else {
            headers.append(("content-range", "bytes */\(size)"))
            var response = APIResponse(
                APIError(status: .rangeNotSatisfiable, title: "Range Not Satisfiable", detail: "\(range) is not within the file's \(size) bytes"))
            response.headers += headers
            return response
        }
        headers.append(("content-range", "bytes \(start)-\(end)/\(size)"))
        return APIResponse(
            status: .partialContent, file: .init(path: row.path, offset: start, length: end - start + 1, contentType: type), headers: headers)
    }

    /// One `bytes=` range (`a-b`, `a-`, `-n`) within `size` bytes, as first and last byte.
    static func byteRange(_ header: String, size: Int) -> (Int, Int)? {
        guard header.hasPrefix("bytes="), size > 0 else { return nil }
        let spec = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return nil }
        let first = spec[..<dash]
        let last = spec[spec.index(after: dash)...]
        if first.isEmpty {
            guard let n = Int(last), n > 0 else { return nil }
            return (max(0, size - n), size - 1)
        }
        guard let start = Int(first), start < size else { return nil }
        if last.isEmpty { return (start, size - 1) }
        guard let end = Int(last), end >= start else { return nil }
        return (start, min(end, size - 1))
    }
}
