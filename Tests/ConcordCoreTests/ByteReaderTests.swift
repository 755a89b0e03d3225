import Testing

@testable import ConcordCore

/// ``ByteReader``'s reads stay inside the range it was given, including its fast paths
/// (one-byte varints, 8-byte words and ASCII strings read through unsafe pointers).
@Suite struct ByteReaderTests {
    /// 0, 1, 2, ... 31.
    let bytes = (0..<32).map { UInt8($0) }

    @Test("reads at an unaligned start inside a range give the bytes there, little-endian")
    func readsAtAnUnalignedStart() throws {
        var reader = ByteReader(bytes, range: 3..<20)
        #expect(try reader.readFixed64() == 0x0A09_0807_0605_0403)
        #expect(try reader.readVarint() == 11)
        // An ASCII string (length 5) inside a range that starts and ends within the array.
        let text: [UInt8] = [9, 9, 5] + Array("hello".utf8) + [0xFF]
        var strings = ByteReader(text, range: 2..<8)
        #expect(try strings.readString() == "hello")
        #expect(strings.isAtEnd)
    }

    @Test("a read that fits in the array but not in the range is refused")
    func readsStopAtTheRangeEnd() throws {
        var words = ByteReader(bytes, range: 4..<10)
        #expect(throws: ConcordCoreError.self) { try words.readFixed64() }
        #expect(words.offset == 4)
        let text: [UInt8] = [5] + Array("hello".utf8)
        var strings = ByteReader(text, range: 0..<4)
        #expect(throws: ConcordCoreError.self) { try strings.readString() }
        var varints = ByteReader(bytes, range: 7..<7)
        #expect(throws: ConcordCoreError.self) { try varints.readVarint() }
    }

    @Test("a range past the end of the array stops the process instead of reading outside it")
    func rangePastTheArrayIsAProgrammingError() async {
        await #expect(processExitsWith: .failure) {
            _ = ByteReader([1, 2, 3, 4], range: 0..<16)
        }
        await #expect(processExitsWith: .failure) {
            _ = ByteReader([1, 2, 3, 4], range: -1..<4)
        }
    }
}
