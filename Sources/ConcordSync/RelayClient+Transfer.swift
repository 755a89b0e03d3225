import AsyncHTTPClient
import Concord
import ConcordCrypto
import Foundation
import NIOCore
import NIOHTTP1

extension RelayClient {
    /// Pulls every bundle the relay holds above this replica's version vector and
    /// imports it in pages (one store transaction per page): memory stays bounded by
    /// ``Options/pullPageBytes`` whatever the size of the log (sync-protocol §1.3).
    ///
    /// The `since` vector it sends names only authors the relay's vector names (the relay
    /// bounds its size): the others would only be skipped.
    ///
    /// ```swift
    /// let summary = try await client.pull { print($0) }   // "12/40 bundles, 1.2 MB"
    /// print(summary.applied)
    /// ```
    /// - Parameters:
    ///   - relayVector: The relay's vector if just read (``vector()``); read when nil.
    ///   - bundlesTotal: How many bundles are expected, if known (for progress).
    ///   - progress: Called after every imported page.
    /// - Returns: Counts of what was imported.
    /// - Throws: ``ConcordSyncError`` `.cutShort` when the stream ended without its end
    ///   marker (the whole bundles received are imported first), `.unreachable`,
    ///   `.relayRefused`; `ConcordError` `.storage`.
    @discardableResult
    public func pull(
        relayVector: VersionVector? = nil, bundlesTotal: Int? = nil, progress: (@Sendable (ImportProgress) -> Void)? = nil
    ) async throws -> ImportSummary {
        try await pull(relayVector: relayVector, bundlesTotal: bundlesTotal, sealingFirst: true, progress: progress)
    }

    /// ``pull(relayVector:bundlesTotal:progress:)``, optionally without sealing pending writes before
    /// the import (when the relay holds more of this device's own bundles than the store:
    /// a restored backup, `Specs/sync-protocol.md` §5). Afterwards, another author's
    /// chain that forks against the relay's is switched to the relay's branch
    /// (``Replica/adoptBranch(of:from:)``): one where a pulled bundle forked; one whose
    /// pulled bundles were all taken in (none rejected) and yet left its chain behind the
    /// relay's vector; and an unconfirmed one whose chain holds another bundle than the
    /// relay's at the place asked again. In the last two the relay's bundles were already
    /// set aside as forks (they came first from a file): this store holds another branch.
    package func pull(
        relayVector: VersionVector? = nil, bundlesTotal: Int? = nil, sealingFirst: Bool,
        progress: (@Sendable (ImportProgress) -> Void)? = nil
    ) async throws -> ImportSummary {
        let unconfirmed = try await replica.unconfirmedAuthors()
        let known: VersionVector
        if let relayVector {
            known = relayVector
        } else {
            known = try await vector()
        }
        var rechecked = true
        let pulled: (ImportSummary, Set<PublicKey>, [PublicKey: (sequence: UInt64, id: BundleID)])
        do {
            pulled = try await pullStream(relayVector: known, bundlesTotal: bundlesTotal, sealingFirst: sealingFirst, progress: progress)
        } catch let error as ConcordSyncError where error.code == .snapshotRequired && !unconfirmed.isEmpty {
            // Asking again for the bundle at this store's head of an author whose bundles
            // came from elsewhere reaches one below the head, which may be below the relay's
            // retention floor (`Specs/relay-api.md` §3.2) when the head is the floor itself:
            // ask from the heads before concluding this device is behind. Those authors stay
            // unconfirmed (their heads were not compared).
            rechecked = false
            pulled = try await pullStream(
                relayVector: known, bundlesTotal: bundlesTotal, sealingFirst: sealingFirst, progress: progress, recheckingHeads: false)
        }
        let (summary, received, asked) = pulled
        let me = replica.membership.device.publicKey
        var follow = Set(summary.forkedPlaces.map(\.author))
        let after = try await replica.versionVector()
        for author in received where after[author] < known[author] { follow.insert(author) }
        for (author, relayBundle) in asked where try await replica.chainBundleID(of: author, at: relayBundle.sequence) != relayBundle.id {
            follow.insert(author)
        }
        for author in follow.sorted() where author != me {
            try await adoptRelayBranch(of: author)
        }
        // Their heads came back as duplicates, or as forks now followed: compared.
        if rechecked { try await replica.confirmAuthors(unconfirmed) }
        return summary
    }

    /// Fetches every bundle of `author` the relay holds and makes the replica's chain of
    /// that author the relay's (sync-protocol §5.4). The `since` vector is the relay's own
    /// with `author` at 0, so only that author's bundles come (and it names no author the
    /// relay lacks).
    func adoptRelayBranch(of author: PublicKey) async throws {
        var since = try await vector()
        since[author] = 0
        let bundles = try await fetch(since: since).filter { (try? ChangeBundle(bytes: $0))?.author == author }
        let switched = try await replica.adoptBranch(of: author, from: bundles)
        if switched > 0 {
            logger.debug(
                "followed the relay's branch of a forked device",
                metadata: ["author": "\(author.hex.prefix(8))", "bundles set aside": "\(switched)"])
        }
    }

