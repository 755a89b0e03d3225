import ConcordCore
import ConcordProtocol
import ConcordCrypto
import ConcordRelayProtocol
import Foundation
import Hummingbird

extension RelayServer {
    /// `GET …/vector` (§3).
    func vector(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let (space, _) = try authorize(request, context)
        return try json(RelayAPI.json(try await storage.vector(of: space)))
    }

    /// `POST …/bundles` (§4): read, decode, verify every bundle, then one all-or-nothing append.
    func push(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let (space, session) = try authorize(request, context)
        guard session.isWriter else {
            throw RelayHTTPError(RelayRefusal(status: 403, code: "read-only", message: "this device is a reader of the space and cannot push; ask a writer for a writer invite"))
        }
        let frames = try await readFrames(request)
        var verifier = BundleVerifier(spaceID: space)
        verifier.limits = BundleLimits(maxBundleBytes: configuration.maxBundleBytes)
        var trusted: Set<Digest32> = []
        var bundles: [ChangeBundle] = []
        bundles.reserveCapacity(frames.count)
        for (index, frame) in frames.enumerated() {
            do {
                let bundle = try verifier.verify(frame, trustedChains: trusted)
                trusted.insert(bundle.certificates.digest)
                bundles.append(bundle)
            } catch {
                throw RelayHTTPError(RelayRefusal(status: 422, code: "invalid-bundle", message: "bundle \(index) of the push is invalid (\(Self.reason(error))); nothing was stored"))
            }
        }
        let summary: AppendSummary
        do {
            summary = try await storage.append(bundles, to: space, quotaBytes: configuration.spaceQuotaBytes)
        } catch let refusal as RelayRefusal {
            if let fork = refusal.forkedBundle {
                logger.warning("fork refused", metadata: [
                    "space": "\(space.hex)", "author": "\(fork.author.hex)", "sequence": "\(fork.sequence)",
                    "stored": "\(fork.stored.hex)", "pushed": "\(fork.pushed.hex)", "pusher": "\(session.device.hex)",
                ])
            }
            throw RelayHTTPError(refusal)
        }
        metrics.bundlesStored.increment(by: summary.stored)
        metrics.bundlesDuplicate.increment(by: summary.duplicates)
        if summary.stored > 0 {
            logger.debug("push stored", metadata: ["space": "\(space.shortDescription)", "stored": "\(summary.stored)", "duplicates": "\(summary.duplicates)"])
        }
        return try json(RelayAPI.PushResponse(stored: summary.stored, duplicates: summary.duplicates))
    }

    /// The frames of a push body, at most `maxRequestBytes`, decoded as they arrive.
    func readFrames(_ request: Request) async throws -> [[UInt8]] {
        let limit = configuration.maxRequestBytes
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw RelayHTTPError.tooLarge(limit: limit)
        }
        var decoder = BundleStreamFraming.Decoder(maxFrameBytes: configuration.maxBundleBytes)
        var frames: [[UInt8]] = []
        var total = 0
        do {
            for try await chunk in request.body {
                total += chunk.readableBytes
                guard total <= limit else { throw RelayHTTPError.tooLarge(limit: limit) }
                decoder.append(chunk.readableBytesView)
                while let frame = try decoder.next() { frames.append(frame) }
            }
        } catch let error as RelayProtocolError {
            throw RelayHTTPError.badRequest("the bundle stream is malformed: \(error.message)")
        }
        metrics.bytesIn.increment(by: total)
        guard decoder.isFinished else {
            throw RelayHTTPError.badRequest("the bundle stream has no end marker (it was cut short); push again")
        }
        return frames
    }

    /// `POST …/pull` (§4): a bundle stream, read from storage a page at a time.
    func pull(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let (space, _) = try authorize(request, context)
        let body = try await decodeJSON(RelayAPI.PullRequest.self, from: request, limit: configuration.maxRequestBytes)
        let since: VersionVector
        do {
            since = try RelayAPI.vector(body.since)
        } catch {
            throw RelayHTTPError.badRequest("the since vector is malformed: \(error)")
        }
        let storage = storage
        let metrics = metrics
        let pageSize = max(1, configuration.pullPageSize)
        return Response(
            status: .ok, headers: [.contentType: RelayAPI.bundleStreamContentType],
            body: ResponseBody { writer in
                var after: Int64 = 0
                while true {
                    let page = try await storage.bundles(in: space, since: since, afterPosition: after, limit: pageSize)
                    guard let last = page.last else { break }
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
                try await writer.write(ByteBuffer(bytes: BundleStreamFraming.endMarker))
                try await writer.finish(nil)
            })
    }
}
