import ConcordCore
import ConcordCrypto

/// A whole snapshot: its signed manifest and its chunks' bytes, in order
/// (`Specs/snapshots.md` §4).
///
/// A store keeps one as a device's latest snapshot; a relay serves the manifest and the
/// chunks separately; a loader rebuilds it from both and reads its records.
///
/// ```swift
/// let snapshot = try SealedSnapshot.decode(manifest: manifestBytes, chunks: chunkBytes)
/// let records = try snapshot.records(key: nil)      // order, counts, state digest checked
/// ```
public struct SealedSnapshot: Sendable, Hashable {
    /// The signed manifest.
    public let manifest: SnapshotManifest
    /// The chunks' bytes, `chunks[i]` named by `manifest.chunks[i]`.
    public let chunks: [[UInt8]]

    /// Pairs a manifest with its chunks, unchecked (``decode(manifest:chunks:)`` checks).
    /// - Parameters:
    ///   - manifest: The manifest.
    ///   - chunks: Its chunks' bytes, in order.
    public init(manifest: SnapshotManifest, chunks: [[UInt8]]) {
        self.manifest = manifest
        self.chunks = chunks
    }

    /// Decodes a manifest and checks every chunk against it (count, length, id, header).
    /// - Parameters:
    ///   - manifest: The manifest's bytes.
    ///   - chunks: The chunks' bytes, in order.
    /// - Returns: The snapshot.
    /// - Throws: ``ConcordError`` as ``SnapshotManifest/decode(_:)`` and
    ///   ``SnapshotChunk/decode(_:index:of:)``; `.malformedSnapshot` when the number of
    ///   chunks differs from the manifest's.
    public static func decode(manifest: [UInt8], chunks: [[UInt8]]) throws(ConcordError) -> SealedSnapshot {
        let decoded = try SnapshotManifest.decode(manifest)
        let snapshot = SealedSnapshot(manifest: decoded, chunks: chunks)
        try snapshot.checkChunks()
        return snapshot
    }

    /// Checks the chunks against the manifest (count, length, id, header).
    /// - Throws: ``ConcordError`` `.malformedSnapshot` or `.unsupportedVersion`.
    public func checkChunks() throws(ConcordError) {
        guard chunks.count == manifest.chunks.count else {
            throw ConcordError(
                .malformedSnapshot,
                "snapshot \(manifest.id.hex.prefix(8)) has \(manifest.chunks.count) chunks, \(chunks.count) were given; fetch the missing ones"
            )
        }
        for (index, bytes) in chunks.enumerated() { _ = try SnapshotChunk.decode(bytes, index: index, of: manifest) }
    }

    /// Every record of the snapshot, checked against the manifest: each chunk's id and
    /// header, the records' (collection, id) order across chunks with no duplicate, no
    /// empty chunk (unless the snapshot has no record and one chunk), the record, live and
    /// stub counts, the plaintext length and the state digest.
    ///
    /// The visible digest needs the records applied to a state: the loader checks it.
    /// - Parameters:
    ///   - key: The epoch key named by ``SnapshotManifest/keyID``; `nil` for plaintext.
    /// - Returns: The records in order.
    /// - Throws: ``ConcordError`` `.malformedSnapshot` (structure) or `.snapshotMismatch` (a
    ///   count or the state digest differs from what the chunks hold); `.decryptionFailed`.
    /// - Complexity: O(total bytes).
    public func records(key: EpochKey?) throws(ConcordError) -> [SnapshotRecord] {
        var phases: [String: Double] = [:]
        return try records(key: key, phases: &phases)
    }

