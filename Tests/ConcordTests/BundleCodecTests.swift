import Testing
import ConcordCore
import ConcordCrypto
@testable import Concord
@testable import ConcordProtocol

@Suite struct BundleCodecTests {
    /// The example of `Specs/wire-format.md`, section 7.8: an unencrypted space with seed
    /// 05…05, device seed 07…07, one set, an empty causal context. Bytes and id computed
    /// independently with PyNaCl.
    static let exampleHex = "434e434202006e7a1cdd29b0b78fd13af4c5598feff4ef2a97166e3ca6f2e4fbfccd80505bf1ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c01000000000000000000000000000000000000000000000000000000000000000000000068e5cf8b0100000068e5cf8b018b0101016e7a1cdd29b0b78fd13af4c5598feff4ef2a97166e3ca6f2e4fbfccd80505bf1ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c010068e5cf8b010000c7500396b6cf1208d2423b2253eedba6ce89b0b35a903afdc1689fc337073f362807b0b818cec40bdaecbaca8350ac2b078e4555dadb34befe5428a2c76b9a0d5a000101ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c0205746f646f73057469746c6501e621e1f8c36c495a93fc0c247a3e6e5f01000080808080adf9e78b030000010408427579206d696c6b863251c3f77d6210b812c75ab4eba2e7915970a305994539c8e2200b298f89186dc801ce487d35018800ba0c819790d2948e63f2e583310aed918d619861e904"

    static func example() throws -> ChangeBundle {
        let alice = writer(7, of: space(5, encrypted: false))
        let set = op(.set(field: "title", value: "Buy milk"), by: alice.replicaID, at: 0)
        return try alice.seal([set], previous: nil)
    }

    @Test func sealedBundleMatchesIndependentEncoding() throws {
        let bundle = try Self.example()
        #expect(hex(bundle.bytes) == Self.exampleHex)
        #expect(bundle.id.hex == "153a67efec84c160d3c9b6f20ae9bd5dc04c6018fd20ac5a8578388de595b3a5")
        #expect(bundle.bytes.count == 415 && bundle.header.count == 260 && bundle.payload.count == 90)
        #expect(bundle.signedBytes.count == 351)
        #expect(bundle.payload.first == 0x00)  // an empty causal context, then the batch
    }

    /// The same set sealed with the causal context [08…08: 3, 0e…0e: 300, 07…07 (the
    /// author): 9]: the author's entry is dropped, the others are written in ascending byte
    /// order of their keys (`0b ee f5 a9…` before `13 98 f6 2c…`), 300 as the varint `ac 02`.
    /// Context bytes and bundle id computed independently with PyNaCl.
    @Test func contextIsEncodedSortedWithoutTheAuthor() throws {
        let alice = writer(7, of: space(5, encrypted: false))
        let set = op(.set(field: "title", value: "Buy milk"), by: alice.replicaID, at: 0)
        let context = VersionVector([identity(8).publicKey: 3, identity(0x0E).publicKey: 300, alice.device.publicKey: 9])
        let bundle = try alice.seal([set], previous: nil, context: context)
        let contextHex = "02" + "0beef5a9e679e6a3e134fe27837bff32c7cb5f5d44ea09bcb0e542bad6a4c0cc" + "ac02"
            + "1398f62c6d1a457c51ba6a4b5f3dbd2f69fca93216218dc8997e416bd17d93ca" + "03"
        #expect(hex(bundle.payload).hasPrefix(contextHex))
        #expect(Array(bundle.payload.dropFirst(contextHex.count / 2)) == Array(try Self.example().payload.dropFirst()))
        #expect(bundle.id.hex == "a5a2af8529ce60d96e175645d72bc0336b3854b9e1e04ab8bbaaa9b8705cdfa5")
        #expect(bundle.bytes.count == 483)
        let contents = try alice.contents(of: bundle)
        #expect(contents.context == VersionVector([identity(8).publicKey: 3, identity(0x0E).publicKey: 300]))
        #expect(contents.operations == [set])
    }

