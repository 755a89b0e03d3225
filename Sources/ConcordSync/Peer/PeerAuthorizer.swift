import Concord
import ConcordCrypto
import Synchronization

/// Decides whether a device that completed a peer handshake may sync with this one
/// (`Specs/peer-protocol.md` §3.4). It sees the device key the peer proved it holds (its
/// handshake signature verified) and the membership proof it presented.
///
/// This is the one place the peer transport asks "is this a member?": in a space with
/// members (format 3) ``MemberPeerAuthorizer`` asks the replica's membership state, so a
/// removed member is refused here; in a format-2 space ``CertificatePeerAuthorizer``
/// checks the certificate chain exactly as `BundleVerifier` does.
///
/// ```swift
/// struct OnlyKnownDevices: PeerAuthorizer {
///     let known: Set<PublicKey>
///     func authorize(device: PublicKey, proof: [UInt8]) throws -> Role {
///         guard known.contains(device) else { throw ConcordSyncError(.peerRefused, "unknown device") }
///         return .writer
///     }
/// }
/// ```
public protocol PeerAuthorizer: Sendable {
    /// Called before each handshake: an authorizer that decides from state kept elsewhere
    /// (an actor's) reads it here. Does nothing by default.
    func prepare() async throws

    /// Called, after ``prepare()``, for a connected peer whenever this device's log grew:
    /// throws if the peer may no longer sync (a removal arrived), and the connection is
    /// closed. Does nothing by default.
    /// - Parameters:
    ///   - device: The connected peer.
    func recheck(device: PublicKey) throws

    /// Accepts or refuses a peer.
    /// - Parameters:
    ///   - device: The peer's device public key (its handshake signature verified).
    ///   - proof: The membership proof it presented (today a certificate chain, §7.3).
    /// - Returns: The peer's role in the space.
    /// - Throws: ``ConcordSyncError`` `.peerRefused` with the reason.
    func authorize(device: PublicKey, proof: [UInt8]) throws -> Role
}

/// The authorizer of today's membership: the proof is a certificate chain
/// (`Specs/wire-format.md` §7.3) that verifies for the space (signatures rooted at the
/// space id, chain rules, issue times within the clock drift), exactly as
/// `BundleVerifier` checks a bundle's, and whose subject is the device.
///
/// ```swift
/// let authorizer = CertificatePeerAuthorizer(spaceID: replica.spaceID)
/// let role = try authorizer.authorize(device: key, proof: chainBytes)
/// ```
public struct CertificatePeerAuthorizer: PeerAuthorizer {
    /// The space peers must belong to.
    public let spaceID: SpaceID
    /// Allowed lead of a certificate's issue time over the local clock, in ms.
    public var maxDrift: UInt64
    /// The local time source.
    public var physicalClock: any PhysicalClock

    /// Creates the authorizer.
    /// - Parameters:
    ///   - spaceID: The space peers must belong to.
    ///   - maxDrift: Allowed clock lead of issue times, in ms; 5 minutes by default.
    ///   - physicalClock: The local time source; the system clock by default.
    public init(spaceID: SpaceID, maxDrift: UInt64 = HybridLogicalClock.defaultMaxDrift, physicalClock: any PhysicalClock = SystemClock()) {
        self.spaceID = spaceID
        self.maxDrift = maxDrift
        self.physicalClock = physicalClock
    }

    /// Accepts a device whose chain verifies for the space and names it as subject.
    /// - Parameters:
    ///   - device: The peer's device key.
    ///   - proof: The bytes of its certificate chain.
    /// - Returns: The chain's role.
    /// - Throws: ``ConcordSyncError`` `.peerRefused`.
    public func authorize(device: PublicKey, proof: [UInt8]) throws -> Role {
        let chain: CertificateChain
        do {
            chain = try CertificateChain(bytes: proof)
            try chain.verify(spaceID: spaceID, now: physicalClock.nowMilliseconds(), maxDrift: maxDrift)
        } catch let error as ConcordError {
            throw ConcordSyncError(
                .peerRefused, "peer \(device.hex.prefix(8)) is not a member of space \(spaceID.shortDescription): \(error.message)")
        }
        guard chain.subject == device else {
            throw ConcordSyncError(
                .peerRefused,
                "peer \(device.hex.prefix(8)) presented the membership of another device (\(chain.subject.hex.prefix(8))); refused")
        }
        return chain.role
    }
}

extension PeerAuthorizer {
    /// Nothing to prepare.
    public func prepare() async throws {}

    /// Nothing to recheck.
    public func recheck(device: PublicKey) throws {}
}

