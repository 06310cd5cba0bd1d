import PatchbayCodecs
import Testing

@Suite struct PCMLoopTests {
    /// A clip whose samples are 1, 2, 3, ...: every sample says where in the clip it came from.
    static func ramp(_ count: Int) -> [Int16] { (1...count).map { Int16($0) } }

    /// Plays `loop` for `frames` frames of `frameSize`, returning every sample and every fill result.
    static func play(_ loop: inout PCMLoop, frames: Int, frameSize: Int) -> (samples: [Int16], fills: [PCMLoop.Fill]) {
        var frame = [Int16](repeating: 7, count: frameSize)  // not zero, so the padding is visible
        var samples: [Int16] = []
        var fills: [PCMLoop.Fill] = []
        for _ in 0..<frames {
            frame.withUnsafeMutableBufferPointer { fills.append(loop.fill($0)) }
            samples += frame
        }
        return (samples, fills)
    }

    @Test func playsOnceThenPadsWithZeros() {
        let clip = Self.ramp(50)
        var loop = PCMLoop(samples: clip, loopCount: 1)
        let (samples, fills) = Self.play(&loop, frames: 5, frameSize: 20)
        #expect(fills == [.playing, .playing, .finished(samples: 10), .silent, .silent])
        #expect(Array(samples[0..<50]) == clip)
        #expect(samples[50...].allSatisfy { $0 == 0 })
        #expect(loop.isFinished)
        #expect(loop.completedPlays == 1)
    }

    @Test func playsThreeTimesSeamlessly() {
        let clip = Self.ramp(50)
        var loop = PCMLoop(samples: clip, loopCount: 3)
        let (samples, fills) = Self.play(&loop, frames: 10, frameSize: 20)
        // 150 samples of audio: 7 full frames, then 10 samples in the 8th.
        #expect(fills == Array(repeating: .playing, count: 7) + [.finished(samples: 10), .silent, .silent])
        #expect(Array(samples[0..<150]) == clip + clip + clip)
        #expect(samples[150...].allSatisfy { $0 == 0 })
        #expect(loop.completedPlays == 3)
    }

    @Test func finishingExactlyAtAFrameEndIsReportedInThatFrame() {
        var loop = PCMLoop(samples: Self.ramp(40), loopCount: 1)
        let (_, fills) = Self.play(&loop, frames: 3, frameSize: 20)
        #expect(fills == [.playing, .finished(samples: 20), .silent])
    }

    @Test func clipShorterThanAFrameLoopsInsideTheFrame() {
        let clip = Self.ramp(7)
        var loop = PCMLoop(samples: clip, loopCount: 3)
        let (samples, fills) = Self.play(&loop, frames: 2, frameSize: 20)
        #expect(fills == [.playing, .finished(samples: 1)])
        #expect(Array(samples[0..<21]) == clip + clip + clip)
        #expect(samples[21...].allSatisfy { $0 == 0 })
    }

    @Test func zeroLoopsForever() {
        let clip = Self.ramp(333)  // not a multiple of the frame, so every phase of the wrap is exercised
        var loop = PCMLoop(samples: clip, loopCount: 0)
        let frames = 10_000
        let (samples, fills) = Self.play(&loop, frames: frames, frameSize: 160)
        #expect(fills.allSatisfy { $0 == .playing })
        #expect(!loop.isFinished)
        var mismatches = 0
        for (i, s) in samples.enumerated() where s != clip[i % clip.count] { mismatches += 1 }
        #expect(mismatches == 0)
        #expect(loop.completedPlays == frames * 160 / clip.count)
        #expect(loop.position == frames * 160 % clip.count)
    }

    @Test func emptyClipFinishesAtOnceEvenWhenLoopingForever() {
        for count in [0, 1, 3] {
            var loop = PCMLoop(samples: [], loopCount: count)
            let (samples, fills) = Self.play(&loop, frames: 2, frameSize: 20)
            #expect(fills == [.finished(samples: 0), .silent])
            #expect(samples.allSatisfy { $0 == 0 })
        }
    }
}
