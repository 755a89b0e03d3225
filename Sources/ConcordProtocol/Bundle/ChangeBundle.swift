import ConcordCore
import ConcordCrypto

/// A signed change bundle: what one device wrote since its previous bundle, coalesced,
/// optionally encrypted, signed once by its author.
///
/// The bundle is kept as its exact bytes (``bytes``); the header fields are parsed
/// views of them. Two formats are read and written while the membership of
/// `Specs/membership.md` replaces certificate chains (its section 11): format 2, whose
/// header carries the author's certificate chain, and format 3, whose header carries a
/// control flag and, when encrypted, the epoch key id instead (the author's role then comes
/// from the membership state, ``MembershipState/admission(author:sequence:isControl:)``).
/// Layout of format 2 (`Specs/wire-format.md`, section 7):
///
/// ```text
/// "CNCB" | version 02 | flags | space id | author | seq (varint) | previous id
///        | hlc min | hlc max | certificate chain (blob)             <- header = AEAD associated data
///        | payload length (varint) | payload                        <- header..payload = signed bytes
///        | Ed25519 signature (64)
///
/// payload plaintext = causal context | operation batch            (encrypted in an encrypted space)
/// ```
///
/// Format 3 (`Specs/wire-format.md`, section 7.11):
///
/// ```text
/// "CNCB" | version 03 | flags (bit 0 encrypted, bit 1 control) | space id | author | seq
///        | previous id | hlc min | hlc max | key id [16] (only if encrypted)   <- header
///        | payload length (varint) | payload | Ed25519 signature (64)
/// ```
///
/// A **sectioned** data bundle (flag bit 2, `Specs/permissions.md` §7.3) carries, after its
/// general section, 1 to 16 sections sealed under scope keys (``sections``): the ops of
/// collections only some roles may read.
///
/// A control bundle (``isControl``) is never encrypted, has `hlc min = hlc max` (the op's
/// stamp) and carries one ``MembershipOp`` in plaintext (``controlOp(encrypted:)``).
///
/// Decoding (``init(bytes:limits:)``) checks structure only. ``BundleVerifier`` checks
/// signature and membership; ``BundleImporter`` also decrypts and applies.
///
/// ```swift
/// let bundle = try ChangeBundle(bytes: receivedBytes)
/// print(bundle.author, bundle.sequence, bundle.id)
/// ```
public struct ChangeBundle: Hashable, Sendable {
    /// The 4 magic bytes that start every bundle: `"CNCB"`.
    public static let magic: [UInt8] = Array("CNCB".utf8)
    /// The bundle format this build reads and writes (2). Format 1, a pre-release without
    /// the causal context in the payload, is not read.
    public static let formatVersion: UInt8 = 2
    /// The membership bundle format (3): no certificate chain, a control flag, an epoch key
    /// id (`Specs/membership.md`).
    public static let memberFormatVersion: UInt8 = 3
    /// Flag bit 0: the payload is encrypted. In format 2 all other bits are reserved and
    /// must be 0.
    static let encryptedFlag: UInt8 = 0x01
    /// Flag bit 1 (format 3 only): the payload is one membership op. Bits 2-7 are reserved.
    static let controlFlag: UInt8 = 0x02
    /// Flag bit 2 (format 3 only, with bit 0 and without bit 1): the payload is sectioned
    /// (`Specs/permissions.md` §7.3).
    static let sectionsFlag: UInt8 = 0x04
    /// The most scope sections one bundle carries (16).
    public static let maxSections = 16
    /// The smallest sealed blob: a nonce and a tag (40 bytes).
    static let minimumBox = XChaCha20Poly1305.nonceByteCount + XChaCha20Poly1305.tagByteCount

    /// A scope section of a sectioned bundle (`Specs/permissions.md` §7.3): ops sealed under
    /// the scope key ``keyID`` names, for the members of that key's scope only. Every
    /// relay and member sees its key id and length; only holders of the key open it
    /// (``ChangeBundle/openSection(_:of:key:)``).
    public struct Section: Hashable, Sendable {
        /// The section's number: 1 for the first (sections are numbered in key id order;
        /// 0 is the general section).
        public let number: Int
        /// The id of the scope key the section is sealed under.
        public let keyID: EpochKeyID
        /// Where the sealed blob (nonce, ciphertext, tag) lies in the bundle's bytes.
        package let range: Range<Int>
        /// The sealed blob's length in bytes.
        public var length: Int { range.count }
    }

