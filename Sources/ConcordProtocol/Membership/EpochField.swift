import ConcordCrypto

/// The 16-byte name of an epoch key: `BLAKE2b-256("concord-epoch-id-v1" ‖ key)[0..<16]`
/// (`Specs/membership.md` §2). It names the key in bundle headers and membership ops
/// without revealing it.
///
/// ```swift
/// let id = try EpochKeyID(bytes: [UInt8](repeating: 7, count: 16))
/// print(id.hex)   // 07070707...
/// ```
public struct EpochKeyID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The length of a key id in bytes (16).
    public static let byteCount = 16

    /// The id's 16 bytes.
    public let bytes: [UInt8]

    /// Wraps exactly 16 bytes.
    /// - Parameters:
    ///   - bytes: The id's bytes.
    /// - Throws: ``ConcordError`` `.invalidKey` for any other length.
    public init(bytes: some Collection<UInt8>) throws(ConcordError) {
        guard bytes.count == Self.byteCount else {
            throw ConcordError(
                .invalidKey, "an epoch key id is \(Self.byteCount) bytes, got \(bytes.count); check that the whole id was copied")
        }
        self.bytes = Array(bytes)
    }

    /// The key id of an epoch key: the first 16 bytes of
    /// `BLAKE2b-256("concord-epoch-id-v1" ‖ key)`.
    /// - Parameters:
    ///   - key: The epoch key.
    public init(of key: SymmetricKey) {
        var hasher = Blake2b()
        hasher.update(Array("concord-epoch-id-v1".utf8))
        key.secret.withUnsafeBytes { hasher.update($0) }
        bytes = Array(hasher.finalize().prefix(Self.byteCount))
    }

    /// The id as 32 lowercase hexadecimal digits.
    public var hex: String { Hex.encode(bytes) }

    /// The same as ``hex``.
    public var description: String { hex }

    /// Orders ids by their bytes.
    public static func < (lhs: EpochKeyID, rhs: EpochKeyID) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }
}

/// The `epoch` field of the `genesis`, `remove` and `rotate` membership ops
/// (`Specs/membership.md` §3 and §7): a new epoch key's id, the key sealed to each
/// recipient, and the history blob (the older epoch keys, encrypted under the new one).
///
/// The model never opens a sealed box: it checks shapes (80-byte boxes, recipients
/// strictly increasing, 1 to 65,536 of them) and records who received the key.
///
/// ```swift
/// let field = try EpochField(
///     keyID: EpochKeyID(bytes: [UInt8](repeating: 1, count: 16)),
///     recipients: [.init(key: admin.publicKey, sealed: [UInt8](repeating: 0, count: 80))])
/// assert(field.recipients.count == 1)
/// ```
public struct EpochField: Hashable, Sendable {
    /// One recipient of an epoch key: a device id or an invite id, and
    /// `crypto_box_seal(epoch key, X25519 form of that key)`.
    public struct Recipient: Hashable, Sendable {
        /// The device id or invite id the key is sealed to.
        public let key: PublicKey
        /// The 80-byte sealed box.
        public let sealed: [UInt8]

        /// A recipient.
        /// - Parameters:
        ///   - key: The device id or invite id.
        ///   - sealed: The 80-byte sealed box holding the epoch key.
        public init(key: PublicKey, sealed: [UInt8]) {
            self.key = key
            self.sealed = sealed
        }
    }

    /// The length of a sealed epoch key (32-byte key + 48 bytes of `crypto_box_seal`).
    public static let sealedByteCount = 80
    /// The most recipients one epoch op or grant may name.
    public static let maxRecipients = 65_536
    /// Bytes of a non-empty history blob before its entries: nonce (24) and tag (16).
    static let historyOverhead = 24 + 16
    /// Bytes of one history entry: key id (16) and key (32).
    static let historyEntry = 16 + 32

    /// The new epoch key's id.
    public let keyID: EpochKeyID
    /// Who receives the key, strictly increasing by key bytes.
    public let recipients: [Recipient]
    /// Empty, or nonce ‖ XChaCha20-Poly1305 of `m × (key id ‖ key)` under the new key.
    public let history: [UInt8]

    /// An epoch field, checked as the decoder checks it.
    /// - Parameters:
    ///   - keyID: The new key's id.
    ///   - recipients: 1 to 65,536 recipients, strictly increasing by key, each with an
    ///     80-byte box.
    ///   - history: Empty, or 24 + 16 + 48 × m bytes with m ≥ 1.
    /// - Throws: ``ConcordError`` `.malformedBundle` naming the broken rule.
    public init(keyID: EpochKeyID, recipients: [Recipient], history: [UInt8] = []) throws(ConcordError) {
        try Self.checkRecipients(recipients.map(\.key), boxes: recipients.map(\.sealed.count), what: "epoch")
        try Self.checkHistory(history)
        self.keyID = keyID
        self.recipients = recipients
        self.history = history
    }

    /// The recipients' keys, in order.
    public var recipientKeys: [PublicKey] { recipients.map(\.key) }

    static func checkRecipients(_ keys: [PublicKey], boxes: [Int], what: String) throws(ConcordError) {
        guard (1...maxRecipients).contains(keys.count) else {
            throw ConcordError(
                .malformedBundle, "membership op: an \(what) names \(keys.count) recipients; it must name 1 to \(maxRecipients)")
        }
        guard boxes.allSatisfy({ $0 == sealedByteCount }) else {
            throw ConcordError(.malformedBundle, "membership op: a sealed epoch key is not \(sealedByteCount) bytes")
        }
        guard isStrictlyIncreasing(keys) else {
            throw ConcordError(
                .malformedBundle, "membership op: the recipients of an \(what) are not strictly increasing (unsorted or repeated)")
        }
    }

    static func checkHistory(_ history: [UInt8]) throws(ConcordError) {
        guard history.isEmpty || (history.count >= historyOverhead + historyEntry && (history.count - historyOverhead) % historyEntry == 0)
        else {
            throw ConcordError(
                .malformedBundle,
                "membership op: a history blob of \(history.count) bytes is neither empty nor a nonce, a tag and whole (key id, key) entries"
            )
        }
    }
}

/// Whether `keys` are strictly increasing by their bytes (sorted, no repeats).
func isStrictlyIncreasing(_ keys: [PublicKey]) -> Bool {
    zip(keys, keys.dropFirst()).allSatisfy { $0 < $1 }
}
