import ConcordCore
import ConcordTesting

@testable import Concord
@testable import ConcordProtocol

extension CompactionWorld {
    /// Device `i` (never the admin: it keeps the whole log, as a relay with long retention
    /// would, so a device returning from far behind finds every bundle it lacks) compacts to
    /// a snapshot it seals now (or its latest verified one), with a history horizon of 0 or
    /// a few milliseconds (some bundles at or below `V` stay for history).
    /// - Returns: The report, or `nil` when it has nothing to compact to.
    mutating func compact(_ i: Int, rng: inout SeededGenerator) async throws -> CompactionReport? {
        guard i != 0, !devices[i].removed else { return nil }
        if try await devices[i].replica.snapshotStatus()?.state != .verified || Bool.random(using: &rng) { try await seal(i) }
        guard try await devices[i].replica.snapshotStatus()?.state == .verified else { return nil }
        let horizon: Duration = Bool.random(using: &rng) ? .zero : .milliseconds(Int.random(in: 1...200, using: &rng))
        let report: CompactionReport
        do {
            report = try await devices[i].replica.compact(historyHorizon: horizon)
        } catch let error as ConcordError where error.code == .snapshotRefused {
            return nil  // its latest snapshot is older than its base (it loaded a newer one)
        }
        stats.compactions += 1
        stats.bundlesDropped += report.bundlesDropped
        devices[i].compacted = true
        return report
    }
}
