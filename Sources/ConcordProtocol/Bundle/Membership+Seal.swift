import ConcordCore
import ConcordCrypto

extension Membership {
    /// Seals operations this device made into the next bundle of its chain.
    ///
    /// Coalesces the operations (only what can change a replica's state is kept, see
    /// `Specs/wire-format.md`, section 7.6), encodes the causal context and then the
    /// operations with `OperationCodec` (section 7.5), encrypts both under the content key
    /// in an encrypted space (the header is the associated data), and signs the whole
    /// bundle once with the device key.
    ///
    /// ```swift
    /// var replica = membership.makeReplica()
    /// let op = try replica.set("title", to: "Buy milk", record: id, in: "todos")
    /// let first = try membership.seal([op], previous: nil, context: log.versionVector)
    /// let second = try membership.seal(moreOps, previous: first, context: log.versionVector)
    /// ```
    /// ``seal(_:appendingTo:limits:)`` finds `previous` and the context in a ``BundleLog``.
    /// - Parameters:
    ///   - ops: Operations stamped by this device (`stamp.replica == replicaID`), in any order.
    ///   - previous: This device's previous bundle; `nil` for its first.
    ///   - context: This device's version vector at sealing time (what it has seen of every
    ///     author); receivers read it with ``contents(of:)``. This device's own entry is
    ///     dropped. Empty by default.
    ///   - limits: The sealed bundle must fit ``BundleLimits/maxBundleBytes``.
    /// - Returns: The signed bundle, sequence `previous.sequence + 1` (or 1).
    /// - Throws: ``ConcordError`` with code `.notAWriter` (a read-only member),
    ///   `.emptyBundle` (no operations), `.authorMismatch` (an operation stamped by another
    ///   replica), `.chainMismatch` (`previous` is not a bundle of this device in this
    ///   space), `.bundleTooLarge` (the bundle is over the limit, or `context` names more
    ///   than 4,096 other authors).
    public func seal(
        _ ops: [RecordOperation], previous: ChangeBundle?, context: VersionVector = VersionVector(), limits: BundleLimits = .default
    ) throws -> ChangeBundle {
        try seal(ops, previous: previous, context: context, limits: limits, nonce: XChaCha20Poly1305.Nonce())
    }

    /// ``seal(_:previous:context:limits:)`` with a chosen nonce, for reproducible test vectors
    /// only: reusing a nonce under the same content key breaks the encryption.
    package func seal(
        _ ops: [RecordOperation], previous: ChangeBundle?, context: VersionVector = VersionVector(), limits: BundleLimits,
        nonce: XChaCha20Poly1305.Nonce
    ) throws -> ChangeBundle {
        guard let certificates else {
            throw ConcordError(
                .unsupportedVersion,
                "space \(spaceID.shortDescription) uses bundle format 3: seal with ChangeBundle.sealMember "
                    + "(the epoch key comes from the membership state)")
        }
        guard role == .writer else {
            throw ConcordError(.notAWriter, "this device is a \(role) of space \(spaceID.shortDescription) and cannot write; ask a writer for a writer invite")
        }
        guard !ops.isEmpty else {
            throw ConcordError(.emptyBundle, "there are no operations to seal; seal after making changes")
        }
        let me = replicaID
        if let stranger = ops.first(where: { $0.stamp.replica != me }) {
            throw ConcordError(.authorMismatch, "operation \(stranger) was made by replica \(stranger.stamp.replica.shortDescription), not by this device (\(me.shortDescription)); a device seals only its own writes")
        }
        let (sequence, link) = try ChangeBundle.nextLink(after: previous, author: device.publicKey, spaceID: spaceID)
        return try ChangeBundle.sealData(ops, context: context, limits: limits, nonce: nonce, author: device, key: contentKey) { range in
            ChangeBundle.encodeHeader(
                isEncrypted: isEncrypted, spaceID: spaceID, author: device.publicKey, sequence: sequence,
                previous: link, hlcRange: range, certificates: certificates)
        }
    }

    /// Seals operations as the next bundle of this device's chain in `log`, and appends it.
    ///
    /// The bundle's causal context is `log.versionVector`: every author's highest
    /// contiguous sequence this device holds (held bundles do not count), without its own.
    ///
    /// ```swift
    /// let bundle = try membership.seal(ops, appendingTo: &log)
    /// send(bundle.bytes)
    /// ```
    /// - Parameters:
    ///   - ops: Operations stamped by this device.
    ///   - log: The device's bundle log; its head for this device is the previous bundle.
    ///   - limits: The sealed bundle must fit ``BundleLimits/maxBundleBytes``.
    /// - Returns: The bundle, already appended to `log`.
    /// - Throws: The errors of ``seal(_:previous:context:limits:)``; `log` is then unchanged.
    @discardableResult
    public func seal(_ ops: [RecordOperation], appendingTo log: inout BundleLog, limits: BundleLimits = .default) throws -> ChangeBundle {
        let bundle = try seal(ops, previous: log.latestBundle(of: device.publicKey), context: log.versionVector, limits: limits)
        try log.appendSealed(bundle)
        return bundle
    }
}

extension ChangeBundle {
    /// The sequence number and previous link of `author`'s bundle after `previous`.
    static func nextLink(after previous: ChangeBundle?, author: PublicKey, spaceID: SpaceID) throws -> (UInt64, BundleID) {
        guard let previous else { return (1, .zero) }
        guard previous.author == author, previous.spaceID == spaceID else {
            throw ConcordError(.chainMismatch, "the previous bundle given (\(previous)) is not a bundle of this device in space \(spaceID.shortDescription); pass this device's latest bundle")
        }
        guard previous.sequence < .max else {
            throw ConcordError(.chainMismatch, "this device's bundle chain has reached the largest sequence number; join the space again with a new device key")
        }
        return (previous.sequence + 1, previous.id)
    }

    /// Coalesces `ops`, builds the payload (causal context without the author's entry, then
    /// the operation batch), encrypts it under `key` with the header as associated data, and
    /// signs. Shared by formats 2 and 3: only the header differs (`header` receives the
    /// operations' clock range).
    static func sealData(
        _ ops: [RecordOperation], context: VersionVector, limits: BundleLimits, nonce: XChaCha20Poly1305.Nonce,
        author: Identity, key: SymmetricKey?, header makeHeader: (ClosedRange<HLCTimestamp>) -> [UInt8]
    ) throws -> ChangeBundle {
        let others = context.removingEntry(of: author.publicKey)
        guard others.entries.count <= VersionVector.maxContextAuthors else {
            throw ConcordError(.bundleTooLarge, "the causal context names \(others.entries.count) other authors, more than the \(VersionVector.maxContextAuthors) a bundle can carry")
        }
        let kept = OperationCoalescer.coalesce(ops)
        let stamps = kept.map(\.stamp.hlc)
        let header = makeHeader(stamps.min()!...stamps.max()!)
        let batch = OperationCodec.encode(kept)
        var plaintext = ByteWriter(capacity: 3 + others.entries.count * 36 + batch.count)
        others.encodeContext(into: &plaintext)
        plaintext.write(contentsOf: batch)
        var payload = plaintext.bytes
        if let key {
            payload = XChaCha20Poly1305.seal(payload, using: key, nonce: nonce, authenticating: header).combined
        }
        let bundle = try assemble(header: header, payload: payload, signer: author)
        guard bundle.bytes.count <= limits.maxBundleBytes else {
            throw ConcordError(.bundleTooLarge, "the sealed bundle would be \(bundle.bytes.count) bytes, more than the limit of \(limits.maxBundleBytes); seal fewer operations at a time")
        }
        return bundle
    }
}
