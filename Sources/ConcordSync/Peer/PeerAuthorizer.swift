import Concord
import ConcordCrypto

/// Decides whether a device that completed a peer handshake may sync with this one
/// (`Specs/peer-protocol.md` §3.4). It sees the device key the peer proved it holds (its
/// handshake signature verified) and the membership proof it presented.
///
/// This is the one place the peer transport asks "is this a member?": today
/// ``CertificatePeerAuthorizer`` checks the certificate chain exactly as
/// `BundleVerifier` does; when membership becomes replicated state (removals with
/// cut-offs), an authorizer that asks "is this device a current member?" replaces it,
/// and a removed member is refused here.
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
            throw ConcordSyncError(.peerRefused, "peer \(device.hex.prefix(8)) is not a member of space \(spaceID.shortDescription): \(error.message)")
        }
        guard chain.subject == device else {
            throw ConcordSyncError(.peerRefused, "peer \(device.hex.prefix(8)) presented the membership of another device (\(chain.subject.hex.prefix(8))); refused")
        }
        return chain.role
    }
}
