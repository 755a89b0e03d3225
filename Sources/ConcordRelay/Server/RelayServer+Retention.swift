import ConcordCore
import ConcordCrypto
import ConcordProtocol
import Foundation
import Synchronization

/// Relay retention (`Specs/snapshots.md` §5.2, `Specs/relay-api.md` §3.1 and §7): the bytes
/// of data bundles the space's latest snapshot covers, older than
/// ``RelayConfiguration/retention``, go; a pull that needs them is `409 snapshot-required`.
extension RelayServer {
    /// One retention pass over `space`: drops the bytes of the data bundles at or below
    /// both the latest snapshot's `V` and the relay's stable cut (``RelayStability``: never
    /// above any counted member's acknowledgement), whose `hlc max` is older than the
    /// retention. Runs after each stored snapshot upload and, at most once per
    /// ``RelayConfiguration/retentionPassInterval``, after pushes.
    /// - Parameters:
    ///   - space: The space.
    ///   - now: The relay's time in milliseconds since 1970 (tests pass their own).
    /// - Returns: What was dropped; nil when retention is off, the space has no snapshot
    ///   or no members.
    @discardableResult
    package func retentionPass(of space: SpaceID, now: UInt64? = nil) async throws -> RetentionSummary? {
        guard let keep = configuration.retention.milliseconds else { return nil }
        retentionSchedule.ran(space)
        guard let snapshot = try await storage.latestSnapshot(of: space) else { return nil }
        let entry = try await members.refresh(space, storage: storage)
        guard entry.format == ChangeBundle.memberFormatVersion, let state = entry.state else { return nil }
        let held = try await storage.vector(of: space)
        let cut = RelayStability.stableCut(membership: state, held: held, dataAuthors: entry.dataAuthors)
        let bound = RelayStability.minimum(snapshot.vector, cut)
        guard !bound.entries.isEmpty else { return RetentionSummary() }
        let time = now ?? UInt64(max(0, Date().timeIntervalSince1970 * 1000))
        let hlcBelow =
            keep == 0
            ? UInt64.max : HLCTimestamp(milliseconds: min(time > keep ? time - keep : 0, HLCTimestamp.maxMilliseconds), counter: 0).rawValue
        let summary = try await storage.dropBundleBytes(in: space, through: bound, hlcBelow: hlcBelow)
        if summary.dropped > 0 {
            metrics.bundlesDropped.increment(by: summary.dropped)
            metrics.bytesDropped.increment(by: Int(clamping: summary.bytes))
            logger.info(
                "retention dropped bundles",
                metadata: [
                    "space": "\(space.shortDescription)", "bundles": "\(summary.dropped)", "bytes": "\(summary.bytes)",
                    "snapshot": "\(snapshot.id.hex.prefix(16))", "retention": "\(configuration.retention)",
                ])
        }
        return summary
    }

    /// After a push stored bundles: a retention pass in the background when the space's
    /// last one is ``RelayConfiguration/retentionPassInterval`` old. Its failure is logged;
    /// the push was answered already.
    func retentionAfterPush(of space: SpaceID) {
        guard configuration.retention.milliseconds != nil, retentionSchedule.due(space, every: configuration.retentionPassInterval) else {
            return
        }
        let server = self
        Task {
            do {
                try await server.retentionPass(of: space)
            } catch {
                server.logger.warning(
                    "a retention pass failed; the next push or upload tries again",
                    metadata: ["space": "\(space.shortDescription)", "error": "\(error)"])
            }
        }
    }

    /// `409 snapshot-required` when `since` lacks bundles below an author's floor: the relay
    /// dropped their bytes, so the pull cannot be served from the log (`Specs/relay-api.md` §4).
    /// - Parameters:
    ///   - since: The pull's vector.
    ///   - space: The space.
    /// - Throws: ``RelayError`` ``RelayError/Code/snapshotRequired`` naming the latest snapshot.
    func checkFloor(_ since: VersionVector, in space: SpaceID) async throws {
        let floor = try await storage.floor(of: space)
        guard
            let lacking = floor.entries.sorted(by: { $0.key < $1.key }).first(where: { since[$0.key] < $0.value }),
            let snapshot = try await storage.latestSnapshot(of: space)
        else { return }
        throw RelayError.snapshotRequired(snapshot: snapshot.id, author: lacking.key, holds: since[lacking.key], floor: lacking.value)
    }
}

/// When each space's last retention pass ran, so pushes start one at most once per interval.
final class RetentionSchedule: Sendable {
    private let last = Mutex<[SpaceID: ContinuousClock.Instant]>([:])

    /// Records a pass of `space` now.
    func ran(_ space: SpaceID) {
        last.withLock { $0[space] = .now }
    }

    /// Whether a pass of `space` is due (none yet, or the last `every` seconds ago); if so,
    /// it counts as started now, so concurrent pushes start one.
    func due(_ space: SpaceID, every seconds: Double) -> Bool {
        last.withLock { last in
            let now = ContinuousClock.now
            if let previous = last[space], now < previous + .milliseconds(Int64(max(0, seconds) * 1000)) { return false }
            last[space] = now
            return true
        }
    }
}
