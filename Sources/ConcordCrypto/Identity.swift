#if canImport(Clibsodium)
import Clibsodium  // Apple platforms: swift-sodium's libsodium xcframework (Package.swift)
#else
import CSodium
#endif

/// An Ed25519 signing identity: a secret key and its ``PublicKey``.
///
/// Each device has its own identity (its public key is the replica id), and each space
/// has one (its public key is the space id). The secret key lives in ``SecretBytes``
/// and is wiped from memory when the identity is freed; see ``SecretBytes`` for the
/// limits of that guarantee.
///
/// An identity is immutable and `Sendable`: share it freely between tasks.
///
/// ```swift
/// let identity = Identity()                       // fresh random key
/// let message = Array("hello".utf8)
/// let signature = identity.sign(message)
/// assert(identity.publicKey.isValidSignature(signature, for: message))
///
/// let same = try Identity(seed: identity.seed)    // the 32-byte seed recreates it
/// assert(same.publicKey == identity.publicKey)
/// ```
public final class Identity: Sendable, CustomStringConvertible {
    /// The length of an Ed25519 seed in bytes (32).
    public static let seedByteCount = 32

    /// The length of libsodium's expanded Ed25519 secret key (seed followed by public key).
    static let secretKeyByteCount = 64

    /// The public half, safe to share: other replicas verify signatures with it.
    public let publicKey: PublicKey

    /// The 64-byte libsodium secret key (seed || public key).
    private let secretKey: SecretBytes

    /// Creates a new identity from 32 bytes of secure randomness.
    public convenience init() {
        // Cannot fail: the seed has the right length by construction.
        try! self.init(seed: SecretBytes.random(count: Self.seedByteCount))
    }

    /// Recreates the identity that belongs to a 32-byte seed.
    ///
    /// The same seed always gives the same key pair, which makes tests reproducible and
    /// lets a key file store just the seed.
    ///
    /// - Parameters:
    ///   - seed: Exactly 32 secret bytes, for example ``seed`` of another identity or the
    ///     contents of a key file.
    /// - Throws: ``ConcordCryptoError`` with code `.invalidKeyLength` when the seed is not 32 bytes.
    public init(seed: SecretBytes) throws {
        guard seed.count == Self.seedByteCount else {
            throw ConcordCryptoError(
                .invalidKeyLength,
                "An Ed25519 seed must be \(Self.seedByteCount) bytes, got \(seed.count); use the seed of an existing identity or a Concord key file."
            )
        }
        Sodium.ensureInitialized()
        var publicBytes = [UInt8](repeating: 0, count: PublicKey.byteCount)
        let secretKey = SecretBytes(uninitializedCount: Self.secretKeyByteCount) { secretBuffer in
            seed.withBytePointer { seedPointer, _ in
                // Returns 0 for every 32-byte seed; there is no failure mode to report.
                _ = crypto_sign_seed_keypair(&publicBytes, secretBuffer.baseAddress!, seedPointer)
            }
        }
        self.secretKey = secretKey
        self.publicKey = PublicKey(unchecked: publicBytes)
    }

    /// Recreates the identity that belongs to a 32-byte seed given as plain bytes.
    ///
    /// Convenient for fixed test keys. The caller's bytes are not wiped; prefer
    /// ``init(seed:)-(SecretBytes)`` for real secrets.
    ///
    /// - Parameters:
    ///   - seed: Exactly 32 bytes.
    /// - Throws: ``ConcordCryptoError`` with code `.invalidKeyLength` when the seed is not 32 bytes.
    public convenience init(seed: some Collection<UInt8>) throws {
        try self.init(seed: SecretBytes(seed))
    }

    /// The 32-byte seed this identity was created from; store it to recreate the identity.
    ///
    /// Every access returns a new ``SecretBytes`` that is wiped when released.
    public var seed: SecretBytes {
        secretKey.slice(0..<Self.seedByteCount)
    }

    /// Signs `message`, returning a detached 64-byte Ed25519 signature.
    ///
    /// Ed25519 signing is deterministic: the same identity and message always give the
    /// same signature.
    ///
    /// ```swift
    /// let signature = identity.sign(bundleBytes)
    /// ```
    ///
    /// - Parameters:
    ///   - message: The exact bytes to sign.
    /// - Returns: The signature, to be checked with ``PublicKey/isValidSignature(_:for:)``.
    public func sign(_ message: some Collection<UInt8>) -> Signature {
        Sodium.ensureInitialized()
        var signature = [UInt8](repeating: 0, count: Signature.byteCount)
        message.withBytePointer { messagePointer, messageCount in
            secretKey.withBytePointer { secretPointer, _ in
                // Returns 0 for every input; a valid secret key is an invariant of Identity.
                _ = crypto_sign_detached(&signature, nil, messagePointer, UInt64(messageCount), secretPointer)
            }
        }
        return Signature(unchecked: signature)
    }

    /// Calls `body` with the 64-byte libsodium secret key, for this module's other uses of
    /// the key pair (sealed boxes).
    func withSecretKey<R>(_ body: (UnsafePointer<UInt8>) throws -> R) rethrows -> R {
        try secretKey.withBytePointer { pointer, _ in try body(pointer) }
    }

    /// Shows only the public key, never secret material.
    public var description: String { "Identity(publicKey: \(publicKey.hex))" }
}
