import ConcordCore
import ConcordCrypto

extension EpochField {
    /// The history blob of `Specs/membership.md` §3: empty for no keys, else
    /// `nonce ‖ XChaCha20-Poly1305-IETF(key = epoch's key, ad = epoch's key id,
    /// plaintext = m × (key id ‖ key))`.
    /// - Parameters:
    ///   - history: The older epoch keys, in the order to store them.
    ///   - epoch: The new epoch, whose key encrypts them.
    ///   - nonce: The nonce (random by default).
    /// - Returns: The blob.
    public static func historyBlob(_ history: [EpochKey], under epoch: EpochKey, nonce: XChaCha20Poly1305.Nonce = .init()) -> [UInt8] {
        guard !history.isEmpty else { return [] }
        let entries = SecretBytes(uninitializedCount: history.count * historyEntry) { buffer in
            for (index, old) in history.enumerated() {
                let start = index * historyEntry
                for (offset, byte) in old.id.bytes.enumerated() { buffer[start + offset] = byte }
                old.key.secret.withUnsafeBytes { key in
                    for (offset, byte) in key.enumerated() { buffer[start + EpochKeyID.byteCount + offset] = byte }
                }
            }
        }
        let box = entries.withUnsafeBytes { plaintext in
            XChaCha20Poly1305.seal(plaintext, using: epoch.key, nonce: nonce, authenticating: epoch.id.bytes)
        }
        return box.combined
    }

    /// Opens this field's history blob with its epoch key (opened with ``openKey(with:)``):
    /// the older epoch keys its author held, so a new member holding the newest key can read
    /// the whole history.
    ///
    /// ```swift
    /// let current = try field.openKey(with: device)
    /// let older = try field.openHistory(with: current)   // every earlier epoch key
    /// ```
    ///
    /// - Parameters:
    ///   - epoch: This field's epoch key.
    /// - Returns: The older keys, in stored order; empty for an empty blob.
    /// - Throws: ``ConcordError`` `.decryptionFailed` when `epoch` is not this field's key
    ///   or the blob was altered, `.malformedBundle` when an entry's key id does not match
    ///   its key or a key id repeats (a forged op).
    public func openHistory(with epoch: EpochKey) throws(ConcordError) -> [EpochKey] {
        guard epoch.id == keyID else {
            throw ConcordError(
                .decryptionFailed,
                "the history of epoch \(keyID.hex) is encrypted under that epoch's key, not under \(epoch.id.hex); open the epoch's own key first"
            )
        }
        return try Self.openHistoryBlob(history, with: epoch)
    }

    /// Opens a history blob (see ``openHistory(with:)``).
    /// - Parameters:
    ///   - blob: The blob, empty or nonce ‖ ciphertext.
    ///   - epoch: The epoch key that encrypted it.
    /// - Returns: The older keys.
    /// - Throws: ``ConcordError`` `.decryptionFailed`, `.malformedBundle`; see ``openHistory(with:)``.
    public static func openHistoryBlob(_ blob: [UInt8], with epoch: EpochKey) throws(ConcordError) -> [EpochKey] {
        guard !blob.isEmpty else { return [] }
        try checkHistory(blob)
        let context = "opening the key history of epoch \(epoch.id.hex)"
        var plaintext = try ConcordError.mapping(context) {
            try XChaCha20Poly1305.open(
                XChaCha20Poly1305.SealedBox(combined: blob), using: epoch.key, authenticating: epoch.id.bytes)
        }
        defer { plaintext.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
        var keys: [EpochKey] = []
        var seen: Set<EpochKeyID> = []
        for start in stride(from: 0, to: plaintext.count, by: historyEntry) {
            let claimed = try EpochKeyID(bytes: plaintext[start..<start + EpochKeyID.byteCount])
            let key = try ConcordError.mapping(context) {
                try SymmetricKey(SecretBytes(plaintext[(start + EpochKeyID.byteCount)..<(start + historyEntry)]))
            }
            let old = EpochKey(key: key)
            guard old.id == claimed, seen.insert(claimed).inserted else {
                throw ConcordError(
                    .malformedBundle,
                    "\(context): entry \(start / historyEntry + 1) names key \(claimed.hex) but holds \(old.id.hex), or repeats a key; the membership op was forged, ignore it"
                )
            }
            keys.append(old)
        }
        return keys
    }
}
