import PatchbayDSP
import Synchronization
import Testing

@Suite struct SampleRingTests {
    @Test("what goes in comes out, in order, across the wrap")
    func fifo() {
        let ring = SampleRing(minimumCapacity: 100)
        #expect(ring.capacity == 128)
        var next: Int16 = 0
        var expected: Int16 = 0
        var out = [Int16](repeating: 0, count: 37)
        for _ in 0..<1000 {
            let chunk = (0..<29).map { _ -> Int16 in
                defer { next &+= 1 }; return next
            }
            chunk.withUnsafeBufferPointer { ring.write($0) }
            let n = out.withUnsafeMutableBufferPointer { ring.read(into: $0) }
            for v in out[0..<n] {
                #expect(v == expected)
                expected &+= 1
            }
        }
        #expect(ring.dropped == 0)
    }

    @Test("overflow drops the oldest audio and counts it")
    func overflow() {
        let ring = SampleRing(minimumCapacity: 16)
        let a = (0..<12).map { Int16($0) }
        a.withUnsafeBufferPointer { ring.write($0) }
        a.withUnsafeBufferPointer { ring.write($0) }  // 24 samples into 16: the first 8 go
        #expect(ring.dropped == 8)
        #expect(ring.available == 16)
        var out = [Int16](repeating: 0, count: 16)
        #expect(out.withUnsafeMutableBufferPointer { ring.read(into: $0) } == 16)
        #expect(out == Array(a[8..<12]) + a)
        // A write larger than the whole ring keeps only its newest samples.
        let big = (0..<40).map { Int16($0) }
        big.withUnsafeBufferPointer { ring.write($0) }
        #expect(ring.dropped == 8 + 24)
        #expect(out.withUnsafeMutableBufferPointer { ring.read(into: $0) } == 16)
        #expect(out == Array(big[24..<40]))
    }

    @Test("readFrame zero-pads what is missing; removeAll clears")
    func padAndClear() {
        let ring = SampleRing(minimumCapacity: 64)
        [1, 2, 3].map(Int16.init).withUnsafeBufferPointer { ring.write($0) }
        var frame = [Int16](repeating: 9, count: 8)
        #expect(frame.withUnsafeMutableBufferPointer { ring.readFrame(into: $0) } == 3)
        #expect(frame == [1, 2, 3, 0, 0, 0, 0, 0])
        ring.writeSilence(count: 5)
        #expect(ring.removeAll() == 5)
        #expect(ring.available == 0)
    }

    @Test("little-endian bytes go in without a copy and come out right")
    func littleEndianFrames() {
        let ring = SampleRing(minimumCapacity: 1024)
        let bytes: [UInt8] = [0x01, 0x00, 0xFF, 0xFF, 0x00, 0x80, 0xFF, 0x7F, 0x34]  // odd trailing byte
        bytes.withUnsafeBytes { ring.write(PCM16LittleEndian($0)) }
        var out = [Int16](repeating: 0, count: 4)
        #expect(out.withUnsafeMutableBufferPointer { ring.read(into: $0) } == 4)
        #expect(out == [1, -1, .min, .max])
        var encoded = [UInt8](repeating: 0, count: 8)
        out.withUnsafeBufferPointer { s in encoded.withUnsafeMutableBytes { PCM16LittleEndian.encode(s, into: $0) } }
        #expect(encoded == Array(bytes[0..<8]))
    }
}
