import ConcordCore
import ConcordCrypto

/// A signed statement that a public key is a member of a space with a ``Role``.
///
/// The issuer signs, with Ed25519, the 74 bytes
/// `version (01) ‖ space id (32) ‖ subject (32) ‖ role (u8) ‖ issued-at (fixed64 ms)`.
/// The issuer is not written in the certificate: it is the space key for the first
/// certificate of a ``CertificateChain`` and the previous certificate's subject for the
/// second (see `Specs/wire-format.md`, section 7.3).
///
/// ```swift
/// let certificate = space.certify(device.publicKey, as: .writer)
/// try certificate.verifySignature(issuer: space.id.publicKey)
/// ```
public struct MembershipCertificate: Hashable, Sendable {
    /// The certificate format byte (1).
    public static let version: UInt8 = 1
    /// The length of the signed part in bytes (74).
    public static let signedByteCount = 74
    /// The length of an encoded certificate in bytes (138: the signed part and a signature).
    public static let byteCount = signedByteCount + Signature.byteCount

    /// The space the subject is a member of.
    public let spaceID: SpaceID
    /// The member's public key (a device key, or a reader-issuer key).
    public let subject: PublicKey
    /// What the member may do.
    public let role: Role
    /// When the certificate was issued, in milliseconds since the Unix epoch.
    public let issuedAt: UInt64
    /// The issuer's signature over ``signedBytes``.
    public let signature: Signature

    /// Issues a certificate: `issuer` signs the statement.
    /// - Parameters:
    ///   - subject: The member's public key.
    ///   - role: The member's role.
    ///   - spaceID: The space.
    ///   - issuedAt: Milliseconds since the Unix epoch.
    ///   - issuer: The space key, or a reader-issuer key (for readers).
    init(subject: PublicKey, role: Role, spaceID: SpaceID, issuedAt: UInt64, issuer: Identity) {
        self.spaceID = spaceID
        self.subject = subject
        self.role = role
        self.issuedAt = issuedAt
        self.signature = issuer.sign(Self.signedBytes(spaceID: spaceID, subject: subject, role: role, issuedAt: issuedAt))
    }

    /// Wraps decoded parts; nothing is checked.
    init(spaceID: SpaceID, subject: PublicKey, role: Role, issuedAt: UInt64, signature: Signature) {
        self.spaceID = spaceID
        self.subject = subject
        self.role = role
        self.issuedAt = issuedAt
        self.signature = signature
    }

    /// Decodes the 138-byte encoding of ``bytes``. The signature is not checked.
    /// - Parameters:
    ///   - bytes: Exactly ``byteCount`` bytes.
    /// - Throws: ``ConcordError`` with code `.unsupportedVersion` for a version other than 1,
    ///   `.invalidCertificate` for an unknown role, `.malformedBundle` for a wrong length.
    public init(bytes: [UInt8]) throws {
        var reader = ByteReader(bytes)
        self = try Self.decode(from: &reader)
        guard reader.isAtEnd else {
            throw ConcordError(.malformedBundle, "a membership certificate is \(Self.byteCount) bytes, got \(bytes.count); obtain a fresh copy")
        }
    }

    /// The exact bytes the issuer signs.
    public var signedBytes: [UInt8] {
        Self.signedBytes(spaceID: spaceID, subject: subject, role: role, issuedAt: issuedAt)
    }

    /// The encoding: ``signedBytes`` followed by the 64-byte signature.
    public var bytes: [UInt8] {
        var writer = ByteWriter(capacity: Self.byteCount)
        encode(into: &writer)
        return writer.bytes
    }

    /// Checks the signature against `issuer`.
    /// - Parameters:
    ///   - issuer: The key expected to have issued the certificate.
    /// - Throws: ``ConcordError`` with code `.invalidCertificate` when it does not verify.
    public func verifySignature(issuer: PublicKey) throws {
        guard issuer.isValidSignature(signature, for: signedBytes) else {
            throw ConcordError(
                .invalidCertificate,
                "the \(role) certificate of \(subject.hex.prefix(8)) was not issued by \(issuer.hex.prefix(8)) for space \(spaceID.shortDescription) (bad signature); the member must join again with a valid invite"
            )
        }
    }

    static func signedBytes(spaceID: SpaceID, subject: PublicKey, role: Role, issuedAt: UInt64) -> [UInt8] {
        var writer = ByteWriter(capacity: signedByteCount)
        writer.write(version)
        writer.write(contentsOf: spaceID.bytes)
        writer.write(contentsOf: subject.bytes)
        writer.write(role.byte)
        writer.writeFixed64(issuedAt)
        return writer.bytes
    }

    func encode(into writer: inout ByteWriter) {
        writer.write(contentsOf: signedBytes)
        writer.write(contentsOf: signature.bytes)
    }

    /// Reads one certificate (138 bytes) from `reader`.
    static func decode(from reader: inout ByteReader) throws -> MembershipCertificate {
        try ConcordError.mapping("membership certificate") {
            let format = try reader.readByte()
            guard format == version else {
                throw ConcordError(.unsupportedVersion, "membership certificate format \(format) is not supported by this version of Concord (it reads format \(version)); update Concord on this device")
            }
            let space = try SpaceID(bytes: reader.readBytes(32))
            let subject = try PublicKey(bytes: reader.readBytes(32))
            let roleByte = try reader.readByte()
            guard let role = Role(rawValue: roleByte) else {
                throw ConcordError(.invalidCertificate, "membership certificate has unknown role \(roleByte); update Concord on this device or ask a member for a new invite")
            }
            let issuedAt = try reader.readFixed64()
            let signature = try Signature(bytes: reader.readBytes(Signature.byteCount))
            return MembershipCertificate(spaceID: space, subject: subject, role: role, issuedAt: issuedAt, signature: signature)
        }
    }
}
