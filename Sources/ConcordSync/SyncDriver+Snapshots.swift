@_spi(Benchmarks) import Concord
import ConcordCrypto
import Foundation
import Logging

/// Snapshots in relay rounds (`Specs/snapshots.md` §4.5, `Specs/sync-protocol.md` §1):
/// an empty store loads the relay's latest snapshot before its first pull, and an admin
/// device uploads its own newer sealed snapshot after its push.
extension SyncDriver {
    /// Initial sync from a snapshot: when the store holds no record and no snapshot, and
    /// the relay holds a snapshot at a vector this store does not include, fetch the
    /// control bundles at or below it, then its chunks (progress counts chunks), and load
    /// it. The pull that follows brings the tail above `V`.
    /// - Returns: The id of the snapshot loaded, or nil when none was.
    /// - Throws: ``ConcordSyncError`` for transport failures and refusals; a snapshot that
    ///   fails the loader's checks is logged and skipped (the ordinary pull follows), never
    ///   loaded.
    func loadSnapshotIfEmpty(_ client: RelayClient, round: Int, phases: inout [String: Double]) async throws -> Digest32? {
        guard options.loadsSnapshots, try await storeIsEmpty() else { return nil }
        return try await loadRelaySnapshot(client, round: round, phases: &phases)
    }

    /// Fetches the relay's latest snapshot (control bundles, then chunks, progress counting
    /// chunks) and loads it, when this store does not hold its vector already: into an empty
    /// store, or a far-behind one (`Replica.loadSnapshot`, `Specs/snapshots.md` §4.5 step 4).
    /// - Returns: The id loaded, or nil when there was none to load or the loader refused it
    ///   (logged; the store is unchanged).
    func loadRelaySnapshot(_ client: RelayClient, round: Int, phases: inout [String: Double]) async throws -> Digest32? {
        var timer = PhaseTimer()
        guard let latest = try await client.latestSnapshot() else { return nil }
        let manifest: SnapshotManifest
        do {
            manifest = try SnapshotManifest.decode(latest.manifest)
        } catch {
            logger.warning("the relay's snapshot does not decode; syncing from the log", metadata: ["error": "\(error)"])
            return nil
        }
        guard manifest.id == latest.id else {
            logger.warning("the relay named another id than its snapshot's; syncing from the log")
            return nil
        }
        let local = try await replica.versionVector()
        guard !local.includes(manifest.vector) else { return nil }
        let controls = try await client.snapshotControlBundles(manifest.id)
        guard let chunks = try await downloadChunks(of: manifest, client, round: round) else { return nil }
        timer.lap("snapshot download", into: &phases)
        do {
            let summary = try await replica.loadSnapshot(SealedSnapshot(manifest: manifest, chunks: chunks), controlBundles: controls)
            phases.merge(summary.phases, uniquingKeysWith: +)
        } catch let error as ConcordError {
            logger.warning(
                "the relay's snapshot was not loaded; syncing from the log",
                metadata: ["snapshot": "\(manifest.id.hex.prefix(16))", "error": "\(error.code): \(error.message)"])
            return nil
        }
        logger.info(
            "loaded snapshot from the relay",
            metadata: [
                "snapshot": "\(manifest.id.hex.prefix(16))", "chunks": "\(manifest.chunks.count)", "control bundles": "\(controls.count)",
                "signer": "\(manifest.author.hex.prefix(8))",
            ])
        return manifest.id
    }

    /// The chunks of the relay's snapshot `manifest`, progress counting chunks.
    /// - Returns: The chunks, or nil (logged) when one does not have its manifest's length
    ///   (its id is checked, once, by the loader or the verifier).
    func downloadChunks(of manifest: SnapshotManifest, _ client: RelayClient, round: Int) async throws -> [[UInt8]]? {
        var chunks: [[UInt8]] = []
        chunks.reserveCapacity(manifest.chunks.count)
        snapshotProgress(chunksDone: 0, of: manifest.chunks.count, round: round)
        for index in manifest.chunks.indices {
            let chunk = try await client.snapshotChunk(manifest.id, index: index)
            guard chunk.count == manifest.chunks[index].length else {
                logger.warning(
                    "a chunk of the relay's snapshot does not match its manifest; it is not used",
                    metadata: [
                        "snapshot": "\(manifest.id.hex.prefix(16))", "chunk": "\(index)",
                        "error": "\(chunk.count) bytes, the manifest says \(manifest.chunks[index].length)",
                    ])
                return nil
            }
            chunks.append(chunk)
            snapshotProgress(chunksDone: index + 1, of: manifest.chunks.count, round: round)
        }
        return chunks
    }

