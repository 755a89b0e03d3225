import ConcordCore
import ConcordCrypto
import ConcordTesting
import Testing

@testable import Concord
@testable import ConcordProtocol

#if canImport(Glibc)
import Glibc
#endif

/// Fork detection survives compaction (`Specs/snapshots.md` §5.1, `Specs/sync-protocol.md`
/// §7): after a replica compacted (its log below the floor gone, the ids kept), a copy of a
/// dropped bundle is still a duplicate and another bundle signed for the same place is
/// still a fork, quarantined, exactly as on the admin's replica that holds the whole log.
extension CompactionProperties {
    @Test func forksBelowTheFloorAreDetected() async throws {
        var histories = 0, belowFloor = 0, dropped = 0
        try await PropertyRunner.checkAsync("compaction: forks below the floor are detected", cases: 1000, baseSeed: 0x434D_5100) { rng in
            var knobs = CompactionWorld.Knobs()
            knobs.steps = 4...10
            knobs.stale = false
            knobs.loads = false
            knobs.removals = false
            knobs.compactions = false
            var world = try await CompactionWorld(rng: &rng, knobs: knobs, writers: 2)
            defer { world.cleanUp() }
            for _ in 0..<Int.random(in: knobs.steps, using: &rng) { try await world.step(rng: &rng) }
            try await world.settle(rng: &rng)
            let c = Int.random(in: 1...2, using: &rng)
            guard let report = try await world.compact(c, rng: &rng) else { return }
            dropped += report.bundlesDropped
            // A data bundle of any author, at any place from 2 on.
            let candidates = world.registry.values.filter { !$0.isControl && $0.sequence >= 2 }.sorted {
                ($0.author, $0.sequence) < ($1.author, $1.sequence)
            }
            guard let original = candidates.randomElement(using: &rng) else { return }
            guard
                let previous = world.registry.values.first(where: { $0.author == original.author && $0.sequence == original.sequence - 1 }),
                let author = world.devices.first(where: { $0.replica.deviceID.publicKey == original.author })
            else { throw PropertyViolation("the registry misses the bundle before \(original.sequence)") }
            if original.sequence <= report.vector[original.author] { belowFloor += 1 }
            world.time.advance(by: 1)
            let op = RecordOperation(
                stamp: Stamp(hlc: HLCTimestamp(milliseconds: world.time.nowMilliseconds(), counter: 0), replica: author.replica.replicaID),
                collection: CompactionWorld.collection, record: world.records[0], action: .set(field: "v", value: .int(-1)))
            let fork = try ChangeBundle.sealMember(
                [op], author: author.replica.membership.device, spaceID: author.replica.spaceID, previous: previous, epoch: nil)
            let before = try await world.admin.state().digest
            for i in [c, 0] {
                let duplicate = try await world.devices[i].replica.import(original.bytes)
                guard case .duplicate = duplicate else {
                    throw PropertyViolation(
                        "\(world.devices[i].name) took a copy of bundle \(original.sequence) (floor \(report.vector[original.author])) as \(duplicate)"
                    )
                }
                let forked = try await world.devices[i].replica.import(fork.bytes)
                guard case .fork(let author, let sequence) = forked, author == original.author, sequence == original.sequence else {
                    throw PropertyViolation(
                        "\(world.devices[i].name) took a fork of bundle \(original.sequence) (floor \(report.vector[original.author])) as \(forked)"
                    )
                }
                guard try await world.devices[i].replica.state().digest == before else {
                    throw PropertyViolation("\(world.devices[i].name) changed its state on a duplicate or a fork")
                }
            }
            histories += 1
        }
        print("fork histories: \(histories); forks below the compacted floor \(belowFloor); bundles dropped \(dropped)")
        if getenv("CONCORD_SEED") == nil { #expect(belowFloor * 3 >= histories, "fewer than a third of the forks lie below the floor") }
    }
}
