import ConcordCore
import ConcordCrypto
import ConcordStore
import ConcordTesting
import Testing

@_spi(Benchmarks) @testable import Concord
@testable import ConcordProtocol

/// The replica prunes as it writes (`Specs/snapshots.md` §9 stage 1, `Specs/crdt-semantics.md`
/// §11.2–§11.3): a store-backed ``Replica`` writes every record an import touches in pruned
/// form at its held frontier. Over random histories of real signed bundles (three writers
/// with set churn, removes of what they saw, sets and deletes, syncing now and then), a
/// store-backed replica and an unpruned in-memory one (``BundleImporter`` into a
/// `LocalReplica`) given the same bundles, in independent random orders with duplicates
/// and in imports of random size, show the same visible state. Seeds are printed by
/// `PropertyRunner`; reproduce one with `CONCORD_SEED=N`.
@Suite struct ReplicaPruneProperties {
    static let t0: UInt64 = 1_700_000_000_000
    static let space = try! Space(seed: SecretBytes([UInt8](repeating: 0x51, count: 32)), encrypted: false)
    static let records = (1...3).map { RecordID(high: 0x9A, low: UInt64($0)) }
    static let values: [Value] = ["red", "green", "blue", "amber", 7]

    struct Writer {
        let membership: Membership
        var replica: LocalReplica
        var log = BundleLog()

        init(_ byte: UInt8, time: ManualClock) {
            membership = Membership(
                writer: try! Identity(seed: [UInt8](repeating: byte, count: 32)), of: ReplicaPruneProperties.space,
                issuedAt: ReplicaPruneProperties.t0)
            replica = membership.makeReplica(clock: HybridLogicalClock(physicalClock: time))
        }

        /// 1-4 ops, mostly set churn, sealed as the next bundle.
        mutating func write(using rng: inout SeededGenerator, time: ManualClock) throws -> ChangeBundle {
            var ops: [RecordOperation] = []
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                time.advance(by: UInt64.random(in: 0...2, using: &rng))
                let record = ReplicaPruneProperties.records.randomElement(using: &rng)!
                let value = ReplicaPruneProperties.values.randomElement(using: &rng)!
                switch Int.random(in: 0..<20, using: &rng) {
                case 0..<8: ops.append(try replica.add(value, to: "tags", record: record, in: "items"))
                case 8..<15: ops.append(try replica.remove(value, from: "tags", record: record, in: "items"))
                case 15..<19: ops.append(try replica.set("title", to: value, record: record, in: "items"))
                default: ops.append(try replica.delete(record: record, in: "items"))
                }
            }
            return try membership.seal(ops, appendingTo: &log)
        }

        mutating func receive(_ bundle: ChangeBundle) {
            _ = BundleImporter(membership: membership).importBundle(bundle.bytes, into: &replica, log: &log)
        }
    }

    /// One random history: the bundles the writers sealed.
    static func history(using rng: inout SeededGenerator, steps: ClosedRange<Int>) throws -> [ChangeBundle] {
        let time = ManualClock(milliseconds: t0 + 1_000)
        var writers = (1...3).map { Writer(UInt8($0), time: time) }
        var bundles: [ChangeBundle] = []
        for _ in 0..<Int.random(in: steps, using: &rng) {
            let w = Int.random(in: 0..<writers.count, using: &rng)
            if Int.random(in: 0..<3, using: &rng) == 0, let bundle = bundles.randomElement(using: &rng) {
                writers[w].receive(bundle)  // early ones wait, old ones are duplicates
            } else {
                bundles.append(try writers[w].write(using: &rng, time: time))
            }
        }
        return bundles
    }

    /// Imports `bundles` in a random order with duplicates, in imports of random size.
    static func deliver(_ bundles: [ChangeBundle], to replica: Replica, using rng: inout SeededGenerator) async throws {
        var deliveries = bundles + bundles.filter { _ in Int.random(in: 0..<4, using: &rng) == 0 }
        deliveries.shuffle(using: &rng)
        while !deliveries.isEmpty {
            let count = min(deliveries.count, Int.random(in: 1...6, using: &rng))
            _ = try await replica.import(deliveries.prefix(count).map(\.bytes))
            deliveries.removeFirst(count)
        }
    }

    @Test func aPruningReplicaShowsWhatAnUnprunedOneShows() async throws {
        var tombstones = (pruned: 0, unpruned: 0)
        let observer = Membership(writer: try Identity(seed: [UInt8](repeating: 0x59, count: 32)), of: Self.space, issuedAt: Self.t0)
        try await PropertyRunner.checkAsync("a replica that prunes as it writes shows what an unpruned one shows") { rng in
            let bundles = try Self.history(using: &rng, steps: 8...30)
            // The reference: every bundle, unpruned, in another random order.
            var reference = observer.makeReplica()
            var log = BundleLog()
            for bundle in bundles.shuffled(using: &rng) {
                _ = BundleImporter(membership: observer).importBundle(bundle.bytes, into: &reference, log: &log)
            }
            let replica = try Replica(store: MemoryStore(), membership: observer)
            try await Self.deliver(bundles, to: replica, using: &rng)
            let digest = try await replica.state().digestHex
            guard digest == reference.state.digestHex else {
                throw PruneMismatch("visible states differ after \(bundles.count) bundles")
            }
            let counts = try await replica.storageReport().counts
            tombstones.pruned += counts.setTombstones
            tombstones.unpruned += Self.records.reduce(0) { $0 + (reference.state.recordState($1, in: "items")?.setTombstoneCount ?? 0) }
        }
        print("set tombstones kept over the histories: \(tombstones.pruned) pruning, \(tombstones.unpruned) unpruned")
        #expect(tombstones.pruned < tombstones.unpruned, "pruning as it writes keeps fewer tombstones")
    }
}

