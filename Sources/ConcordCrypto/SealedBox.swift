#if canImport(Clibsodium)
import Clibsodium  // Apple platforms: swift-sodium's libsodium xcframework (Package.swift)
#else
import CSodium
#endif

/// Anonymous public-key encryption to an Ed25519 key: libsodium's sealed boxes
/// (`crypto_box_seal`) to the key's X25519 form (`crypto_sign_ed25519_pk_to_curve25519`,
/// `Specs/membership.md` §2).
///
/// Anyone who knows a device's (or an invite's) public key can seal bytes to it; only the
/// holder of the matching ``Identity`` can open them (``Identity/openSealedBox(_:)``). A box
/// is the message plus ``overheadByteCount`` (48) bytes: an ephemeral X25519 public key (32)
/// and a Poly1305 tag (16). The sender is anonymous: the box says nothing about who made it
/// (Concord signs the membership op that carries it). Sealing is randomized: the same
/// message sealed twice gives different boxes.
///
/// ```swift
/// let device = Identity()
/// let epochKey = SymmetricKey()
/// let box = try epochKey.secret.withUnsafeBytes { try SealedBox.seal($0, to: device.publicKey) }
/// assert(box.count == 80)                       // 32-byte key + 48
/// let opened = try device.openSealedBox(box)    // SecretBytes, 32 bytes
/// assert(opened.isEqual(to: epochKey.secret))
/// ```
public enum SealedBox {
    /// Bytes a sealed box adds to its message (48): ephemeral public key (32) and tag (16).
    public static let overheadByteCount = 48

    /// Seals `message` to `recipient` (`crypto_box_seal` to its X25519 form).
    ///
    /// - Parameters:
    ///   - message: The bytes to seal (an epoch key is 32 bytes, giving an 80-byte box).
    ///   - recipient: The Ed25519 public key of the device or invite that may open it.
    /// - Returns: `message.count + 48` bytes.
    /// - Throws: ``ConcordCryptoError`` `.invalidPublicKey` when `recipient` is not a valid
    ///   Ed25519 curve point (it has no X25519 form).
    public static func seal(_ message: some Collection<UInt8>, to recipient: PublicKey) throws -> [UInt8] {
        Sodium.ensureInitialized()
        let curveKey = try curve25519PublicKey(of: recipient)
        let outputCount = message.count + overheadByteCount
        return [UInt8](unsafeUninitializedCapacity: outputCount) { output, initialized in
            message.withBytePointer { messagePointer, messageCount in
                // Returns 0 unless the X25519 point is unusable, which the conversion excluded.
                _ = crypto_box_seal(output.baseAddress!, messagePointer, UInt64(messageCount), curveKey)
            }
            initialized = outputCount
        }
    }

    /// The X25519 form of an Ed25519 public key.
    static func curve25519PublicKey(of key: PublicKey) throws -> [UInt8] {
        var curveKey = [UInt8](repeating: 0, count: Int(crypto_box_PUBLICKEYBYTES))
        guard crypto_sign_ed25519_pk_to_curve25519(&curveKey, key.bytes) == 0 else {
            throw ConcordCryptoError(
                .invalidPublicKey,
                "Public key \(key.hex) is not a valid Ed25519 curve point, so nothing can be sealed to it; it was altered or is not a device or invite key."
            )
        }
        return curveKey
    }
}

extension Identity {
    /// Opens a box sealed to this identity's public key with ``SealedBox/seal(_:to:)``
    /// (`crypto_box_seal_open` with the X25519 form of the key pair).
    ///
    /// A box sealed to another key and a box altered in any byte fail alike: a sealed box
    /// carries no recipient, so the two cannot be told apart (callers that know the
    /// intended recipient, such as the membership epoch field, check it first).
    ///
    /// ```swift
    /// let plaintext = try device.openSealedBox(box)
    /// ```
    ///
    /// - Parameters:
    ///   - box: The sealed box, at least 48 bytes.
    /// - Returns: The message, in ``SecretBytes`` (it is usually a key).
    /// - Throws: ``ConcordCryptoError`` `.invalidLength` for a box shorter than 48 bytes,
    ///   `.decryptionFailed` for a box sealed to another key or altered.
    public func openSealedBox(_ box: some Collection<UInt8>) throws -> SecretBytes {
        guard box.count >= SealedBox.overheadByteCount else {
            throw ConcordCryptoError(
                .invalidLength,
                "A sealed box is at least \(SealedBox.overheadByteCount) bytes, got \(box.count); it was truncated. Fetch it again."
            )
        }
        Sodium.ensureInitialized()
        let curvePublic = try SealedBox.curve25519PublicKey(of: publicKey)
        var status: Int32 = -1
        let message = try withSecretKey { secretPointer in
            let curveSecret = SecretBytes(uninitializedCount: Int(crypto_box_SECRETKEYBYTES)) { buffer in
                // Returns 0 for every Ed25519 secret key.
                _ = crypto_sign_ed25519_sk_to_curve25519(buffer.baseAddress!, secretPointer)
            }
            return try SecretBytes(uninitializedCount: box.count - SealedBox.overheadByteCount) { output in
                // SecretBytes allocates at least one byte, so the base address is never nil.
                box.withBytePointer { boxPointer, boxCount in
                    curveSecret.withBytePointer { curveSecretPointer, _ in
                        status = crypto_box_seal_open(output.baseAddress!, boxPointer, UInt64(boxCount), curvePublic, curveSecretPointer)
                    }
                }
                guard status == 0 else {
                    throw ConcordCryptoError(
                        .decryptionFailed,
                        "The sealed box cannot be opened with key \(publicKey.hex): it was sealed to another key or altered. Do not use it."
                    )
                }
            }
        }
        return message
    }
}
