import Testing
import ConcordCore
import ConcordCrypto
@testable import Concord

@Suite struct BundleCodecTests {
    /// The example of `Specs/wire-format.md`, section 7.8: an unencrypted space with seed
    /// 05…05, device seed 07…07, one set. Bytes and id computed independently with PyNaCl.
    static let exampleHex = "434e434201006e7a1cdd29b0b78fd13af4c5598feff4ef2a97166e3ca6f2e4fbfccd80505bf1ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c01000000000000000000000000000000000000000000000000000000000000000000000068e5cf8b0100000068e5cf8b018b0101016e7a1cdd29b0b78fd13af4c5598feff4ef2a97166e3ca6f2e4fbfccd80505bf1ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c010068e5cf8b010000c7500396b6cf1208d2423b2253eedba6ce89b0b35a903afdc1689fc337073f362807b0b818cec40bdaecbaca8350ac2b078e4555dadb34befe5428a2c76b9a0d590101ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c0205746f646f73057469746c6501e621e1f8c36c495a93fc0c247a3e6e5f01000080808080adf9e78b030000010408427579206d696c6bb28c3083282bba2947549d590b09a1a47f167cda9f06bd76ef3778b465d4dea385b1f090f286d5f2e3ace7434001231b54adbb52d64f37623582e5789fb8a60b"

    static func example() throws -> ChangeBundle {
        let alice = writer(7, of: space(5, encrypted: false))
        let set = op(.set(field: "title", value: "Buy milk"), by: alice.replicaID, at: 0)
        return try alice.seal([set], previous: nil)
    }

    @Test func sealedBundleMatchesIndependentEncoding() throws {
        let bundle = try Self.example()
        #expect(hex(bundle.bytes) == Self.exampleHex)
        #expect(bundle.id.hex == "141a8b3cd750888c3f0d77b6cbddb8450fdfbc4aa9c7fae38a99ca67bcfdd2fd")
        #expect(bundle.bytes.count == 414 && bundle.header.count == 260 && bundle.payload.count == 89)
        #expect(bundle.signedBytes.count == 350)
    }

    @Test func decodingRoundTripsEveryField() throws {
        let bundle = try Self.example()
        let decoded = try ChangeBundle(bytes: bundle.bytes)
        #expect(decoded == bundle && decoded.id == bundle.id)
        #expect(decoded.sequence == 1 && decoded.previous == .zero && !decoded.isEncrypted)
        #expect(decoded.author == identity(7).publicKey && decoded.spaceID == space(5).id)
        #expect(decoded.hlcRange == HLCTimestamp(milliseconds: t0, counter: 0)...HLCTimestamp(milliseconds: t0, counter: 0))
        #expect(decoded.certificates.role == .writer)
        try decoded.verifySignature()
        #expect(try OperationCodec.decode(Array(decoded.payload)).count == 1)
    }

    @Test func everyTruncationIsATypedError() throws {
        let bytes = try Self.example().bytes
        for length in 0..<bytes.count {
            let error = #expect(throws: ConcordError.self) { try ChangeBundle(bytes: Array(bytes.prefix(length))) }
            #expect(error?.code == .malformedBundle, "length \(length): \(String(describing: error))")
        }
    }

    @Test func trailingBytesMagicVersionAndFlagsAreChecked() throws {
        let bytes = try Self.example().bytes
        let trailing = expectError(.malformedBundle) { try ChangeBundle(bytes: bytes + [0]) }
        #expect(trailing?.message.contains("trailing") == true)
        var magic = bytes
        magic[0] = UInt8(ascii: "X")
        expectError(.malformedBundle) { try ChangeBundle(bytes: magic) }
        var version = bytes
        version[4] = 2
        expectError(.unsupportedVersion) { try ChangeBundle(bytes: version) }
        var flags = bytes
        flags[5] = 0x02
        expectError(.malformedBundle) { try ChangeBundle(bytes: flags) }
        var encryptedButTiny = bytes
        encryptedButTiny[5] = 0x01  // an 89-byte payload is long enough for a box; still decodes
        #expect(try ChangeBundle(bytes: encryptedButTiny).isEncrypted)
    }

