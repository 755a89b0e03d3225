// Hand-built change bundles for the invalid cases that `Membership.seal` refuses to make
// (a reader's bundle, a forged certificate, a reserved flag, ...).
//
// A draft holds every field of the layout of `Specs/wire-format.md`, section 7.2, as
// bytes, so a case changes exactly one thing and re-signs: the signature is then valid
// and the importer must reject the bundle for the intended reason, not for a bad
// signature.
import Concord
import ConcordCore
import ConcordCrypto

struct BundleDraft {
    var magic: [UInt8] = ChangeBundle.magic
    var version: UInt8 = ChangeBundle.formatVersion
    var flags: UInt8
    var spaceID: [UInt8]
    var author: [UInt8]
    /// The encoded varint, so a case can write a non-minimal one.
    var sequence: [UInt8]
    var previous: [UInt8]
    var hlcMin: UInt64
    var hlcMax: UInt64
    var chain: [UInt8]
    /// The encoded chain length; `nil` writes `chain.count`.
    var chainLength: [UInt8]?
    var payload: [UInt8]
    /// The encoded payload length; `nil` writes `payload.count`.
    var payloadLength: [UInt8]?

    /// Bytes `[0, H)`: the AEAD associated data.
    var header: [UInt8] {
        var w = ByteWriter()
        w.write(contentsOf: magic)
        w.write(version)
        w.write(flags)
        w.write(contentsOf: spaceID)
        w.write(contentsOf: author)
        w.write(contentsOf: sequence)
        w.write(contentsOf: previous)
        w.writeFixed64(hlcMin)
        w.writeFixed64(hlcMax)
        w.write(contentsOf: chainLength ?? Self.varint(UInt64(chain.count)))
        w.write(contentsOf: chain)
        return w.bytes
    }

    /// Header, payload length and payload.
    var signedBytes: [UInt8] {
        header + (payloadLength ?? Self.varint(UInt64(payload.count))) + payload
    }

    /// The complete bundle, signed by `signer`.
    func signed(by signer: Identity) -> [UInt8] {
        let message = signedBytes
        return message + signer.sign(message).bytes
    }

    /// Replaces the payload with `plaintext` (causal context and operation batch)
    /// encrypted under `key`, authenticating this draft's header (or `associatedData`, to
    /// make a payload that belongs to another header).
    mutating func encrypt(_ plaintext: [UInt8], key: SymmetricKey, nonce: XChaCha20Poly1305.Nonce, associatedData: [UInt8]? = nil) {
        payload = XChaCha20Poly1305.seal(plaintext, using: key, nonce: nonce, authenticating: associatedData ?? header).combined
    }

    static func varint(_ value: UInt64) -> [UInt8] {
        var w = ByteWriter()
        w.writeVarint(value)
        return w.bytes
    }
}

extension BundleDraft {
    /// The fields of a real bundle.
    init(_ bundle: ChangeBundle) {
        flags = bundle.isEncrypted ? 1 : 0
        spaceID = bundle.spaceID.bytes
        author = bundle.author.bytes
        sequence = Self.varint(bundle.sequence)
        previous = bundle.previous.bytes
        hlcMin = bundle.hlcRange.lowerBound.rawValue
        hlcMax = bundle.hlcRange.upperBound.rawValue
        chain = bundle.certificates?.bytes ?? []
        payload = Array(bundle.payload)
    }
}

enum Forge {
    /// A 138-byte certificate (section 7.3) signed by `issuer`, whoever that is.
    static func certificate(space: SpaceID, subject: PublicKey, role: UInt8, issuedAt: UInt64, issuer: Identity) -> [UInt8] {
        var w = ByteWriter()
        w.write(MembershipCertificate.version)
        w.write(contentsOf: space.bytes)
        w.write(contentsOf: subject.bytes)
        w.write(role)
        w.writeFixed64(issuedAt)
        return w.bytes + issuer.sign(w.bytes).bytes
    }

    /// A chain: `u8` count, then the certificates.
    static func chain(_ certificates: [UInt8]...) -> [UInt8] {
        [UInt8(certificates.count)] + certificates.flatMap { $0 }
    }

    /// `bytes` with bit `bit` of byte `offset` inverted.
    static func flip(_ bytes: [UInt8], at offset: Int, bit: Int = 0) -> [UInt8] {
        var copy = bytes
        copy[offset] ^= 1 << UInt8(bit)
        return copy
    }

    /// A fixed nonce for case `n` (never reuse one under a real key).
    static func nonce(_ n: UInt8) -> XChaCha20Poly1305.Nonce {
        // Cannot fail: 24 bytes.
        try! XChaCha20Poly1305.Nonce(bytes: (0..<24).map { UInt8($0) &+ n &* 24 })
    }
}