/// The authorizer of a space with members (format 3, `Specs/peer-protocol.md` §3.4): the
/// proof is the peer's bundle 1 (its `genesis` or `join` control bundle, as relays take it),
/// and the replica's membership state, with that op added, decides. An active member is
/// accepted with its role; a removed one is refused, naming who removed it and when; a
/// device whose join names an invite this device does not hold yet is refused until one
/// of them has synced with the inviting admin. A device not admitted itself yet (it holds
/// its join only) accepts any device of the space that is not removed in its state.
///
/// ```swift
/// let node = try PeerNode(replica: replica)   // uses it for spaces with members
/// ```
public final class MemberPeerAuthorizer: PeerAuthorizer {
    /// The replica whose membership decides.
    public let replica: Replica
    private let snapshot = Mutex<MemberContext?>(nil)

    /// An authorizer for `replica`'s space.
    /// - Parameters:
    ///   - replica: A replica of a space with members.
    public init(replica: Replica) {
        self.replica = replica
    }

    /// Reads the replica's membership (ops and state) for the next handshake.
    public func prepare() async throws {
        let context = try await replica.memberContext()
        snapshot.withLock { $0 = context }
    }

    /// Throws if the membership read by ``prepare()`` removed `device` (or retired it).
    /// - Parameters:
    ///   - device: A connected peer.
    public func recheck(device: PublicKey) throws {
        guard let state = snapshot.withLock({ $0 })?.state, let member = state.member(device) else { return }
        if let removal = state.removalDescription(of: device) {
            throw ConcordSyncError(.peerRefused, "peer \(device.hex.prefix(8)) (\(member.name)) was \(removal); connection closed")
        }
        if member.retired != nil {
            throw ConcordSyncError(
                .peerRefused, "peer \(device.hex.prefix(8)) (\(member.name)) was continued by a successor device; connection closed")
        }
    }

    /// Accepts an active member of the space with its role (admins and writers as
    /// `.writer`); refuses anyone else with the reason.
    /// - Parameters:
    ///   - device: The key the peer proved it holds.
    ///   - proof: Its bundle 1.
    /// - Returns: Its role.
    /// - Throws: ``ConcordSyncError`` `.peerRefused`.
    public func authorize(device: PublicKey, proof: [UInt8]) throws -> Role {
        let who = "peer \(device.hex.prefix(8))"
        guard let context = snapshot.withLock({ $0 }) else {
            throw ConcordSyncError(.peerRefused, "\(who) arrived before this device read its membership; refused, it will retry")
        }
        let spaceID = replica.spaceID
        let encrypted = replica.membership.isEncrypted
        let record: MembershipOpRecord
        do {
            let bundle = try BundleVerifier(
                spaceID: spaceID, limits: BundleLimits(maxBundleBytes: PeerHandshake.maxProofBytes),
                format: ChangeBundle.memberFormatVersion
            )
            .verify(proof)
            guard bundle.author == device, bundle.isControl, bundle.sequence == 1 else {
                throw ConcordSyncError(.peerRefused, "\(who) presented a bundle that is not its own first control bundle; refused")
            }
            record = try bundle.membershipRecord(encrypted: encrypted)
        } catch let error as ConcordError {
            throw ConcordSyncError(
                .peerRefused, "\(who) presented no valid membership of space \(spaceID.shortDescription) (\(error.message)); refused")
        }
        var state = context.state
        if !context.records.contains(where: { $0.bundleID == record.bundleID }) {
            state = MembershipState.evaluate(ops: context.records + [record], spaceID: spaceID, encrypted: encrypted)
        }
        guard let member = state.member(device) else {
            // A device not admitted here yet holds nothing to protect (it reads nothing, it
            // holds no one's bundles but its own join): it takes any device of the space
            // that proves its bundle 1, so that its first peer need not be the admin who
            // invited it. What it receives is still verified bundle by bundle.
            if state.member(replica.membership.device.publicKey) == nil { return .reader }
            if state.pendingDevices.contains(device) {
                throw ConcordSyncError(
                    .peerRefused,
                    "\(who) joined through an invite this device does not know yet; refused until one of the two has synced with the admin who invited it"
                )
            }
            throw ConcordSyncError(
                .peerRefused,
                "\(who) is not a member of space \(spaceID.shortDescription) (its invite expired, was revoked or is unknown); refused")
        }
        if let removal = state.removalDescription(of: device) {
            throw ConcordSyncError(.peerRefused, "\(who) (\(member.name)) was \(removal); refused")
        }
        if member.retired != nil {
            throw ConcordSyncError(
                .peerRefused, "\(who) (\(member.name)) was continued by a successor device (a copy of its store recovered); refused: it runs `concord recover` to continue under a new identity")
        }
        switch state.standing(of: device, at: .max) {
        case .member(let role): return role.canWrite ? .writer : .reader
        default: return .reader
        }
    }
}
