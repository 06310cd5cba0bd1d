internal import CSndFile

/// An open libsndfile handle for reading, closed when the value goes away.
struct SndFileReader: ~Copyable {
    let handle: OpaquePointer
    let info: SF_INFO
    /// The bytes behind the handle; kept alive here because libsndfile holds a pointer to it.
    let input: SndFileVirtualInput

    /// Opens `input` with `sf_open_virtual`.
    init(input: SndFileVirtualInput) throws(SndFile.OpenError) {
        var info = SF_INFO()
        var callbacks = SndFileVirtualInput.callbacks
        let context = Unmanaged.passUnretained(input).toOpaque()
        handle = try SndFile.open { sf_open_virtual(&callbacks, Int32(SFM_READ), &info, context) }.get()
        self.info = info
        self.input = input
    }

    deinit {
        sf_close(handle)
    }

    /// libsndfile's parse log: what it found in the header, and what did not add up.
    var log: String {
        // libsndfile keeps at most 2 KiB of log (SF_PARSELOG_LEN); 4 KiB always holds it.
        var buffer = [UInt8](repeating: 0, count: 4096)
        sf_command(handle, Int32(SFC_GET_LOG_INFO), &buffer, Int32(buffer.count - 1))
        return String(decoding: buffer.prefix(while: { $0 != 0 }), as: UTF8.self)
    }

    /// Makes libsndfile clip rather than wrap when it converts float data to integers.
    func setClipping() {
        sf_command(handle, Int32(SFC_SET_CLIPPING), nil, Int32(SF_TRUE))
    }

    /// Reads up to `frames` interleaved frames as float (full scale ±1.0; mp3 may exceed it).
    /// - Returns: the frames read; 0 at the end (or on an error: see `SndFile.error(of:)`).
    func readFloat(into buffer: UnsafeMutableBufferPointer<Float>, frames: Int) -> Int {
        Int(sf_readf_float(handle, buffer.baseAddress, sf_count_t(frames)))
    }
}
