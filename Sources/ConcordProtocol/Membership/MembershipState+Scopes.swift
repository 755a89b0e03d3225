import ConcordCore
import ConcordCrypto

extension MembershipState {
    /// An epoch of a read scope (`Specs/permissions.md` §7.2), started by an applied
    /// `scope-key` op and extended by `grant`s naming its key id.
    ///
    /// ```swift
    /// let notes = ScopeID(readers: ["teacher"])
    /// let current = state.scopeEpochs.last { $0.scope == notes && !$0.isTainted }
    /// ```
    public struct ScopeEpoch: Hashable, Sendable {
        /// The scope: the id of its read set.
        public let scope: ScopeID
        /// The read set's role-refs, sorted by their UTF-8 bytes.
        public let readers: [String]
        /// The scope key's id.
        public let keyID: EpochKeyID
        /// The `scope-key` op that started it.
        public let startedBy: MembershipOpReference
        /// Everyone the key was sealed to (by the op and grants), sorted.
        public internal(set) var recipients: [PublicKey]
        /// Whether a recipient was, when sealed to, outside the scope (a member whose role
        /// is not listed, a removed device, a revoked or expired invite or one granting a
        /// role outside the scope, an unknown key), or the key id was used before.
        public internal(set) var isTainted: Bool
    }

    /// Whether `key` may hold a key of the scope of `readers` sealed at `stamp`
    /// (`Specs/permissions.md` §7.1 and §7.2): a member not removed whose role now is admin,
    /// a listed built-in role or a listed policy role (by name; the base is not consulted),
    /// or an invite neither revoked nor expired that grants such a role.
    /// - Parameters:
    ///   - key: A device or invite id.
    ///   - readers: The scope's role-refs.
    ///   - stamp: The sealing op's stamp (HLC raw value).
    public func isInScope(_ key: PublicKey, readers: [String], at stamp: UInt64) -> Bool {
        func listed(_ role: RoleAssignment) -> Bool { role.base == .admin || readers.contains(role.description) }
        if let member = membersByDevice[key] { return member.cut == nil && listed(member.role) }
        if let invite = invitesByID[key] { return !invite.isRevoked && invite.isInTime(stamp) && listed(invite.role) }
        return false
    }
}
