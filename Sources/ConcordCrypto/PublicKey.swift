#if canImport(Clibsodium)
import Clibsodium  // Apple platforms: swift-sodium's libsodium xcframework (Package.swift)
#else
import CSodium
#endif

/// An Ed25519 public key: 32 bytes that identify a replica, a space or a user.
///
/// Public keys are plain values: `Hashable` (use them as dictionary keys), `Comparable`
/// by their bytes (lexicographic, the order used to break HLC ties), and convertible to
/// and from lowercase hexadecimal.
///
/// ```swift
/// let key = try PublicKey(hex: "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8")
/// if key.isValidSignature(signature, for: message) {
///     // message was signed by the holder of the matching Identity
/// }
/// ```
public struct PublicKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The length of an Ed25519 public key in bytes (32).
    public static let byteCount = 32

    /// The key's 32 bytes.
    public let bytes: [UInt8]

    /// Creates a public key from its 32 bytes.
    ///
    /// Any 32 bytes are accepted; a value that is not a valid curve point simply never
    /// verifies a signature.
    ///
    /// - Parameters:
    ///   - bytes: Exactly 32 bytes.
    /// - Throws: ``ConcordCryptoError`` with code `.invalidKeyLength` for any other length.
    public init(bytes: some Collection<UInt8>) throws {
        guard bytes.count == Self.byteCount else {
            throw ConcordCryptoError(
                .invalidKeyLength,
                "A public key must be \(Self.byteCount) bytes, got \(bytes.count); check that the whole key was transmitted."
            )
        }
        self.bytes = Array(bytes)
    }

    /// Creates a public key from 64 hexadecimal characters (either case).
    ///
    /// - Parameters:
    ///   - hex: The hexadecimal text, for example as printed by ``hex``.
    /// - Throws: ``ConcordCryptoError`` with code `.invalidEncoding` for malformed hex or
    ///   `.invalidKeyLength` when it does not decode to 32 bytes.
    public init(hex: String) throws {
        try self.init(bytes: Hex.decode(hex, what: "public key"))
    }

    /// Wraps bytes already known to be 32 long (produced by libsodium in this module).
    init(unchecked bytes: [UInt8]) {
        assert(bytes.count == Self.byteCount)
        self.bytes = bytes
    }

    /// The key as 64 lowercase hexadecimal characters.
    public var hex: String { Hex.encode(bytes) }

    /// The same as ``hex``.
    public var description: String { hex }

    /// Orders keys lexicographically by their bytes.
    public static func < (lhs: PublicKey, rhs: PublicKey) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }

    /// Returns whether `signature` is a valid Ed25519 signature of `message` by this key.
    ///
    /// ```swift
    /// let ok = identity.publicKey.isValidSignature(signature, for: Array("hello".utf8))
    /// ```
    ///
    /// - Parameters:
    ///   - signature: The detached signature to check.
    ///   - message: The exact bytes that were signed.
    /// - Returns: `true` only if the signature verifies; `false` for any altered byte.
    public func isValidSignature(_ signature: Signature, for message: some Collection<UInt8>) -> Bool {
        Sodium.ensureInitialized()
        return signature.bytes.withUnsafeBufferPointer { signaturePointer in
            bytes.withUnsafeBufferPointer { keyPointer in
                message.withBytePointer { messagePointer, messageCount in
                    crypto_sign_verify_detached(
                        signaturePointer.baseAddress!,
                        messagePointer,
                        UInt64(messageCount),
                        keyPointer.baseAddress!
                    ) == 0
                }
            }
        }
    }

    /// Verifies `signature`, throwing when it is not valid.
    ///
    /// Use this where an invalid signature must stop processing, for example when
    /// importing a bundle.
    ///
    /// - Parameters:
    ///   - signature: The detached signature to check.
    ///   - message: The exact bytes that were signed.
    /// - Throws: ``ConcordCryptoError`` with code `.invalidSignature` when it does not verify.
    public func verify(_ signature: Signature, for message: some Collection<UInt8>) throws {
        guard isValidSignature(signature, for: message) else {
            throw ConcordCryptoError(
                .invalidSignature,
                "The signature does not match public key \(hex) and the given message; the data was altered or signed by another key. Discard it."
            )
        }
    }
}
