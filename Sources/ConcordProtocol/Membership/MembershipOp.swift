import ConcordCore
import ConcordCrypto

/// One membership op (`Specs/membership.md` §3): the payload of a control bundle.
///
/// Ops are decoded with ``init(payload:encrypted:)`` and encoded with ``encoded()``.
/// Signatures inside ops (the space's on `genesis`, the invite's on `join`, the
/// predecessor's on `successor`) are checked by the evaluation
/// (``MembershipState/evaluate(ops:spaceID:encrypted:)``), not by the decoder; build
/// them with ``MembershipStatement``.
///
/// ```swift
/// let op = MembershipOp.setRole(target: bob.publicKey, role: .admin, boundary: 3)
/// let same = try MembershipOp(payload: op.encoded(), encrypted: false)
/// assert(same == op && same.kind == .setRole)
/// ```
public enum MembershipOp: Hashable, Sendable {
    /// Creates the space: the creator's name, whether payloads are encrypted, the space
    /// key's signature of the genesis statement, and (encrypted spaces) epoch 0.
    case genesis(name: String, encrypted: Bool, spaceSignature: Signature, epoch: EpochField?)
    /// An invite: its id (the invite key's public key), the role it grants, its expiry in
    /// ms since the Unix epoch, and how many joins it admits (0: unlimited).
    case invite(id: PublicKey, role: RoleAssignment, expires: UInt64, maxUses: UInt64)
    /// The joining device's bundle 1: the invite it uses, its name, and the invite key's
    /// signature of the join statement.
    case join(invite: PublicKey, name: String, inviteSignature: Signature)
    /// Gives `target` the role `role` for its bundles after `boundary`.
    case setRole(target: PublicKey, role: RoleAssignment, boundary: UInt64)
    /// Removes `target`: its bundles up to `cutoff` stay, later ones are refused. The
    /// successors of `target` listed in `keep` stay members. Encrypted spaces: a new epoch.
    case remove(target: PublicKey, cutoff: UInt64, keep: [PublicKey], epoch: EpochField?)
    /// Revokes an invite; joins through it by devices not in `seen` are void.
    case revokeInvite(id: PublicKey, seen: [PublicKey])
    /// Starts a new content-key epoch.
    case rotate(EpochField)
    /// Seals an existing epoch's key to more recipients.
    case grant(keyID: EpochKeyID, recipients: [EpochField.Recipient])
    /// The new device's bundle 1: it continues `predecessor`, whose chain is retired after
    /// `cutoff`; signed by the predecessor's key.
    case successor(predecessor: PublicKey, cutoff: UInt64, name: String, predecessorSignature: Signature)
    /// Sets or clears the space's permission policy (`Specs/permissions.md` §3.2): the
    /// version vector of the admin's log when it made the op (its own entry `k − 1`), and
    /// the body (plaintext in an unencrypted space, sealed under an epoch key otherwise).
    case setPolicy(seen: VersionVector, form: PolicyForm)
    /// Starts a new epoch of the read scope of `readers` (`Specs/permissions.md` §3.2 and
    /// §7.2): the role-refs (`writer`, `reader`, policy role names) sorted by their UTF-8
    /// bytes, and the epoch field sealing the scope key to the members in the scope.
    /// Encrypted spaces only.
    case scopeKey(readers: [String], epoch: EpochField)
    /// An acknowledgement (`Specs/snapshots.md` §2): the author's held version vector when
    /// it sealed the op, its own entry `k − 1`. Changes nothing but the author's `stale`
    /// mark; it counts for stability (``StabilityTracker``).
    case ack(held: VersionVector)
    /// Marks `target` stale (`Specs/snapshots.md` §3): it is not counted for stability
    /// until it acknowledges again. `lastSeen` is the target's head the admin held.
    case stale(target: PublicKey, lastSeen: UInt64, reason: StaleReason)
    /// A checkpoint (`Specs/snapshots.md` §2): the admin's stable cut `S_C` (`stable`),
    /// its held vector `R_C` (`seen`, its own entry `k − 1`) and the snapshot sealed at
    /// `S_C`, if any. Bundles `(T, k)` with `k ≤ S_C[T]` are final.
    case checkpoint(stable: VersionVector, seen: VersionVector, snapshot: Digest32?)

    /// Why a `stale` op was issued (its `u8` reason).
    public enum StaleReason: UInt8, Hashable, Sendable {
        /// `01`: an admin marked the device stale (`concord member stale`).
        case admin = 1
        /// `02`: the device was silent for the policy's `staleAfter`.
        case policy = 2
    }

    /// The kind byte of each op.
    public enum Kind: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        /// `01`
        case genesis = 1
        /// `02`
        case invite = 2
        /// `03`
        case join = 3
        /// `04`
        case setRole = 4
        /// `05`
        case remove = 5
        /// `06`
        case revokeInvite = 6
        /// `07`
        case rotate = 7
        /// `08`
        case grant = 8
        /// `09`
        case successor = 9
        /// `0A` (`Specs/snapshots.md` §2)
        case ack = 10
        /// `0B` (`Specs/snapshots.md` §2)
        case stale = 11
        /// `0C` (`Specs/snapshots.md` §2)
        case checkpoint = 12
        /// `0D` (`Specs/permissions.md` §3.2)
        case setPolicy = 13
        /// `0E` (`Specs/permissions.md` §3.2)
        case scopeKey = 14

