internal import CSndFile

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// The bytes libsndfile reads through `sf_open_virtual`, from memory or from an open file, with the
/// read position its callbacks move. A class so libsndfile can hold a stable pointer to it (`user_data`).
///
/// Files go through here too, not through `sf_open_fd`, for two reasons: a file and its bytes in
/// memory then decode identically, and `SEEK_END` can be refused. libsndfile takes an mp3's length from
/// mpg123, which, when it can seek to the end, *estimates* the length of an mp3 without a Xing header
/// from the file size and the first frame's bitrate; libsndfile then stops reading at that estimate,
/// silently dropping the rest of a VBR file whose first frames are dense (a 3 s file came out as
/// 0.7 s). Without `SEEK_END` mpg123 reports the length as unknown and libsndfile reads to the real end.
/// Nothing in libsndfile's WAV/RF64 parsing needs `SEEK_END`: it takes the file length from `get_filelen`.
final class SndFileVirtualInput {
    enum Source {
        /// Borrowed bytes: the caller keeps them alive for as long as the reader that owns this input.
        case memory(UnsafeRawBufferPointer)
        /// An open file of `length` bytes, read with `pread`; the caller owns and closes the descriptor.
        case file(descriptor: Int32)
    }

    let source: Source
    let length: Int
    private(set) var position = 0
    /// The `errno` of a failed file read, which libsndfile would otherwise see as the end of the file.
    private(set) var readError: Int32?

    init(source: Source, length: Int) {
        self.source = source
        self.length = length
    }

    private func seek(_ offset: Int, whence: Int32) -> Int {
        let base: Int
        switch whence {
        case SEEK_SET: base = 0
        case SEEK_CUR: base = position
        default: return -1  // SEEK_END: see the type's comment
        }
        guard base + offset >= 0 else { return -1 }
        position = base + offset
        return position
    }

    private func read(into destination: UnsafeMutableRawPointer, count: Int) -> Int {
        let wanted = min(count, max(0, length - position))
        guard wanted > 0 else { return 0 }
        switch source {
        case .memory(let bytes):
            destination.copyMemory(from: bytes.baseAddress! + position, byteCount: wanted)
            position += wanted
            return wanted
        case .file(let descriptor):
            var done = 0
            while done < wanted {
                let n = pread(descriptor, destination + done, wanted - done, off_t(position + done))
                if n > 0 {
                    done += n
                } else if n == 0 {
                    break
                } else if errno != EINTR {
                    readError = errno
                    break
                }
            }
            position += done
            return done
        }
    }

    /// The callbacks libsndfile calls, with this input as `user_data`; `write` refuses everything.
    static let callbacks = SF_VIRTUAL_IO(
        get_filelen: { context in sf_count_t(input(context).length) },
        seek: { offset, whence, context in sf_count_t(input(context).seek(Int(offset), whence: whence)) },
        read: { destination, count, context in
            guard let destination else { return 0 }
            return sf_count_t(input(context).read(into: destination, count: Int(count)))
        },
        write: { _, _, _ in 0 },
        tell: { context in sf_count_t(input(context).position) })

    private static func input(_ context: UnsafeMutableRawPointer?) -> SndFileVirtualInput {
        Unmanaged<SndFileVirtualInput>.fromOpaque(context!).takeUnretainedValue()
    }
}