    /// The bundles the relay holds above `since`, not imported.
    func fetch(since vector: VersionVector) async throws -> [[UInt8]] {
        let body = ByteBuffer(bytes: try JSONEncoder().encode(RelayAPI.PullRequest(since: RelayAPI.json(vector))))
        let maxFrameBytes = options.maxBundleBytes
        let relayText = relay.absoluteString
        return try await exchange(
            method: .POST, RelayAPI.path(replica.spaceID, "pull"), body: body, contentType: "application/json",
            timeout: options.transferTimeout
        ) { response in
            var decoder = BundleStreamFraming.Decoder(maxFrameBytes: maxFrameBytes)
            var bundles: [[UInt8]] = []
            for try await chunk in response.body {
                decoder.append(chunk.readableBytesView)
                while let bundle = try ConcordSyncError.relayProtocol({ try decoder.next() }) { bundles.append(bundle) }
            }
            guard decoder.isFinished else {
                throw ConcordSyncError(.cutShort, "a pull from \(relayText) was cut; the next sync tries again")
            }
            return bundles
        }
    }

    /// The streamed pull itself; `recheckingHeads` false asks from this store's heads for
    /// every author (no bundle asked again).
    /// - Returns: What was imported; the authors of the bundles received of which none was
    ///   rejected; and for each unconfirmed author, the relay's bundle at the place asked
    ///   again (its sequence and id).
    func pullStream(
        relayVector known: VersionVector, bundlesTotal: Int?, sealingFirst: Bool, progress: (@Sendable (ImportProgress) -> Void)?,
        recheckingHeads: Bool = true
    ) async throws -> (ImportSummary, Set<PublicKey>, [PublicKey: (sequence: UInt64, id: BundleID)]) {
        var vector = VersionVector(try await replica.versionVector().entries.filter { known.entries[$0.key] != nil })
        // Authors whose bundles came from elsewhere (a file, a folder): ask again for the
        // bundle at this store's head, so a different one there shows as a fork (§5.4).
        var recheck: [PublicKey: UInt64] = [:]
        for author in try await replica.unconfirmedAuthors() where recheckingHeads && vector[author] > 0 {
            recheck[author] = vector[author]
            vector[author] -= 1
        }
        let since = RelayAPI.PullRequest(since: RelayAPI.json(vector))
        let body = ByteBuffer(bytes: try JSONEncoder().encode(since))
        let replica = self.replica
        let pageLimit = options.pullPageBytes
        let relayText = relay.absoluteString
        let maxFrameBytes = options.maxBundleBytes
        return try await exchange(
            method: .POST, RelayAPI.path(replica.spaceID, "pull"), body: body, contentType: "application/json",
            timeout: options.transferTimeout
        ) { response in
            var decoder = BundleStreamFraming.Decoder(maxFrameBytes: maxFrameBytes)
            var summary = ImportSummary()
            var report = ImportProgress(bundlesDone: 0, bundlesTotal: bundlesTotal, bytesDone: 0, bytesTotal: nil)
            var page: [[UInt8]] = []
            var pageBytes = 0
            var received: Set<PublicKey> = []
            var refused: Set<PublicKey> = []
            var asked: [PublicKey: (sequence: UInt64, id: BundleID)] = [:]
            func flush() async throws {
                guard !page.isEmpty else { return }
                let imported = try await replica.import(page, sealingFirst: sealingFirst, fromRelay: true)
                let bundles = page.map { try? ChangeBundle(bytes: $0) }
                for case let bundle? in bundles {
                    received.insert(bundle.author)
                    if recheck[bundle.author] == bundle.sequence { asked[bundle.author] = (bundle.sequence, bundle.id) }
                }
                for rejection in imported.rejected where bundles.indices.contains(rejection.index) {
                    if let author = bundles[rejection.index]?.author { refused.insert(author) }
                }
                summary.add(imported)
                report.bundlesDone += page.count
                report.bytesDone += pageBytes
                page.removeAll(keepingCapacity: true)
                pageBytes = 0
                progress?(report)
            }
            var transportError: (any Error)?
            do {
                for try await chunk in response.body {
                    decoder.append(chunk.readableBytesView)
                    while let bundle = try ConcordSyncError.relayProtocol({ try decoder.next() }) {
                        page.append(bundle)
                        pageBytes += bundle.count
                        if pageBytes >= pageLimit { try await flush() }
                    }
                }
            } catch let error as ConcordSyncError {
                try await flush()
                throw error
            } catch {
                transportError = error
            }
            try await flush()
            guard decoder.isFinished else {
                let reason = transportError.map { " (\($0))" } ?? ""
                throw ConcordSyncError(
                    .cutShort,
                    "the pull from \(relayText) was cut after \(report.bundlesDone) whole bundles\(reason); they were kept, and the next sync continues from there"
                )
            }
            return (summary, received.subtracting(refused), asked)
        }
    }

