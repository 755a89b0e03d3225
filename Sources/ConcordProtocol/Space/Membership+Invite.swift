import ConcordCore
import ConcordCrypto

extension Membership {
    /// A writer invite: it carries the space seed.
    ///
    /// Whoever holds the token can join as a writer and invite others, for as long as
    /// the space exists (there is no revocation yet; see `Specs/threat-model.md`). Send
    /// it over a channel you trust.
    ///
    /// ```swift
    /// let token = try alice.writerInvite().text    // "concord1-aeaq..."
    /// ```
    /// - Returns: The token.
    /// - Throws: ``ConcordError`` with code `.notAWriter` when this device does not hold
    ///   the space seed (a reader, or a writer that joined without it).
    public func writerInvite() throws -> InviteToken {
        let space = try requireSpace("a writer invite")
        return InviteToken(spaceID: spaceID, isEncrypted: isEncrypted, secret: .writer(spaceSeed: space.seed))
    }

    /// A read-only invite: a fresh reader-issuer key, certified by the space key, and the
    /// content key.
    ///
    /// The joining device certifies its own new key as a reader with the issuer key.
    /// Each call makes a new issuer key, so invites can be told apart in certificates.
    ///
    /// ```swift
    /// let token = try alice.readerInvite().text
    /// ```
    /// - Parameters:
    ///   - issuedAt: The issuer certificate's issue time (ms since the Unix epoch); now by default.
    /// - Returns: The token.
    /// - Throws: ``ConcordError`` with code `.notAWriter` when this device does not hold
    ///   the space seed.
    public func readerInvite(issuedAt: UInt64 = SystemClock().nowMilliseconds()) throws -> InviteToken {
        let space = try requireSpace("a read-only invite")
        let issuer = Identity()
        let certificate = space.certify(issuer.publicKey, as: .readerIssuer, issuedAt: issuedAt)
        return InviteToken(
            spaceID: spaceID, isEncrypted: isEncrypted,
            secret: .reader(contentKey: space.contentKey, issuer: issuer, issuerCertificate: certificate))
    }

    /// Joins a space with an invite: certifies `device` with the secret the token carries.
    ///
    /// ```swift
    /// let bob = try Membership.join(InviteToken(pastedText), device: Identity())
    /// ```
    /// - Parameters:
    ///   - invite: A parsed token (see ``InviteToken/init(_:)``).
    ///   - device: This device's own key; a fresh one by default. Never reuse another
    ///     device's key.
    ///   - issuedAt: The new certificate's issue time (ms since the Unix epoch); now by default.
    /// - Returns: A writer membership (holding the space) for a writer invite, a reader
    ///   membership with a two-certificate chain for a read-only invite.
    /// - Throws: ``ConcordError`` with code `.invalidKey` if the token's secrets are unusable.
    public static func join(_ invite: InviteToken, device: Identity = Identity(), issuedAt: UInt64 = SystemClock().nowMilliseconds()) throws -> Membership {
        switch invite.secret {
        case .writer(let seed):
            let space = try Space(seed: seed, encrypted: invite.isEncrypted)
            return Membership(writer: device, of: space, issuedAt: issuedAt)
        case let .reader(contentKey, issuer, issuerCertificate):
            let certificate = MembershipCertificate(
                subject: device.publicKey, role: .reader, spaceID: invite.spaceID, issuedAt: issuedAt, issuer: issuer)
            return Membership(
                device: device, spaceID: invite.spaceID, isEncrypted: invite.isEncrypted,
                certificates: CertificateChain([issuerCertificate, certificate]), contentKey: contentKey, space: nil)
        }
    }

    private func requireSpace(_ what: String) throws -> Space {
        guard let space, role == .writer else {
            throw ConcordError(.notAWriter, "this device is a \(role) of space \(spaceID.shortDescription) and cannot issue \(what); ask a writer of the space to invite the person")
        }
        return space
    }
}
