import ConcordCore
import ConcordCrypto

/// Streams records, in (collection, id) order, into chunk plaintexts of at most
/// ``SnapshotManifest/maxChunkPlaintextBytes`` each (a record larger than that gets a
/// chunk of its own), counting what the manifest states.
///
/// ```swift
/// var writer = SnapshotWriter()
/// for record in sortedRecords { try writer.append(record) }
/// let snapshot = writer.seal(...)
/// ```
package struct SnapshotWriter: Sendable {
    package private(set) var plaintexts: [[UInt8]] = []
    private var current = ByteWriter()
    private var last: (collection: String, id: RecordID)?
    package private(set) var recordCount: UInt64 = 0
    package private(set) var liveRecordCount: UInt64 = 0
    package private(set) var stubCount: UInt64 = 0
    package private(set) var plaintextBytes: UInt64 = 0
    private let chunkLimit: Int

    /// A writer whose chunks hold at most `chunkLimit` plaintext bytes (unless one record is larger).
    package init(chunkLimit: Int = SnapshotManifest.maxChunkPlaintextBytes) {
        self.chunkLimit = chunkLimit
    }

    /// Appends `record`, which must sort after the previous one.
    package mutating func append(_ record: SnapshotRecord) {
        if let last { precondition(SnapshotRecord.precedes(last, (record.collection, record.id)), "snapshot records out of order") }
        last = (record.collection, record.id)
        var entry = ByteWriter()
        record.encode(into: &entry)
        if !current.bytes.isEmpty, current.bytes.count + entry.bytes.count > chunkLimit {
            plaintexts.append(current.bytes)
            current = ByteWriter()
        }
        current.write(contentsOf: entry.bytes)
        recordCount += 1
        if record.state.isVisible { liveRecordCount += 1 }
        if record.isStub { stubCount += 1 }
        plaintextBytes += UInt64(entry.bytes.count)
    }

    /// The chunk plaintexts: at least one (empty when there are no records).
    package mutating func finish() -> [[UInt8]] {
        if !current.bytes.isEmpty || plaintexts.isEmpty {
            plaintexts.append(current.bytes)
            current = ByteWriter()
        }
        return plaintexts
    }
}

extension SealedSnapshot {
    /// Seals a snapshot: the chunks from `plaintexts` (encrypted under `key` when given),
    /// the state digest over `links` and the plaintexts, and the manifest signed by `signer`.
    /// - Parameters:
    ///   - space: The space.
    ///   - madeAt: The signer's clock reading.
    ///   - key: The current epoch key of an encrypted space; `nil` for plaintext.
    ///   - checkpoint: The checkpoint control bundle whose `S_C` is `V`.
    ///   - links: Each author's link at `V`.
    ///   - membershipDigest: ``SnapshotManifest/membershipDigest(of:)`` of the control bundles ≤ `V`.
    ///   - visibleDigest: The visible (canonical) digest of the state.
    ///   - writer: The records, written and finished.
    ///   - signer: The sealing device.
    ///   - nonces: Fixed nonces for encrypted chunks (test vectors only); random by default.
    package static func seal(
        space: PublicKey, madeAt: HLCTimestamp, key: EpochKey?, checkpoint: BundleID, links: [SnapshotManifest.Link],
        membershipDigest: Digest32, visibleDigest: [UInt8], writer: inout SnapshotWriter, signer: Identity,
        nonces: ((Int) -> XChaCha20Poly1305.Nonce)? = nil
    ) -> SealedSnapshot {
        let plaintexts = writer.finish()
        let sortedLinks = links.sorted { $0.author < $1.author }
        var w = ByteWriter()
        SnapshotManifest.write(sortedLinks, to: &w)
        let stateDigest = SnapshotManifest.stateDigest(vectorEncoding: w.bytes, plaintexts: plaintexts)
        let chunks = plaintexts.enumerated().map {
            SnapshotChunk(sealing: $0.element, index: $0.offset, stateDigest: stateDigest, key: key, nonce: nonces?($0.offset))
        }
        let draft = SnapshotManifest.Draft(
            space: space, madeAt: madeAt, keyID: key?.id, checkpoint: checkpoint, links: sortedLinks,
            membershipDigest: membershipDigest, visibleDigest: visibleDigest, stateDigest: stateDigest,
            recordCount: writer.recordCount, liveRecordCount: writer.liveRecordCount, stubCount: writer.stubCount,
            plaintextBytes: writer.plaintextBytes, chunks: chunks.map { .init(id: $0.id, length: $0.bytes.count) })
        return SealedSnapshot(manifest: SnapshotManifest(signing: draft, with: signer), chunks: chunks.map(\.bytes))
    }
}
