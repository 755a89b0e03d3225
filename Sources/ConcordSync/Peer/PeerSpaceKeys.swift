import Concord
import ConcordCrypto

/// The two keys a device derives from its space for talking to peers on a network
/// (`Specs/peer-protocol.md` §2): the **discovery key**, which makes and matches the
/// rotating tag of LAN advertisements, and the **handshake key**, mixed into every peer
/// handshake so that only members get past its first message.
///
/// Both come from the **space secret**: in a space with members (format 3) the peer secret
/// (`Membership.peerSecret(firstEpoch:)`, carried in invites) when it is encrypted; in a
/// format-2 space its content key; in an unencrypted space the space id (which hides the
/// space only from those who do not know its id; `Specs/threat-model.md`).
///
/// ```swift
/// let keys = try PeerSpaceKeys.derive(from: replica.membership)
/// let tag = try DiscoveryTag.make(key: keys.discovery, window: 5_000_000, nonce: nonce)
/// ```
public struct PeerSpaceKeys: Sendable {
    /// `crypto_kdf` context of the discovery key.
    public static let discoveryContext = "CCdiscov"
    /// `crypto_kdf` context of the handshake key.
    public static let handshakeContext = "CCpeerhs"
    /// The subkey id of both (1).
    public static let subkeyID: UInt64 = 1

    /// Keys the TXT tag of advertisements (`DiscoveryTag`).
    public let discovery: SymmetricKey
    /// Keys the handshake's hello MAC and its stream keys.
    public let handshake: SymmetricKey

    /// Creates the pair from already derived keys (test vectors).
    /// - Parameters:
    ///   - discovery: The discovery key.
    ///   - handshake: The handshake key.
    public init(discovery: SymmetricKey, handshake: SymmetricKey) {
        self.discovery = discovery
        self.handshake = handshake
    }

    /// The keys of `membership`'s space: `crypto_kdf_derive_from_key(32, 1, context,
    /// space secret)` with contexts `"CCdiscov"` and `"CCpeerhs"`.
    /// - Parameters:
    ///   - membership: The device's membership.
    /// - Returns: The keys.
    /// - Throws: ``ConcordSyncError`` `.peerProtocol` when they cannot be derived.
    public static func derive(from membership: Membership) throws -> PeerSpaceKeys {
        let secret: SymmetricKey
        if let contentKey = membership.contentKey {
            secret = contentKey
        } else if membership.isMemberFormat, membership.isEncrypted {
            guard let peer = membership.peerSecret else {
                throw ConcordSyncError(
                    .peerProtocol,
                    "this device holds no peer secret of its space (peer.key), which invites carry since this version; "
                        + "peer links and LAN discovery need it: join again with a new invite, or sync through a relay or by files")
            }
            secret = peer
        } else {
            secret = try wrap { try SymmetricKey(bytes: membership.spaceID.publicKey.bytes) }
        }
        return try derive(spaceSecret: secret)
    }

    /// The keys of a space secret (the content key, or the space id's bytes).
    /// - Parameters:
    ///   - spaceSecret: The 32-byte space secret.
    /// - Returns: The discovery and handshake keys.
    /// - Throws: ``ConcordSyncError`` `.peerProtocol` if derivation fails.
    public static func derive(spaceSecret: SymmetricKey) throws -> PeerSpaceKeys {
        try wrap {
            PeerSpaceKeys(
                discovery: try KeyDerivation.deriveKey(from: spaceSecret, id: subkeyID, context: discoveryContext),
                handshake: try KeyDerivation.deriveKey(from: spaceSecret, id: subkeyID, context: handshakeContext))
        }
    }

    private static func wrap<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as ConcordCryptoError {
            throw ConcordSyncError(.peerProtocol, "cannot derive the space's peer keys: \(error.message)")
        }
    }
}