extension ReplicaPruneProperties {
    /// The figure of the CHANGELOG: a churny set workload (4 writers, 150 rounds; each round
    /// every writer adds two values to a record's set and removes the values it sees, then
    /// they all sync), imported by a replica that prunes as it writes and by an unpruned
    /// one: set tombstones kept, and the same visible state.
    static func churnySetWorkload() throws -> [ChangeBundle] {
        var rng = SeededGenerator(seed: 16)
        let time = ManualClock(milliseconds: Self.t0 + 1_000)
        var writers = (1...4).map { Writer(UInt8($0), time: time) }
        var bundles: [ChangeBundle] = []
        for _ in 0..<150 {
            var round: [ChangeBundle] = []
            for w in writers.indices {
                time.advance(by: 1)
                let record = Self.records.randomElement(using: &rng)!
                var ops = [
                    try writers[w].replica.add(Self.values.randomElement(using: &rng)!, to: "tags", record: record, in: "items"),
                    try writers[w].replica.add(Self.values.randomElement(using: &rng)!, to: "tags", record: record, in: "items"),
                ]
                for value in Self.values where Bool.random(using: &rng) {
                    ops.append(try writers[w].replica.remove(value, from: "tags", record: record, in: "items"))
                }
                round.append(try writers[w].membership.seal(ops, appendingTo: &writers[w].log))
            }
            for w in writers.indices { for bundle in round { writers[w].receive(bundle) } }
            bundles += round
        }
        return bundles
    }

    @Test func churnySetWorkloadKeepsAlmostNoTombstones() async throws {
        let bundles = try Self.churnySetWorkload()
        let observer = Membership(writer: try Identity(seed: [UInt8](repeating: 0x59, count: 32)), of: Self.space, issuedAt: Self.t0)
        var reference = observer.makeReplica()
        var log = BundleLog()
        for bundle in bundles { _ = BundleImporter(membership: observer).importBundle(bundle.bytes, into: &reference, log: &log) }
        let replica = try Replica(store: MemoryStore(), membership: observer)
        _ = try await replica.import(bundles.map(\.bytes))
        let unpruned = Self.records.reduce(0) { $0 + (reference.state.recordState($1, in: "items")?.setTombstoneCount ?? 0) }
        let pruned = try await replica.storageReport().counts.setTombstones
        print("churny set workload, \(bundles.count) bundles: set tombstones \(unpruned) unpruned, \(pruned) pruned as written")
        #expect(try await replica.state().digestHex == reference.state.digestHex)
        #expect(unpruned > 1_000 && pruned * 100 < unpruned)
    }

    /// Collection off (``Replica/Options/prunesAsWritten`` false, the school-year
    /// benchmark's "off" replicas): imports and seals keep every tombstone, the visible
    /// state is the same as a pruning replica's.
    @Test func prunesAsWrittenOffKeepsEveryTombstone() async throws {
        #expect(Replica.Options().prunesAsWritten, "collection is on by default")
        let bundles = try Self.churnySetWorkload()
        let observer = Membership(writer: try Identity(seed: [UInt8](repeating: 0x59, count: 32)), of: Self.space, issuedAt: Self.t0)
        var reference = observer.makeReplica()
        var log = BundleLog()
        for bundle in bundles { _ = BundleImporter(membership: observer).importBundle(bundle.bytes, into: &reference, log: &log) }
        let unpruned = Self.records.reduce(0) { $0 + (reference.state.recordState($1, in: "items")?.setTombstoneCount ?? 0) }
        var options = Replica.Options()
        options.prunesAsWritten = false
        let off = try Replica(store: MemoryStore(), membership: observer, options: options)
        let on = try Replica(store: MemoryStore(), membership: observer)
        // Half the bundles, then local churn sealed on top (the seal path), then the rest.
        let half = bundles.count / 2
        for replica in [off, on] {
            _ = try await replica.import(bundles[..<half].map(\.bytes))
            try await replica.write { tx in
                for value in Self.values { try tx.add(value, to: "tags", record: Self.records[0], in: "items") }
            }
            try await replica.write { tx in
                for value in Self.values { try tx.remove(value, from: "tags", record: Self.records[0], in: "items") }
            }
            _ = try await replica.seal()
            _ = try await replica.import(bundles[half...].map(\.bytes))
        }
        let kept = try await off.storageReport().counts.setTombstones
        let pruned = try await on.storageReport().counts.setTombstones
        #expect(try await off.state().digestHex == on.state().digestHex)
        #expect(kept >= unpruned, "collection off keeps every tombstone of the imported bundles (\(kept) kept, \(unpruned) unpruned)")
        #expect(pruned * 100 < kept)
    }
}

struct PruneMismatch: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
