#if canImport(Clibsodium)
import Clibsodium  // Apple platforms: swift-sodium's libsodium xcframework (Package.swift)
#else
import CSodium
#endif

/// BLAKE2b hashing (libsodium `crypto_generichash`): one-shot and incremental.
///
/// BLAKE2b-256 (32-byte output) is Concord's hash for bundle ids and the per-author
/// hash chain. Output lengths from 16 to 64 bytes and an optional 16...64-byte key
/// (for a MAC) are supported; different lengths give unrelated outputs, not prefixes.
///
/// One-shot:
///
/// ```swift
/// let id: Digest32 = Blake2b.hash(signedBytes)
/// ```
///
/// Incremental, for inputs too large to hold in memory at once:
///
/// ```swift
/// var hasher = Blake2b()
/// for chunk in chunks { hasher.update(chunk) }
/// let digest = hasher.finalize()   // [UInt8], 32 bytes
/// ```
///
/// `Blake2b` is a value type: copying a hasher copies its state (copy-on-write), so a
/// copy can be finalized while the original continues.
public struct Blake2b: Sendable {
    /// The default output length in bytes (32, BLAKE2b-256).
    public static let defaultOutputLength = 32
    /// The output lengths this type accepts, in bytes.
    public static let outputLengthRange = 16...64
    /// The key lengths this type accepts, in bytes.
    public static let keyLengthRange = 16...64

    /// The output length in bytes this hasher produces.
    public let outputLength: Int

    private var state: Blake2bState

    /// Starts an incremental, unkeyed BLAKE2b-256 hash.
    ///
    /// ```swift
    /// var hasher = Blake2b()
    /// hasher.update(header)
    /// hasher.update(payload)
    /// let digest = try Digest32(bytes: hasher.finalize())
    /// ```
    public init() {
        // Cannot throw: the default output length is valid and there is no key.
        try! self.init(outputLength: Self.defaultOutputLength, key: nil)
    }

    /// Starts an incremental hash with a chosen output length and an optional key.
    ///
    /// ```swift
    /// var mac = try Blake2b(outputLength: 16, key: macKey)
    /// mac.update(header)
    /// mac.update(payload)
    /// let tag = mac.finalize()
    /// ```
    ///
    /// - Parameters:
    ///   - outputLength: The digest length in bytes, 16...64.
    ///   - key: An optional 16...64-byte key; with a key the result is a MAC.
    /// - Throws: ``ConcordCryptoError`` with code `.invalidLength` for an output length
    ///   outside 16...64, or `.invalidKeyLength` for a key length outside 16...64.
    public init(outputLength: Int, key: SecretBytes? = nil) throws {
        try Self.validate(outputLength: outputLength, keyCount: key?.count)
        Sodium.ensureInitialized()
        self.outputLength = outputLength
        self.state = Blake2bState()
        let statePointer = state.pointer
        if let key {
            key.withBytePointer { keyPointer, keyCount in
                _ = crypto_generichash_init(statePointer, keyPointer, keyCount, outputLength)
            }
        } else {
            _ = crypto_generichash_init(statePointer, nil, 0, outputLength)
        }
    }

    /// Feeds more bytes into the hash.
    ///
    /// - Parameters:
    ///   - bytes: The next chunk of input; chunk boundaries do not affect the result.
    /// - Complexity: O(n) in the length of `bytes`.
    public mutating func update(_ bytes: some Collection<UInt8>) {
        if !isKnownUniquelyReferenced(&state) {
            state = state.copy()
        }
        let statePointer = state.pointer
        bytes.withBytePointer { pointer, count in
            _ = crypto_generichash_update(statePointer, pointer, UInt64(count))
        }
    }

    /// Returns the digest of everything fed in so far.
    ///
    /// Does not consume the hasher: finalization runs on a copy of the state, so you may
    /// keep calling ``update(_:)`` and ask for the digest of a longer input later.
    ///
    /// - Returns: ``outputLength`` bytes.
    public func finalize() -> [UInt8] {
        let scratch = state.copy()
        return [UInt8](unsafeUninitializedCapacity: outputLength) { buffer, initialized in
            _ = crypto_generichash_final(scratch.pointer, buffer.baseAddress!, outputLength)
            initialized = outputLength
        }
    }

