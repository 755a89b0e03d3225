import CSodium

/// X25519 key exchange (libsodium `crypto_kx`): two parties with fresh key pairs derive
/// a pair of 32-byte session keys, one per direction, that only they know.
///
/// The **client** is the party that opened the connection, the **server** the one that
/// accepted it; both must agree on who is which. The client's ``SessionKeys/send`` is the
/// server's ``SessionKeys/receive`` and vice versa. `crypto_kx` computes
/// `BLAKE2b-512(q ‖ client public key ‖ server public key)` over the X25519 shared point
/// `q`; the client receives with bytes 0–31 and sends with bytes 32–63.
///
/// Concord's peer handshake (`Specs/peer-protocol.md`) uses one ephemeral key pair per
/// connection on each side and authenticates them with the devices' Ed25519 keys.
///
/// ```swift
/// let client = KeyExchange.KeyPair()
/// let server = KeyExchange.KeyPair()
/// let c = try KeyExchange.clientSessionKeys(client, serverPublicKey: server.publicKey)
/// let s = try KeyExchange.serverSessionKeys(server, clientPublicKey: client.publicKey)
/// assert(c.send.isEqual(to: s.receive) && c.receive.isEqual(to: s.send))
/// ```
public enum KeyExchange {
    /// The length of a public key in bytes (32).
    public static let publicKeyByteCount = 32
    /// The length of a seed for ``KeyPair/init(seed:)`` in bytes (32).
    public static let seedByteCount = 32

    /// An X25519 key pair for one exchange. The secret key is wiped when released.
    public final class KeyPair: Sendable, CustomStringConvertible {
        /// The public key, sent to the other party.
        public let publicKey: [UInt8]
        /// The 32-byte secret key.
        let secretKey: SecretBytes

        /// A fresh random key pair (`crypto_kx_keypair`).
        public init() {
            Sodium.ensureInitialized()
            var publicBytes = [UInt8](repeating: 0, count: KeyExchange.publicKeyByteCount)
            secretKey = SecretBytes(uninitializedCount: Int(crypto_kx_SECRETKEYBYTES)) { buffer in
                // Returns 0 always.
                _ = crypto_kx_keypair(&publicBytes, buffer.baseAddress!)
            }
            publicKey = publicBytes
        }

        /// The key pair of a 32-byte seed (`crypto_kx_seed_keypair`), for test vectors.
        ///
        /// The secret key is `BLAKE2b-256(seed)`; real connections use ``init()``.
        /// - Parameters:
        ///   - seed: Exactly 32 bytes.
        /// - Throws: ``ConcordCryptoError`` with code `.invalidKeyLength` for any other length.
        public init(seed: some Collection<UInt8>) throws {
            guard seed.count == KeyExchange.seedByteCount else {
                throw ConcordCryptoError(.invalidKeyLength, "A key-exchange seed must be \(KeyExchange.seedByteCount) bytes, got \(seed.count).")
            }
            Sodium.ensureInitialized()
            var publicBytes = [UInt8](repeating: 0, count: KeyExchange.publicKeyByteCount)
            secretKey = SecretBytes(uninitializedCount: Int(crypto_kx_SECRETKEYBYTES)) { buffer in
                seed.withBytePointer { seedPointer, _ in
                    // Returns 0 always.
                    _ = crypto_kx_seed_keypair(&publicBytes, buffer.baseAddress!, seedPointer)
                }
            }
            publicKey = publicBytes
        }

        /// Shows only the public key.
        public var description: String { "KeyExchange.KeyPair(publicKey: \(Hex.encode(publicKey)))" }
    }

    /// The two keys of one side of an exchange.
    public struct SessionKeys: Sendable {
        /// The key of what this side receives.
        public let receive: SymmetricKey
        /// The key of what this side sends.
        public let send: SymmetricKey
    }

    /// The client's session keys (`crypto_kx_client_session_keys`).
    /// - Parameters:
    ///   - client: The client's key pair.
    ///   - serverPublicKey: The server's public key, as received.
    /// - Returns: `receive` (server to client) and `send` (client to server).
    /// - Throws: ``ConcordCryptoError`` `.invalidLength` when the public key is not
    ///   32 bytes, `.keyExchangeFailed` when it is a point that gives no shared secret
    ///   (a low-order point, sent only by a broken or hostile party).
    public static func clientSessionKeys(_ client: KeyPair, serverPublicKey: some Collection<UInt8>) throws -> SessionKeys {
        try sessionKeys(client, peer: serverPublicKey, asClient: true)
    }

    /// The server's session keys (`crypto_kx_server_session_keys`).
    /// - Parameters:
    ///   - server: The server's key pair.
    ///   - clientPublicKey: The client's public key, as received.
    /// - Returns: `receive` (client to server) and `send` (server to client).
    /// - Throws: ``ConcordCryptoError`` `.invalidLength`, `.keyExchangeFailed`; see
    ///   ``clientSessionKeys(_:serverPublicKey:)``.
    public static func serverSessionKeys(_ server: KeyPair, clientPublicKey: some Collection<UInt8>) throws -> SessionKeys {
        try sessionKeys(server, peer: clientPublicKey, asClient: false)
    }

    private static func sessionKeys(_ own: KeyPair, peer: some Collection<UInt8>, asClient: Bool) throws -> SessionKeys {
        guard peer.count == publicKeyByteCount else {
            throw ConcordCryptoError(.invalidLength, "A key-exchange public key must be \(publicKeyByteCount) bytes, got \(peer.count).")
        }
        Sodium.ensureInitialized()
        let count = Int(crypto_kx_SESSIONKEYBYTES)
        var status: Int32 = 0
        var receive = SecretBytes(uninitializedCount: count) { _ in }
        let send = SecretBytes(uninitializedCount: count) { sendBuffer in
            receive = SecretBytes(uninitializedCount: count) { receiveBuffer in
                peer.withBytePointer { peerPointer, _ in
                    own.secretKey.withBytePointer { secretPointer, _ in
                        status =
                            asClient
                            ? crypto_kx_client_session_keys(receiveBuffer.baseAddress!, sendBuffer.baseAddress!, own.publicKey, secretPointer, peerPointer)
                            : crypto_kx_server_session_keys(receiveBuffer.baseAddress!, sendBuffer.baseAddress!, own.publicKey, secretPointer, peerPointer)
                    }
                }
            }
        }
        guard status == 0 else {
            throw ConcordCryptoError(.keyExchangeFailed, "The other party's key-exchange public key gives no shared secret (a low-order point); the connection is not from an honest peer. Drop it.")
        }
        return SessionKeys(receive: try SymmetricKey(receive), send: try SymmetricKey(send))
    }
}
