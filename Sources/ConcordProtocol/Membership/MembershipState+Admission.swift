import ConcordCrypto

extension MembershipState {
    /// What happens to a bundle (`Specs/membership.md` §6).
    ///
    /// Its `description` is the name `Specs/vectors/membership.jsonl` uses: `held`,
    /// `applied`, `storedAsEvidence`, or the refusal (`notAWriter`, `removed`, `retired`).
    public enum Admission: Hashable, Sendable, CustomStringConvertible {
        /// A data bundle of a device not (yet) admitted, or whose join waits for its
        /// invite op: kept aside until the membership ops that decide it arrive.
        case held
        /// A data bundle of an admin or writer, or a control bundle of anyone not past a
        /// cut-off: stored and applied (control bundles are evaluated).
        case applied
        /// A data bundle that is not stored.
        case refused(Refusal)
        /// A control bundle past its author's cut-off or retirement: stored outside the
        /// chain as evidence and evaluated (it may be a mutual removal).
        case storedAsEvidence

        /// `held`, `applied`, `storedAsEvidence`, `notAWriter`, `removed` or `retired`.
        public var description: String {
            switch self {
            case .held: "held"
            case .applied: "applied"
            case .storedAsEvidence: "storedAsEvidence"
            case .refused(.notAWriter): "notAWriter"
            case .refused(.removed): "removed"
            case .refused(.retired): "retired"
            }
        }
    }

    /// Why a data bundle is refused.
    public enum Refusal: Hashable, Sendable {
        /// Its author is a reader there, or not a member (its admission op is void).
        case notAWriter
        /// Its position is past its author's cut-off: removed by that op's author at that
        /// stamp (HLC raw value).
        case removed(by: PublicKey, at: UInt64)
        /// Its position is past the cut-off of its author's successor.
        case retired(after: UInt64)
    }

    /// `admission(A, k, control)`: whether the bundle at position `sequence` of
    /// `author`'s chain is held, applied, refused or kept as evidence.
    ///
    /// ```swift
    /// switch state.admission(author: bundle.author, sequence: bundle.sequence, isControl: false) {
    /// case .applied: apply(bundle)
    /// case .held: hold(bundle)
    /// case .refused(let why): print("refused: \(why)")
    /// case .storedAsEvidence: break   // control bundles only
    /// }
    /// ```
    /// - Parameters:
    ///   - author: The bundle's author.
    ///   - sequence: Its position in the author's chain.
    ///   - isControl: Whether it carries a membership op.
    /// - Returns: The decision.
    public func admission(author: PublicKey, sequence: UInt64, isControl: Bool) -> Admission {
        guard let member = membersByDevice[author] else {
            if isControl { return .applied }
            return introduced.contains(author) && !pendingDevices.contains(author) ? .refused(.notAWriter) : .held
        }
        switch member.standing(at: sequence) {
        case .removed:
            guard !isControl, let cut = member.cut else { return .storedAsEvidence }
            return .refused(.removed(by: cut.by.author, at: cut.by.stamp))
        case .retired:
            return isControl ? .storedAsEvidence : .refused(.retired(after: member.retired ?? 0))
        case .member(let role):
            return isControl || role.canWrite ? .applied : .refused(.notAWriter)
        case .none:
            return isControl ? .applied : .refused(.notAWriter)
        }
    }

    /// Whether admins should rotate: the last epoch is tainted, or the current epoch was
    /// sealed to a device that is now removed or to an invite now revoked.
    public var needsRotation: Bool {
        guard isEncrypted, let last = epochs.last else { return false }
        guard !last.isTainted, let current = currentEpoch else { return true }
        return current.recipients.contains { key in
            if let member = membersByDevice[key] { return member.cut != nil }
            return invitesByID[key]?.isRevoked ?? false
        }
    }
}
