import ConcordCore
import ConcordCrypto

/// What a device holds as a member of a space: its own key, its certificate chain, the
/// content key, and, for writers, the space itself (to invite others).
///
/// Create a space with ``createSpace(device:encrypted:issuedAt:)``, invite others with
/// ``writerInvite()`` or ``readerInvite(issuedAt:)``, join with
/// ``join(_:device:issuedAt:)``. Every device has its own ``device`` key: the replica
/// id of its writes and the author of its bundles.
///
/// ```swift
/// let alice = Membership.createSpace(device: Identity())
/// let bob = try Membership.join(try alice.writerInvite(), device: Identity())
/// let carol = try Membership.join(try alice.readerInvite(), device: Identity())
/// assert(bob.role == .writer && carol.role == .reader)
/// ```
public struct Membership: Sendable {
    /// This device's key pair. Its public key is the replica id and the bundle author.
    public let device: Identity
    /// The space.
    public let spaceID: SpaceID
    /// Whether the space encrypts bundle payloads.
    public let isEncrypted: Bool
    /// The bundle format of the space: 2 (certificate chains) or 3 (membership by control
    /// bundles, `Specs/membership.md`; see ``createMemberSpace(device:name:encrypted:stamp:)``).
    public let format: UInt8
    /// The proof of membership that every format-2 bundle of this device carries; `nil` in
    /// format 3, where roles come from the membership state.
    public let certificates: CertificateChain?
    /// The payload key of format 2; `nil` in an unencrypted space and in format 3 (epoch keys).
    package let contentKey: SymmetricKey?
    /// The space key pair; held by format-2 writers only.
    package let space: Space?
    /// Format 3: invite keys this device joined with (epoch keys sealed to a pending invite
    /// open with them) and epoch keys it was handed directly (an invite token's).
    package var inviteKeys: [Identity] = []
    package var handedEpochKeys: [EpochKey] = []
    /// Format 3, encrypted spaces: the peer secret (`Specs/peer-protocol.md` §2.1), from
    /// which the LAN discovery and peer handshake keys follow. `nil` when this device holds
    /// neither it nor the space's first epoch key.
    package var peerSecret: SymmetricKey?

    /// What this device may do under format 2. In format 3 the membership state decides
    /// (``MembershipState/standing(of:at:)``); this is then `.writer`, and sealing checks
    /// the state.
    public var role: Role { certificates?.role ?? .writer }

    /// Whether the space uses the membership of `Specs/membership.md` (format 3).
    public var isMemberFormat: Bool { format == ChangeBundle.memberFormatVersion }

    /// The replica id of this device: its public key.
    public var replicaID: ReplicaID { ReplicaID(bytes: device.publicKey.bytes)! }

    /// Whether this device holds the space seed and can issue invites (format 2).
    public var canInvite: Bool { space != nil }

    /// A format-3 membership: no certificates, no content key, no space seed.
    package init(
        memberOf spaceID: SpaceID, device: Identity, isEncrypted: Bool, inviteKeys: [Identity] = [], handedEpochKeys: [EpochKey] = [],
        peerSecret: SymmetricKey? = nil
    ) {
        self.format = ChangeBundle.memberFormatVersion
        self.device = device
        self.spaceID = spaceID
        self.isEncrypted = isEncrypted
        self.certificates = nil
        self.contentKey = nil
        self.space = nil
        self.inviteKeys = inviteKeys
        self.handedEpochKeys = handedEpochKeys
        self.peerSecret = peerSecret
    }

    package init(device: Identity, spaceID: SpaceID, isEncrypted: Bool, certificates: CertificateChain, contentKey: SymmetricKey?, space: Space?) {
        self.format = ChangeBundle.formatVersion
        self.device = device
        self.spaceID = spaceID
        self.isEncrypted = isEncrypted
        self.certificates = certificates
        self.contentKey = contentKey
        self.space = space
    }

    /// A writer membership in `space` for `device`, certified by the space key.
    init(writer device: Identity, of space: Space, issuedAt: UInt64) {
        let certificate = space.certify(device.publicKey, as: .writer, issuedAt: issuedAt)
        self.init(
            device: device, spaceID: space.id, isEncrypted: space.isEncrypted,
            certificates: CertificateChain([certificate]), contentKey: space.contentKey, space: space)
    }

    /// Creates a new space with a random seed and makes `device` its first writer.
    ///
    /// ```swift
    /// let alice = Membership.createSpace(device: try Identity(keyFile: path))
    /// print(alice.spaceID)
    /// ```
    /// - Parameters:
    ///   - device: This device's key; a fresh one by default.
    ///   - encrypted: Whether bundle payloads are encrypted (the default).
    ///   - issuedAt: The certificate's issue time in ms since the Unix epoch; now by default.
    /// - Returns: A writer membership that holds the space seed.
    public static func createSpace(device: Identity = Identity(), encrypted: Bool = true, issuedAt: UInt64 = SystemClock().nowMilliseconds()) -> Membership {
        Membership(writer: device, of: Space(encrypted: encrypted), issuedAt: issuedAt)
    }

    /// A fresh replica for this device: its id is the device key.
    /// - Parameters:
    ///   - clock: The replica's clock; the system clock with a 5-minute drift bound by default.
    /// - Returns: An empty `LocalReplica` whose writes this membership can seal.
    public func makeReplica(clock: HybridLogicalClock = HybridLogicalClock()) -> LocalReplica {
        LocalReplica(id: replicaID, clock: clock)
    }
}