    /// Hashes `bytes` with BLAKE2b-256.
    ///
    /// ```swift
    /// let digest = Blake2b.hash(Array("abc".utf8))
    /// ```
    ///
    /// - Parameters:
    ///   - bytes: The input.
    /// - Returns: The 32-byte digest.
    /// - Complexity: O(n) in the length of `bytes`.
    public static func hash(_ bytes: some Collection<UInt8>) -> Digest32 {
        // Cannot throw: the default output length is valid and there is no key.
        Digest32(unchecked: try! hash(bytes, outputLength: defaultOutputLength))
    }

    /// Hashes `bytes` with BLAKE2b, with a chosen output length and an optional key.
    ///
    /// ```swift
    /// let tag = try Blake2b.hash(message, outputLength: 16, key: macKey)
    /// ```
    ///
    /// - Parameters:
    ///   - bytes: The input.
    ///   - outputLength: The digest length in bytes, 16...64.
    ///   - key: An optional 16...64-byte key; with a key the result is a MAC.
    /// - Returns: `outputLength` bytes.
    /// - Throws: ``ConcordCryptoError`` with code `.invalidLength` for an output length
    ///   outside 16...64, or `.invalidKeyLength` for a key length outside 16...64.
    public static func hash(
        _ bytes: some Collection<UInt8>,
        outputLength: Int,
        key: SecretBytes? = nil
    ) throws -> [UInt8] {
        try validate(outputLength: outputLength, keyCount: key?.count)
        Sodium.ensureInitialized()
        return [UInt8](unsafeUninitializedCapacity: outputLength) { output, initialized in
            bytes.withBytePointer { input, inputCount in
                if let key {
                    key.withBytePointer { keyPointer, keyCount in
                        _ = crypto_generichash(
                            output.baseAddress!, outputLength, input, UInt64(inputCount), keyPointer, keyCount)
                    }
                } else {
                    _ = crypto_generichash(output.baseAddress!, outputLength, input, UInt64(inputCount), nil, 0)
                }
            }
            initialized = outputLength
        }
    }

    private static func validate(outputLength: Int, keyCount: Int?) throws {
        guard outputLengthRange.contains(outputLength) else {
            throw ConcordCryptoError(
                .invalidLength,
                "BLAKE2b output length must be between 16 and 64 bytes, got \(outputLength); use 32 unless a protocol says otherwise."
            )
        }
        if let keyCount, !keyLengthRange.contains(keyCount) {
            throw ConcordCryptoError(
                .invalidKeyLength,
                "A BLAKE2b key must be between 16 and 64 bytes, got \(keyCount); use a 32-byte random or derived key."
            )
        }
    }
}

/// Heap storage for a libsodium BLAKE2b state, aligned as libsodium requires (64 bytes).
///
/// @unchecked Sendable: the state is mutated only through `Blake2b.update`, which first
/// makes the storage uniquely referenced (copy-on-write), and read through `copy()`;
/// so a storage object shared between values (and thus possibly between threads) is
/// never mutated.
final class Blake2bState: @unchecked Sendable {
    private static let byteCount = crypto_generichash_statebytes()
    private static let alignment = 64

    /// The state, as libsodium's functions take it. Swift does not import the 64-byte
    /// aligned C struct, so the state is handled as opaque, separately allocated memory.
    let pointer: OpaquePointer
    private let raw: UnsafeMutableRawPointer

    init() {
        raw = UnsafeMutableRawPointer.allocate(byteCount: Self.byteCount, alignment: Self.alignment)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: Self.byteCount)
        pointer = OpaquePointer(raw)
    }

    /// A new storage holding the same state bytes.
    func copy() -> Blake2bState {
        let result = Blake2bState()
        result.raw.copyMemory(from: raw, byteCount: Self.byteCount)
        return result
    }

    deinit {
        // A keyed state holds key-derived material: wipe it.
        sodium_memzero(raw, Self.byteCount)
        raw.deallocate()
    }
}
