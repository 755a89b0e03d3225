import ConcordCore
import ConcordCrypto
import ConcordProtocol
import ConcordRelayProtocol
import Foundation
import HTTPTypes
import Hummingbird

/// The snapshot endpoints (`Specs/relay-api.md` §3.1): the latest snapshot of a space, its
/// chunks, the control bundles a loader needs, and uploads by admins. The relay checks what
/// needs no key (structure, signature, signer, checkpoint, chunk ids and sizes), never the
/// contents.
extension RelayServer {
    /// `GET …/snapshot` (reader): the latest manifest, `ETag` its id.
    func latestSnapshot(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let (space, session) = try authorize(request, context)
        try await recheck(session, in: space)
        guard let snapshot = try await storage.latestSnapshot(of: space) else {
            throw RelayError(.noSnapshot, "the relay holds no snapshot of space \(space.shortDescription); sync from the log")
        }
        var headers: HTTPFields = [.contentType: RelayAPI.snapshotContentType, .eTag: RelayAPI.eTag(snapshot.id)]
        if let name = HTTPField.Name(RelayAPI.snapshotChunksHeader) { headers[name] = String(snapshot.chunkCount) }
        metrics.bytesOut.increment(by: snapshot.manifest.count)
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: snapshot.manifest)))
    }

    /// The snapshot named by the path's `{id}`, if the relay still holds it.
    /// - Throws: ``RelayError`` `.malformedRequest` for an id that is not 64 hex characters,
    ///   `.snapshotGone` when neither the latest nor the previous snapshot has that id.
    func heldSnapshot(_ space: SpaceID, _ context: some RequestContext) async throws -> StoredSnapshot {
        let text = context.parameters.get("id") ?? ""
        guard text.count == 64, let id = try? Digest32(hex: text) else {
            throw RelayError(.malformedRequest, "\(text.prefix(16)) is not a snapshot id (64 hex characters)")
        }
        guard let snapshot = try await storage.snapshot(id, of: space) else {
            throw RelayError(
                .snapshotGone,
                "the relay no longer holds snapshot \(text.prefix(8)) of space \(space.shortDescription); fetch the latest manifest (GET …/snapshot) and start over"
            )
        }
        return snapshot
    }

    /// `GET …/snapshot/{id}/chunks/{i}` (reader): one chunk, immutable.
    func snapshotChunk(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let (space, session) = try authorize(request, context)
        try await recheck(session, in: space)
        let snapshot = try await heldSnapshot(space, context)
        guard let text = context.parameters.get("index"), let index = Int(text), index >= 0, index < snapshot.chunkCount else {
            throw RelayError(
                .notFound,
                "snapshot \(snapshot.id.hex.prefix(8)) has chunks 0 to \(snapshot.chunkCount - 1); there is no chunk \(context.parameters.get("index") ?? "")"
            )
        }
        guard let chunk = try await storage.snapshotChunk(snapshot.id, index: index, of: space) else {
            throw RelayError(
                .snapshotGone, "snapshot \(snapshot.id.hex.prefix(8)) was replaced meanwhile; fetch the latest manifest and start over")
        }
        metrics.bytesOut.increment(by: chunk.count)
        return Response(
            status: .ok,
            headers: [
                .contentType: RelayAPI.snapshotContentType, .cacheControl: "private, max-age=31536000, immutable",
                .eTag: RelayAPI.eTag(snapshot.id),
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: chunk)))
    }

    /// `GET …/snapshot/{id}/control` (reader): every control bundle the relay holds, in
    /// storage order, as a bundle stream (§2): those at or below the snapshot's vector and
    /// those above it, the checkpoint the manifest names among them (a checkpoint is always
    /// above its own `S_C` in its author's chain), so a loader checks the signer and the
    /// checkpoint and evaluates membership before it loads (`Specs/snapshots.md` §4.5 step 1).
    func snapshotControl(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let (space, session) = try authorize(request, context)
        try await recheck(session, in: space)
        _ = try await heldSnapshot(space, context)
        let controls = try await members.refresh(space, storage: storage).controls
        var buffer = ByteBuffer()
        buffer.reserveCapacity(controls.reduce(4) { $0 + 4 + $1.bytes.count })
        for bundle in controls {
            buffer.writeInteger(UInt32(bundle.bytes.count))
            buffer.writeBytes(bundle.bytes)
        }
        buffer.writeBytes(BundleStreamFraming.endMarker)
        metrics.bundlesServed.increment(by: controls.count)
        metrics.bytesOut.increment(by: buffer.readableBytes)
        return Response(status: .ok, headers: [.contentType: RelayAPI.bundleStreamContentType], body: ResponseBody(byteBuffer: buffer))
    }

    /// `PUT …/snapshot` (admin): the manifest, then its chunks, framed as a bundle stream;
    /// checked, then stored as the space's latest snapshot.
    func putSnapshot(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        let (space, session) = try authorize(request, context)
        try await recheck(session, in: space)
        let entry = try await members.refresh(space, storage: storage)
        guard entry.format == ChangeBundle.memberFormatVersion, let state = entry.state else {
            throw RelayError(
                .invalidSnapshot,
                "space \(space.shortDescription) has no members' control bundles here (bundle format 3); snapshots need checkpoints")
        }
        guard let uploader = state.member(session.device), uploader.status == .active, uploader.role.base == .admin else {
            throw RelayError(.notAnAdmin, "only an admin of the space may upload a snapshot to the relay (default snapshot trust: admins)")
        }
        let limit = min(configuration.maxSnapshotBytes, configuration.maxInFlightBodyBytes)
        var reservation = BodyReservation(bodies)
        var decoder = BundleStreamFraming.Decoder(maxFrameBytes: limit)
        var frames: [[UInt8]] = []
        var total = 0
        do {
            try await forEachChunk(
                of: request, limit: limit, reservation: &reservation,
                tooLarge: "the snapshot is above the relay's \(limit)-byte limit for uploads; it was not stored"
            ) { chunk in
                total += chunk.readableBytes
                decoder.append(chunk.readableBytesView)
                while let frame = try decoder.next() { frames.append(frame) }
            }
        } catch let error as RelayProtocolError {
            throw RelayError(.malformedRequest, "the snapshot stream is malformed: \(error.message)")
        }
        metrics.bytesIn.increment(by: total)
        guard decoder.isFinished else {
            throw RelayError(.malformedRequest, "the snapshot stream has no end marker (it was cut short); upload again")
        }
        guard let manifestBytes = frames.first else {
            throw RelayError(.invalidSnapshot, "the snapshot stream is empty; send the manifest, then its chunks")
        }
        let snapshot = try SnapshotUploadCheck(spaceID: space, state: state, controls: entry.controls)
            .check(manifest: manifestBytes, chunks: Array(frames.dropFirst()))
        let outcome = try await storage.putSnapshot(snapshot, chunks: Array(frames.dropFirst()), quotaBytes: configuration.spaceQuotaBytes)
        if outcome == .stored {
            // Retention may drop what the new snapshot covers; a failure does not undo the upload.
            do {
                try await retentionPass(of: space)
            } catch {
                logger.warning(
                    "a retention pass failed after a snapshot upload",
                    metadata: ["space": "\(space.shortDescription)", "error": "\(error)"])
            }
            logger.info(
                "snapshot stored",
                metadata: [
                    "space": "\(space.shortDescription)", "snapshot": "\(snapshot.id.hex.prefix(16))", "chunks": "\(snapshot.chunkCount)",
                    "bytes": "\(snapshot.bytes)", "uploader": "\(session.device.hex.prefix(8))",
                ])
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let body = try encoder.encode(RelayAPI.SnapshotPutResponse(id: snapshot.id.hex, stored: outcome == .stored))
        return Response(
            status: outcome == .stored ? .created : .ok,
            headers: [.contentType: "application/json", .eTag: RelayAPI.eTag(snapshot.id)],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}
