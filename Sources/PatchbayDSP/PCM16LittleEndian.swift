/// Reads 16-bit little-endian PCM straight out of the bytes a frame arrived in, without copying.
///
/// The Voice API sends audio as signed 16-bit little-endian samples. This view decodes each sample on
/// access with an unaligned load, so it is correct on any host byte order and any buffer alignment.
public struct PCM16LittleEndian: RandomAccessCollection, Sendable {
    public typealias Index = Int
    public typealias Element = Int16

    // An unsafe view: valid only while the caller keeps the underlying bytes alive.
    @usableFromInline
    nonisolated(unsafe) let bytes: UnsafeRawBufferPointer
    /// The websocket masking key as it lands on even and on odd samples (bytes 0-1 and 2-3 of the key,
    /// as a little-endian load reads them); zero for unmasked bytes.
    @usableFromInline let evenMask: UInt16
    @usableFromInline let oddMask: UInt16

    /// Creates a view over `bytes`; a trailing odd byte is not a sample and is ignored.
    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        evenMask = 0
        oddMask = 0
    }

    /// Creates a view over a masked websocket payload (RFC 6455 5.3: byte j is XORed with key[j % 4]),
    /// unmasking each sample as it is read, so the payload is never copied to be unmasked first.
    /// - Parameter maskingKey: the frame's four key bytes, in wire order.
    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer, maskingKey: (UInt8, UInt8, UInt8, UInt8)) {
        self.bytes = bytes
        evenMask = UInt16(maskingKey.0) | UInt16(maskingKey.1) << 8
        oddMask = UInt16(maskingKey.2) | UInt16(maskingKey.3) << 8
    }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { bytes.count / 2 }

    @inlinable
    public subscript(position: Int) -> Int16 {
        precondition(position >= 0 && position < endIndex, "sample index out of range")
        return sample(at: position)
    }

    @inlinable @inline(__always) @usableFromInline
    func sample(at i: Int) -> Int16 {
        let raw = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))
        return Int16(bitPattern: raw ^ (i & 1 == 0 ? evenMask : oddMask))
    }

    /// Decodes every sample into `destination`, which must hold at least `count` samples.
    @inlinable
    public func copy(into destination: UnsafeMutableBufferPointer<Int16>) {
        precondition(destination.count >= count, "destination too small")
        let n = count
        for i in 0..<n {
            destination[i] = sample(at: i)
        }
    }
}

extension PCM16LittleEndian {
    /// Encodes `samples` as 16-bit little-endian PCM into `destination` (which needs `2 * samples.count` bytes).
    @inlinable
    public static func encode(
        _ samples: UnsafeBufferPointer<Int16>, into destination: UnsafeMutableRawBufferPointer
    ) {
        precondition(destination.count >= samples.count * 2, "destination too small")
        for i in 0..<samples.count {
            destination.storeBytes(of: samples[i].littleEndian, toByteOffset: i &* 2, as: Int16.self)
        }
    }
}
