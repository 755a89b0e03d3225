import ConcordCore
import ConcordCrypto

extension ChangeBundle {
    /// Seals operations this device made into the next format-3 data bundle of its chain
    /// (`Specs/wire-format.md` §7.11): the same coalescing, causal context and operation batch
    /// as format 2, no certificate chain, and, in an encrypted space, the payload encrypted
    /// under `epoch` with its key id in the header.
    ///
    /// Whether the author may write is decided by every receiver from the membership state
    /// (``MembershipState/admission(author:sequence:isControl:)``), not by the bundle.
    ///
    /// ```swift
    /// let bundle = try ChangeBundle.sealMember([op], author: device, spaceID: space,
    ///                                          previous: myLatest, context: log.versionVector,
    ///                                          epoch: state.currentEpoch.flatMap { keys[$0.keyID] })
    /// ```
    /// - Parameters:
    ///   - ops: Operations stamped by `author` (`stamp.replica` is its key), in any order.
    ///   - author: The device that signs.
    ///   - spaceID: The space.
    ///   - previous: The author's previous bundle (data or control); `nil` for its first.
    ///   - context: The author's version vector at sealing time; its own entry is dropped.
    ///   - epoch: The epoch key to encrypt under; `nil` in an unencrypted space.
    ///   - limits: The sealed bundle must fit ``BundleLimits/maxBundleBytes``.
    /// - Returns: The signed bundle, sequence `previous.sequence + 1` (or 1).
    /// - Throws: ``ConcordError`` `.emptyBundle`, `.authorMismatch`, `.chainMismatch` or
    ///   `.bundleTooLarge`, as ``Membership/seal(_:previous:context:limits:)``.
    public static func sealMember(
        _ ops: [RecordOperation], author: Identity, spaceID: SpaceID, previous: ChangeBundle?,
        context: VersionVector = VersionVector(), epoch: EpochKey?, limits: BundleLimits = .default
    ) throws -> ChangeBundle {
        try sealMember(
            ops, author: author, spaceID: spaceID, previous: previous, context: context, epoch: epoch, limits: limits,
            nonce: XChaCha20Poly1305.Nonce())
    }

    /// ``sealMember(_:author:spaceID:previous:context:epoch:limits:)`` with a chosen nonce,
    /// for reproducible test vectors only.
    package static func sealMember(
        _ ops: [RecordOperation], author: Identity, spaceID: SpaceID, previous: ChangeBundle?,
        context: VersionVector = VersionVector(), epoch: EpochKey?, limits: BundleLimits = .default, nonce: XChaCha20Poly1305.Nonce
    ) throws -> ChangeBundle {
        guard !ops.isEmpty else {
            throw ConcordError(.emptyBundle, "there are no operations to seal; seal after making changes")
        }
        let me = ReplicaID(bytes: author.publicKey.bytes)!
        if let stranger = ops.first(where: { $0.stamp.replica != me }) {
            throw ConcordError(
                .authorMismatch,
                "operation \(stranger) was made by replica \(stranger.stamp.replica.shortDescription), not by this device (\(me.shortDescription)); a device seals only its own writes"
            )
        }
        let (sequence, link) = try nextLink(after: previous, author: author.publicKey, spaceID: spaceID)
        return try sealData(ops, context: context, limits: limits, nonce: nonce, author: author, key: epoch?.key) { range in
            encodeMemberHeader(
                isControl: false, keyID: epoch?.id, spaceID: spaceID, author: author.publicKey, sequence: sequence,
                previous: link, hlcRange: range)
        }
    }

    /// Seals one membership op as the next control bundle of the author's chain
    /// (`Specs/membership.md` §3): never encrypted, `hlc min = hlc max = stamp`.
    ///
    /// ```swift
    /// let removal = MembershipOp.remove(target: lost, cutoff: 12, keep: [], epoch: nil)
    /// let bundle = try ChangeBundle.sealControl(removal, author: admin, spaceID: space,
    ///                                           previous: myLatest, stamp: clock.now())
    /// ```
    /// - Parameters:
    ///   - op: The op.
    ///   - author: The device that signs.
    ///   - spaceID: The space.
    ///   - previous: The author's previous bundle; `nil` for its first.
    ///   - stamp: The op's clock reading.
    /// - Returns: The signed control bundle.
    /// - Throws: ``ConcordError`` `.chainMismatch` when `previous` is not the author's.
    public static func sealControl(
        _ op: MembershipOp, author: Identity, spaceID: SpaceID, previous: ChangeBundle?, stamp: HLCTimestamp
    ) throws -> ChangeBundle {
        let (sequence, link) = try nextLink(after: previous, author: author.publicKey, spaceID: spaceID)
        let header = encodeMemberHeader(
            isControl: true, keyID: nil, spaceID: spaceID, author: author.publicKey, sequence: sequence, previous: link,
            hlcRange: stamp...stamp)
        return try assemble(header: header, payload: op.encoded(), signer: author)
    }

    /// The membership op a control bundle carries, decoded strictly
    /// (``MembershipOp/init(payload:encrypted:)``).
    /// - Parameters:
    ///   - encrypted: Whether the space encrypts payloads (its genesis says so); the
    ///     `epoch` fields are present exactly then.
    /// - Throws: ``ConcordError`` `.malformedBundle` for a data bundle or a payload that is
    ///   not one well-formed op.
    public func controlOp(encrypted: Bool) throws -> MembershipOp {
        guard isControl else {
            throw ConcordError(.malformedBundle, "\(self) is a data bundle, not a control bundle; it carries no membership op")
        }
        do {
            return try MembershipOp(payload: Array(payload), encrypted: encrypted)
        } catch {
            throw ConcordError(error.code, "the membership op of \(self): \(error.message)")
        }
    }

    /// The evaluation input of a control bundle: its op with author, position, stamp and id.
    /// - Parameters:
    ///   - encrypted: Whether the space encrypts payloads.
    /// - Throws: The errors of ``controlOp(encrypted:)``.
    public func membershipRecord(encrypted: Bool) throws -> MembershipOpRecord {
        MembershipOpRecord(
            op: try controlOp(encrypted: encrypted), author: author, position: sequence, stamp: hlcRange.lowerBound.rawValue, bundleID: id)
    }
}