    /// A context round-trips through sealing and opening, plaintext and encrypted, for
    /// empty, small and limit-sized vectors and sequences up to 2^64 - 1.
    @Test(arguments: [false, true])
    func contextRoundTrips(encrypted: Bool) throws {
        let alice = writer(7, of: space(5, encrypted: encrypted))
        let set = op(.set(field: "title", value: "x"), by: alice.replicaID, at: 0)
        let many = VersionVector(Dictionary(uniqueKeysWithValues: (0..<VersionVector.maxContextAuthors).map { (Self.key($0), UInt64($0) + 1) }))
        for context in [VersionVector(), VersionVector([identity(8).publicKey: 1]),
                        VersionVector([identity(8).publicKey: .max, identity(9).publicKey: 127, identity(10).publicKey: 128]), many] {
            let bundle = try alice.seal([set], previous: nil, context: context)
            let contents = try alice.contents(of: try ChangeBundle(bytes: bundle.bytes))
            #expect(contents == BundleContents(context: context, operations: [set]))
            #expect(try alice.operations(in: bundle) == [set])
        }
        // A device's own entry is never written, so it never counts towards the limit.
        let withSelf = VersionVector(many.entries.merging([alice.device.publicKey: 5]) { $1 })
        #expect(try alice.contents(of: alice.seal([set], previous: nil, context: withSelf)).context == many)
        var tooMany = many
        tooMany[Self.key(VersionVector.maxContextAuthors)] = 1
        let error = expectError(.bundleTooLarge) { try alice.seal([set], previous: nil, context: tooMany) }
        #expect(error?.message.contains("4096") == true)
    }

    /// Every rule of section 7.5 on the causal context is enforced when opening a bundle
    /// (the bundle is correctly signed; only the context is wrong): `malformedBundle`.
    @Test(arguments: [false, true])
    func contextRulesAreEnforced(encrypted: Bool) throws {
        let alice = writer(7, of: space(5, encrypted: encrypted))
        let set = op(.set(field: "title", value: "x"), by: alice.replicaID, at: 0)
        let batch = OperationCodec.encode([set])
        let (low, high) = (Self.key(1).bytes, Self.key(2).bytes)
        let me = alice.device.publicKey.bytes
        // Each plaintext: a context, then the batch (none where the context runs past the end).
        let cases: [(String, [UInt8])] = [
            ("unsorted", [2] + high + [1] + low + [1] + batch),
            ("duplicate", [2] + low + [1] + low + [2] + batch),
            ("own author", [1] + me + [1] + batch),
            ("own author among others", [2] + low + [1] + me + [1] + batch),  // ascending: 00… before ea…
            ("sequence 0", [1] + low + [0] + batch),
            ("non-minimal sequence", [1] + low + [0x81, 0x00] + batch),
            ("non-minimal count", [0x80, 0x00] + batch),
            ("count over the limit", [0x81, 0x20] + (0...VersionVector.maxContextAuthors).flatMap { Self.key($0).bytes + [1] } + batch),
            ("huge count", [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01] + batch),
            ("count past the end", [3] + low + [1]),
            ("truncated author", [1] + Array(low.prefix(31))),
            ("truncated sequence", [1] + low + [0x80]),
            ("empty plaintext", []),
        ]
        for (name, plaintext) in cases {
            let bundle = try sealedPayload(plaintext, ops: [set], by: alice)
            let error = expectError(.malformedBundle) { try alice.contents(of: bundle) }
            #expect(error?.message.contains("causal context") == true, "\(name): \(String(describing: error))")
        }
        // The valid neighbours of those cases open.
        let valid = try sealedPayload([3] + low + [1] + high + [0xAC, 0x02] + Self.key(3).bytes + [1] + batch, ops: [set], by: alice)
        #expect(try alice.contents(of: valid).context == VersionVector([Self.key(1): 1, Self.key(2): 300, Self.key(3): 1]))
        // An empty context and no batch, or a bare batch without the context, are not bundles.
        expectError(.malformedBundle) { try alice.contents(of: sealedPayload([0], ops: [set], by: alice)) }
        #expect(throws: ConcordError.self) { try alice.contents(of: sealedPayload(batch, ops: [set], by: alice)) }
    }

