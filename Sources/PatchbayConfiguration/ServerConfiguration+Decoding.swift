public import Foundation
public import PatchbayVoiceAPI

/// Reading the configuration file: JSON, every key optional; a key the configuration's types do not name
/// (their `CodingKeys`) is an error naming where it is, as is a value of the wrong type.
extension ServerConfiguration {
    /// Reads a JSON configuration file.
    public static func load(path: String) throws(ConfigurationError) -> ServerConfiguration {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationError("cannot read configuration \(path): \(error.localizedDescription)")
        }
        return try decode(data, source: path)
    }

    /// Decodes a configuration; errors name `source` (the file's path).
    public static func decode(_ data: Data, source: String) throws(ConfigurationError) -> ServerConfiguration {
        do {
            _ = try JSONSerialization.jsonObject(with: data)
        } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error.localizedDescription)"
            throw ConfigurationError("configuration \(source) is not valid JSON: \(detail)")
        }
        let decoder = JSONDecoder()
        decoder.userInfo[KnownKeys.strict] = true
        do {
            return try decoder.decode(ServerConfiguration.self, from: data)
        } catch let unknown as KnownKeys.UnknownKey {
            throw ConfigurationError("configuration \(source): \(unknown)")
        } catch let DecodingError.dataCorrupted(context) {
            throw ConfigurationError("configuration \(source): \(describe(context))")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw ConfigurationError("configuration \(source): \(describe(context))")
        } catch let DecodingError.keyNotFound(key, context) {
            throw ConfigurationError("configuration \(source): missing \"\(key.stringValue)\" at \(KnownKeys.path(context.codingPath))")
        } catch {
            throw ConfigurationError("configuration \(source): \(error)")
        }
    }

    private static func describe(_ context: DecodingError.Context) -> String {
        let underlying = (context.underlyingError as? NSError)?.userInfo[NSDebugDescriptionErrorKey] as? String
        return "\(KnownKeys.path(context.codingPath)): \(underlying ?? context.debugDescription)"
    }
}
