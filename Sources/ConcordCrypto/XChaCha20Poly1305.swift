#if canImport(Clibsodium)
import Clibsodium  // Apple platforms: swift-sodium's libsodium xcframework (Package.swift)
#else
import CSodium
#endif

/// Authenticated encryption with XChaCha20-Poly1305 (IETF variant, libsodium
/// `crypto_aead_xchacha20poly1305_ietf_*`).
///
/// Sealing encrypts a plaintext and authenticates it together with optional
/// associated data (bytes that are not encrypted but must not change, such as a
/// bundle header). Opening checks the 16-byte tag before returning anything: a
/// single altered bit, the wrong key or different associated data makes it throw.
///
/// The 24-byte nonce is random by default; with nonces this long, random nonces are
/// safe for any realistic number of messages under one key.
///
/// ```swift
/// let key = SymmetricKey()
/// let box = XChaCha20Poly1305.seal(Array("secret".utf8), using: key, authenticating: header)
/// let bytes = box.combined                     // nonce || ciphertext || tag
///
/// let received = try XChaCha20Poly1305.SealedBox(combined: bytes)
/// let plaintext = try XChaCha20Poly1305.open(received, using: key, authenticating: header)
/// ```
public enum XChaCha20Poly1305 {
    /// The key length in bytes (32).
    public static let keyByteCount = 32
    /// The nonce length in bytes (24).
    public static let nonceByteCount = 24
    /// The authentication tag length in bytes (16), appended to every ciphertext.
    public static let tagByteCount = 16

    /// Encrypts and authenticates `plaintext`.
    ///
    /// ```swift
    /// let box = XChaCha20Poly1305.seal(payload, using: contentKey, authenticating: header)
    /// ```
    ///
    /// - Parameters:
    ///   - plaintext: The bytes to encrypt.
    ///   - key: The 32-byte key.
    ///   - nonce: A nonce never used before with this key; a fresh random one by default.
    ///     Pass a fixed nonce only for test vectors.
    ///   - associatedData: Bytes that are authenticated but not encrypted; empty by default.
    /// - Returns: The nonce and the ciphertext with its tag.
    public static func seal(
        _ plaintext: some Collection<UInt8>,
        using key: SymmetricKey,
        nonce: Nonce = Nonce(),
        authenticating associatedData: some Collection<UInt8> = [UInt8]()
    ) -> SealedBox {
        Sodium.ensureInitialized()
        let outputCount = plaintext.count + tagByteCount
        let ciphertext = [UInt8](unsafeUninitializedCapacity: outputCount) { output, initialized in
            var written: UInt64 = 0
            plaintext.withBytePointer { message, messageCount in
                associatedData.withBytePointer { ad, adCount in
                    nonce.bytes.withUnsafeBufferPointer { noncePointer in
                        key.secret.withBytePointer { keyPointer, _ in
                            // Returns 0 for every input below the multi-GiB message limit.
                            _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
                                output.baseAddress!, &written,
                                message, UInt64(messageCount),
                                ad, UInt64(adCount),
                                nil, noncePointer.baseAddress!, keyPointer)
                        }
                    }
                }
            }
            precondition(Int(written) == outputCount, "XChaCha20-Poly1305 produced an unexpected length")
            initialized = outputCount
        }
        return SealedBox(nonce: nonce, ciphertext: ciphertext)
    }

    /// Checks and decrypts a sealed box.
    ///
    /// ```swift
    /// do {
    ///     let payload = try XChaCha20Poly1305.open(box, using: contentKey, authenticating: header)
    /// } catch let error as ConcordCryptoError where error.code == .decryptionFailed {
    ///     // reject the bundle
    /// }
    /// ```
    ///
    /// - Parameters:
    ///   - box: The nonce and ciphertext produced by ``seal(_:using:nonce:authenticating:)``.
    ///   - key: The key the box was sealed with.
    ///   - associatedData: Exactly the associated data given when sealing.
    /// - Returns: The plaintext, only if authentication succeeded.
    /// - Throws: ``ConcordCryptoError`` with code `.decryptionFailed` when the ciphertext,
    ///   nonce or associated data were altered, or the key is wrong.
    public static func open(
        _ box: SealedBox,
        using key: SymmetricKey,
        authenticating associatedData: some Collection<UInt8> = [UInt8]()
    ) throws -> [UInt8] {
        Sodium.ensureInitialized()
        let ciphertext = box.ciphertext
        // SealedBox guarantees at least a tag's worth of bytes.
        let outputCount = ciphertext.count - tagByteCount
        var status: Int32 = -1
        // Capacity of at least 1 so the output pointer is never null, even for an empty plaintext.
        var plaintext = [UInt8](unsafeUninitializedCapacity: max(outputCount, 1)) { output, initialized in
            var written: UInt64 = 0
            ciphertext.withUnsafeBufferPointer { cipherPointer in
                associatedData.withBytePointer { ad, adCount in
                    box.nonce.bytes.withUnsafeBufferPointer { noncePointer in
                        key.secret.withBytePointer { keyPointer, _ in
                            status = crypto_aead_xchacha20poly1305_ietf_decrypt(
                                output.baseAddress!, &written,
                                nil,
                                cipherPointer.baseAddress!, UInt64(ciphertext.count),
                                ad, UInt64(adCount),
                                noncePointer.baseAddress!, keyPointer)
                        }
                    }
                }
            }
            initialized = status == 0 ? Int(written) : 0
        }
        guard status == 0 else {
            plaintext.removeAll()
            throw ConcordCryptoError(
                .decryptionFailed,
                "The encrypted data could not be authenticated: it was altered, or the key or associated data is wrong. Do not use it; fetch it again from a trusted source."
            )
        }
        return plaintext
    }
}
