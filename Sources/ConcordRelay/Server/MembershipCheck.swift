import ConcordCore
import ConcordCrypto
import ConcordProtocol

/// The one place where the relay decides who belongs to a space: whether a device may
/// open a session (and as writer or reader), and whether a pushed bundle's author may
/// write. Everything else asks this.
///
/// Today both answers come from the certificate chain a device presents
/// (`CertificateChain`, `BundleVerifier`). The membership redesign (removal, roles from
/// signed control bundles) replaces the body of this type and nothing around it.
struct MembershipCheck: Sendable {
    /// The space.
    let spaceID: SpaceID
    /// The largest bundle accepted.
    let maxBundleBytes: Int

    /// A device that may open a session.
    struct Member: Sendable {
        /// Its key: the auth signature must verify under it.
        let device: PublicKey
        /// Whether it may push.
        let isWriter: Bool
    }

    /// The member a certificate chain certifies, checked against the space and the clock.
    /// - Parameters:
    ///   - chainBytes: The `CertificateChain` bytes of the session request.
    /// - Throws: ``RelayError`` `.notAMember` with the reason.
    func member(presenting chainBytes: [UInt8]) throws(RelayError) -> Member {
        do {
            let chain = try CertificateChain(bytes: chainBytes)
            try chain.verify(spaceID: spaceID, now: SystemClock().nowMilliseconds(), maxDrift: HybridLogicalClock.defaultMaxDrift)
            return Member(device: chain.subject, isWriter: chain.role == .writer)
        } catch {
            throw RelayError(
                .notAMember,
                "the certificate chain does not make this device a member of space \(spaceID.shortDescription): \(Self.reason(error))")
        }
    }

    /// The member `device` is in a space with members (format 3, `Specs/membership.md`
    /// §8): active members may open sessions (writers and admins push); a removed device
    /// is refused with who removed it and when; a device whose join waits for its invite
    /// op is told to retry after the inviting admin syncs.
    /// - Parameters:
    ///   - device: The device key of the session request.
    ///   - state: The space's membership as the relay evaluates it.
    ///   - next: The position of the device's next bundle (its stored head + 1).
    /// - Throws: ``RelayError`` `.removed`, `.inviteUnknown` or `.notAMember`.
    func member(_ device: PublicKey, in state: MembershipState, next: UInt64) throws(RelayError) -> Member {
        guard let member = state.member(device) else {
            if state.pendingDevices.contains(device) {
                throw RelayError(
                    .inviteUnknown,
                    "this device's join names an invite this relay does not hold yet; sync again after the admin who invited it has synced")
            }
            throw RelayError(
                .notAMember,
                "device \(device.hex.prefix(8)) is not a member of space \(spaceID.shortDescription) "
                    + "(no join of it is here, or its invite expired or was revoked); ask an admin for a new invite")
        }
        if let removal = state.removalDescription(of: device) {
            throw RelayError(.removed, "this device was \(removal); ask an admin for a new invite if that was a mistake")
        }
        if member.retired != nil {
            // A copy of this device's store recovered: this device may still pull (and so
            // learn that, then recover without losing its writes), never push.
            return Member(device: device, isWriter: false)
        }
        switch state.standing(of: device, at: next) {
        case .member(let role): return Member(device: device, isWriter: role.canWrite)
        default: return Member(device: device, isWriter: false)
        }
    }

    /// Verifies the bundles of a push, one by one as they arrive: signature, certificate
    /// chain, writer role, size and clock (`BundleVerifier`). Chains already verified in
    /// the same push are trusted.
    struct PushVerifier: Sendable {
        fileprivate var verifier: BundleVerifier
        fileprivate var trusted: Set<Digest32> = []
        /// Bundles verified so far.
        private(set) var count = 0

        /// The bundle in `frame`, verified.
        /// - Throws: ``RelayError`` `.invalidBundle` naming the bundle's index and the reason.
        mutating func verify(_ frame: [UInt8]) throws(RelayError) -> ChangeBundle {
            defer { count += 1 }
            do {
                let bundle = try verifier.verify(frame, trustedChains: trusted)
                if let chain = bundle.certificates { trusted.insert(chain.digest) }
                return bundle
            } catch {
                throw RelayError(
                    .invalidBundle, "bundle \(count) of the push is invalid (\(MembershipCheck.reason(error))); nothing was stored")
            }
        }
    }

    /// A verifier for the bundles of one push into a space of bundle format `format`.
    func pushVerifier(format: UInt8 = ChangeBundle.formatVersion) -> PushVerifier {
        var verifier = BundleVerifier(spaceID: spaceID, format: format)
        verifier.limits = BundleLimits(maxBundleBytes: maxBundleBytes)
        return PushVerifier(verifier: verifier)
    }

    /// The message of a ConcordError, or a description of another error.
    static func reason(_ error: any Error) -> String {
        if let error = error as? ConcordError { return "\(error.code): \(error.message)" }
        return "\(error)"
    }
}
