/// Reads what libsndfile's parse log says about a WAV file's length.
///
/// libsndfile opens a cut-short WAV without an error: it shrinks the data chunk to the bytes present and
/// only notes the discrepancy in its log (`SFC_GET_LOG_INFO`), e.g. for a WAV or WAVEX file
///
///     data : 32000 (should be 12000)
///
/// and for RF64, whose real sizes live in the ds64 chunk,
///
///     ds64 : 28
///       Riff size : 4072 (should be 2072)
///       Data size : 4000
///
/// That text is the only place the declared length survives, so this is where truncation is found.
struct SndFileLog {
    let text: String

    /// The data length a WAV or RF64 header declares and the bytes actually present, when fewer are present.
    ///
    /// A declared data size of 0xFFFFFFFF in a RIFF WAV is the "unknown length" marker that streaming
    /// writers leave behind; it is not truncation, and what is present is decoded.
    func truncation(container: AudioFileFormat.Container) -> (declaredBytes: Int, presentBytes: Int)? {
        let lines = text.split(separator: "\n").map { $0.trimmingPrefix(while: \.isWhitespace) }
        switch container {
        case .wav, .wavex:
            guard let line = lines.first(where: { $0.hasPrefix("data : ") && $0.contains("(should be ") }) else {
                return nil
            }
            let values = Self.integers(in: line)
            guard values.count == 2, values[0] != 0xFFFF_FFFF, values[1] < values[0] else { return nil }
            return (values[0], values[1])
        case .rf64:
            guard let riffLine = lines.first(where: { $0.hasPrefix("Riff size : ") && $0.contains("(should be ") }),
                let dataLine = lines.first(where: { $0.hasPrefix("Data size : ") })
            else { return nil }
            let riff = Self.integers(in: riffLine)
            let data = Self.integers(in: dataLine)
            guard riff.count == 2, data.count == 1, riff[1] < riff[0] else { return nil }
            // Whatever is missing from the RIFF body is missing from the data at its end.
            let missing = riff[0] - riff[1]
            guard missing > 0, data[0] > 0 else { return nil }
            return (data[0], max(0, data[0] - missing))
        case .mpeg:
            return nil
        }
    }

    /// The decimal integers in a line, in order.
    private static func integers(in line: Substring) -> [Int] {
        line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
    }
}