    /// Seals pending local writes and pushes every bundle this replica holds above the
    /// relay's vector, oldest first, in requests of at most ``Options/maxPushBytes``.
    /// On `409 missing-predecessor` it fetches the relay's vector again and resumes from
    /// there (at most three times). Success acknowledges this device's bundles
    /// (`Replica.acknowledge(_:)`), which turns their records' sync status to synced.
    ///
    /// ```swift
    /// let pushed = try await client.push()
    /// print("pushed \(pushed.stored)")
    /// ```
    /// - Returns: What the relay stored.
    /// - Throws: ``ConcordSyncError`` `.relayRefused` (`403 read-only`, `409 fork`,
    ///   `422 invalid-bundle`, `413 too-large`), `.unreachable`.
    @discardableResult
    public func push() async throws -> PushSummary {
        var summary = PushSummary()
        if replica.role == .writer { try await replica.seal() }
        let me = replica.membership.device.publicKey
        var relayVector = try await vector()
        var resumes = 0
        // 1. This device's own bundles, above the last one the relay confirmed holding with
        // the same ids: a duplicate confirms them; a different bundle at the same place is a
        // fork (another copy of this store pushed first), never silently acknowledged.
        while true {
            let confirmed = try await replica.relayConfirmedSequence()
            var from = relayVector
            from[me] = min(relayVector[me], confirmed)
            do {
                let pushedHeads = try await pushAbove(from, summary: &summary) { $0 == me }
                try await replica.confirmRelay(holds: max(pushedHeads[me], from[me]))
                break
            } catch let error as ConcordSyncError where error.relayCode == "missing-predecessor" && resumes < 3 {
                resumes += 1
                logger.debug("push resumes from the relay's vector", metadata: ["attempt": "\(resumes)"])
                relayVector = try await vector()
            } catch let error as ConcordSyncError where error.relayCode == "fork" && error.expectedAuthor == me.hex {
                try await replica.recordFork(at: error.expectedSequence ?? 1)
                if let problem = try await replica.problems().first(where: { $0.kind == .forked }) {
                    throw ConcordSyncError.needsAttention(problem)
                }
                throw error
            }
        }
        // 2. Other authors' bundles the relay lacks (store and forward), best effort: the
        // relay refusing one of them (it forks the relay's branch of that author, or it is
        // dated beyond the relay's clock) must not hold back this device's own writes.
        var adopted: Set<PublicKey> = []
        for _ in 0..<3 {
            do {
                try await pushAbove(try await vector(), summary: &summary) { $0 != me }
                break
            } catch let error as ConcordSyncError where error.relayCode == "fork" {
                // This store holds another device's branch the relay refuses: follow the
                // relay's branch of that device (sync-protocol §5.4), then try again.
                guard let hex = error.expectedAuthor, let author = try? PublicKey(hex: hex), author != me, !adopted.contains(author) else {
                    break
                }
                adopted.insert(author)
                try await adoptRelayBranch(of: author)
            } catch let error as ConcordSyncError where error.code == .relayRefused && [409, 422].contains(error.httpStatus ?? 0) {
                logger.debug("the relay refused forwarded bundles of other devices", metadata: ["reason": "\(error.message)"])
                break
            }
        }
        return summary
    }

    /// Pushes the bundles above `relayVector` whose author passes `include`, in requests
    /// of at most `maxPushBytes`.
    /// - Returns: The highest sequence pushed per author.
    @discardableResult
    func pushAbove(_ relayVector: VersionVector, summary: inout PushSummary, include: (PublicKey) -> Bool = { _ in true }) async throws
        -> VersionVector
    {
        var heads = VersionVector()
        var buffer: [UInt8] = []
        let limit = options.maxPushBytes
        for try await bundle in try await replica.bundles(since: relayVector) where include(bundle.author) {
            if !buffer.isEmpty && buffer.count + bundle.bytes.count + 8 > limit {
                try await flushPush(&buffer, summary: &summary)
            }
            buffer += BundleStreamFraming.frame(bundle.bytes)
            heads[bundle.author] = max(heads[bundle.author], bundle.sequence)
        }
        try await flushPush(&buffer, summary: &summary)
        return heads
    }

    /// Sends the framed bundles in `buffer` (if any) as one push and empties it.
    func flushPush(_ buffer: inout [UInt8], summary: inout PushSummary) async throws {
        guard !buffer.isEmpty else { return }
        let stream = buffer + BundleStreamFraming.endMarker
        buffer.removeAll(keepingCapacity: true)
        let body = try await sendBundles(stream)
        summary.stored += body.stored
        summary.duplicates += body.duplicates
        summary.requests += 1
    }

    /// `POST bundles` with a complete bundle stream; all or nothing at the relay.
    /// - Parameters:
    ///   - stream: Framed bundles and the end marker (`BundleStreamFraming/encode(_:)`).
    /// - Returns: The relay's counts.
    /// - Throws: ``ConcordSyncError`` for every refusal (`403 read-only` for a reader session).
    public func sendBundles(_ stream: [UInt8]) async throws -> RelayAPI.PushResponse {
        let response = try await exchange(
            method: .POST, RelayAPI.path(replica.spaceID, "bundles"), body: ByteBuffer(bytes: stream),
            contentType: RelayAPI.bundleStreamContentType, timeout: options.transferTimeout
        ) { try await $0.body.collect(upTo: 1 << 20) }
        return try decodeJSON(response)
    }
}
