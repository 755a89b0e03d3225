import AsyncHTTPClient
import Concord
import ConcordCrypto
import Foundation
import NIOCore
import NIOHTTP1

extension RelayClient {
    /// The latest snapshot a relay holds for a space, as ``RelayClient/latestSnapshot()``
    /// returns it: the manifest bytes, not yet checked.
    public struct RelaySnapshot: Sendable, Hashable {
        /// The snapshot id the relay names (`ETag`); a loader checks it against the manifest.
        public var id: Digest32
        /// The manifest bytes (`Specs/snapshots.md` §4.2).
        public var manifest: [UInt8]

        /// Creates a value.
        /// - Parameters:
        ///   - id: The id the relay names.
        ///   - manifest: The manifest bytes.
        public init(id: Digest32, manifest: [UInt8]) {
            self.id = id
            self.manifest = manifest
        }
    }

    /// The largest manifest accepted from a relay (`Specs/snapshots.md` §4.2: 64 MiB).
    static let maxManifestBytes = 64 << 20
    /// The largest chunk accepted from a relay: 4 MiB of plaintext (more for a single large
    /// record, itself bounded by the bundle size), its header and encryption overhead.
    var maxChunkBytes: Int { max(4 << 20, options.maxBundleBytes) + (1 << 16) }

    /// The relay's latest snapshot of the space (`GET …/snapshot`, `Specs/relay-api.md` §3.1).
    ///
    /// ```swift
    /// if let latest = try await client.latestSnapshot() {
    ///     print(latest.id.hex, latest.manifest.count)
    /// }
    /// ```
    /// - Returns: The manifest and the id the relay names, or nil when it holds none (`404 no-snapshot`).
    /// - Throws: ``ConcordSyncError`` `.unreachable`, `.relayRefused`.
    public func latestSnapshot() async throws -> RelaySnapshot? {
        let relayText = relay.absoluteString
        do {
            return try await exchange(
                method: .GET, RelayAPI.path(replica.spaceID, "snapshot"), body: nil, contentType: "application/json",
                timeout: options.transferTimeout
            ) { response in
                guard let id = response.headers.first(name: "ETag").flatMap(RelayAPI.snapshotID(eTag:)) else {
                    throw ConcordSyncError.relayRefused(
                        status: 200, relayCode: "bad-response", message: "the relay at \(relayText) sent a snapshot without its id (ETag)")
                }
                let body = try await response.body.collect(upTo: Self.maxManifestBytes)
                return RelaySnapshot(id: id, manifest: Array(body.readableBytesView))
            }
        } catch let error as ConcordSyncError where error.relayCode == "no-snapshot" {
            return nil
        }
    }

    /// The id of the relay's latest snapshot, or nil when it holds none. Reads the whole
    /// manifest (the relay answers `GET` only); use it to decide whether to upload.
    /// - Throws: ``ConcordSyncError`` `.unreachable`, `.relayRefused`.
    public func latestSnapshotID() async throws -> Digest32? {
        try await latestSnapshot()?.id
    }

    /// Chunk `index` of snapshot `id` (`GET …/snapshot/{id}/chunks/{i}`).
    /// - Parameters:
    ///   - id: The snapshot id.
    ///   - index: The chunk's index, from 0.
    /// - Returns: The chunk bytes, not yet checked.
    /// - Throws: ``ConcordSyncError`` `.relayRefused` (`410 gone` when the relay replaced
    ///   the snapshot meanwhile: fetch the latest manifest again), `.unreachable`.
    public func snapshotChunk(_ id: Digest32, index: Int) async throws -> [UInt8] {
        let limit = maxChunkBytes
        return try await exchange(
            method: .GET, RelayAPI.snapshotChunkPath(replica.spaceID, id, index: index), body: nil, contentType: "application/json",
            timeout: options.transferTimeout
        ) { response in
            Array(try await response.body.collect(upTo: limit).readableBytesView)
        }
    }

    /// Every control bundle the relay holds at or below snapshot `id`'s vector
    /// (`GET …/snapshot/{id}/control`), what a loader needs before the snapshot
    /// (`Specs/snapshots.md` §4.5 step 1). Not imported.
    /// - Parameters:
    ///   - id: The snapshot id.
    /// - Returns: The bundles' bytes, in the relay's storage order.
    /// - Throws: ``ConcordSyncError`` `.cutShort` when the stream ends without its end
    ///   marker, `.relayRefused` (`410 gone`), `.unreachable`.
    public func snapshotControlBundles(_ id: Digest32) async throws -> [[UInt8]] {
        let maxFrameBytes = options.maxBundleBytes
        let relayText = relay.absoluteString
        return try await exchange(
            method: .GET, RelayAPI.snapshotControlPath(replica.spaceID, id), body: nil, contentType: "application/json",
            timeout: options.transferTimeout
        ) { response in
            var decoder = BundleStreamFraming.Decoder(maxFrameBytes: maxFrameBytes)
            var bundles: [[UInt8]] = []
            for try await chunk in response.body {
                decoder.append(chunk.readableBytesView)
                while let bundle = try ConcordSyncError.relayProtocol({ try decoder.next() }) { bundles.append(bundle) }
            }
            guard decoder.isFinished else {
                throw ConcordSyncError(
                    .cutShort, "the control bundles of a snapshot from \(relayText) were cut short; the next sync tries again")
            }
            return bundles
        }
    }

    /// Uploads a sealed snapshot (`PUT …/snapshot`): the manifest, then its chunks, as a
    /// bundle stream. Only an admin's upload is accepted.
    ///
    /// ```swift
    /// let stored = try await client.uploadSnapshot(manifest: manifestBytes, chunks: chunkBytes)
    /// ```
    /// - Parameters:
    ///   - manifest: The manifest bytes.
    ///   - chunks: The chunk bytes, by index.
    /// - Returns: true when the relay stored it (`201`), false when it held it already (`200`).
    /// - Throws: ``ConcordSyncError`` `.relayRefused` (`409 stale-snapshot` when the relay
    ///   holds a newer one, `403 not-an-admin`, `422 invalid-snapshot`, `413 too-large`,
    ///   `507 quota-exceeded`), `.unreachable`.
    @discardableResult
    public func uploadSnapshot(manifest: [UInt8], chunks: [[UInt8]]) async throws -> Bool {
        var body = ByteBuffer()
        body.reserveCapacity(8 + manifest.count + chunks.reduce(0) { $0 + 4 + $1.count })
        for frame in [manifest] + chunks {
            body.writeInteger(UInt32(frame.count))
            body.writeBytes(frame)
        }
        body.writeBytes(BundleStreamFraming.endMarker)
        return try await exchange(
            method: .PUT, RelayAPI.path(replica.spaceID, "snapshot"), body: body, contentType: RelayAPI.bundleStreamContentType,
            timeout: options.transferTimeout
        ) { response in
            _ = try await response.body.collect(upTo: 64 << 10)
            return response.status == .created
        }
    }
}
