import Testing

@testable import PatchbayServer

/// `Range: bytes=...` as `/v1/files/{id}` reads it.
@Suite struct ByteRangeTests {
    @Test func ranges() {
        #expect(FilesResource.byteRange("bytes=0-99", size: 1000)! == (0, 99))
        #expect(FilesResource.byteRange("bytes=900-", size: 1000)! == (900, 999))
        #expect(FilesResource.byteRange("bytes=-100", size: 1000)! == (900, 999))
        #expect(FilesResource.byteRange("bytes=990-2000", size: 1000)! == (990, 999))
        #expect(FilesResource.byteRange("bytes=-5000", size: 1000)! == (0, 999))
        for bad in ["bytes=1000-", "bytes=5-1", "bytes=0-1,5-9", "items=0-1", "bytes=x-", "bytes=-0", "bytes=-"] {
            #expect(FilesResource.byteRange(bad, size: 1000) == nil, "\(bad)")
        }
    }
}
