import ConcordCrypto

/// The id of a space: the 32-byte Ed25519 public key of the space key pair.
///
/// Everything that belongs to a space names it by this id: membership certificates,
/// change bundles, invite tokens. Shown as 64 lowercase hexadecimal digits.
///
/// ```swift
/// let id = membership.spaceID
/// let same = try SpaceID(hex: id.hex)
/// assert(same == id)
/// ```
public struct SpaceID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The length of a space id in bytes (32).
    public static let byteCount = 32

    /// The space's public key; it verifies certificates the space key issued.
    public let publicKey: PublicKey

    /// Wraps the public key of a space key pair.
    /// - Parameters:
    ///   - publicKey: The space's Ed25519 public key.
    public init(publicKey: PublicKey) {
        self.publicKey = publicKey
    }

    /// Creates a space id from exactly 32 bytes.
    /// - Parameters:
    ///   - bytes: The 32 bytes of the space's public key.
    /// - Throws: ``ConcordError`` with code `.invalidIdentifier` for any other length.
    public init(bytes: some Collection<UInt8>) throws {
        guard bytes.count == Self.byteCount, let key = try? PublicKey(bytes: bytes) else {
            throw ConcordError(.invalidIdentifier, "a space id is \(Self.byteCount) bytes, got \(bytes.count); check that the whole id was copied")
        }
        self.publicKey = key
    }

    /// Parses 64 hexadecimal digits (either case).
    /// - Parameters:
    ///   - hex: The id as printed by ``hex``.
    /// - Throws: ``ConcordError`` with code `.invalidIdentifier` when the text is not 64
    ///   hexadecimal digits.
    public init(hex: String) throws {
        guard hex.utf8.count == 2 * Self.byteCount, let key = try? PublicKey(hex: hex) else {
            throw ConcordError(.invalidIdentifier, "a space id is 64 hexadecimal digits; got \"\(hex)\"; check that the whole id was copied")
        }
        self.publicKey = key
    }

    /// The id's 32 bytes.
    public var bytes: [UInt8] { publicKey.bytes }

    /// The id as 64 lowercase hexadecimal digits.
    public var hex: String { publicKey.hex }

    /// The first 8 hexadecimal digits, for logs and messages.
    public var shortDescription: String { String(hex.prefix(8)) }

    /// The same as ``hex``.
    public var description: String { hex }

    /// Orders ids by their bytes.
    public static func < (lhs: SpaceID, rhs: SpaceID) -> Bool { lhs.publicKey < rhs.publicKey }
}
