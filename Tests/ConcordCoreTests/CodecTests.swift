import Testing
@testable import ConcordCore

@Suite struct CodecTests {
    let ops = [
        op(.set(field: "title", value: "milk"), stamp(1_700_000_000_000, 0, 1)),
        op(.add(field: "tags", value: 7), stamp(1_700_000_000_000, 1, 1)),
        op(.remove(field: "tags", value: 7, observed: [stamp(1_700_000_000_000, 1, 1), stamp(1_699_999_999_000, 3, 2)]), stamp(1_700_000_000_005, 0, 2), record: recordB),
        op(.delete, stamp(1_700_000_000_004, 0, 1), collection: "other"),
    ]

    @Test func roundTrips() throws {
        #expect(try OperationCodec.decode(OperationCodec.encode(ops)) == ops)
        #expect(try OperationCodec.decode(OperationCodec.encode([])) == [])
    }

    @Test func everyTruncationIsATypedError() throws {
        let bytes = OperationCodec.encode(ops)
        for length in 0..<bytes.count {
            #expect(throws: ConcordCoreError.self) { try OperationCodec.decode(Array(bytes.prefix(length))) }
        }
    }

    @Test func trailingBytesAndUnknownVersionAreRejected() throws {
        let bytes = OperationCodec.encode(ops)
        let trailing = try #require(throws: ConcordCoreError.self) { try OperationCodec.decode(bytes + [0]) }
        #expect(trailing.message.contains("trailing"))
        var future = bytes
        future[0] = 2
        let version = try #require(throws: ConcordCoreError.self) { try OperationCodec.decode(future) }
        #expect(version.code == .unsupportedVersion)
    }

    @Test func hugeCountsDoNotAllocate() throws {
        // version 1, replica count 2^62: rejected before any allocation.
        let bytes: [UInt8] = [1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]
        let error = try #require(throws: ConcordCoreError.self) { try OperationCodec.decode(bytes) }
        #expect(error.message.contains("exceeds what the remaining"))
    }

    @Test func sha256KnownAnswers() {
        #expect(Hex.encode(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Hex.encode(SHA256.hash([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(Hex.encode(SHA256.hash(long)) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func canonicalEncodingOmitsDeletedRecordsAndEmptySets() {
        let a = state([op(.set(field: "x", value: 1), stamp(1)), op(.delete, stamp(1), record: recordB)])
        let b = state([op(.set(field: "x", value: 1), stamp(1)), op(.add(field: "t", value: 1), stamp(2), record: recordB),
                       op(.remove(field: "t", value: 1, observed: [stamp(2)]), stamp(3), record: recordB), op(.delete, stamp(4), record: recordB)])
        #expect(a.canonicalEncoding() == b.canonicalEncoding())
        #expect(a.digestHex == b.digestHex)
        #expect(ReplicaState().canonicalEncoding() == [1, 0])
    }
}
