import ConcordCore
import ConcordCrypto

/// The membership of a space: a deterministic function of the membership ops a device
/// holds (`Specs/membership.md` §5). The same set of ops gives the same state on every
/// device and relay, whatever the order they arrived in.
///
/// Build it with ``evaluate(ops:spaceID:encrypted:)``; ask it about a bundle with
/// ``admission(author:sequence:isControl:)`` and about a device's chain with
/// ``standing(of:at:)``.
///
/// ```swift
/// let state = MembershipState.evaluate(ops: records, spaceID: space, encrypted: true)
/// for member in state.members where member.status == .active {
///     print(member.name, member.role)
/// }
/// if case .refused(.removed(let by, let at)) = state.admission(author: lost, sequence: 9, isControl: false) {
///     print("removed by \(state.member(by)?.name ?? by.hex) at \(HLCTimestamp(rawValue: at))")
/// }
/// ```
public struct MembershipState: Hashable, Sendable {
    /// The space.
    public let spaceID: SpaceID
    /// Whether the space encrypts payloads.
    public let isEncrypted: Bool
    /// The applied genesis, or `nil` while none is held.
    public internal(set) var genesis: MembershipOpReference?
    /// Members by device id.
    var membersByDevice: [PublicKey: Member] = [:]
    /// Invites by invite id.
    var invitesByID: [PublicKey: Invite] = [:]
    /// Epochs in processing order.
    public internal(set) var epochs: [Epoch] = []
    /// The applied `set-policy` ops in membership order (`Specs/permissions.md` §4.1:
    /// `P₁ < P₂ < …`); clears included.
    public internal(set) var policies: [AppliedPolicy] = []
    /// The applied `checkpoint` ops in processing order (`Specs/snapshots.md` §2).
    public internal(set) var checkpoints: [AppliedCheckpoint] = []
    /// Epochs of read scopes in processing order (`Specs/permissions.md` §7.2).
    public internal(set) var scopeEpochs: [ScopeEpoch] = []
    /// Ops that are void, in processing order.
    public internal(set) var voidOps: [MembershipOpRecord] = []
    /// Joins waiting for an invite op this set does not hold, in processing order.
    public internal(set) var pendingOps: [MembershipOpRecord] = []
    /// Authors of a `genesis`, `join` or `successor` at position 1, valid or not.
    var introduced: Set<PublicKey> = []

    init(spaceID: SpaceID, isEncrypted: Bool) {
        self.spaceID = spaceID
        self.isEncrypted = isEncrypted
    }

    /// Every device that was ever admitted (removed and retired ones included), sorted by
    /// device id.
    public var members: [Member] { membersByDevice.values.sorted { $0.device < $1.device } }

    /// Every invite, sorted by invite id.
    public var invites: [Invite] { invitesByID.values.sorted { $0.id < $1.id } }

    /// The member with this device id, if it was admitted.
    /// - Parameters:
    ///   - device: A device id.
    public func member(_ device: PublicKey) -> Member? { membersByDevice[device] }

    /// How `device`'s removal reads in a message, for relays, peers and the replica alike:
    /// "removed from the space by Ms Dlamini's laptop on 2026-12-01 10:15 UTC"; `nil` for a
    /// device that was not removed.
    /// - Parameters:
    ///   - device: A device id.
    public func removalDescription(of device: PublicKey) -> String? {
        guard let cut = member(device)?.cut else { return nil }
        let by = member(cut.by.author)?.name ?? String(cut.by.author.hex.prefix(8))
        return "removed from the space by \(by) on \(CalendarTime.text(HLCTimestamp(rawValue: cut.by.stamp).milliseconds))"
    }

    /// The invite with this id, if its `invite` op was applied.
    /// - Parameters:
    ///   - id: An invite id.
    public func invite(_ id: PublicKey) -> Invite? { invitesByID[id] }

    /// Devices whose join waits for an invite op not held yet, and that are not members
    /// by another op; sorted. Their data bundles are held.
    public var pendingDevices: [PublicKey] {
        Set(pendingOps.map(\.author)).filter { membersByDevice[$0] == nil }.sorted()
    }

    /// The epoch writers seal with: the last untainted epoch (`Specs/membership.md` §7).
    /// `nil` in an unencrypted space.
    public var currentEpoch: Epoch? { epochs.last { !$0.isTainted } }

    /// What `device` is at its chain position `position`: `role(D, k)` of
    /// `Specs/membership.md` §5.
    /// - Parameters:
    ///   - device: A device id.
    ///   - position: A sequence number in its chain.
    /// - Returns: Its role there, `.removed` past its cut-off, `.retired` past its
    ///   successor's cut-off, or `.none`.
    public func standing(of device: PublicKey, at position: UInt64) -> Standing {
        membersByDevice[device]?.standing(at: position) ?? .none
    }
}

