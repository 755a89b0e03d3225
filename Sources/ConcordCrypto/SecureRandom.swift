#if canImport(Clibsodium)
import Clibsodium  // Apple platforms: swift-sodium's libsodium xcframework (Package.swift)
#else
import CSodium
#endif

/// Cryptographically secure random bytes from libsodium (`randombytes_buf`), which
/// reads the operating system's generator (`getrandom` on Linux).
///
/// ```swift
/// let salt = SecureRandom.bytes(count: 16)
/// let secret = SecretBytes.random(count: 32)   // for secrets, keep them in SecretBytes
/// ```
public enum SecureRandom {
    /// Returns `count` random bytes.
    ///
    /// Use ``SecretBytes/random(count:)`` instead when the bytes are a secret, so they
    /// are wiped after use.
    ///
    /// - Parameters:
    ///   - count: The number of bytes, zero or more.
    /// - Returns: An array of `count` random bytes.
    public static func bytes(count: Int) -> [UInt8] {
        precondition(count >= 0, "SecureRandom.bytes(count:) needs a non-negative count")
        var result = [UInt8](repeating: 0, count: count)
        fill(&result)
        return result
    }

    /// Overwrites every byte of `buffer` with random bytes.
    ///
    /// - Parameters:
    ///   - buffer: The bytes to overwrite.
    public static func fill(_ buffer: inout [UInt8]) {
        Sodium.ensureInitialized()
        buffer.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { return }
            randombytes_buf(base, raw.count)
        }
    }
}
