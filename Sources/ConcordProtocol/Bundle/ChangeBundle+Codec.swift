import ConcordCore
import ConcordCrypto

extension ChangeBundle {
    /// Decodes a bundle, strictly and within bounds. Signature, membership and payload
    /// are **not** checked here (see ``BundleVerifier`` and ``BundleImporter``).
    ///
    /// The size limit is checked before any byte is read; every length is checked
    /// against the bytes left before anything is allocated; trailing bytes are rejected.
    ///
    /// ```swift
    /// let bundle = try ChangeBundle(bytes: data, limits: BundleLimits(maxBundleBytes: 1 << 20))
    /// ```
    /// - Parameters:
    ///   - bytes: The complete bundle.
    ///   - limits: ``BundleLimits/maxBundleBytes`` applies.
    /// - Throws: ``ConcordError`` with code `.bundleTooLarge`, `.unsupportedVersion` (format
    ///   or certificate version), `.invalidCertificate` (unknown role) or `.malformedBundle`
    ///   (format 3 also: a reserved flag, an encrypted control bundle, a control bundle
    ///   whose clock range is not one reading, a control payload under 2 bytes, flag bit 2
    ///   without bit 0 or with bit 1, a sectioned payload out of shape: `Specs/permissions.md` §7.3).
    public init(bytes: [UInt8], limits: BundleLimits = .default) throws {
        try self.init(bytes: bytes, limits: limits, formats: [Self.formatVersion, Self.memberFormatVersion])
    }

    /// Decodes a bundle of a space whose format is `format`: a bundle of any other format
    /// is `unsupportedVersion`, and nothing after its version byte is interpreted.
    /// - Parameters:
    ///   - bytes: The complete bundle.
    ///   - limits: ``BundleLimits/maxBundleBytes`` applies.
    ///   - format: The space's bundle format (2 or 3).
    /// - Throws: The errors of ``init(bytes:limits:)``.
    public init(bytes: [UInt8], limits: BundleLimits = .default, format: UInt8) throws {
        try self.init(bytes: bytes, limits: limits, formats: [format])
    }

    private init(bytes: [UInt8], limits: BundleLimits, formats: [UInt8]) throws {
        guard bytes.count <= limits.maxBundleBytes else {
            throw ConcordError(
                .bundleTooLarge,
                "the bundle is \(bytes.count) bytes, more than the limit of \(limits.maxBundleBytes); ask its author to sync more often (smaller bundles) or raise the limit"
            )
        }
        guard bytes.count >= Self.magic.count, Array(bytes.prefix(Self.magic.count)) == Self.magic else {
            throw ConcordError(
                .malformedBundle,
                "the data does not start with \"CNCB\": it is not a Concord change bundle, or it is truncated; check that you picked the right file"
            )
        }
        var reader = ByteReader(bytes, range: Self.magic.count..<bytes.count)
        self = try ConcordError.mapping("change bundle") { try Self.decodeAfterMagic(bytes, &reader, formats: formats) }
    }

