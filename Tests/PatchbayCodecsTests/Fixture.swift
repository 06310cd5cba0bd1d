import Foundation

/// The audio fixtures in testdata/ (made by testdata/make-fixtures.sh), found from this file's path.
enum Fixture {
    static let directory: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Fixture.swift, PatchbayCodecsTests, Tests
        return parts.joined(separator: "/") + "/testdata"
    }()

    static func path(_ name: String) -> String { "\(directory)/\(name)" }

    static func bytes(_ name: String) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path(name)) else {
            fatalError("missing fixture \(name): run testdata/make-fixtures.sh")
        }
        return [UInt8](data)
    }
}
