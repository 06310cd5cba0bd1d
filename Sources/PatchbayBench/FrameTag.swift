/// Marks outgoing audio frames so each frame an echo returns is matched to the one sent, exactly.
///
/// The first six samples of a frame carry a magic word, the call's index and the frame's sequence
/// number (little-endian 16-bit words, like the audio around them). A tagged frame is still valid
/// audio: 12 bytes of a 20 ms frame, heard (if at all) as a click.
enum FrameTag {
    static let samples = 6
    static let magic: (UInt16, UInt16) = (0x5042, 0x4E43)  // "PBNC"

    static func write(call: UInt32, sequence: UInt32, into bytes: UnsafeMutableRawBufferPointer) {
        bytes.storeBytes(of: magic.0.littleEndian, toByteOffset: 0, as: UInt16.self)
        bytes.storeBytes(of: magic.1.littleEndian, toByteOffset: 2, as: UInt16.self)
        bytes.storeBytes(of: call.littleEndian, toByteOffset: 4, as: UInt32.self)
        bytes.storeBytes(of: sequence.littleEndian, toByteOffset: 8, as: UInt32.self)
    }

    /// The call and sequence a returned frame carries, or nil when it carries no tag.
    static func read(_ bytes: UnsafeRawBufferPointer) -> (call: UInt32, sequence: UInt32)? {
        guard bytes.count >= 2 * samples,
            UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt16.self)) == magic.0,
            UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) == magic.1
        else { return nil }
        return (
            UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self)),
            UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        )
    }
}
