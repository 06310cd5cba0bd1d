/// A configuration (a file, an endpoint object) that cannot be used, with what to fix.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
