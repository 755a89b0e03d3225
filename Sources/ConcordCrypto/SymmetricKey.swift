/// A 32-byte secret key for ``XChaCha20Poly1305`` encryption and ``KeyDerivation``.
///
/// The bytes live in ``SecretBytes`` and are wiped from memory when the last copy of
/// the key is released. The description is redacted.
///
/// ```swift
/// let key = SymmetricKey()                                   // random
/// let contentKey = try KeyDerivation.deriveKey(from: spaceSecret, id: 1, context: "Content_")
/// ```
public struct SymmetricKey: Sendable, CustomStringConvertible {
    /// The length of a symmetric key in bytes (32).
    public static let byteCount = 32

    /// The secret key bytes.
    public let secret: SecretBytes

    /// Creates a key from 32 bytes of secure randomness.
    public init() {
        self.secret = SecretBytes.random(count: Self.byteCount)
    }

    /// Creates a key from existing secret bytes (a key file, a derived key, a space seed).
    ///
    /// - Parameters:
    ///   - secret: Exactly 32 secret bytes.
    /// - Throws: ``ConcordCryptoError`` with code `.invalidKeyLength` for any other length.
    public init(_ secret: SecretBytes) throws {
        guard secret.count == Self.byteCount else {
            throw ConcordCryptoError(
                .invalidKeyLength,
                "A symmetric key must be \(Self.byteCount) bytes, got \(secret.count); generate one with SymmetricKey() or derive one with KeyDerivation."
            )
        }
        self.secret = secret
    }

    /// Creates a key from plain bytes, for test vectors and interoperability.
    ///
    /// The caller's bytes are not wiped; prefer ``init(_:)`` with ``SecretBytes`` for
    /// real secrets.
    ///
    /// - Parameters:
    ///   - bytes: Exactly 32 bytes.
    /// - Throws: ``ConcordCryptoError`` with code `.invalidKeyLength` for any other length.
    public init(bytes: some Collection<UInt8>) throws {
        try self.init(SecretBytes(bytes))
    }

    /// Returns whether both keys hold the same bytes, compared in constant time.
    ///
    /// - Parameters:
    ///   - other: The key to compare with.
    /// - Returns: `true` when the keys are identical.
    public func isEqual(to other: SymmetricKey) -> Bool {
        secret.isEqual(to: other.secret)
    }

    /// A redacted description: `SymmetricKey(redacted)`.
    public var description: String { "SymmetricKey(redacted)" }
}
