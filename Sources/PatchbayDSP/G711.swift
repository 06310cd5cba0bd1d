/// ITU-T G.711 companding: 8-bit μ-law (PCMU, North America and Japan) and A-law (PCMA, elsewhere), the
/// telephone network's own 8 kHz codecs, for services that take them (OpenAI Realtime's `audio/pcmu` and
/// `audio/pcma`, speech-to-text services' `mulaw`/`alaw`).
///
/// The arithmetic is the classic reference implementation (Sun Microsystems' public-domain `g711.c`, the one
/// Python's `audioop` and SoX use): μ-law quantises the top 14 bits of a 16-bit sample, A-law the top 13,
/// so encoding agrees bit for bit with theirs; decoding is by table.
public enum G711: String, Sendable, CaseIterable {
    case uLaw = "pcmu"
    case aLaw = "pcma"

    /// One 16-bit sample, companded.
    @inline(__always)
    public func encode(_ sample: Int16) -> UInt8 {
        switch self {
        case .uLaw: Self.uLaw(sample)
        case .aLaw: Self.aLaw(sample)
        }
    }

    /// One companded byte, expanded to 16 bits.
    @inline(__always)
    public func decode(_ code: UInt8) -> Int16 {
        switch self {
        case .uLaw: Self.uLawTable[Int(code)]
        case .aLaw: Self.aLawTable[Int(code)]
        }
    }

    /// Companded `samples` into the first `samples.count` bytes of `bytes`.
    public func encode(_ samples: UnsafeBufferPointer<Int16>, into bytes: UnsafeMutableRawBufferPointer) {
        precondition(bytes.count >= samples.count, "G.711 output too small")
        for i in 0..<samples.count { bytes[i] = encode(samples[i]) }
    }

    /// Each byte of `codes` expanded into a 16-bit little-endian sample of `pcm` (twice as many bytes).
    public func decode(_ codes: UnsafeRawBufferPointer, into pcm: UnsafeMutableRawBufferPointer) {
        precondition(pcm.count >= 2 * codes.count, "G.711 output too small")
        for i in 0..<codes.count {
            pcm.storeBytes(of: decode(codes[i]).littleEndian, toByteOffset: 2 * i, as: Int16.self)
        }
    }

    // MARK: μ-law

    private static let uLawBias: Int32 = 0x21  // in 14-bit units
    private static let uLawClip: Int32 = 8159

    @inline(__always)
    private static func uLaw(_ sample: Int16) -> UInt8 {
        var value = Int32(sample) >> 2  // 14 bits
        let mask: Int32
        if value < 0 {
            value = -value
            mask = 0x7F
        } else {
            mask = 0xFF
        }
        value = min(value, uLawClip) + uLawBias
        // Segment: the first whose end (0x3F, 0x7F, ... 0x1FFF) is not below the biased value.
        let segment = max(0, 32 - (value >> 6).leadingZeroBitCount)
        guard segment < 8 else { return UInt8(0x7F ^ mask) }
        return UInt8(((Int32(segment) << 4) | ((value >> Int32(segment + 1)) & 0x0F)) ^ mask)
    }

    private static let uLawTable: [Int16] = (0..<256).map { code in
        let u = ~Int32(code) & 0xFF
        var t = ((u & 0x0F) << 3) + 0x84
        t <<= (u & 0x70) >> 4
        return Int16(u & 0x80 != 0 ? 0x84 - t : t - 0x84)
    }

    // MARK: A-law

    @inline(__always)
    private static func aLaw(_ sample: Int16) -> UInt8 {
        var value = Int32(sample) >> 3  // 13 bits
        let mask: Int32
        if value >= 0 {
            mask = 0xD5
        } else {
            mask = 0x55
            value = -value - 1
        }
        // Segment: the first whose end (0x1F, 0x3F, ... 0xFFF) is not below the value.
        let segment = max(0, 32 - (value >> 5).leadingZeroBitCount)
        guard segment < 8 else { return UInt8(0x7F ^ mask) }
        let mantissa = segment < 2 ? (value >> 1) & 0x0F : (value >> Int32(segment)) & 0x0F
        return UInt8(((Int32(segment) << 4) | mantissa) ^ mask)
    }

    private static let aLawTable: [Int16] = (0..<256).map { code in
        let a = Int32(code) ^ 0x55
        var t = (a & 0x0F) << 4
        let segment = (a & 0x70) >> 4
        switch segment {
        case 0: t += 8
        case 1: t += 0x108
        default:
            t += 0x108
            t <<= segment - 1
        }
        return Int16(a & 0x80 != 0 ? t : -t)
    }
}
