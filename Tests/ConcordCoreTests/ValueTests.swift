import Testing
@testable import ConcordCore

@Suite struct ValueTests {
    @Test func equalityIsExactAndByteBased() {
        #expect(Value.double(.nan) == .double(.nan))
        #expect(Value.double(0.0) != .double(-0.0))
        #expect(Value.string("é") != .string("e\u{301}"))  // no Unicode normalization
        #expect(Value.int(1) != .double(1))
        #expect(Set<Value>([.string("é"), .string("e\u{301}")]).count == 2)
    }

    @Test func totalOrderRanksKindsThenPayloads() {
        let sorted: [Value] = [.null, false, true, -5, 3, -1.5, 2.0, "a", "b", .bytes([0]), .reference(RecordReference(collection: "x", id: recordA))]
        #expect(sorted.shuffled().sorted() == sorted)
        #expect(Value.double(-.infinity) < .double(-0.0))
        #expect(Value.double(-0.0) < .double(0.0))
    }

    @Test func canonicalEncodingRoundTrips() throws {
        let values: [Value] = [.null, true, false, .int(.min), .int(.max), 0, -1, .double(-0.0), .double(.nan), "", "日本", .bytes([]), .bytes([1, 2, 255]),
                               .reference(RecordReference(collection: "notes", id: recordB))]
        for value in values {
            var reader = ByteReader(value.canonicalBytes)
            #expect(try Value.decode(from: &reader) == value)
            #expect(reader.isAtEnd)
        }
        #expect(Value.int(-1).canonicalBytes == [2, 1])
        #expect(Value.string("a").canonicalBytes == [4, 1, 0x61])
    }

    @Test(arguments: [
        ([9] as [UInt8], "unknown value tag"),
        ([1, 2], "bool value"),
        ([4, 2, 0xC3], "exceeds what the remaining"),
        ([4, 1, 0xFF], "not valid UTF-8"),
        ([2, 0x80, 0x00], "not minimally encoded"),
        ([2, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], "overflows 64 bits"),
        ([3, 0, 0], "runs past the end"),
        ([5, 0x85, 0x80, 0x80, 0x80, 0x08], "exceeds what the remaining"),
    ])
    func malformedValuesAreTypedErrors(bytes: [UInt8], message: String) throws {
        var reader = ByteReader(bytes)
        let error = try #require(throws: ConcordCoreError.self) { try Value.decode(from: &reader) }
        #expect(error.code == .malformedEncoding)
        #expect(error.message.contains(message), "\(error.message)")
    }

    @Test func literalsBuildValues() {
        let v: [Value] = ["s", 1, 1.5, true]
        #expect(v == [.string("s"), .int(1), .double(1.5), .bool(true)])
        #expect(Value.bytes([0xAB]).description == "0xab")
    }
}

@Suite struct ByteStringTests {
    @Test func orderIsUTF8ByteOrderIncludingPrefixesAndZeroBytes() {
        let words = ["", "a", "a\u{0}", "a\u{0}b", "ab", "abcdefghijklmnop", "abcdefghijklmnopq", "abcdefghijklmnopr", "abcdefghijklmnop\u{0}",
                     "b", "é", "e\u{301}", "日本", "\u{7F}", "zzzzzzzzzzzzzzzzzzzzzz"]
        let expected = words.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        #expect(words.map(ByteString.init).sorted().map(\.string) == expected)
        for a in words {
            for b in words {
                #expect((ByteString(a) == ByteString(b)) == (Array(a.utf8) == Array(b.utf8)), "\(a) vs \(b)")
            }
        }
    }
}
