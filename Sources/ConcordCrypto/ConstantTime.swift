#if canImport(Clibsodium)
import Clibsodium  // Apple platforms: swift-sodium's libsodium xcframework (Package.swift)
#else
import CSodium
#endif

/// Comparisons whose running time does not depend on the data compared.
///
/// Use them for secrets and authentication tags, where an early exit on the first
/// differing byte would tell an attacker how many leading bytes they guessed right.
///
/// ```swift
/// if ConstantTime.isEqual(expectedTag, receivedTag) { accept() }
/// ```
public enum ConstantTime {
    /// Returns whether `lhs` and `rhs` hold the same bytes (libsodium `sodium_memcmp`).
    ///
    /// The time taken depends only on the length. Inputs of different lengths return
    /// `false` at once: lengths are treated as public.
    ///
    /// - Parameters:
    ///   - lhs: The first byte sequence.
    ///   - rhs: The second byte sequence.
    /// - Returns: `true` when both hold exactly the same bytes.
    /// - Complexity: O(n) in the length.
    public static func isEqual(_ lhs: some Collection<UInt8>, _ rhs: some Collection<UInt8>) -> Bool {
        guard lhs.count == rhs.count else { return false }
        Sodium.ensureInitialized()
        return lhs.withBytePointer { left, count in
            rhs.withBytePointer { right, _ in
                sodium_memcmp(left, right, count) == 0
            }
        }
    }
}
