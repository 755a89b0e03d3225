#if canImport(Clibsodium)
import Clibsodium  // Apple platforms: swift-sodium's libsodium xcframework (Package.swift)
#else
import CSodium
#endif

/// Derives independent subkeys from one 32-byte master key (libsodium
/// `crypto_kdf_derive_from_key`, BLAKE2b-based).
///
/// A subkey is determined by the master key, an 8-byte **context** naming its purpose
/// (for example `"Content_"`), and a 64-bit **subkey id**. Different contexts or ids
/// give unrelated keys, and a subkey reveals nothing about the master key or its
/// siblings.
///
/// Concord derives a space's payload-encryption key from the space secret this way.
///
/// ```swift
/// let spaceSecret = try SymmetricKey(spaceIdentity.seed)
/// let contentKey = try KeyDerivation.deriveKey(from: spaceSecret, id: 1, context: "Content_")
/// ```
public enum KeyDerivation {
    /// The context length in bytes (8).
    public static let contextByteCount = 8
    /// The subkey lengths this type accepts, in bytes.
    public static let subkeyLengthRange = 16...64

    /// Derives a subkey of `length` bytes.
    ///
    /// ```swift
    /// let macKey = try KeyDerivation.derive(from: master, id: 7, context: "Concord_", length: 64)
    /// ```
    ///
    /// - Parameters:
    ///   - masterKey: The 32-byte master key.
    ///   - id: The subkey number; any `UInt64`.
    ///   - context: Exactly 8 bytes of UTF-8 (ASCII recommended) naming the purpose.
    ///   - length: The subkey length in bytes, 16...64.
    /// - Returns: The subkey, wiped from memory when released.
    /// - Throws: ``ConcordCryptoError`` with code `.invalidContext` when `context` is not
    ///   exactly 8 bytes of UTF-8, or `.invalidLength` when `length` is outside 16...64.
    public static func derive(
        from masterKey: SymmetricKey,
        id: UInt64,
        context: String,
        length: Int
    ) throws -> SecretBytes {
        let contextBytes = Array(context.utf8)
        guard contextBytes.count == contextByteCount else {
            throw ConcordCryptoError(
                .invalidContext,
                "A key-derivation context must be exactly \(contextByteCount) bytes of UTF-8, got \(contextBytes.count) for \"\(context)\"; pad or shorten it, for example \"Content_\"."
            )
        }
        guard subkeyLengthRange.contains(length) else {
            throw ConcordCryptoError(
                .invalidLength,
                "A derived key must be between 16 and 64 bytes, got \(length); use 32 for an encryption key."
            )
        }
        Sodium.ensureInitialized()
        return SecretBytes(uninitializedCount: length) { output in
            contextBytes.withUnsafeBytes { contextRaw in
                let contextPointer = contextRaw.bindMemory(to: CChar.self).baseAddress!
                masterKey.secret.withBytePointer { keyPointer, _ in
                    // Returns 0 whenever length and context are valid, as checked above.
                    _ = crypto_kdf_derive_from_key(output.baseAddress!, length, id, contextPointer, keyPointer)
                }
            }
        }
    }

    /// Derives a 32-byte ``SymmetricKey``, for example for ``XChaCha20Poly1305``.
    ///
    /// ```swift
    /// let contentKey = try KeyDerivation.deriveKey(from: spaceSecret, id: 1, context: "Content_")
    /// let box = XChaCha20Poly1305.seal(payload, using: contentKey)
    /// ```
    ///
    /// - Parameters:
    ///   - masterKey: The 32-byte master key.
    ///   - id: The subkey number; any `UInt64`.
    ///   - context: Exactly 8 bytes of UTF-8 naming the purpose.
    /// - Returns: The derived key.
    /// - Throws: ``ConcordCryptoError`` with code `.invalidContext` when `context` is not
    ///   exactly 8 bytes of UTF-8.
    public static func deriveKey(from masterKey: SymmetricKey, id: UInt64, context: String) throws -> SymmetricKey {
        try SymmetricKey(derive(from: masterKey, id: id, context: context, length: SymmetricKey.byteCount))
    }
}