        /// The kind's name in `Specs/membership.md` (`set-role`, `revoke-invite`, ...).
        public var description: String {
            switch self {
            case .genesis: "genesis"
            case .invite: "invite"
            case .join: "join"
            case .setRole: "set-role"
            case .remove: "remove"
            case .revokeInvite: "revoke-invite"
            case .rotate: "rotate"
            case .grant: "grant"
            case .successor: "successor"
            case .ack: "ack"
            case .stale: "stale"
            case .checkpoint: "checkpoint"
            case .setPolicy: "set-policy"
            case .scopeKey: "scope-key"
            }
        }
    }

    /// This op's kind.
    public var kind: Kind {
        switch self {
        case .genesis: .genesis
        case .invite: .invite
        case .join: .join
        case .setRole: .setRole
        case .remove: .remove
        case .revokeInvite: .revokeInvite
        case .rotate: .rotate
        case .grant: .grant
        case .successor: .successor
        case .ack: .ack
        case .stale: .stale
        case .checkpoint: .checkpoint
        case .setPolicy: .setPolicy
        case .scopeKey: .scopeKey
        }
    }

    /// Whether only an admin may author this op (every kind but genesis, join, successor
    /// and ack).
    public var needsAdmin: Bool {
        switch kind {
        case .genesis, .join, .successor, .ack: false
        default: true
        }
    }

    /// Whether this op is only valid as its author's bundle 1 (genesis, join, successor).
    public var isAdmission: Bool {
        switch kind {
        case .genesis, .join, .successor: true
        default: false
        }
    }

    /// The epoch this op starts (genesis, remove, rotate), if any.
    public var epoch: EpochField? {
        switch self {
        case .genesis(_, _, _, let epoch), .remove(_, _, _, let epoch): epoch
        case .rotate(let epoch): epoch
        default: nil
        }
    }
}

/// A membership op with where it came from: the input of the evaluation
/// (`Specs/membership.md` §5).
///
/// ```swift
/// let record = MembershipOpRecord(op: op, author: device.publicKey, position: 2,
///                                 stamp: HLCTimestamp(milliseconds: now, counter: 0).rawValue, bundleID: bundle.id)
/// let state = MembershipState.evaluate(ops: [genesis, record], spaceID: space, encrypted: true)
/// ```
public struct MembershipOpRecord: Hashable, Sendable, CustomStringConvertible {
    /// The op.
    public let op: MembershipOp
    /// The device key that signed the control bundle.
    public let author: PublicKey
    /// The control bundle's sequence in its author's chain (`k`, ≥ 1).
    public let position: UInt64
    /// The control bundle's clock reading (`t`, `hlc min = hlc max`), an HLC raw value.
    public let stamp: UInt64
    /// The control bundle's id.
    public let bundleID: BundleID

    /// A record.
    /// - Parameters:
    ///   - op: The decoded op.
    ///   - author: The control bundle's author.
    ///   - position: The control bundle's sequence number.
    ///   - stamp: The control bundle's HLC reading (raw value).
    ///   - bundleID: The control bundle's id.
    public init(op: MembershipOp, author: PublicKey, position: UInt64, stamp: UInt64, bundleID: BundleID) {
        self.op = op
        self.author = author
        self.position = position
        self.stamp = stamp
        self.bundleID = bundleID
    }

    /// Where the op came from, without the op.
    public var reference: MembershipOpReference {
        MembershipOpReference(author: author, position: position, stamp: stamp, bundleID: bundleID)
    }

    /// `<kind> by <author prefix> at <k>, t <stamp>`.
    public var description: String {
        "\(op.kind) by \(author.hex.prefix(8)) at \(position), t \(HLCTimestamp(rawValue: stamp))"
    }
}

/// Which op did something: its author, chain position, stamp and bundle id.
///
/// ```swift
/// if let cut = state.member(lost)?.cut {
///     print("removed by \(cut.by.author) at \(HLCTimestamp(rawValue: cut.by.stamp))")
/// }
/// ```
public struct MembershipOpReference: Hashable, Sendable {
    /// The op's author.
    public let author: PublicKey
    /// The op's position in its author's chain.
    public let position: UInt64
    /// The op's stamp (HLC raw value).
    public let stamp: UInt64
    /// The op's control bundle.
    public let bundleID: BundleID

    /// A reference.
    /// - Parameters:
    ///   - author: The op's author.
    ///   - position: Its chain position.
    ///   - stamp: Its HLC raw stamp.
    ///   - bundleID: Its bundle's id.
    public init(author: PublicKey, position: UInt64, stamp: UInt64, bundleID: BundleID) {
        self.author = author
        self.position = position
        self.stamp = stamp
        self.bundleID = bundleID
    }
}
