/// A 32-byte BLAKE2b-256 digest, such as a bundle id or a hash-chain link.
///
/// `Hashable` and `Comparable` (lexicographic by bytes), convertible to and from
/// lowercase hexadecimal. Produced by ``Blake2b/hash(_:)``.
///
/// ```swift
/// let id = Blake2b.hash(Array("abc".utf8))
/// print(id.hex) // bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319
/// ```
public struct Digest32: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The length of the digest in bytes (32).
    public static let byteCount = 32

    /// The digest's 32 bytes.
    public let bytes: [UInt8]

    /// Creates a digest from its 32 bytes.
    ///
    /// - Parameters:
    ///   - bytes: Exactly 32 bytes.
    /// - Throws: ``ConcordCryptoError`` with code `.invalidLength` for any other length.
    public init(bytes: some Collection<UInt8>) throws {
        guard bytes.count == Self.byteCount else {
            throw ConcordCryptoError(
                .invalidLength,
                "A BLAKE2b-256 digest must be \(Self.byteCount) bytes, got \(bytes.count); the data is truncated or not a digest."
            )
        }
        self.bytes = Array(bytes)
    }

    /// Creates a digest from 64 hexadecimal characters (either case).
    ///
    /// - Parameters:
    ///   - hex: The hexadecimal text, for example as printed by ``hex``.
    /// - Throws: ``ConcordCryptoError`` with code `.invalidEncoding` for malformed hex or
    ///   `.invalidLength` when it does not decode to 32 bytes.
    public init(hex: String) throws {
        try self.init(bytes: Hex.decode(hex, what: "digest"))
    }

    /// Wraps bytes already known to be 32 long (produced by libsodium in this module).
    init(unchecked bytes: [UInt8]) {
        assert(bytes.count == Self.byteCount)
        self.bytes = bytes
    }

    /// The digest as 64 lowercase hexadecimal characters.
    public var hex: String { Hex.encode(bytes) }

    /// The same as ``hex``.
    public var description: String { hex }

    /// Orders digests lexicographically by their bytes.
    public static func < (lhs: Digest32, rhs: Digest32) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }
}
