import ConcordCore
import ConcordCrypto

/// The identity of one device: the 32 bytes of its Ed25519 public key.
///
/// A device key appears under several names in the lower layers: as a `PublicKey` (it
/// verifies the device's signatures), as a `ReplicaID` (it breaks clock ties between
/// replicas) and as the `author` of the bundles the device seals. `DeviceID` is the one
/// public type that names a device: convert to the others where their operations are
/// needed. It orders by its bytes (lexicographically, the same order as `ReplicaID` and
/// `PublicKey`), and prints as 64 lowercase hexadecimal digits.
///
/// ```swift
/// let alice = DeviceID(membership.device.publicKey)
/// let parsed = try DeviceID(hex: alice.hex)          // the full 64 digits, no prefix
/// assert(parsed == alice && parsed.replicaID == membership.replicaID)
/// if bundle.authorID == alice { print("\(alice.shortDescription) wrote it") }
/// ```
public struct DeviceID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The length of a device id in bytes (32).
    public static let byteCount = 32

    /// The bytes, as the four big-endian words of a `ReplicaID`: cheap to hash and compare.
    private let words: ReplicaID

    /// Creates a device id from exactly 32 bytes.
    /// - Parameters:
    ///   - bytes: The device's public key bytes.
    /// - Throws: ``ConcordError`` with code `.invalidIdentifier` for any other length.
    public init(bytes: some Collection<UInt8>) throws {
        guard let words = ReplicaID(bytes: bytes) else {
            throw ConcordError(
                .invalidIdentifier, "a device id is \(Self.byteCount) bytes, got \(bytes.count); check that the whole id was transmitted")
        }
        self.words = words
    }

    /// Parses the full 64 hexadecimal digits (either case), as ``hex`` prints them.
    ///
    /// A prefix (such as the 8 digits of ``shortDescription``) is not an id and is
    /// refused: it may name several devices.
    /// - Parameters:
    ///   - hex: 64 hexadecimal digits.
    /// - Throws: ``ConcordError`` with code `.invalidIdentifier` for anything else.
    public init(hex: String) throws {
        guard hex.utf8.count == 2 * Self.byteCount, let words = try? ReplicaID(hex: hex) else {
            throw ConcordError(
                .invalidIdentifier,
                "a device id is \(2 * Self.byteCount) hexadecimal digits; got \"\(hex.prefix(80))\" (\(hex.utf8.count) characters); give the whole id, not a prefix"
            )
        }
        self.words = words
    }

    /// The device whose key is `publicKey`.
    public init(_ publicKey: PublicKey) {
        // A PublicKey always holds exactly 32 bytes.
        words = ReplicaID(bytes: publicKey.bytes)!
    }

    /// The device whose replica id is `replicaID` (a replica id is its device's key).
    public init(_ replicaID: ReplicaID) {
        words = replicaID
    }

    /// The device's Ed25519 public key, to verify its signatures.
    public var publicKey: PublicKey {
        // 32 bytes: always a valid length.
        try! PublicKey(bytes: bytes)
    }

    /// The device's replica id (the same 32 bytes), as clocks and stamps name it.
    public var replicaID: ReplicaID { words }

    /// The 32 bytes.
    public var bytes: [UInt8] { words.bytes }

    /// The id as 64 lowercase hexadecimal digits.
    public var hex: String { words.hex }

    /// The first 8 hexadecimal digits, for logs and messages (not an id: see ``init(hex:)``).
    public var shortDescription: String { String(hex.prefix(8)) }

    /// The same as ``hex``.
    public var description: String { hex }

    /// Orders ids lexicographically by their bytes.
    public static func < (lhs: DeviceID, rhs: DeviceID) -> Bool { lhs.words < rhs.words }
}

extension PublicKey {
    /// The key of `device`.
    public init(_ device: DeviceID) {
        self = device.publicKey
    }
}

extension ReplicaID {
    /// The replica id of `device` (the same 32 bytes).
    public init(_ device: DeviceID) {
        self = device.replicaID
    }
}
