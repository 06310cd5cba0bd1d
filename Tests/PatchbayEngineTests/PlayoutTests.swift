import PatchbayEngine
import Testing

/// The playout buffer of a service's audio: re-framing, the capacity, markers, clear.
@Suite struct PlayoutTests {
    /// Bytes 0, 1, 2, ... (mod 251) from `start`.
    static func bytes(_ n: Int, from start: Int = 0) -> [UInt8] { (0..<n).map { UInt8((start + $0) % 251) } }

    static func take(_ p: inout Playout, padding: Bool = false) -> [UInt8]? {
        var frame = [UInt8](repeating: 0xEE, count: p.frameBytes)
        let took = frame.withUnsafeMutableBytes { p.takeFrame(into: $0, padding: padding) }
        return took ? frame : nil
    }

    @Test("messages of any length come out as whole frames, in order, across message boundaries")
    func reframes() {
        var p = Playout(frameBytes: 320, capacityFrames: 10)
        let stream = Self.bytes(1000)
        // 7, 333, 1 (odd: a sample split between messages), 659 bytes.
        var at = 0
        for n in [7, 333, 1, 659] {
            stream[at..<(at + n)].withUnsafeBytes { #expect(p.append($0) == 0) }
            at += n
        }
        #expect(p.framesQueued == 3 && p.count == 1000)
        for k in 0..<3 { #expect(Self.take(&p) == Array(stream[(320 * k)..<(320 * (k + 1))])) }
        #expect(Self.take(&p) == nil, "40 bytes left: not a whole frame")
        let last = Self.take(&p, padding: true)
        #expect(last.map { Array($0.prefix(40)) } == Array(stream[960..<1000]))
        #expect(last.map { $0.dropFirst(40).allSatisfy { $0 == 0 } } == true, "the rest is silence")
        #expect(p.isEmpty)
    }

    @Test("beyond the capacity, audio is dropped and counted; the storage never holds more")
    func capacity() {
        var p = Playout(frameBytes: 320, capacityFrames: 4)
        #expect(Self.bytes(1000).withUnsafeBytes { p.append($0) } == 0)
        #expect(Self.bytes(1000, from: 1000).withUnsafeBytes { p.append($0) } == 1000 - 280)
        #expect(p.count == 1280 && p.framesQueued == 4)
        #expect(Self.take(&p) == Self.bytes(320))
        // Room for one frame again.
        #expect(Self.bytes(400).withUnsafeBytes { p.append($0) } == 80)
        #expect(p.count == 1280)
    }

    @Test("a marker is reached when playout has taken everything queued before it")
    func markers() {
        var p = Playout(frameBytes: 320, capacityFrames: 10)
        p.appendMarker("at-start")
        #expect(p.reachedMarkers() == ["at-start"], "nothing queued before it: reached at once")
        Self.bytes(640).withUnsafeBytes { _ = p.append($0) }
        p.appendMarker("one")
        Self.bytes(320).withUnsafeBytes { _ = p.append($0) }
        p.appendMarker("two")
        #expect(p.reachedMarkers().isEmpty)
        _ = Self.take(&p)
        #expect(p.reachedMarkers().isEmpty, "half of what came before \"one\" has played")
        _ = Self.take(&p)
        #expect(p.reachedMarkers() == ["one"])
        _ = Self.take(&p)
        #expect(p.reachedMarkers() == ["two"])
        #expect(p.isEmpty)
    }

    @Test("clear drops the audio and hands back the pending markers; later audio plays normally")
    func clear() {
        var p = Playout(frameBytes: 160, capacityFrames: 100)
        Self.bytes(5000).withUnsafeBytes { _ = p.append($0) }
        p.appendMarker("a")
        Self.bytes(100).withUnsafeBytes { _ = p.append($0) }
        p.appendMarker("b")
        _ = Self.take(&p)
        let cleared = p.clear()
        #expect(cleared.droppedBytes == 5100 - 160 && cleared.markers == ["a", "b"])
        #expect(p.isEmpty && Self.take(&p, padding: true) == nil)
        Self.bytes(160, from: 7).withUnsafeBytes { _ = p.append($0) }
        p.appendMarker("c")
        #expect(Self.take(&p) == Self.bytes(160, from: 7))
        #expect(p.reachedMarkers() == ["c"])
    }

    @Test("the ring wraps and grows without reordering audio")
    func wrapsAndGrows() {
        var p = Playout(frameBytes: 8, capacityFrames: 1000)
        var sent = 0, received: [UInt8] = []
        for round in 0..<200 {
            let n = (round * 37) % 61 + 1
            Self.bytes(n, from: sent).withUnsafeBytes { _ = p.append($0) }
            sent += n
            for _ in 0..<(round % 3) {
                if let f = Self.take(&p) { received += f }
            }
        }
        while let f = Self.take(&p, padding: false) { received += f }
        #expect(received == Self.bytes(received.count))
        #expect(sent - received.count < 8)
    }
}
