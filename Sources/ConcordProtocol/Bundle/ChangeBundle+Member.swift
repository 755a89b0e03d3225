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

    /// Operations of scoped collections to seal in one scope section
    /// (`Specs/permissions.md` §7.3) under a scope key: the current key of their scope.
    ///
    /// ```swift
    /// let notes = ChangeBundle.ScopedOperations(key: teacherScopeKey, operations: [noteOp])
    /// ```
    public struct ScopedOperations: Sendable {
        /// The scope key the section is sealed under (its id goes in front of the blob).
        public let key: EpochKey
        /// The operations, stamped by the author, in any order.
        public let operations: [RecordOperation]

        /// Pairs operations with the scope key to seal them under.
        /// - Parameters:
        ///   - key: The scope's current key.
        ///   - operations: The operations of the scope's collections.
        public init(key: EpochKey, operations: [RecordOperation]) {
            self.key = key
            self.operations = operations
        }
    }

    /// Seals a sectioned data bundle (flag bit 2, `Specs/permissions.md` §7.3): the
    /// operations of unscoped collections and the causal context in the general section
    /// under `epoch`, and each group of `scoped` in a section of its own under its scope key,
    /// with `header ‖ key id` as associated data. The header's clock range spans every op.
    /// Without scoped operations this is ``sealMember(_:author:spaceID:previous:context:epoch:limits:)``
    /// (no flag bit 2, byte-identical to a bundle of a space without scopes).
    ///
    /// ```swift
    /// let bundle = try ChangeBundle.sealMember(
    ///     [resultOp], scoped: [.init(key: notesKey, operations: [noteOp])], author: device,
    ///     spaceID: space, previous: myLatest, context: log.versionVector, epoch: epochKey)
    /// ```
    /// - Parameters:
    ///   - ops: The general section's operations (may be empty when `scoped` is not).
    ///   - scoped: Scoped operations by scope key; groups under the same key are merged,
    ///     empty groups dropped; at most ``maxSections`` keys.
    ///   - author: The device that signs.
    ///   - spaceID: The space.
    ///   - previous: The author's previous bundle; `nil` for its first.
    ///   - context: The author's version vector at sealing time; its own entry is dropped.
    ///   - epoch: The epoch key of the general section (sections need an encrypted space).
    ///   - limits: The sealed bundle must fit ``BundleLimits/maxBundleBytes``.
    /// - Returns: The signed bundle.
    /// - Throws: The errors of ``sealMember(_:author:spaceID:previous:context:epoch:limits:)``;
    ///   `.notAllowed` for scoped operations without an epoch key or under more than 16 keys.
    public static func sealMember(
        _ ops: [RecordOperation], scoped: [ScopedOperations], author: Identity, spaceID: SpaceID, previous: ChangeBundle?,
        context: VersionVector = VersionVector(), epoch: EpochKey?, limits: BundleLimits = .default
    ) throws -> ChangeBundle {
        let groups = scoped.filter { !$0.operations.isEmpty }.count
        let nonces = (0...groups).map { _ in XChaCha20Poly1305.Nonce() }
        return try sealMember(
            ops, scoped: scoped, author: author, spaceID: spaceID, previous: previous, context: context, epoch: epoch, limits: limits,
            nonces: nonces)
    }

    /// ``sealMember(_:scoped:author:spaceID:previous:context:epoch:limits:)`` with chosen
    /// nonces (the general section's, then one per section in key id order), for
    /// reproducible test vectors only.
    package static func sealMember(
        _ ops: [RecordOperation], scoped: [ScopedOperations], author: Identity, spaceID: SpaceID, previous: ChangeBundle?,
        context: VersionVector = VersionVector(), epoch: EpochKey?, limits: BundleLimits = .default, nonces: [XChaCha20Poly1305.Nonce]
    ) throws -> ChangeBundle {
        var byKey: [EpochKeyID: (key: EpochKey, ops: [RecordOperation])] = [:]
        for group in scoped where !group.operations.isEmpty {
            byKey[group.key.id, default: (group.key, [])].ops += group.operations
        }
        guard !byKey.isEmpty else {
            return try sealMember(
                ops, author: author, spaceID: spaceID, previous: previous, context: context, epoch: epoch, limits: limits,
                nonce: nonces.first ?? XChaCha20Poly1305.Nonce())
        }
        guard let epoch else {
            throw ConcordError(.notAllowed, "scoped collections need an encrypted space: their ops are sealed for their readers only")
        }
        guard byKey.count <= maxSections else {
            throw ConcordError(
                .notAllowed,
                "one bundle carries at most \(maxSections) scope sections, these operations need \(byKey.count); write fewer scopes at a time"
            )
        }
        let all = ops + byKey.values.flatMap(\.ops)
        let me = ReplicaID(bytes: author.publicKey.bytes)!
        if let stranger = all.first(where: { $0.stamp.replica != me }) {
            throw ConcordError(
                .authorMismatch,
                "operation \(stranger) was made by replica \(stranger.stamp.replica.shortDescription), not by this device (\(me.shortDescription)); a device seals only its own writes"
            )
        }
        let (sequence, link) = try nextLink(after: previous, author: author.publicKey, spaceID: spaceID)
        let others = context.removingEntry(of: author.publicKey)
        guard others.entries.count <= VersionVector.maxContextAuthors else {
            throw ConcordError(
                .bundleTooLarge,
                "the causal context names \(others.entries.count) other authors, more than the \(VersionVector.maxContextAuthors) a bundle can carry"
            )
        }
        let general = OperationCoalescer.coalesce(ops)
        let sections = byKey.keys.sorted().map { id in (byKey[id]!.key, OperationCoalescer.coalesce(byKey[id]!.ops)) }
        let stamps = (general + sections.flatMap(\.1)).map(\.stamp.hlc)
        let header = encodeMemberHeader(
            isControl: false, keyID: epoch.id, spaceID: spaceID, author: author.publicKey, sequence: sequence, previous: link,
            hlcRange: stamps.min()!...stamps.max()!, sectioned: true)
        func nonce(_ index: Int) -> XChaCha20Poly1305.Nonce { index < nonces.count ? nonces[index] : XChaCha20Poly1305.Nonce() }
        var plaintext = ByteWriter()
        others.encodeContext(into: &plaintext)
        plaintext.write(contentsOf: OperationCodec.encode(general))
        var payload = ByteWriter()
        payload.writeLengthPrefixed(
            XChaCha20Poly1305.seal(plaintext.bytes, using: epoch.key, nonce: nonce(0), authenticating: header).combined)
        payload.writeVarint(UInt64(sections.count))
        for (index, (key, sectionOps)) in sections.enumerated() {
            payload.write(contentsOf: key.id.bytes)
            let box = XChaCha20Poly1305.seal(
                OperationCodec.encode(sectionOps), using: key.key, nonce: nonce(index + 1), authenticating: header + key.id.bytes)
            payload.writeLengthPrefixed(box.combined)
        }
        let bundle = try assemble(header: header, payload: payload.bytes, signer: author)
        guard bundle.bytes.count <= limits.maxBundleBytes else {
            throw ConcordError(
                .bundleTooLarge,
                "the sealed bundle would be \(bundle.bytes.count) bytes, more than the limit of \(limits.maxBundleBytes); seal fewer operations at a time"
            )
        }
        return bundle
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