extension MembershipState {
    /// What a device is at one position of its chain.
    public enum Standing: Hashable, Sendable {
        /// A member with this role (a policy role carries its base, which is all
        /// membership applies).
        case member(RoleAssignment)
        /// Past the cut-off of a removal.
        case removed
        /// Past the cut-off of a successor (the device continues under another key).
        case retired
        /// Not a member there (never admitted, or no assignment applies).
        case none
    }

    /// One role assignment: from `boundary` on (positions `> boundary`), `role`.
    public struct Assignment: Hashable, Sendable {
        /// The assignment applies to positions above this one (0: from the first bundle).
        public let boundary: UInt64
        /// The role assigned.
        public let role: RoleAssignment
        /// The op that made it (genesis, join, successor or set-role).
        public let by: MembershipOpReference
    }

    /// Where a removed device's chain stops being accepted.
    public struct Cut: Hashable, Sendable {
        /// The last accepted position.
        public let cutoff: UInt64
        /// The `remove` op with the lowest cut-off (the first in order among equals).
        public let by: MembershipOpReference
    }

    /// An applied `remove` op of a member.
    public struct Removal: Hashable, Sendable {
        /// The removal's cut-off.
        public let cutoff: UInt64
        /// The `remove` op.
        public let by: MembershipOpReference
        /// The successors of the removed device it keeps.
        public let keep: [PublicKey]
    }

    /// A device admitted to the space.
    public struct Member: Hashable, Sendable {
        /// Whether a member is active, removed or retired.
        public enum Status: String, Hashable, Sendable {
            /// A member with a role.
            case active
            /// Removed: its bundles past ``Member/cut`` are refused.
            case removed
            /// Continued by a successor: its bundles past ``Member/retired`` are refused.
            case retired
        }

        /// The device id.
        public let device: PublicKey
        /// The device's human name.
        public internal(set) var name: String
        /// Role assignments in processing order; the first is at boundary 0.
        public internal(set) var assignments: [Assignment]
        /// The removal as its op stated it (the lowest cut-off), before finality.
        var declaredCut: Cut?
        /// The lowest cut-off of this device's applied successors, before finality.
        var declaredRetired: UInt64?
        /// The removal, if any, with its effective cut-off: the lowest stated cut-off, raised
        /// to ``finalThrough`` (finality, `Specs/snapshots.md` §2).
        public var cut: Cut? { declaredCut.map { Cut(cutoff: max($0.cutoff, finalThrough), by: $0.by) } }
        /// The lowest cut-off of this device's applied successors, if any, raised to
        /// ``finalThrough``.
        public var retired: UInt64? { declaredRetired.map { max($0, finalThrough) } }
        /// Finality (`Specs/snapshots.md` §2): the greatest `S_C[device]` over the applied
        /// checkpoints; its bundles up to this position stay applied whatever cuts it later
        /// (0: none final).
        public internal(set) var finalThrough: UInt64 = 0
        /// The applied `stale` op that marked it stale, if no `ack` of its own came after
        /// it (`Specs/snapshots.md` §3): while set, it is not counted for stability.
        public internal(set) var staleSince: Staleness?
        /// Its latest applied `ack` op (`Specs/snapshots.md` §2), as an acknowledgement.
        public internal(set) var lastAck: Acknowledgement?
        /// Devices that continue this one, in processing order.
        public internal(set) var successors: [PublicKey] = []
        /// Every applied removal of this device, in processing order.
        public internal(set) var removals: [Removal] = []
        /// The invite it joined through, if it joined.
        public internal(set) var invite: PublicKey?
        /// The device it continues, if it is a successor.
        public internal(set) var predecessor: PublicKey?

        /// Its role now: the last assignment in processing order.
        public var role: RoleAssignment { assignments[assignments.count - 1].role }

        /// `active`, `removed` or `retired`.
        public var status: Status { cut != nil ? .removed : retired != nil ? .retired : .active }

        /// The role of the last assignment whose boundary is below `position`, ignoring
        /// cuts and retirement.
        func assignedRole(at position: UInt64) -> RoleAssignment? {
            assignments.last { $0.boundary < position }?.role
        }

        /// `role(D, k)`.
        func standing(at position: UInt64) -> Standing {
            if let cut, position > cut.cutoff { return .removed }
            if let retired, position > retired { return .retired }
            return assignedRole(at: position).map(Standing.member) ?? .none
        }

        /// `role'(D, cutoff + 1)`: the standing just after `cutoff`, ignoring retirement.
        func standingIgnoringRetirement(after cutoff: UInt64) -> Standing {
            if let cut, cutoff >= cut.cutoff { return .removed }
            return assignments.last { $0.boundary <= cutoff }.map { .member($0.role) } ?? .none
        }
    }

