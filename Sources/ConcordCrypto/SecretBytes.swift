#if canImport(Clibsodium)
import Clibsodium  // Apple platforms: swift-sodium's libsodium xcframework (Package.swift)
#else
import CSodium
#endif

/// Secret key material held in memory that is wiped when it is freed.
///
/// `SecretBytes` owns one heap buffer. Its contents are fixed at initialization and
/// never change; when the last reference goes away, `deinit` overwrites the buffer
/// with zeros using `sodium_memzero` (which the compiler may not optimize away)
/// before freeing it.
///
/// What this guarantees, and what it does not:
/// - The buffer owned by this object is zeroed before its memory is returned.
/// - Copies are **not** tracked. Bytes you copy out (for example `Array` built inside
///   ``withUnsafeBytes(_:)``), bytes you passed in to ``init(_:)``, and any temporary
///   the caller created are ordinary memory and are not wiped.
/// - The buffer is not locked in RAM (`mlock`), so the OS may swap it to disk, and it
///   may appear in a core dump taken while it is alive.
/// - `description` and `debugDescription` are redacted, so the secret does not end up
///   in logs through string interpolation.
///
/// ```swift
/// let secret = SecretBytes.random(count: 32)
/// secret.withUnsafeBytes { bytes in
///     // use bytes; do not let the pointer escape
/// }
/// ```
public final class SecretBytes: @unchecked Sendable {
    // @unchecked Sendable: `storage` and `count` are immutable after `init`, the buffer
    // is written only inside `init` (before the object is shared) and read afterwards,
    // so concurrent access from several threads is read-only.
    private let storage: UnsafeMutablePointer<UInt8>
    private let allocatedCount: Int

    /// The number of secret bytes.
    public let count: Int

    /// Creates a secret holding a copy of `bytes`.
    ///
    /// The caller's collection is not wiped; prefer creating secrets directly in
    /// `SecretBytes` (``random(count:)``, key derivation, key files) where possible.
    ///
    /// - Parameters:
    ///   - bytes: The secret bytes to copy.
    public convenience init(_ bytes: some Collection<UInt8>) {
        self.init(uninitializedCount: bytes.count) { buffer in
            bytes.withBytePointer { pointer, count in
                buffer.baseAddress!.update(from: pointer, count: count)
            }
        }
    }

    /// Creates a secret of `count` bytes that `initializer` fills in place.
    ///
    /// The buffer starts zeroed. If `initializer` throws, the buffer is wiped and
    /// freed before the error propagates.
    ///
    /// - Parameters:
    ///   - count: The number of bytes.
    ///   - initializer: Writes the secret into the buffer it is given.
    package init(
        uninitializedCount count: Int,
        initializer: (UnsafeMutableBufferPointer<UInt8>) throws -> Void
    ) rethrows {
        precondition(count >= 0, "SecretBytes count must not be negative")
        self.count = count
        self.allocatedCount = max(count, 1)
        self.storage = UnsafeMutablePointer<UInt8>.allocate(capacity: allocatedCount)
        storage.initialize(repeating: 0, count: allocatedCount)
        // If this throws, `deinit` still runs (all stored properties are set) and wipes.
        try initializer(UnsafeMutableBufferPointer(start: storage, count: count))
    }

    deinit {
        sodium_memzero(storage, allocatedCount)
        storage.deinitialize(count: allocatedCount)
        storage.deallocate()
    }

    /// Creates a secret of `count` bytes from the operating system's secure random source.
    ///
    /// - Parameters:
    ///   - count: The number of random bytes.
    /// - Returns: A new secret.
    public static func random(count: Int) -> SecretBytes {
        Sodium.ensureInitialized()
        return SecretBytes(uninitializedCount: count) { buffer in
            randombytes_buf(buffer.baseAddress!, buffer.count)
        }
    }

    /// Calls `body` with read-only access to the secret bytes.
    ///
    /// Do not let the buffer escape `body`: it is only valid during the call, and
    /// anything copied out of it is not wiped.
    ///
    /// - Parameters:
    ///   - body: A closure that reads the bytes.
    /// - Returns: What `body` returns.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage, count: count))
    }

    /// Calls `body` with a typed pointer to the bytes and their count (for libsodium calls).
    func withBytePointer<R>(_ body: (UnsafePointer<UInt8>, Int) throws -> R) rethrows -> R {
        try body(UnsafePointer(storage), count)
    }

    /// Returns whether two secrets hold the same bytes, in time that does not depend on
    /// where they differ.
    ///
    /// Secrets of different lengths compare unequal immediately (the length is not secret).
    ///
    /// - Parameters:
    ///   - other: The secret to compare with.
    /// - Returns: `true` when both hold exactly the same bytes.
    public func isEqual(to other: SecretBytes) -> Bool {
        guard count == other.count else { return false }
        Sodium.ensureInitialized()
        return sodium_memcmp(storage, other.storage, count) == 0
    }

    /// Returns a new secret holding `range` of this one, without an intermediate copy.
    func slice(_ range: Range<Int>) -> SecretBytes {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "SecretBytes slice out of bounds")
        return SecretBytes(uninitializedCount: range.count) { buffer in
            buffer.baseAddress!.update(from: storage + range.lowerBound, count: range.count)
        }
    }
}

extension SecretBytes: CustomStringConvertible, CustomDebugStringConvertible {
    /// A redacted description that shows only the length, for example `SecretBytes(32 bytes, redacted)`.
    public var description: String { "SecretBytes(\(count) bytes, redacted)" }

    /// The same redacted text as ``description``.
    public var debugDescription: String { description }
}
