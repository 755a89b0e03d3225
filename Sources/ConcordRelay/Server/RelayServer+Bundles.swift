import ConcordCore
import ConcordCrypto
import ConcordProtocol
import ConcordRelayProtocol
import Foundation
import Hummingbird

extension RelayServer {
    /// `GET …/vector[?after=<author hex>&limit=<n>]` (§3): one page of the space's vector,
    /// authors in ascending order; `next` names the page's last author while more follow.
    func vector(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let (space, _) = try authorize(request, context)
        let pageSize = max(1, configuration.vectorPageSize)
        var limit = pageSize
        if let text = request.uri.queryParameters.get("limit") {
            guard let asked = Int(text), asked >= 1 else {
                throw RelayError(.malformedRequest, "limit must be a positive number of authors (at most \(pageSize))")
            }
            limit = min(asked, pageSize)
        }
        var after: PublicKey?
        if let text = request.uri.queryParameters.get("after") {
            guard let key = try? PublicKey(hex: text) else {
                throw RelayError(.malformedRequest, "after must be an author id (64 hex characters), as the previous page's next")
            }
            after = key
        }
        let heads = try await storage.vectorPage(of: space, after: after, limit: limit + 1)
        let page = heads.prefix(limit)
        let vector = Dictionary(uniqueKeysWithValues: page.map { ($0.author.hex, $0.sequence) })
        return try json(RelayAPI.VectorPage(vector: vector, next: heads.count > limit ? page.last?.author.hex : nil))
    }

    /// `POST …/bundles` (§4): read and verify every bundle as it arrives (within the body
    /// budget), then one all-or-nothing append.
    func push(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        let (space, session) = try authorize(request, context)
        try await recheck(session, in: space)
        guard session.isWriter else {
            throw RelayError(
                .readOnly,
                "this device cannot push: it is a reader of the space (ask an admin for the writer role, or a writer for a writer invite), "
                    + "or a copy of its store continued it under a new identity (run `concord recover`)")
        }
        var reservation = BodyReservation(bodies)
        let bundles = try await readBundles(request, of: space, reservation: &reservation)
        var limits = SpaceLimits(quotaBytes: configuration.spaceQuotaBytes, maxAuthors: configuration.maxAuthorsPerSpace)
        if case .open = configuration.spaces, !bundles.isEmpty, try await storage.usage(of: space) == 0 {
            // A push that would start a space: bounded per client and in total.
            try clients.chargeNewSpace(client(request, context))
            limits.maxSpaces = configuration.maxSpaces
        }
        let accepted = try await admitted(bundles, in: space)
        let summary: AppendSummary
        do {
            summary = try await storage.append(accepted, to: space, limits: limits)
        } catch let error as RelayError {
            if let fork = error.forkedBundle {
                logger.warning(
                    "fork refused",
                    metadata: [
                        "space": "\(space.hex)", "author": "\(fork.author.hex)", "sequence": "\(fork.sequence)",
                        "stored": "\(fork.stored.hex)", "pushed": "\(fork.pushed.hex)", "pusher": "\(session.device.hex)",
                    ])
            }
            throw error
        }
        metrics.bundlesStored.increment(by: summary.stored)
        metrics.bundlesDuplicate.increment(by: summary.duplicates)
        if summary.stored > 0 {
            retentionAfterPush(of: space)
            logger.debug(
                "push stored",
                metadata: ["space": "\(space.shortDescription)", "stored": "\(summary.stored)", "duplicates": "\(summary.duplicates)"])
        }
        return try json(RelayAPI.PushResponse(stored: summary.stored, duplicates: summary.duplicates))
    }

    /// The bundles of a push body, at most `maxRequestBytes`, decoded and verified as the
    /// frames arrive, so the relay holds each bundle once (not the body and the bundles).
    /// Verification comes before any chain check: a push with an invalid bundle is `422`
    /// whatever else is wrong with it.
    func readBundles(_ request: Request, of space: SpaceID, reservation: inout BodyReservation) async throws -> [ChangeBundle] {
        var decoder = BundleStreamFraming.Decoder(maxFrameBytes: configuration.maxBundleBytes)
        var format = members.knownFormat(space)
        if format == nil { format = try await members.refresh(space, storage: storage).format }
        let check = MembershipCheck(spaceID: space, maxBundleBytes: configuration.maxBundleBytes)
        var verifier = check.pushVerifier(format: format ?? ChangeBundle.formatVersion)
        var bundles: [ChangeBundle] = []
        var total = 0
        do {
            try await forEachChunk(of: request, limit: configuration.maxRequestBytes, reservation: &reservation) { chunk in
                total += chunk.readableBytes
                decoder.append(chunk.readableBytesView)
                while let frame = try decoder.next() { bundles.append(try verifier.verify(frame)) }
            }
        } catch let error as RelayProtocolError {
            throw RelayError(.malformedRequest, "the bundle stream is malformed: \(error.message)")
        }
        metrics.bytesIn.increment(by: total)
        guard decoder.isFinished else {
            throw RelayError(.malformedRequest, "the bundle stream has no end marker (it was cut short); push again")
        }
        return bundles
    }