    private static func decodeAfterMagic(_ bytes: [UInt8], _ r: inout ByteReader, formats: [UInt8]) throws -> ChangeBundle {
        let version = try r.readByte()
        guard formats.contains(version) else {
            let reads = formats.map(String.init).joined(separator: " and ")
            if version == 1 {
                throw ConcordError(
                    .unsupportedVersion,
                    "change bundle format 1 was written by a pre-release of Concord and is no longer read (this version reads format \(reads)); ask the bundle's author to update Concord"
                )
            }
            if version == formatVersion || version == memberFormatVersion {
                throw ConcordError(
                    .unsupportedVersion,
                    "change bundle format \(version) is not the format of this space (format \(reads)); "
                        + "a space never mixes formats: the bundle was made for another space, "
                        + "or update Concord on this device if the space was recreated with a newer version")
            }
            throw ConcordError(
                .unsupportedVersion,
                "change bundle format \(version) is not supported by this version of Concord (it reads format \(reads)); update Concord on this device"
            )
        }
        let isMemberFormat = version == memberFormatVersion
        let flags = try r.readByte()
        let known = isMemberFormat ? encryptedFlag | controlFlag | sectionsFlag : encryptedFlag
        guard flags & ~known == 0 else { throw r.error("reserved flag bits \(flags) are set") }
        let isEncrypted = flags & encryptedFlag != 0
        let isControl = flags & controlFlag != 0
        let isSectioned = flags & sectionsFlag != 0
        guard !(isControl && isEncrypted) else { throw r.error("a control bundle is never encrypted (flags \(flags))") }
        guard !isSectioned || (isEncrypted && !isControl) else {
            throw r.error("flag bit 2 (sections) is only valid on an encrypted data bundle (flags \(flags))")
        }
        let spaceID = try SpaceID(bytes: r.readBytes(SpaceID.byteCount))
        let author = try PublicKey(bytes: r.readBytes(PublicKey.byteCount))
        let sequence = try r.readVarint()
        guard sequence >= 1 else { throw r.error("sequence number 0 (sequences start at 1)") }
        let previous = BundleID(digest: try Digest32(bytes: r.readBytes(Digest32.byteCount)))
        guard (sequence == 1) == (previous == .zero) else {
            throw r.error(
                sequence == 1 ? "the first bundle of an author links to a previous bundle" : "bundle \(sequence) has no previous bundle")
        }
        let hlcMin = HLCTimestamp(rawValue: try r.readFixed64())
        let hlcMax = HLCTimestamp(rawValue: try r.readFixed64())
        guard hlcMin <= hlcMax else { throw r.error("clock range \(hlcMin)...\(hlcMax) is empty") }
        guard !isControl || hlcMin == hlcMax else {
            throw r.error("a control bundle's clock range \(hlcMin)...\(hlcMax) is not one reading (its op's stamp)")
        }
        var certificates: CertificateChain?
        var keyID: EpochKeyID?
        if isMemberFormat {
            if isEncrypted { keyID = try EpochKeyID(bytes: r.readBytes(EpochKeyID.byteCount)) }
        } else {
            let certificateLength = try r.readCount(what: "certificate chain length")
            certificates = try CertificateChain(bytes: Array(r.readBytes(certificateLength)))
        }
        let headerEnd = r.offset
        let payloadLength = try r.readVarint()
        guard r.remaining >= Signature.byteCount, payloadLength <= UInt64(r.remaining - Signature.byteCount) else {
            throw r.error("a payload of \(payloadLength) bytes and a signature do not fit in the remaining \(r.remaining) bytes")
        }
        guard !isEncrypted || payloadLength >= UInt64(minimumBox) else {
            throw r.error("an encrypted payload of \(payloadLength) bytes is shorter than a nonce and a tag (\(minimumBox))")
        }
        guard !isControl || payloadLength >= 2 else {
            throw r.error("a control payload of \(payloadLength) bytes cannot hold a version and an op kind")
        }
        let payloadStart = r.offset
        _ = try r.readBytes(Int(payloadLength))
        let payloadRange = payloadStart..<r.offset
        guard r.remaining == Signature.byteCount else {
            throw r.error("\(r.remaining - Signature.byteCount) unexpected trailing bytes after the signature")
        }
        var sections: [Section] = []
        var generalRange = payloadRange
        if isSectioned { (generalRange, sections) = try decodeSections(bytes, payloadRange) }
        let signature = try Signature(bytes: r.readBytes(Signature.byteCount))
        return ChangeBundle(
            bytes: bytes, format: version, isControl: isControl, keyID: keyID, isEncrypted: isEncrypted, spaceID: spaceID,
            author: author, sequence: sequence, previous: previous, hlcRange: hlcMin...hlcMax, certificates: certificates,
            signature: signature, headerEnd: headerEnd, payloadRange: payloadRange, sections: sections, generalRange: generalRange)
    }

