import ConcordCrypto

/// A content-key epoch's key and its id (`Specs/membership.md` §2): 32 random bytes used
/// as an XChaCha20-Poly1305 key, named by ``EpochKeyID`` (`BLAKE2b-256("concord-epoch-id-v1"
/// ‖ key)[0..<16]`) in bundle headers and membership ops.
///
/// ```swift
/// let epoch = EpochKey()                        // a fresh random key
/// let field = try EpochField.sealing(epoch, to: [admin.publicKey, tablet.publicKey])
/// let opened = try field.openKey(with: tablet)  // the tablet's device identity
/// assert(opened.id == epoch.id)
/// ```
public struct EpochKey: Sendable, CustomStringConvertible {
    /// The key itself.
    public let key: SymmetricKey
    /// Its id.
    public let id: EpochKeyID

    /// A fresh random epoch key, as the admin starting an epoch makes it.
    public init() {
        self.init(key: SymmetricKey())
    }

    /// The epoch key of existing key bytes (a received key, a test vector).
    /// - Parameters:
    ///   - key: The 32-byte key.
    public init(key: SymmetricKey) {
        self.key = key
        self.id = EpochKeyID(of: key)
    }

    /// Whether both hold the same key (compared in constant time).
    /// - Parameters:
    ///   - other: The key to compare with.
    public func isEqual(to other: EpochKey) -> Bool { key.isEqual(to: other.key) }

    /// Names the key by its id only: `EpochKey(<id>, redacted)`.
    public var description: String { "EpochKey(\(id.hex), redacted)" }
}

extension EpochField {
    /// Builds the `epoch` field that starts an epoch (`Specs/membership.md` §3, §7): seals
    /// `epoch`'s key to each recipient (`crypto_box_seal` to its X25519 form; 80 bytes each),
    /// in strictly increasing order of recipient, and encrypts `history` (the older epoch keys
    /// the author holds) under the new key.
    ///
    /// Recipients may be given in any order; a repeated recipient is sealed to once.
    ///
    /// ```swift
    /// let field = try EpochField.sealing(EpochKey(), to: members + pendingInvites, history: heldKeys)
    /// ```
    ///
    /// - Parameters:
    ///   - epoch: The new epoch key.
    ///   - recipients: Device ids and invite ids (1 to 65,536 distinct keys).
    ///   - history: The older epoch keys; empty for none (an empty blob).
    ///   - nonce: The history blob's nonce; a fresh random one by default (fixed only in tests).
    /// - Returns: The field, ready for a `genesis`, `remove` or `rotate` op.
    /// - Throws: ``ConcordError`` `.invalidKey` when a recipient is not a valid Ed25519 curve
    ///   point, `.malformedBundle` for no recipients or more than 65,536.
    public static func sealing(
        _ epoch: EpochKey, to recipients: some Sequence<PublicKey>, history: [EpochKey] = [],
        nonce: XChaCha20Poly1305.Nonce = .init()
    ) throws(ConcordError) -> EpochField {
        let boxes = try sealedKeys(epoch, to: recipients)
        let blob = historyBlob(history, under: epoch, nonce: nonce)
        return try EpochField(keyID: epoch.id, recipients: boxes, history: blob)
    }

    /// Seals `epoch` to each distinct recipient, sorted by key (the recipients of an epoch
    /// field or of a `grant` op).
    /// - Parameters:
    ///   - epoch: The key to hand out.
    ///   - recipients: Device ids and invite ids, in any order.
    /// - Returns: One ``Recipient`` per distinct key, strictly increasing.
    /// - Throws: ``ConcordError`` `.invalidKey` when a recipient is not a valid curve point.
    public static func sealedKeys(_ epoch: EpochKey, to recipients: some Sequence<PublicKey>) throws(ConcordError) -> [Recipient] {
        let sorted = Set(recipients).sorted()
        var result: [Recipient] = []
        result.reserveCapacity(sorted.count)
        for recipient in sorted {
            let box = try ConcordError.mapping("sealing an epoch key to \(recipient.hex)") {
                try epoch.key.secret.withUnsafeBytes { try SealedBox.seal($0, to: recipient) }
            }
            result.append(Recipient(key: recipient, sealed: box))
        }
        return result
    }

    /// Opens the epoch key sealed to `identity` (a device identity, or an invite key made
    /// from an invite token's seed) and checks it against ``keyID``.
    ///
    /// ```swift
    /// let current = try field.openKey(with: device)
    /// ```
    ///
    /// - Parameters:
    ///   - identity: The device or invite key pair.
    /// - Returns: The epoch key.
    /// - Throws: ``ConcordError`` `.notARecipient` when `identity` is not among the
    ///   recipients (a device removed before the epoch), `.decryptionFailed` when its box
    ///   was altered or holds a key other than the one ``keyID`` names.
    public func openKey(with identity: Identity) throws(ConcordError) -> EpochKey {
        try Self.openSealedKey(in: recipients, keyID: keyID, with: identity)
    }

    /// Opens the box addressed to `identity` among `recipients` (of an epoch field or a
    /// `grant` op) and checks the key against `keyID`.
    /// - Parameters:
    ///   - recipients: The recipients, strictly increasing.
    ///   - keyID: The id the key must have.
    ///   - identity: The device or invite key pair.
    /// - Returns: The epoch key.
    /// - Throws: ``ConcordError`` `.notARecipient`, `.decryptionFailed`; see ``openKey(with:)``.
    public static func openSealedKey(in recipients: [Recipient], keyID: EpochKeyID, with identity: Identity) throws(ConcordError)
        -> EpochKey
    {
        guard let box = recipient(identity.publicKey, in: recipients)?.sealed else {
            throw ConcordError(
                .notARecipient,
                "epoch key \(keyID.hex) was not sealed to \(identity.publicKey.hex): this device was removed before that epoch began, or joined after it and waits for an admin to grant it the key"
            )
        }
        let secret = try ConcordError.mapping("opening epoch key \(keyID.hex)") { try identity.openSealedBox(box) }
        let key = try ConcordError.mapping("opening epoch key \(keyID.hex)") { try SymmetricKey(secret) }
        let epoch = EpochKey(key: key)
        guard epoch.id == keyID else {
            throw ConcordError(
                .decryptionFailed,
                "the key sealed to \(identity.publicKey.hex) is not epoch key \(keyID.hex) (its id is \(epoch.id.hex)); the membership op was forged or altered, ignore it"
            )
        }
        return epoch
    }

    /// Binary search for `key` in recipients sorted by key.
    static func recipient(_ key: PublicKey, in recipients: [Recipient]) -> Recipient? {
        var low = 0, high = recipients.count
        while low < high {
            let mid = (low + high) / 2
            if recipients[mid].key < key { low = mid + 1 } else { high = mid }
        }
        return low < recipients.count && recipients[low].key == key ? recipients[low] : nil
    }
}