    /// `POST …/pull` (§4): a bundle stream, read from storage a page at a time, from the
    /// first bundle the client lacks; `409 snapshot-required` when `since` is below an
    /// author's retention floor. The `since` vector is bounded in size, and its
    /// authors the space does not have cost nothing.
    func pull(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let (space, session) = try authorize(request, context)
        try await recheck(session, in: space)
        let body = try await decodeJSON(
            RelayAPI.PullRequest.self, from: request, limit: configuration.maxPullRequestBytes,
            tooLarge:
                "the pull request is above \(configuration.maxPullRequestBytes) bytes; a since vector may name at most \(configuration.maxAuthorsPerSpace) authors (send only the authors the relay's vector names)"
        )
        guard body.since.count <= configuration.maxAuthorsPerSpace else {
            throw RelayError(
                .tooLarge,
                "the since vector names \(body.since.count) authors; at most \(configuration.maxAuthorsPerSpace) are accepted (send only the authors the relay's vector names)")
        }
        let since: VersionVector
        do {
            since = try RelayAPI.vector(body.since)
        } catch {
            throw RelayError(.malformedRequest, "the since vector is malformed: \(error)")
        }
        try await checkFloor(since, in: space)
        let start = try await storage.pullStart(in: space, since: since)
        let storage = storage
        let metrics = metrics
        let pageSize = max(1, configuration.pullPageSize)
        return Response(
            status: .ok, headers: [.contentType: RelayAPI.bundleStreamContentType],
            body: ResponseBody { writer in
                if var after = start {
                    while true {
                        let page = try await storage.bundles(in: space, since: since, afterPosition: after, limit: pageSize)
                        guard let last = page.last else { break }
                        // A retention pass dropped bundles this pull still needed after the
                        // floor check: end without the end marker; the client's next round
                        // gets `409 snapshot-required`.
                        if page.contains(where: \.bytes.isEmpty) {
                            try await writer.finish(nil)
                            return
                        }
                        var buffer = ByteBuffer()
                        buffer.reserveCapacity(page.reduce(0) { $0 + 4 + $1.bytes.count })
                        for bundle in page {
                            buffer.writeInteger(UInt32(bundle.bytes.count))
                            buffer.writeBytes(bundle.bytes)
                        }
                        metrics.bundlesServed.increment(by: page.count)
                        metrics.bytesOut.increment(by: buffer.readableBytes)
                        try await writer.write(buffer)
                        after = last.position
                        if page.count < pageSize { break }
                    }
                }
                try await writer.write(ByteBuffer(bytes: BundleStreamFraming.endMarker))
                try await writer.finish(nil)
            })
    }
}

extension RelayServer {
    /// The bundles of a push a space with members stores (`Specs/membership.md` §6, §8):
    /// every bundle but those past their author's cut-off or retirement under the state
    /// with this push's own control bundles, which are skipped (not stored, not an error:
    /// the pusher may be forwarding them). Format-2 spaces store every verified bundle.
    func admitted(_ bundles: [ChangeBundle], in space: SpaceID) async throws -> [ChangeBundle] {
        guard bundles.contains(where: { $0.format == ChangeBundle.memberFormatVersion }) else { return bundles }
        // A space whose stored bundles are format 2 takes no format-3 bundle (and the reverse):
        // the verifier was set for the stored format, so these are the first bundles of a new space.
        let entry = try await members.refresh(space, storage: storage)
        let state = MemberDirectory.evaluate(entry.controls + bundles.filter(\.isControl), spaceID: space)
        // A control bundle past its author's cut-off is evidence (a mutual removal may rest on
        // it): it is kept when it still extends its author's stored chain (usually the
        // removed admin's own removal of the other, right after what the other had seen),
        // so members syncing only through this relay evaluate it too. Data past a cut-off,
        // and evidence behind a gap, are skipped.
        var heads = try await storage.vector(of: space)
        let kept = bundles.filter { bundle in
            let keep: Bool
            switch state.admission(author: bundle.author, sequence: bundle.sequence, isControl: bundle.isControl) {
            case .refused(.removed), .refused(.retired): keep = false
            case .storedAsEvidence: keep = bundle.sequence == heads[bundle.author] + 1
            default: keep = true
            }
            if keep, bundle.sequence == heads[bundle.author] + 1 { heads[bundle.author] = bundle.sequence }
            return keep
        }
        if kept.count < bundles.count {
            let skipped = bundles.count - kept.count
            logger.info("bundles past a cut-off skipped", metadata: ["space": "\(space.shortDescription)", "skipped": "\(skipped)"])
        }
        return kept
    }
}
