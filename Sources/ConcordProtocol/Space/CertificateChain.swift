import ConcordCore
import ConcordCrypto

/// The proof that a key is a member of a space: one or two ``MembershipCertificate``s,
/// root first.
///
/// - Length 1: the space key certified the subject (any ``Role``).
/// - Length 2: the space key certified a ``Role/readerIssuer`` key, which certified the
///   subject as a ``Role/reader``. A reader issuer may issue nothing else, and chains are
///   never longer.
///
/// Every change bundle carries its author's chain, so anyone who knows the space id (a
/// relay, another member) can check membership without further lookups.
///
/// ```swift
/// try membership.certificates.verify(spaceID: spaceID, now: now, maxDrift: 300_000)
/// print(membership.certificates.role)   // writer
/// ```
public struct CertificateChain: Hashable, Sendable {
    /// The longest chain accepted (2).
    public static let maxLength = 2

    /// The certificates, the one issued by the space key first.
    public let certificates: [MembershipCertificate]

    /// Creates a chain. Nothing is verified; see ``verify(spaceID:now:maxDrift:)``.
    /// - Precondition: 1 or 2 certificates.
    init(_ certificates: [MembershipCertificate]) {
        precondition((1...Self.maxLength).contains(certificates.count), "a certificate chain holds 1 or 2 certificates")
        self.certificates = certificates
    }

    /// The last certificate: the one that names the member.
    public var leaf: MembershipCertificate { certificates[certificates.count - 1] }
    /// The member's public key.
    public var subject: PublicKey { leaf.subject }
    /// The member's role.
    public var role: Role { leaf.role }

    /// Checks every signature and the chain rules.
    ///
    /// - Parameters:
    ///   - spaceID: The space the member must belong to.
    ///   - now: Local physical time, milliseconds since the Unix epoch.
    ///   - maxDrift: How far in the future (ms) an issue time may be.
    /// - Throws: ``ConcordError`` with code `.invalidCertificate` when a certificate names
    ///   another space, a signature does not verify, a reader issuer certified anything
    ///   but a reader, or a certificate is issued more than `maxDrift` in the future.
    public func verify(spaceID: SpaceID, now: UInt64, maxDrift: UInt64) throws {
        for certificate in certificates where certificate.spaceID != spaceID {
            throw ConcordError(
                .invalidCertificate,
                "this membership certificate belongs to space \(certificate.spaceID.shortDescription), not \(spaceID.shortDescription); the device must join this space with an invite from one of its members"
            )
        }
        let latest = now.addingReportingOverflow(maxDrift)
        for certificate in certificates where !latest.overflow && certificate.issuedAt > latest.partialValue {
            throw ConcordError(
                .invalidCertificate,
                "a membership certificate is issued \((certificate.issuedAt - now) / 1000) s in the future, more than the allowed \(maxDrift / 1000) s; check the date and time settings of both devices"
            )
        }
        try certificates[0].verifySignature(issuer: spaceID.publicKey)
        if certificates.count == 2 {
            guard certificates[0].role == .readerIssuer, certificates[1].role == .reader else {
                throw ConcordError(
                    .invalidCertificate,
                    "a \(certificates[0].role) certified a \(certificates[1].role), but only a reader issuer may certify others, and only as readers; ask a writer for a new invite"
                )
            }
            try certificates[1].verifySignature(issuer: certificates[0].subject)
        }
    }

    /// BLAKE2b-256 of ``bytes``: names a verified chain in ``BundleLog/verifiedCertificateChains``.
    public var digest: Digest32 { Blake2b.hash(bytes) }

    /// The encoding: `u8` count (1 or 2), then each certificate (138 bytes).
    public var bytes: [UInt8] {
        var writer = ByteWriter(capacity: 1 + certificates.count * MembershipCertificate.byteCount)
        writer.write(UInt8(certificates.count))
        for certificate in certificates { certificate.encode(into: &writer) }
        return writer.bytes
    }

    /// Decodes ``bytes`` exactly (no trailing bytes). Signatures are not checked.
    /// - Parameters:
    ///   - bytes: The encoded chain.
    /// - Throws: ``ConcordError`` with code `.malformedBundle` for a count other than 1 or 2,
    ///   truncation or trailing bytes; the errors of ``MembershipCertificate/init(bytes:)``.
    public init(bytes: [UInt8]) throws {
        var reader = ByteReader(bytes)
        let count = try ConcordError.mapping("certificate chain") { try reader.readByte() }
        guard (1...Self.maxLength).contains(Int(count)) else {
            throw ConcordError(.malformedBundle, "a certificate chain holds 1 or 2 certificates, this one declares \(count); obtain a fresh copy from its sender")
        }
        guard reader.remaining == Int(count) * MembershipCertificate.byteCount else {
            throw ConcordError(.malformedBundle, "a certificate chain of \(count) is \(1 + Int(count) * MembershipCertificate.byteCount) bytes, got \(bytes.count); obtain a fresh copy from its sender")
        }
        var certificates = [MembershipCertificate]()
        for _ in 0..<count { certificates.append(try MembershipCertificate.decode(from: &reader)) }
        self.init(certificates)
    }
}
