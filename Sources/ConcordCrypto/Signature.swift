/// A detached Ed25519 signature (64 bytes).
///
/// Produced by ``Identity/sign(_:)`` and checked with
/// ``PublicKey/isValidSignature(_:for:)``.
///
/// ```swift
/// let signature = identity.sign(Array("hello".utf8))
/// let restored = try Signature(hex: signature.hex)
/// ```
public struct Signature: Hashable, Sendable, CustomStringConvertible {
    /// The length of an Ed25519 signature in bytes (64).
    public static let byteCount = 64

    /// The signature's 64 bytes.
    public let bytes: [UInt8]

    /// Creates a signature from its 64 bytes.
    ///
    /// - Parameters:
    ///   - bytes: Exactly 64 bytes.
    /// - Throws: ``ConcordCryptoError`` with code `.invalidLength` for any other length.
    public init(bytes: some Collection<UInt8>) throws {
        guard bytes.count == Self.byteCount else {
            throw ConcordCryptoError(
                .invalidLength,
                "A signature must be \(Self.byteCount) bytes, got \(bytes.count); the data is truncated or not a signature."
            )
        }
        self.bytes = Array(bytes)
    }

    /// Creates a signature from 128 hexadecimal characters (either case).
    ///
    /// - Parameters:
    ///   - hex: The hexadecimal text, for example as printed by ``hex``.
    /// - Throws: ``ConcordCryptoError`` with code `.invalidEncoding` for malformed hex or
    ///   `.invalidLength` when it does not decode to 64 bytes.
    public init(hex: String) throws {
        try self.init(bytes: Hex.decode(hex, what: "signature"))
    }

    /// Wraps bytes already known to be 64 long (produced by libsodium in this module).
    init(unchecked bytes: [UInt8]) {
        assert(bytes.count == Self.byteCount)
        self.bytes = bytes
    }

    /// The signature as 128 lowercase hexadecimal characters.
    public var hex: String { Hex.encode(bytes) }

    /// The same as ``hex``.
    public var description: String { hex }
}
