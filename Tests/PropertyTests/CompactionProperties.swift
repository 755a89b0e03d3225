import ConcordCore
import ConcordCrypto
import ConcordTesting
import Testing

@testable import Concord
@testable import ConcordProtocol

#if canImport(Glibc)
import Glibc
#endif

/// Collection, snapshots and compaction at random points (`Specs/snapshots.md` §8, issue 16
/// "Done when"), over store-backed ``Replica``s playing seeded random histories
/// (``CompactionWorld``; seeds printed, `CONCORD_SEED=N` reruns one): every replica, pruned as
/// it writes, loaded from a snapshot or not, ends in the state the spec's oracle computes
/// (``CompactionOracle``), nothing deleted in a checkpointed bundle comes back, and every
/// snapshot sealed at one checkpoint, by any device at any time, has the same state digest.
@Suite struct CompactionProperties {
    @Test func convergenceWithCollectionAtRandomPoints() async throws {
        var histories = 0, totals = CompactionWorld.Stats(), dropped = 0, checkpoints = 0, prevented = 0
        try await PropertyRunner.checkAsync("compaction: convergence with collection at random points", cases: 1000, baseSeed: 0x434D_5000)
        {
            rng in
            var world = try await CompactionWorld(rng: &rng)
            defer { world.cleanUp() }
            try await world.play(rng: &rng)
            // Once more: everyone acknowledges what it holds and the admin checkpoints (now above
            // the returning device's writes, guarded ones included); a newcomer loads a snapshot
            // sealed there and a writer compacts to one.
            for i in world.devices.indices { try await world.duties(i) }
            for i in world.devices.indices { try await world.sync(0, from: i, partial: false, rng: &rng) }
            try await world.duties(0)
            try await world.settle(rng: &rng)
            try await world.seal(0)
            try await world.loadNewcomer(rng: &rng)
            _ = try await world.compact(Int.random(in: 1..<world.devices.count, using: &rng), rng: &rng)
            try await world.settle(rng: &rng)
            let oracle = try CompactionOracle(bundles: world.registry.values, membership: try await world.admin.memberContext().state)
            for device in world.devices {
                let state = try await device.replica.state()
                guard state.digest == oracle.state.digest else {
                    throw PropertyViolation(
                        "\(device.name)\(device.loaded ? " (loaded from a snapshot)" : "")\(device.compacted ? " (compacted)" : "") differs from the oracle: \(StateDiff.differences(state, oracle.state))"
                    )
                }
                try oracle.checkNothingDeletedCameBack(in: state, on: device.name)
            }
            // Every device seals at the latest checkpoint: one state digest.
            for i in world.devices.indices { try await world.seal(i) }
            histories += 1
            totals.snapshots += world.stats.snapshots
            totals.loads += world.stats.loads
            totals.guarded += world.stats.guarded
            totals.removals += world.stats.removals
            totals.compactions += world.stats.compactions
            totals.bundlesDropped += world.stats.bundlesDropped
            dropped += oracle.dropped.isEmpty ? 0 : 1
            checkpoints += oracle.checkpoints.count
            var unguarded = ReplicaState()
            for p in oracle.kept + oracle.dropped { unguarded.apply(p.op) }
            if oracle.deletes.contains(where: { key, delete in
                oracle.covered(delete) && unguarded.recordState(key.id, in: key.collection)?.isVisible == true
                    && oracle.state.recordState(key.id, in: key.collection)?.isVisible != true
            }) {
                prevented += 1
            }
        }
        print(
            "compaction histories: \(histories); snapshots sealed \(totals.snapshots), newcomers loaded \(totals.loads), compactions \(totals.compactions) (bundles dropped \(totals.bundlesDropped)), removals \(totals.removals), checkpoints \(checkpoints); histories with guarded writes \(dropped), with a resurrection prevented \(prevented); guarded on import \(totals.guarded)"
        )
        if getenv("CONCORD_SEED") == nil {
            #expect(totals.loads * 2 >= histories, "fewer than one load in two histories")
            #expect(totals.compactions * 5 >= histories, "fewer than one compaction in five histories")
            #expect(dropped * 10 >= histories, "fewer than one history in ten guards a write")
        }
    }
}
