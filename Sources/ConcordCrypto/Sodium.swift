#if canImport(Clibsodium)
import Clibsodium  // Apple platforms: swift-sodium's libsodium xcframework (Package.swift)
#else
import CSodium
#endif

/// The one place that initializes libsodium.
///
/// Every entry point of this module that calls into libsodium first calls
/// ``Sodium/ensureInitialized()``. The `static let` below is evaluated exactly once,
/// lazily and thread-safely (Swift guards global and static initializers with
/// `swift_once`), so `sodium_init()` runs once per process however many threads race
/// to use the module first. Calling `sodium_init()` again elsewhere is harmless: it
/// returns 1 ("already initialized").
enum Sodium {
    /// `true` when `sodium_init()` succeeded (0) or had already run (1).
    private static let isInitialized: Bool = sodium_init() >= 0

    /// Initializes libsodium on first use; traps if the library cannot start.
    ///
    /// `sodium_init()` only fails when the system cannot provide secure randomness,
    /// in which case no operation of this module can be performed safely.
    static func ensureInitialized() {
        guard isInitialized else {
            fatalError("ConcordCrypto: libsodium could not be initialized (no secure random source available)")
        }
    }
}

extension Collection<UInt8> {
    /// Calls `body` with a pointer to the collection's bytes and their count.
    ///
    /// Uses the collection's contiguous storage when it has one (arrays, array slices,
    /// `Data`, unsafe buffers) and a temporary array otherwise. The pointer is never
    /// null, even for an empty collection, so it can be handed to libsodium as is.
    func withBytePointer<R>(_ body: (UnsafePointer<UInt8>, Int) throws -> R) rethrows -> R {
        if let result = try withContiguousStorageIfAvailable({ buffer -> R in
            if let base = buffer.baseAddress {
                return try body(base, buffer.count)
            }
            var placeholder: UInt8 = 0
            return try withUnsafePointer(to: &placeholder) { try body($0, 0) }
        }) {
            return result
        }
        return try Array(self).withBytePointer(body)
    }
}