    /// The `n`-th of a family of distinct keys, ascending in `n` (30 zero bytes, then `n`
    /// big-endian): none is a device key of these tests.
    static func key(_ n: Int) -> PublicKey {
        try! PublicKey(bytes: [UInt8](repeating: 0, count: 30) + [UInt8(n >> 8), UInt8(n & 0xFF)])
    }

    /// A seq-1 bundle of `ops` by `m` with an arbitrary payload plaintext, encrypted in an
    /// encrypted space and signed: it passes every check before the payload is opened.
    private func sealedPayload(_ plaintext: [UInt8], ops: [RecordOperation], by m: Membership) throws -> ChangeBundle {
        let stamps = ops.map(\.stamp.hlc)
        let header = ChangeBundle.encodeHeader(
            isEncrypted: m.isEncrypted, spaceID: m.spaceID, author: m.device.publicKey, sequence: 1, previous: .zero,
            hlcRange: stamps.min()!...stamps.max()!, certificates: m.certificates!)
        var payload = plaintext
        if let key = m.contentKey { payload = XChaCha20Poly1305.seal(plaintext, using: key, authenticating: header).combined }
        return try ChangeBundle.assemble(header: header, payload: payload, signer: m.device)
    }

    @Test func decodingRoundTripsEveryField() throws {
        let bundle = try Self.example()
        let decoded = try ChangeBundle(bytes: bundle.bytes)
        #expect(decoded == bundle && decoded.id == bundle.id)
        #expect(decoded.sequence == 1 && decoded.previous == .zero && !decoded.isEncrypted)
        #expect(decoded.author == identity(7).publicKey && decoded.spaceID == space(5).id)
        #expect(decoded.hlcRange == HLCTimestamp(milliseconds: t0, counter: 0)...HLCTimestamp(milliseconds: t0, counter: 0))
        #expect(decoded.certificates!.role == .writer)
        try decoded.verifySignature()
        #expect(decoded.payload.first == 0x00)
        #expect(try OperationCodec.decode(Array(decoded.payload.dropFirst())).count == 1)
        let contents = try writer(7, of: space(5, encrypted: false)).contents(of: decoded)
        #expect(contents.context == VersionVector() && contents.operations.count == 1)
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
        #expect(bytes[4] == ChangeBundle.formatVersion && ChangeBundle.formatVersion == 2)
        for unknown: UInt8 in [0, 1, 4, 0xFF] {
            var version = bytes
            version[4] = unknown
            let error = expectError(.unsupportedVersion) { try ChangeBundle(bytes: version) }
            // Format 1 was a pre-release (no causal context): its author must update.
            #expect(error?.message.contains(unknown == 1 ? "pre-release" : "update Concord on this device") == true)
        }
        // Format 3 is known, but never in a format-2 space: nothing after the version is read.
        var member = bytes
        member[4] = ChangeBundle.memberFormatVersion
        let mixed = expectError(.unsupportedVersion) { try ChangeBundle(bytes: member, format: ChangeBundle.formatVersion) }
        #expect(mixed?.message.contains("not the format of this space") == true)
        var flags = bytes
        flags[5] = 0x02
        expectError(.malformedBundle) { try ChangeBundle(bytes: flags) }
        var encryptedButTiny = bytes
        encryptedButTiny[5] = 0x01  // a 90-byte payload is long enough for a box; still decodes
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
        let chain = alice.certificates!
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
        writer.writeLengthPrefixed([0] + OperationCodec.encode([op]))  // empty causal context, then the batch
        return writer.bytes + m.device.sign(writer.bytes).bytes
    }
}