    /// Automatic compaction (`Replica.Options.compaction` `.auto`, `Specs/snapshots.md`
    /// §5.1), after the round's push and upload: when the relay serves a snapshot newer
    /// than this device's and this device holds the log at or below its `V`, the snapshot
    /// is downloaded and verified against that log first (`Replica.verifySnapshot`); then
    /// `Replica.compactIfDue()`. A snapshot that fails verification is logged (it names the
    /// signer) and never compacted to; a failed compaction is logged and leaves the store
    /// unchanged: neither fails the round.
    /// - Returns: What the compaction reclaimed, or nil.
    func compactAfterRound(_ client: RelayClient, round: Int) async throws -> CompactionReport? {
        guard case .auto = replica.options.compaction, replica.membership.isMemberFormat else { return nil }
        do {
            try await verifyRelaySnapshot(client, round: round)
            return try await replica.compactIfDue()
        } catch let error as ConcordError {
            logger.warning("automatic compaction did not run", metadata: ["error": "\(error.code): \(error.message)"])
            return nil
        } catch let error as ConcordSyncError {
            // The snapshot's download failed (the round's push is done): next round.
            logger.notice("automatic compaction waits for the next round", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// Verifies the relay's latest snapshot against this device's log when it is newer than
    /// this device's latest and the log at or below its `V` is here (not below the base).
    func verifyRelaySnapshot(_ client: RelayClient, round: Int) async throws {
        let own = try await replica.snapshotStatus()
        guard let latest = try await client.latestSnapshot(), latest.id != own?.id, latest.id != triedSnapshot,
            let manifest = try? SnapshotManifest.decode(latest.manifest), manifest.id == latest.id,
            own.map({ manifest.vector.includes($0.vector) && manifest.vector != $0.vector }) ?? true,
            try await replica.versionVector().includes(manifest.vector)
        else { return }
        // A transport failure throws before it is marked: the next round tries again.
        let downloaded = try await downloadChunks(of: manifest, client, round: round)
        triedSnapshot = manifest.id
        guard let chunks = downloaded else { return }
        let status = try await replica.verifySnapshot(SealedSnapshot(manifest: manifest, chunks: chunks))
        logger.info(
            "verified the relay's snapshot against this device's log",
            metadata: ["snapshot": "\(status.id.hex.prefix(16))", "signer": "\(status.signer.hex.prefix(8))"])
    }

    /// After a pull's `409 snapshot-required` (the relay's retention dropped bundles this
    /// store lacks, `Specs/snapshots.md` §5.2): the store loads the relay's latest snapshot,
    /// as on a first sync when it is empty, or rebased onto it when it holds a log that is
    /// behind (its unsynced bundles and writes stay), so the pull can be repeated above it.
    /// - Returns: The id of the snapshot loaded.
    /// - Throws: ``ConcordSyncError`` ``ConcordSyncError/Code/snapshotRequired`` when the
    ///   snapshot could not be loaded (the relay has none, or the loader refused it):
    ///   nothing was changed, and the message says what to do.
    func loadRequiredSnapshot(_ client: RelayClient, refusal: ConcordSyncError, round: Int) async throws -> Digest32 {
        var phases: [String: Double] = [:]
        if options.loadsSnapshots, let loaded = try await loadRelaySnapshot(client, round: round, phases: &phases) { return loaded }
        let snapshot = refusal.snapshotID.map { " (snapshot \($0.hex.prefix(8)) covers them)" } ?? ""
        var error = ConcordSyncError(
            .snapshotRequired,
            "this device is behind the relay's retention: the relay at \(client.relay.absoluteString) has dropped bundles this device has not pulled yet\(snapshot), "
                + "and its snapshot could not be loaded here (the log says why). Nothing was changed here; this device's unsynced changes are still in its store. "
                + "To catch up, sync it with a device that still holds those bundles (a shared folder or a peer link), or ask the relay's operator for a longer --retention"
        )
        error.httpStatus = refusal.httpStatus
        error.relayCode = refusal.relayCode
        error.snapshotID = refusal.snapshotID
        logger.warning("the relay requires a snapshot this store cannot load", metadata: ["relay": "\(client.relay.absoluteString)"])
        throw error
    }

    /// Whether the store is empty enough to load a snapshot into: no other device's
    /// bundle, no record (live or deleted), no snapshot loaded or sealed. A device that
    /// joined holds its own join and nothing else. `Replica.loadSnapshot` decides for
    /// certain (it refuses a store that holds more); this only saves the requests.
    func storeIsEmpty() async throws -> Bool {
        let me = replica.membership.device.publicKey
        guard try await replica.versionVector().entries.keys.allSatisfy({ $0 == me }) else { return false }
        let counts = try await replica.storageReport().counts
        guard counts.liveRecords == 0 && counts.deletedRecords == 0 else { return false }
        return try await replica.snapshotStatus() == nil
    }

    /// Uploads this device's own latest sealed snapshot when the relay does not hold it:
    /// admins only, after the push (so the relay holds the checkpoint it names). Each
    /// snapshot is offered once per engine: a refusal (`409 stale-snapshot`: the relay holds
    /// a newer one; `422`) is logged and not repeated.
    /// - Returns: The id uploaded and stored, or nil.
    func uploadOwnSnapshot(_ client: RelayClient) async throws -> Digest32? {
        guard try await replica.mayWrite(), let own = try await replica.latestSnapshot() else { return nil }
        let manifest = own.manifest
        guard manifest.author == replica.membership.device.publicKey, manifest.id != offeredSnapshot else { return nil }
        if let relayID = try await client.latestSnapshot()?.id, relayID == manifest.id {
            offeredSnapshot = manifest.id
            return nil
        }
        do {
            let stored = try await client.uploadSnapshot(manifest: manifest.bytes, chunks: own.chunks)
            offeredSnapshot = manifest.id
            if stored {
                logger.info(
                    "uploaded snapshot to the relay",
                    metadata: ["snapshot": "\(manifest.id.hex.prefix(16))", "chunks": "\(own.chunks.count)"])
            }
            return stored ? manifest.id : nil
        } catch let error as ConcordSyncError where error.code == .relayRefused && [403, 409, 413, 422].contains(error.httpStatus ?? 0) {
            offeredSnapshot = manifest.id
            logger.notice(
                "the relay did not take this device's snapshot",
                metadata: ["snapshot": "\(manifest.id.hex.prefix(16))", "reason": "\(error.message)"])
            return nil
        }
    }

    /// Progress of a snapshot's chunks in round `round`.
    func snapshotProgress(chunksDone: Int, of total: Int, round: Int) {
        guard round == roundNumber, currentStatus.isSyncing else { return }
        setStatus(.syncing(SyncProgress(chunksReceived: chunksDone, chunksTotal: total)))
    }
}