    /// The complete encoding: signed bytes followed by the signature.
    public let bytes: [UInt8]
    /// The format: 2 (certificate chain in the header) or 3 (membership by control bundles).
    public let format: UInt8
    /// Whether the payload is one membership op in plaintext (format 3, flag bit 1).
    public let isControl: Bool
    /// The epoch key the payload is encrypted under (format 3, encrypted bundles only).
    public let keyID: EpochKeyID?
    /// BLAKE2b-256 of the signed bytes.
    public let id: BundleID
    /// Whether the payload is an XChaCha20-Poly1305 box under the space content key.
    public let isEncrypted: Bool
    /// The space the bundle belongs to.
    public let spaceID: SpaceID
    /// The author's device key; the signature verifies against it.
    public let author: PublicKey
    /// The author's sequence number, contiguous from 1.
    public let sequence: UInt64
    /// The id of the author's previous bundle; ``BundleID/zero`` for sequence 1.
    public let previous: BundleID
    /// The smallest and greatest clock readings of the operations inside.
    public let hlcRange: ClosedRange<HLCTimestamp>
    /// The author's membership proof (format 2); `nil` in format 3, where the author's role
    /// comes from the membership state.
    public let certificates: CertificateChain?
    /// The signature over ``signedBytes``.
    public let signature: Signature
    /// The scope sections (flag bit 2), in key id order; empty for any other bundle.
    public let sections: [Section]
    /// Where the header (the AEAD associated data) ends, and the payload range.
    let headerEnd: Int
    let payloadRange: Range<Int>
    /// The general section's blob: the whole payload, or in a sectioned bundle its first blob.
    package let generalRange: Range<Int>

    init(
        bytes: [UInt8], format: UInt8 = ChangeBundle.formatVersion, isControl: Bool = false, keyID: EpochKeyID? = nil,
        isEncrypted: Bool, spaceID: SpaceID, author: PublicKey, sequence: UInt64,
        previous: BundleID, hlcRange: ClosedRange<HLCTimestamp>, certificates: CertificateChain?,
        signature: Signature, headerEnd: Int, payloadRange: Range<Int>, sections: [Section] = [], generalRange: Range<Int>? = nil
    ) {
        self.bytes = bytes
        self.format = format
        self.isControl = isControl
        self.keyID = keyID
        self.id = BundleID.of(signedBytes: bytes[..<(bytes.count - Signature.byteCount)])
        self.isEncrypted = isEncrypted
        self.spaceID = spaceID
        self.author = author
        self.sequence = sequence
        self.previous = previous
        self.hlcRange = hlcRange
        self.certificates = certificates
        self.signature = signature
        self.headerEnd = headerEnd
        self.payloadRange = payloadRange
        self.sections = sections
        self.generalRange = generalRange ?? payloadRange
    }

    /// Whether the payload is sectioned (flag bit 2): a general section and scope sections.
    public var isSectioned: Bool { !sections.isEmpty }

    /// The general section as carried: the whole ``payload`` of a bundle without sections,
    /// else the first blob of the payload (nonce ‖ ciphertext ‖ tag).
    public var generalPayload: ArraySlice<UInt8> { bytes[generalRange] }

    /// The header: every byte before the payload length. It is the associated data of
    /// the payload encryption, so a payload cannot be moved under another header.
    public var header: ArraySlice<UInt8> { bytes[..<headerEnd] }

    /// The payload as carried: the plaintext (causal context ‖ operation batch), or
    /// nonce ‖ ciphertext ‖ tag. ``Membership/contents(of:)`` opens it.
    public var payload: ArraySlice<UInt8> { bytes[payloadRange] }

    /// Exactly the bytes the author signed: everything but the trailing signature.
    public var signedBytes: ArraySlice<UInt8> { bytes[..<(bytes.count - Signature.byteCount)] }

    /// Checks the author's signature over ``signedBytes``.
    /// - Throws: ``ConcordError`` with code `.invalidSignature` when it does not verify.
    public func verifySignature() throws {
        guard author.isValidSignature(signature, for: signedBytes) else {
            throw ConcordError(
                .invalidSignature,
                "bundle \(sequence) of \(author.hex.prefix(8)) does not carry a valid signature of its author: it was altered or forged; discard it and fetch it again from a trusted member"
            )
        }
    }

    /// Byte-for-byte equality of the whole encoding, signature included.
    public static func == (lhs: ChangeBundle, rhs: ChangeBundle) -> Bool { lhs.bytes == rhs.bytes }
    /// Hashes the id (equal bytes have equal ids).
    public func hash(into hasher: inout Hasher) { hasher.combine(id) }
}

extension ChangeBundle: CustomStringConvertible {
    /// For logs: `bundle 3 of 1a2b3c4d in space 5e6f7a8b (id 9c0d1e2f, 412 bytes, encrypted)`.
    public var description: String {
        "\(isControl ? "control bundle" : "bundle") \(sequence) of \(author.hex.prefix(8)) in space \(spaceID.shortDescription) (id \(id.shortDescription), \(bytes.count) bytes, \(isEncrypted ? "encrypted" : "plaintext")\(sections.isEmpty ? "" : ", \(sections.count) scope section\(sections.count == 1 ? "" : "s")"))"
    }
}