    /// ``records(key:)``, adding the seconds of each step to `phases`: `chunk ids` (each
    /// chunk's length, id and header), `decrypt`, `decode` (the records, each in its
    /// canonical encoding), `state digest` (with the order and count checks).
    ///
    /// Each chunk is hashed once here (a caller that checked it on download need not again).
    package func records(key: EpochKey?, phases: inout [String: Double]) throws(ConcordError) -> [SnapshotRecord] {
        guard chunks.count == manifest.chunks.count else {
            throw ConcordError(
                .malformedSnapshot,
                "snapshot \(manifest.id.hex.prefix(8)) has \(manifest.chunks.count) chunks, \(chunks.count) were given; fetch the missing ones"
            )
        }
        if manifest.isEncrypted, let key, key.id != manifest.keyID {
            throw ConcordError(
                .invalidKey, "snapshot \(manifest.id.hex.prefix(8)) is encrypted under epoch key \(manifest.keyID!.hex), not \(key.id.hex)")
        }
        if manifest.isEncrypted, key == nil {
            throw ConcordError(
                .invalidKey,
                "snapshot \(manifest.id.hex.prefix(8)) is encrypted under epoch key \(manifest.keyID!.hex); this device lacks it")
        }
        var timer = PhaseTimer()
        // Every chunk's id and header first: a damaged chunk is reported as such, before
        // any decryption (as checkChunks() reports it).
        var decoded: [SnapshotChunk] = []
        decoded.reserveCapacity(chunks.count)
        for (index, bytes) in chunks.enumerated() { decoded.append(try SnapshotChunk.decode(bytes, index: index, of: manifest)) }
        timer.lap("chunk ids", into: &phases)
        var plaintexts: [[UInt8]] = []
        var all: [SnapshotRecord] = []
        for (index, chunk) in decoded.enumerated() {
            let plaintext = try chunk.plaintext(key: manifest.isEncrypted ? key : nil)
            timer.lap("decrypt", into: &phases)
            let records = try SnapshotRecord.decode(plaintext)
            timer.lap("decode", into: &phases)
            if records.isEmpty, chunks.count > 1 {
                throw ConcordError(.malformedSnapshot, "chunk \(index) of snapshot \(manifest.id.hex.prefix(8)) holds no record")
            }
            if let last = all.last, let first = records.first,
                !SnapshotRecord.precedes((last.collection, last.id), (first.collection, first.id))
            {
                throw ConcordError(
                    .malformedSnapshot,
                    "chunk \(index) of snapshot \(manifest.id.hex.prefix(8)) starts with record \(first.collection)/\(first.id), out of order after the previous chunk"
                )
            }
            plaintexts.append(plaintext)
            all.append(contentsOf: records)
            timer.lap("decode", into: &phases)
        }
        let live = all.count { $0.state.isVisible }
        let stubs = all.count { $0.isStub }
        let length = plaintexts.reduce(0) { $0 + $1.count }
        guard
            UInt64(all.count) == manifest.recordCount, UInt64(live) == manifest.liveRecordCount, UInt64(stubs) == manifest.stubCount,
            UInt64(length) == manifest.plaintextBytes
        else {
            throw ConcordError(
                .snapshotMismatch,
                "snapshot \(manifest.id.hex.prefix(8)) by \(manifest.author.hex.prefix(8)) holds \(all.count) records (\(live) live, \(stubs) stubs, \(length) bytes), its manifest says \(manifest.recordCount) (\(manifest.liveRecordCount), \(manifest.stubCount), \(manifest.plaintextBytes)); it is refused, sync from the log or another snapshot"
            )
        }
        let digest = SnapshotManifest.stateDigest(vectorEncoding: manifest.vectorEncoding, plaintexts: plaintexts)
        guard digest == manifest.stateDigest else {
            throw ConcordError(
                .snapshotMismatch,
                "snapshot \(manifest.id.hex.prefix(8)) by \(manifest.author.hex.prefix(8)): its records' state digest is \(digest.hex.prefix(8)), its manifest says \(manifest.stateDigest.hex.prefix(8)); it is refused, sync from the log or another snapshot"
            )
        }
        timer.lap("state digest", into: &phases)
        return all
    }
}