    /// An invite whose `invite` op was applied.
    public struct Invite: Hashable, Sendable {
        /// One revocation.
        public struct Revocation: Hashable, Sendable {
            /// The `revoke-invite` op.
            public let by: MembershipOpReference
            /// Devices whose joins stay valid.
            public let seen: [PublicKey]
        }

        /// The invite id.
        public let id: PublicKey
        /// The `invite` op.
        public let issuedBy: MembershipOpReference
        /// The role a join through it grants.
        public let role: RoleAssignment
        /// The expiry, ms since the Unix epoch; a join stamped later is void.
        public let expires: UInt64
        /// How many joins it admits; 0: unlimited.
        public let maxUses: UInt64
        /// Applied joins through it.
        public internal(set) var uses: UInt64 = 0
        /// Devices that joined through it, in processing order.
        public internal(set) var joined: [PublicKey] = []
        /// Applied revocations, in processing order.
        public internal(set) var revocations: [Revocation] = []

        /// Whether an admin revoked it.
        public var isRevoked: Bool { !revocations.isEmpty }

        /// Whether every revocation lists `device` as seen (always, when not revoked).
        func admitsDespiteRevocation(_ device: PublicKey) -> Bool {
            revocations.allSatisfy { $0.seen.contains(device) }
        }

        /// Whether a join stamped `stamp` is in time: its milliseconds ≤ ``expires``.
        func isInTime(_ stamp: UInt64) -> Bool { HLCTimestamp(rawValue: stamp).milliseconds <= expires }

        /// Whether it has uses left.
        var hasUsesLeft: Bool { maxUses == 0 || uses < maxUses }
    }

    /// A content-key epoch (`Specs/membership.md` §7).
    public struct Epoch: Hashable, Sendable {
        /// The epoch key's id.
        public let keyID: EpochKeyID
        /// The op that started it (genesis, remove or rotate).
        public let startedBy: MembershipOpReference
        /// The kind of that op.
        public let kind: MembershipOp.Kind
        /// Everyone the key was sealed to (by the starting op and grants), sorted.
        public internal(set) var recipients: [PublicKey]
        /// Whether a recipient was, when sealed to, a removed device, a revoked or expired
        /// invite, or unknown: writers do not seal with it, and admins rotate again.
        public internal(set) var isTainted: Bool
    }

    /// A device's `stale` mark (`Specs/snapshots.md` §3).
    public struct Staleness: Hashable, Sendable {
        /// The `stale` op.
        public let by: MembershipOpReference
        /// The target's head the admin held when it marked it stale.
        public let lastSeen: UInt64
        /// Why: an admin's decision or the `staleAfter` policy.
        public let reason: MembershipOp.StaleReason
    }

    /// An applied `checkpoint` op (`Specs/snapshots.md` §2): `C = (S_C, R_C)`.
    public struct AppliedCheckpoint: Hashable, Sendable {
        /// `S_C`: the issuing admin's stable cut.
        public let stable: VersionVector
        /// `R_C`: the issuing admin's held vector.
        public let seen: VersionVector
        /// The snapshot sealed at `S_C`, if any.
        public let snapshot: Digest32?
        /// The `checkpoint` op.
        public let by: MembershipOpReference
    }

    /// An acknowledgement by a member (`Specs/crdt-semantics.md` §11.1): the vector one of
    /// its bundles carries (a data bundle's causal context or an `ack` op's held vector)
    /// with the member's own entry set to that bundle's sequence.
    ///
    /// ```swift
    /// let ack = MembershipState.Acknowledgement(author: bundle.author, sequence: bundle.sequence, context: bundle.context)
    /// assert(ack.vector[bundle.author] == bundle.sequence)
    /// ```
    public struct Acknowledgement: Hashable, Sendable {
        /// The member that signed the bundle.
        public let author: PublicKey
        /// The bundle's sequence in the member's chain.
        public let sequence: UInt64
        /// What the member had seen: the context, with its own entry = ``sequence``.
        public let vector: VersionVector

        init(author: PublicKey, sequence: UInt64, vector: VersionVector) {
            self.author = author
            self.sequence = sequence
            self.vector = vector
        }

        /// The acknowledgement a bundle carries.
        /// - Parameters:
        ///   - author: The bundle's author.
        ///   - sequence: The bundle's sequence (≥ 1).
        ///   - context: The vector it carries (a data bundle's causal context, an `ack`
        ///     op's held vector; empty for other control bundles, which acknowledge only
        ///     the author's own chain). Its entry for `author` is replaced by `sequence`.
        public init(author: PublicKey, sequence: UInt64, context: VersionVector) {
            var vector = context
            vector[author] = sequence
            self.init(author: author, sequence: sequence, vector: vector)
        }
    }
}
