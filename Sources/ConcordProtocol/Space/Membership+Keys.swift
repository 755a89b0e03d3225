import ConcordCore
import ConcordCrypto

extension Membership {
    /// Format 3: the epoch key named `id`, if this device can open it from the membership
    /// ops it holds (`Specs/membership.md` §7).
    ///
    /// Only keys of epochs the evaluation applied count (a key in a void op opens nothing).
    /// A key is found, in order: among the keys handed to this device (its invite token's);
    /// in the `genesis`, `remove`, `rotate` or `grant` ops of that epoch, sealed to this
    /// device's key or to an invite key it joined with; in the history blob of another
    /// applied epoch whose key it can open that way.
    ///
    /// ```swift
    /// if let keyID = bundle.keyID, let key = membership.epochKey(keyID, records: log.membershipRecords.values, state: state) {
    ///     let contents = try ChangeBundle.openData(bundle, key: key.key)
    /// }
    /// ```
    /// - Parameters:
    ///   - id: The key id a bundle header names.
    ///   - records: The membership ops held.
    ///   - state: Their evaluation.
    /// - Returns: The key, or `nil` when this device was not given it (yet, or ever).
    public func epochKey(_ id: EpochKeyID, records: some Collection<MembershipOpRecord>, state: MembershipState) -> EpochKey? {
        if let handed = handedEpochKeys.first(where: { $0.id == id }) { return handed }
        let applied = Set(state.epochs.map(\.keyID))
        guard applied.contains(id) else { return nil }
        if let direct = openDirectly(id, records: records) { return direct }
        for other in state.epochs.reversed() where other.keyID != id {
            guard let outer = handedEpochKeys.first(where: { $0.id == other.keyID }) ?? openDirectly(other.keyID, records: records) else {
                continue
            }
            for record in records {
                guard let field = record.op.epoch, field.keyID == other.keyID,
                    let history = try? field.openHistory(with: outer)
                else { continue }
                if let found = history.first(where: { $0.id == id }) { return found }
            }
        }
        return nil
    }

    /// The key `id` opened from a box sealed to this device or one of its invite keys.
    private func openDirectly(_ id: EpochKeyID, records: some Collection<MembershipOpRecord>) -> EpochKey? {
        let identities = [device] + inviteKeys
        for record in records {
            let recipients: [EpochField.Recipient]
            switch record.op {
            case .grant(let keyID, let boxes) where keyID == id: recipients = boxes
            default:
                guard let field = record.op.epoch, field.keyID == id else { continue }
                recipients = field.recipients
            }
            for identity in identities {
                if let key = try? EpochField.openSealedKey(in: recipients, keyID: id, with: identity) { return key }
            }
        }
        return nil
    }
}
