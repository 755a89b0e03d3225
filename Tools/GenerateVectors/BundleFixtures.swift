// The fixed keys, spaces and memberships of Specs/vectors/bundles.jsonl.
//
// TEST KEYS ONLY. Every seed here is a repeated byte and is published in the vectors
// file; none of them may ever protect real data.
//
// Memberships are made through the public API only: an invite token is written byte by
// byte from its layout (`Specs/wire-format.md`, section 7.4), parsed with
// `InviteToken(_:)` and joined with `Membership.join(_:device:issuedAt:)`. That doubles
// as a check of the token layout.
import Concord
import ConcordCore
import ConcordCrypto

enum BundleFixtures {
    /// Issue time of every certificate unless a case says otherwise (ms since the epoch).
    static let issuedAt: UInt64 = 1_700_000_000_000
    /// The importer's physical time in most cases: one hour after ``issuedAt``.
    static let now: UInt64 = issuedAt + 3_600_000
    /// The importer's drift bound (the default, 5 minutes).
    static let maxDrift = HybridLogicalClock.defaultMaxDrift

    /// A plaintext space: seed `05 × 32` (the example of section 7.8).
    static let plain = SpaceFixture(seedByte: 0x05, encrypted: false)
    /// An encrypted space: seed `06 × 32`.
    static let sealed = SpaceFixture(seedByte: 0x06, encrypted: true)
    /// Another plaintext space, for wrong-space and foreign-certificate cases: seed `0f × 32`.
    static let other = SpaceFixture(seedByte: 0x0F, encrypted: false)

    /// Device seeds (`byte × 32`).
    static let aliceDevice: UInt8 = 0x07      // first writer of `plain` (section 7.8), also a writer of `other`
    static let bobDevice: UInt8 = 0x08        // joins `plain` with a writer invite
    static let encryptedWriterDevice: UInt8 = 0x09
    static let malloryDevice: UInt8 = 0x0A    // never certified by any space key
    static let observerDevice: UInt8 = 0x0B   // the importing device of every case
    static let readerDevice: UInt8 = 0x0C     // joins `plain` with a read-only invite
    static let readerIssuerSeed: UInt8 = 0x0D // the reader-issuer key of that invite
    static let driftWriterDevice: UInt8 = 0x0E

    static func seed(_ byte: UInt8) -> [UInt8] { [UInt8](repeating: byte, count: 32) }

    static func identity(_ byte: UInt8) -> Identity {
        // Cannot fail: 32 bytes.
        try! Identity(seed: seed(byte))
    }

    /// A writer membership of `space` for device `deviceByte`, joined with a writer invite.
    static func writer(_ deviceByte: UInt8, of space: SpaceFixture, issuedAt: UInt64 = issuedAt) throws -> Membership {
        try Membership.join(InviteToken(space.writerInviteText), device: identity(deviceByte), issuedAt: issuedAt)
    }

    /// The importing device of every case: a writer of `space` (device `0b × 32`). Its key
    /// does not influence any outcome.
    static func observer(of space: SpaceFixture) throws -> Membership {
        try writer(observerDevice, of: space)
    }

    /// A reader membership of `space`, joined with a read-only invite whose issuer key is
    /// `issuerByte × 32` (certified at ``issuedAt``).
    static func reader(_ deviceByte: UInt8, of space: SpaceFixture, issuerByte: UInt8, issuedAt: UInt64) throws -> Membership {
        try Membership.join(InviteToken(space.readerInviteText(issuerByte: issuerByte)), device: identity(deviceByte), issuedAt: issuedAt)
    }
}

/// A space recreated from a fixed seed.
struct SpaceFixture {
    let seedByte: UInt8
    let encrypted: Bool

    var seed: [UInt8] { BundleFixtures.seed(seedByte) }
    // Cannot fail: 32 bytes.
    var space: Space { try! Space(seed: SecretBytes(seed), encrypted: encrypted) }
    var id: SpaceID { space.id }
    var key: Identity { BundleFixtures.identity(seedByte) }

    /// `crypto_kdf_derive_from_key(32, 1, "CCcontnt", seed)`, whether or not the space encrypts.
    var contentKey: SymmetricKey {
        // Cannot fail: a 32-byte key and an 8-byte context.
        try! KeyDerivation.deriveKey(from: SymmetricKey(bytes: seed), id: Space.contentKeySubkeyID, context: Space.contentKeyContext)
    }

    /// Section 7.4: `01 01 space-id flags seed checksum`.
    var writerInviteText: String {
        InviteText.make(kind: 1, spaceID: id, encrypted: encrypted, secrets: seed)
    }

    /// Section 7.4: `01 02 space-id flags [content key] issuer-seed issued-at signature checksum`.
    func readerInviteText(issuerByte: UInt8) -> String {
        let issuer = BundleFixtures.identity(issuerByte)
        let certificate = space.certify(issuer.publicKey, as: .readerIssuer, issuedAt: BundleFixtures.issuedAt)
        var secrets: [UInt8] = []
        if encrypted { contentKey.secret.withUnsafeBytes { secrets += $0 } }
        secrets += BundleFixtures.seed(issuerByte)
        var writer = ByteWriter()
        writer.writeFixed64(certificate.issuedAt)
        secrets += writer.bytes + certificate.signature.bytes
        return InviteText.make(kind: 2, spaceID: id, encrypted: encrypted, secrets: secrets)
    }
}

/// Invite token text, written from the layout of section 7.4.
enum InviteText {
    static func make(kind: UInt8, spaceID: SpaceID, encrypted: Bool, secrets: [UInt8]) -> String {
        var bytes: [UInt8] = [1, kind] + spaceID.bytes + [encrypted ? 1 : 0] + secrets
        bytes += Blake2b.hash(bytes).bytes.prefix(4)
        return "concord1-" + base32(bytes)
    }

    /// RFC 4648 base32, lowercase, no padding.
    static func base32(_ bytes: [UInt8]) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        var out = ""
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                out.append(alphabet[Int(buffer >> UInt32(bits) & 31)])
            }
        }
        if bits > 0 { out.append(alphabet[Int(buffer << UInt32(5 - bits) & 31)]) }
        return out
    }
}
