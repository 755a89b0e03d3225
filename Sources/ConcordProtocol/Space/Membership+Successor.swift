import ConcordCore
import ConcordCrypto

extension Membership {
    /// The membership of a **new device identity** that continues this one: the same
    /// space and role, a certificate for `device` issued at `issuedAt`.
    ///
    /// A recovery (`Replica.recover()`, `concord recover`) uses it when this device cannot
    /// go on under its own key: its chain forked (a copied or restored store wrote too) or
    /// it wrote with a clock far ahead (`Specs/sync-protocol.md` §5, `Specs/hlc.md` §9).
    ///
    /// Today the new key is certified the way any writer can certify a key, with the space
    /// seed it holds. The membership redesign replaces this function with a signed
    /// `successor` operation (old device retired at a cut-off, the new one inheriting role
    /// and name); callers go through this one function so that the change stays local.
    ///
    /// ```swift
    /// let next = try membership.successor(device: Identity(), issuedAt: now)
    /// assert(next.role == membership.role && next.device.publicKey != membership.device.publicKey)
    /// ```
    /// - Parameters:
    ///   - device: The new device key; a fresh one by default. Never another device's key.
    ///   - issuedAt: The new certificate's issue time, in ms since the Unix epoch.
    /// - Returns: A writer membership for `device`, holding the space.
    /// - Throws: ``ConcordError`` `.notAWriter` when this device does not hold the space
    ///   seed (a reader: it has no writes to continue; it joins again with a new invite).
    public func successor(device: Identity = Identity(), issuedAt: UInt64) throws -> Membership {
        let space = try requireSpaceForCertifying("continue under a new device identity")
        return Membership(writer: device, of: space, issuedAt: issuedAt)
    }

    /// This device's membership with its certificate issued again at `issuedAt`.
    ///
    /// A device that joined while its clock was ahead holds a certificate "issued in the
    /// future", which peers and relays refuse until that time comes (`Specs/hlc.md` §9). A
    /// writer certifies its own key again with the corrected clock; nothing else changes.
    ///
    /// ```swift
    /// if membership.certificates.leaf.issuedAt > now + maxDrift {
    ///     membership = try membership.renewed(issuedAt: now)
    /// }
    /// ```
    /// - Parameters:
    ///   - issuedAt: The new issue time, in ms since the Unix epoch.
    /// - Returns: The same device, space and role with a fresh certificate.
    /// - Throws: ``ConcordError`` `.notAWriter` when this device does not hold the space seed.
    public func renewed(issuedAt: UInt64) throws -> Membership {
        try successor(device: device, issuedAt: issuedAt)
    }

    /// Format 3: a new device identity that continues this one (`Specs/membership.md` §5,
    /// op `successor`): its first bundle, a control bundle whose `successor` op this device's
    /// key signs, and its membership. The new device inherits this one's role and name; this
    /// device's chain is retired after `cutoff` everywhere the op arrives (its later bundles
    /// are refused). The new membership can still open what was sealed to this device's key
    /// (the epoch keys of the past).
    ///
    /// ```swift
    /// let (next, first) = try membership.memberSuccessor(cutoff: 12, name: "Amina's tablet", stamp: clock.now())
    /// // import `first` as the new device's bundle 1, then seal its writes as `next`
    /// ```
    /// - Parameters:
    ///   - device: The new device key; a fresh one by default.
    ///   - cutoff: The last bundle of this device's chain that stays (at least 1: its genesis
    ///     or join).
    ///   - name: The new device's name, 1 to 64 bytes.
    ///   - stamp: The op's clock reading.
    /// - Returns: The new membership and its first bundle.
    /// - Throws: ``ConcordError`` `.malformedBundle` for a bad name, `.unsupportedVersion`
    ///   in a format-2 space (use ``successor(device:issuedAt:)``).
    public func memberSuccessor(
        device: Identity = Identity(), cutoff: UInt64, name: String, stamp: HLCTimestamp
    ) throws -> (membership: Membership, first: ChangeBundle) {
        guard isMemberFormat else {
            throw ConcordError(.unsupportedVersion, "a successor op exists only in spaces with members (bundle format 3)")
        }
        let op = MembershipStatement.successor(
            predecessor: self.device, spaceID: spaceID, author: device.publicKey, cutoff: cutoff, name: name)
        _ = try MembershipOp(payload: op.encoded(), encrypted: isEncrypted)  // checks the name
        let next = Membership(
            memberOf: spaceID, device: device, isEncrypted: isEncrypted, inviteKeys: inviteKeys + [self.device],
            handedEpochKeys: handedEpochKeys, peerSecret: peerSecret)
        let first = try ChangeBundle.sealControl(op, author: device, spaceID: spaceID, previous: nil, stamp: stamp)
        return (next, first)
    }

    /// The latest issue time in this device's certificate chain.
    public var latestIssueTime: UInt64 { certificates?.certificates.map(\.issuedAt).max() ?? 0 }

    private func requireSpaceForCertifying(_ what: String) throws -> Space {
        guard !isMemberFormat else {
            throw ConcordError(
                .unsupportedVersion,
                "this space has members and roles: a device continues under a new identity with a signed successor op "
                    + "(memberSuccessor(device:cutoff:name:stamp:), Specs/membership.md §3)")
        }
        guard let space, role == .writer else {
            throw ConcordError(
                .notAWriter,
                "this device is a \(role) of space \(spaceID.shortDescription) and holds no space key, so it cannot \(what); a reader has no writes to lose: join the space again with a new read-only invite"
            )
        }
        return space
    }
}
