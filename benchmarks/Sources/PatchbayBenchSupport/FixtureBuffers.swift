import PatchbayDSP

/// The fixture copied once into raw memory, so the measured loops touch no `Array` (no bounds or
/// uniqueness checks, no retain/release): each frame is a pointer slice, as on the real hot path.
public final class FixtureBuffers: Sendable {
    public let frameCount = Fixture.frameCount
    // Immutable after init and never freed before deinit, so sharing across threads is safe.
    nonisolated(unsafe) public let inboundBytes: UnsafeMutableRawBufferPointer
    nonisolated(unsafe) public let inbound16k: UnsafeMutableBufferPointer<Int16>
    nonisolated(unsafe) public let peer8k: UnsafeMutableBufferPointer<Int16>
    nonisolated(unsafe) public let player16k: UnsafeMutableBufferPointer<Int16>
    nonisolated(unsafe) public let second16k: UnsafeMutableBufferPointer<Int16>

    public init(_ fixture: Fixture = Fixture()) {
        inboundBytes = .allocate(byteCount: fixture.inboundBytes.count, alignment: 16)
        inboundBytes.copyBytes(from: fixture.inboundBytes)
        inbound16k = Self.copy(fixture.inbound16k)
        peer8k = Self.copy(fixture.peer8k)
        player16k = Self.copy(fixture.player16k)
        second16k = Self.copy(fixture.second16k)
    }

    deinit {
        inboundBytes.deallocate()
        inbound16k.deallocate()
        peer8k.deallocate()
        player16k.deallocate()
        second16k.deallocate()
    }

    private static func copy(_ a: [Int16]) -> UnsafeMutableBufferPointer<Int16> {
        let p = UnsafeMutableBufferPointer<Int16>.allocate(capacity: a.count)
        _ = p.initialize(from: a)
        return p
    }

    /// The `index`-th 640-byte inbound frame (cycling through the fixture).
    @inline(__always)
    public func inboundFrame(_ index: Int) -> UnsafeRawBufferPointer {
        let f = index % frameCount
        return UnsafeRawBufferPointer(rebasing: inboundBytes[(f * 640)..<(f * 640 + 640)])
    }

    @inline(__always)
    public func inbound16kFrame(_ index: Int) -> UnsafeBufferPointer<Int16> { Self.frame(inbound16k, index % frameCount, 320) }
    @inline(__always)
    public func peer8kFrame(_ index: Int) -> UnsafeBufferPointer<Int16> { Self.frame(peer8k, index % frameCount, 160) }
    @inline(__always)
    public func player16kFrame(_ index: Int) -> UnsafeBufferPointer<Int16> { Self.frame(player16k, index % frameCount, 320) }
    @inline(__always)
    public func second16kFrame(_ index: Int) -> UnsafeBufferPointer<Int16> { Self.frame(second16k, index % frameCount, 320) }

    @inline(__always)
    static func frame(_ b: UnsafeMutableBufferPointer<Int16>, _ f: Int, _ size: Int) -> UnsafeBufferPointer<Int16> {
        UnsafeBufferPointer(start: b.baseAddress! + f * size, count: size)
    }
}

/// A class box for non-copyable state that must survive from one benchmark iteration to the next.
/// The measured closure makes one access to `value` per iteration, so exclusivity checks stay out of the loop.
public final class Box<Value: ~Copyable> {
    public var value: Value
    public init(_ value: consuming Value) { self.value = value }
}