    /// The structure of a sectioned payload (`Specs/permissions.md` §7.3), checked without
    /// any key, as every relay and member does: `blob general | varint m (1...16) | m × (key
    /// id [16] | blob sealed)`, key ids strictly increasing, every blob at least a nonce and
    /// a tag (40 bytes), nothing after the last section.
    private static func decodeSections(_ bytes: [UInt8], _ payload: Range<Int>) throws -> (Range<Int>, [Section]) {
        var r = ByteReader(bytes, range: payload)
        func blob(_ what: String) throws -> Range<Int> {
            let length = try r.readCount(what: "\(what) length")
            guard length >= minimumBox else {
                throw r.error("\(what) of \(length) bytes is shorter than a nonce and a tag (\(minimumBox))")
            }
            let start = r.offset
            _ = try r.readBytes(length)
            return start..<r.offset
        }
        let general = try blob("the general section")
        let count = try r.readVarint()
        guard (1...UInt64(maxSections)).contains(count) else {
            throw r.error("a sectioned payload with \(count) scope sections (1 to \(maxSections))")
        }
        var sections: [Section] = []
        for number in 1...Int(count) {
            let keyID = try EpochKeyID(bytes: r.readBytes(EpochKeyID.byteCount))
            if let last = sections.last, !(last.keyID < keyID) {
                throw r.error(
                    "scope section \(number) (key \(keyID.hex.prefix(8))) does not follow the key id of section \(number - 1) in increasing order"
                )
            }
            sections.append(Section(number: number, keyID: keyID, range: try blob("scope section \(number)")))
        }
        guard r.isAtEnd else { throw r.error("\(r.remaining) bytes after the last scope section") }
        return (general, sections)
    }

    /// Writes a format-3 header (`Specs/wire-format.md` §7.11): no certificate chain; the
    /// control flag; the epoch key id when `keyID` is given (the payload is then encrypted).
    static func encodeMemberHeader(
        isControl: Bool, keyID: EpochKeyID?, spaceID: SpaceID, author: PublicKey, sequence: UInt64, previous: BundleID,
        hlcRange: ClosedRange<HLCTimestamp>, sectioned: Bool = false
    ) -> [UInt8] {
        var writer = ByteWriter(capacity: 144)
        writeHeaderFields(
            into: &writer, version: memberFormatVersion,
            flags: (keyID == nil ? 0 : encryptedFlag) | (isControl ? controlFlag : 0) | (sectioned ? sectionsFlag : 0),
            spaceID: spaceID, author: author, sequence: sequence, previous: previous, hlcRange: hlcRange)
        if let keyID { writer.write(contentsOf: keyID.bytes) }
        return writer.bytes
    }

    /// Writes the header (everything before the payload length).
    static func encodeHeader(
        isEncrypted: Bool, spaceID: SpaceID, author: PublicKey, sequence: UInt64, previous: BundleID,
        hlcRange: ClosedRange<HLCTimestamp>, certificates: CertificateChain
    ) -> [UInt8] {
        let chain = certificates.bytes
        var writer = ByteWriter(capacity: 128 + chain.count)
        writeHeaderFields(
            into: &writer, version: formatVersion, flags: isEncrypted ? encryptedFlag : 0, spaceID: spaceID, author: author,
            sequence: sequence, previous: previous, hlcRange: hlcRange)
        writer.writeLengthPrefixed(chain)
        return writer.bytes
    }

    /// The fields both formats' headers start with: magic, version, flags, space id, author,
    /// sequence, previous id, hlc min and max.
    private static func writeHeaderFields(
        into writer: inout ByteWriter, version: UInt8, flags: UInt8, spaceID: SpaceID, author: PublicKey, sequence: UInt64,
        previous: BundleID, hlcRange: ClosedRange<HLCTimestamp>
    ) {
        writer.write(contentsOf: magic)
        writer.write(version)
        writer.write(flags)
        writer.write(contentsOf: spaceID.bytes)
        writer.write(contentsOf: author.bytes)
        writer.writeVarint(sequence)
        writer.write(contentsOf: previous.bytes)
        writer.writeFixed64(hlcRange.lowerBound.rawValue)
        writer.writeFixed64(hlcRange.upperBound.rawValue)
    }

    /// Assembles and signs a bundle: `header ‖ varint(len) ‖ payload ‖ sign(all of it)`.
    /// - Parameters:
    ///   - header: From ``encodeHeader(isEncrypted:spaceID:author:sequence:previous:hlcRange:certificates:)``.
    ///   - payload: The payload as carried (already encrypted if the header says so).
    ///   - signer: The author's identity.
    static func assemble(header: [UInt8], payload: [UInt8], signer: Identity) throws -> ChangeBundle {
        var writer = ByteWriter(capacity: header.count + payload.count + 80)
        writer.write(contentsOf: header)
        writer.writeLengthPrefixed(payload)
        let signature = signer.sign(writer.bytes)
        writer.write(contentsOf: signature.bytes)
        return try ChangeBundle(bytes: writer.bytes, limits: BundleLimits(maxBundleBytes: .max))
    }
}
