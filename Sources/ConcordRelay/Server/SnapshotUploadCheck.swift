import ConcordCore
import ConcordCrypto
import ConcordProtocol

/// The checks a relay makes of an uploaded snapshot (`Specs/relay-api.md` §3.1, step 3):
/// structure and signature, space, signer, checkpoint, chunks. It never opens the
/// contents (they may be encrypted).
struct SnapshotUploadCheck: Sendable {
    /// The space of the request.
    let spaceID: SpaceID
    /// The space's membership as the relay evaluates it.
    let state: MembershipState
    /// The control bundles the relay stores for the space.
    let controls: [ChangeBundle]

    /// The snapshot to store.
    /// - Parameters:
    ///   - manifest: The manifest's bytes (the stream's first frame).
    ///   - chunks: The chunks' bytes (the other frames), in index order.
    /// - Returns: What the storage keeps of it.
    /// - Throws: ``RelayError`` `.invalidSnapshot` with the reason.
    func check(manifest manifestBytes: [UInt8], chunks: [[UInt8]]) throws(RelayError) -> StoredSnapshot {
        let snapshot: SealedSnapshot
        do {
            snapshot = try SealedSnapshot.decode(manifest: manifestBytes, chunks: chunks)
        } catch {
            throw RelayError(.invalidSnapshot, "the snapshot is not valid (\(error.code): \(error.message)); it was not stored")
        }
        let manifest = snapshot.manifest
        let short = manifest.id.hex.prefix(8)
        guard manifest.space.bytes == spaceID.bytes else {
            throw RelayError(.invalidSnapshot, "snapshot \(short) belongs to another space; upload it to its own")
        }
        guard let signer = state.member(manifest.author), signer.status == .active, signer.role.base == .admin else {
            throw RelayError(
                .invalidSnapshot,
                "snapshot \(short) is signed by device \(manifest.author.hex.prefix(8)), which is not an active admin of the space; relays keep admins' snapshots only"
            )
        }
        guard let checkpoint = state.checkpoints.first(where: { $0.by.bundleID.bytes == manifest.checkpoint.bytes }) else {
            let held = controls.contains { $0.id.bytes == manifest.checkpoint.bytes }
            throw RelayError(
                .invalidSnapshot,
                held
                    ? "snapshot \(short) names checkpoint \(manifest.checkpoint.shortDescription), which is void under the space's membership"
                    : "snapshot \(short) names checkpoint \(manifest.checkpoint.shortDescription), which this relay does not hold; push the admin's control bundles first, then upload again"
            )
        }
        guard checkpoint.stable == manifest.vector else {
            throw RelayError(
                .invalidSnapshot, "snapshot \(short) is at \(manifest.vector), not at its checkpoint's stable cut \(checkpoint.stable)")
        }
        return StoredSnapshot(
            spaceID: spaceID, id: manifest.id, vector: manifest.vector, madeAt: manifest.madeAt.rawValue, manifest: manifest.bytes,
            chunkCount: chunks.count, bytes: Int64(manifest.bytes.count + chunks.reduce(0) { $0 + $1.count }))
    }
}