    @Test func sizeLimitIsCheckedBeforeAnythingElse() throws {
        let bytes = try Self.example().bytes
        expectError(.bundleTooLarge) { try ChangeBundle(bytes: bytes, limits: BundleLimits(maxBundleBytes: bytes.count - 1)) }
        #expect(try ChangeBundle(bytes: bytes, limits: BundleLimits(maxBundleBytes: bytes.count)).id == Self.example().id)
        // Garbage above the limit is "too large", not "malformed": nothing was read.
        expectError(.bundleTooLarge) { try ChangeBundle(bytes: [UInt8](repeating: 0xFF, count: 65), limits: BundleLimits(maxBundleBytes: 64)) }
    }

    @Test func oversizedLengthFieldsAreRejectedWithoutAllocating() throws {
        let bundle = try Self.example()
        let bytes = bundle.bytes
        // Payload length field (after the header) claims 2^62 bytes.
        let huge: [UInt8] = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]
        let payloadLength = Array(bytes[..<bundle.header.count]) + huge + Array(bytes[(bundle.header.count + 1)...])
        expectError(.malformedBundle) { try ChangeBundle(bytes: payloadLength) }
        // Certificate blob length (offset 119, varint 8b 01) claims 2^62 bytes.
        #expect(bytes[119] == 0x8B && bytes[120] == 0x01)
        let certificateLength = Array(bytes[..<119]) + huge + Array(bytes[121...])
        expectError(.malformedBundle) { try ChangeBundle(bytes: certificateLength) }
        // A varint running past 64 bits.
        let overflow = Array(bytes[..<bundle.header.count]) + [UInt8](repeating: 0xFF, count: 10) + [0x01] + Array(bytes[(bundle.header.count + 1)...])
        expectError(.malformedBundle) { try ChangeBundle(bytes: overflow) }
    }

    @Test func chainLinkAndClockRangeAreChecked() throws {
        let alice = writer(7, of: space(5, encrypted: false))
        let set = op(.set(field: "title", value: "x"), by: alice.replicaID, at: 0)
        let chain = alice.certificates
        let zeroSequence = try forgeBytes(set, alice, chain) { header in header[70] = 0 }
        expectError(.malformedBundle) { try ChangeBundle(bytes: zeroSequence) }
        let firstWithLink = try forgeBytes(set, alice, chain) { header in header[71] = 1 }
        expectError(.malformedBundle) { try ChangeBundle(bytes: firstWithLink) }
        let bad = try forge(
            ops: [set], signer: alice.device, certificates: chain, spaceID: alice.spaceID,
            hlcRange: HLCTimestamp(rawValue: 5)...HLCTimestamp(rawValue: 5))
        var inverted = bad.bytes
        inverted[111] = 0x00  // hlc max (offsets 111-118) low byte: 5 -> 0, below min
        expectError(.malformedBundle) { try ChangeBundle(bytes: inverted) }
    }

    /// A plaintext bundle of `op` whose header bytes are edited by `edit` before signing.
    private func forgeBytes(_ op: RecordOperation, _ m: Membership, _ chain: CertificateChain, edit: (inout [UInt8]) -> Void) throws -> [UInt8] {
        var header = ChangeBundle.encodeHeader(
            isEncrypted: false, spaceID: m.spaceID, author: m.device.publicKey, sequence: 1, previous: .zero,
            hlcRange: op.stamp.hlc...op.stamp.hlc, certificates: chain)
        edit(&header)
        var writer = ByteWriter()
        writer.write(contentsOf: header)
        writer.writeLengthPrefixed(OperationCodec.encode([op]))
        return writer.bytes + m.device.sign(writer.bytes).bytes
    }
}
