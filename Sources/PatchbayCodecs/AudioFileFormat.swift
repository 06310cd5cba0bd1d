internal import CSndFile

/// The container and sample encoding of a decoded file, as libsndfile identified them.
public struct AudioFileFormat: Sendable, Equatable, CustomStringConvertible {
    /// The containers Patchbay accepts.
    public enum Container: Sendable, Equatable, CustomStringConvertible {
        /// RIFF WAVE.
        case wav
        /// RIFF WAVE with WAVE_FORMAT_EXTENSIBLE (multichannel, 24-bit and float files often are).
        case wavex
        /// EBU RF64, the 64-bit WAV for files over 4 GiB.
        case rf64
        /// An MPEG-1/2 audio stream (mp3, and layers I and II).
        case mpeg

        public var description: String {
            switch self {
            case .wav: "WAV"
            case .wavex: "WAV (extensible)"
            case .rf64: "RF64"
            case .mpeg: "MPEG audio"
            }
        }
    }

    /// How the samples are stored in the file.
    public enum Encoding: Sendable, Equatable, CustomStringConvertible {
        case pcmU8, pcmS8, pcm16, pcm24, pcm32, float32, float64, uLaw, aLaw
        case mpegLayerI, mpegLayerII, mpegLayerIII
        /// Another encoding libsndfile decodes inside WAV (IMA/MS ADPCM, GSM 6.10, ...), by its libsndfile name.
        case other(String)

        public var description: String {
            switch self {
            case .pcmU8: "8-bit unsigned PCM"
            case .pcmS8: "8-bit signed PCM"
            case .pcm16: "16-bit PCM"
            case .pcm24: "24-bit PCM"
            case .pcm32: "32-bit PCM"
            case .float32: "32-bit float"
            case .float64: "64-bit float"
            case .uLaw: "u-law"
            case .aLaw: "A-law"
            case .mpegLayerI: "MPEG layer I"
            case .mpegLayerII: "MPEG layer II"
            case .mpegLayerIII: "MPEG layer III (mp3)"
            case .other(let name): name
            }
        }
    }

    public let container: Container
    public let encoding: Encoding

    public init(container: Container, encoding: Encoding) {
        self.container = container
        self.encoding = encoding
    }

    public var description: String { "\(container), \(encoding)" }
}

extension AudioFileFormat {
    /// The format of an `SF_INFO.format` value, or nil when its container is not one Patchbay accepts.
    init?(sndfileFormat format: Int32) {
        let container: Container
        switch Int(format) & Int(SF_FORMAT_TYPEMASK) {
        case Int(SF_FORMAT_WAV): container = .wav
        case Int(SF_FORMAT_WAVEX): container = .wavex
        case Int(SF_FORMAT_RF64): container = .rf64
        case Int(SF_FORMAT_MPEG): container = .mpeg
        default: return nil
        }
        let subtype = Int(format) & Int(SF_FORMAT_SUBMASK)
        let encoding: Encoding =
            switch subtype {
            case Int(SF_FORMAT_PCM_U8): .pcmU8
            case Int(SF_FORMAT_PCM_S8): .pcmS8
            case Int(SF_FORMAT_PCM_16): .pcm16
            case Int(SF_FORMAT_PCM_24): .pcm24
            case Int(SF_FORMAT_PCM_32): .pcm32
            case Int(SF_FORMAT_FLOAT): .float32
            case Int(SF_FORMAT_DOUBLE): .float64
            case Int(SF_FORMAT_ULAW): .uLaw
            case Int(SF_FORMAT_ALAW): .aLaw
            case Int(SF_FORMAT_MPEG_LAYER_I): .mpegLayerI
            case Int(SF_FORMAT_MPEG_LAYER_II): .mpegLayerII
            case Int(SF_FORMAT_MPEG_LAYER_III): .mpegLayerIII
            default: .other(SndFile.formatName(Int32(subtype)) ?? "encoding 0x\(String(subtype, radix: 16))")
            }
        self.init(container: container, encoding: encoding)
    }
}
