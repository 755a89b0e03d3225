import ConcordCore
import ConcordCrypto

/// A space: one shared database, owned by an Ed25519 key pair.
///
/// The space id is the public key. The 32-byte **space seed** recreates the key pair;
/// whoever holds it can certify new members, so it travels only inside writer invites.
/// From the seed, `crypto_kdf` (context `"CCcontnt"`, subkey id 1) derives the
/// **content key** that encrypts bundle payloads in an encrypted space.
///
/// Apps rarely use `Space` directly: ``Membership/createSpace(device:encrypted:issuedAt:)``
/// creates one and keeps it for the writer device.
///
/// ```swift
/// let space = Space(encrypted: true)
/// let certificate = space.certify(device.publicKey, as: .writer)
/// ```
public struct Space: Sendable {
    /// The `crypto_kdf` context of the content key (8 bytes).
    public static let contentKeyContext = "CCcontnt"
    /// The `crypto_kdf` subkey id of the content key.
    public static let contentKeySubkeyID: UInt64 = 1

    /// The space key pair; its public key is the space id.
    let key: Identity
    /// The space's id.
    public let id: SpaceID
    /// Whether bundle payloads are encrypted with the content key.
    public let isEncrypted: Bool
    /// The payload key derived from the seed; `nil` in an unencrypted space.
    package let contentKey: SymmetricKey?

    /// Creates a new space with a random seed.
    /// - Parameters:
    ///   - encrypted: Whether bundle payloads are encrypted (the default). In an
    ///     unencrypted space, relays and anyone holding a bundle file can read the data.
    public init(encrypted: Bool = true) {
        // Cannot fail: a fresh random seed has the right length.
        try! self.init(seed: SecretBytes.random(count: Identity.seedByteCount), encrypted: encrypted)
    }

    /// Recreates a space from its seed (as carried by a writer invite).
    /// - Parameters:
    ///   - seed: The 32-byte space seed.
    ///   - encrypted: Whether bundle payloads are encrypted.
    /// - Throws: ``ConcordError`` with code `.invalidKey` when the seed is not 32 bytes.
    public init(seed: SecretBytes, encrypted: Bool) throws {
        let key = try ConcordError.mapping("space seed") { try Identity(seed: seed) }
        self.key = key
        self.id = SpaceID(publicKey: key.publicKey)
        self.isEncrypted = encrypted
        self.contentKey = encrypted ? try Self.deriveContentKey(seed: seed) : nil
    }

    /// The 32-byte seed: the space secret. Anyone holding it can admit writers.
    public var seed: SecretBytes { key.seed }

    /// Certifies `subject` as a member with `role`, signed by the space key.
    /// - Parameters:
    ///   - subject: The member's public key (a device key or a reader-issuer key).
    ///   - role: The member's role.
    ///   - issuedAt: Milliseconds since the Unix epoch; now by default.
    /// - Returns: A certificate whose issuer is the space key.
    public func certify(_ subject: PublicKey, as role: Role, issuedAt: UInt64 = SystemClock().nowMilliseconds()) -> MembershipCertificate {
        MembershipCertificate(subject: subject, role: role, spaceID: id, issuedAt: issuedAt, issuer: key)
    }

    /// Derives the content key: `crypto_kdf_derive_from_key(32, 1, "CCcontnt", seed)`.
    static func deriveContentKey(seed: SecretBytes) throws -> SymmetricKey {
        try ConcordError.mapping("content key") {
            try KeyDerivation.deriveKey(from: SymmetricKey(seed), id: contentKeySubkeyID, context: contentKeyContext)
        }
    }
}
