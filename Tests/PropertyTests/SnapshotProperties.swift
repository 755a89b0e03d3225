import ConcordCore
import ConcordCrypto
import ConcordProtocol
import ConcordTesting
import Testing

/// Snapshots (`Specs/snapshots.md` §4, §8) over random histories: authors write bundles
/// (sets, adds, removes of observed tags, deletes) on a few records; a vector `V` cuts each
/// chain at a random point; the state at `V` is pruned at `V`'s frontier, sealed in chunks of
/// random size (plaintext or encrypted), decoded and checked as a loader does. Seeds are
/// printed by `PropertyRunner`; reproduce one with `CONCORD_SEED=N`.
@Suite struct SnapshotProperties {
    struct Bundle {
        let author: Int
        let sequence: UInt64
        let operations: [RecordOperation]
        var hlcMax: HLCTimestamp { operations.last!.stamp.hlc }
    }

    struct History {
        let ids: [ReplicaID]
        let bundles: [Bundle]  // in write order
        let cut: [UInt64]  // V, per author

        func below(_ bundle: Bundle) -> Bool { bundle.sequence <= cut[bundle.author] }

        /// `V`'s links: each author's sequence and chain mark at `V`.
        var links: [SnapshotManifest.Link] {
            cut.enumerated().compactMap { author, sequence in
                guard sequence > 0 else { return nil }
                let mark = bundles.filter { $0.author == author && $0.sequence <= sequence }.map(\.hlcMax).max()!
                return SnapshotManifest.Link(
                    author: try! PublicKey(bytes: ids[author].bytes), sequence: sequence,
                    bundle: BundleID(digest: Blake2b.hash([UInt8(author), UInt8(truncatingIfNeeded: sequence)])), hlcMax: mark)
            }
        }

        var frontier: Frontier {
            var frontier = Frontier()
            for bundle in bundles where below(bundle) { frontier.advance(ids[bundle.author], to: bundle.hlcMax) }
            return frontier
        }

        /// The bundles at or below `V` in an order that keeps each chain in sequence order,
        /// shuffled across authors, with duplicates.
        func shuffledBelow(using rng: inout SeededGenerator) -> [Bundle] {
            var queues = (0..<ids.count).map { author in bundles.filter { $0.author == author && below($0) } }
            var order: [Bundle] = []
            while queues.contains(where: { !$0.isEmpty }) {
                let author = queues.indices.filter { !queues[$0].isEmpty }.randomElement(using: &rng)!
                let bundle = queues[author].removeFirst()
                order.append(bundle)
                if Int.random(in: 0..<6, using: &rng) == 0 { order.append(bundle) }
            }
            return order
        }

        /// The pruned state at `V`, applying the bundles in `order`.
        func stateAtV(_ order: [Bundle]) -> ReplicaState {
            var state = ReplicaState()
            for bundle in order { for op in bundle.operations { state.apply(op, inBundle: bundle.sequence) } }
            return state.pruned(frontier: frontier)
        }
    }

    static let records = (1...4).map { RecordID(high: 0x5EED, low: UInt64($0)) }
    static func collection(of record: RecordID) -> String { record == records[0] || record == records[2] ? "notes" : "todos" }
    static let values: [Value] = ["x", "y", "z", 1, .bytes([0xC0])]

    static func history(using rng: inout SeededGenerator) -> History {
        let count = Int.random(in: 1...4, using: &rng)
        let ids = (0..<count).map { i in ReplicaID(bytes: [UInt8](repeating: UInt8(0x10 * (i + 1)), count: 32))! }
        var clock = UInt64(1_700_000_000_000) << 16
        var world = ReplicaState()
        var sequences = [UInt64](repeating: 0, count: count)
        var bundles: [Bundle] = []
        for _ in 0..<Int.random(in: 1...30, using: &rng) {
            let author = Int.random(in: 0..<count, using: &rng)
            sequences[author] += 1
            var ops: [RecordOperation] = []
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                clock += UInt64.random(in: 1...3, using: &rng)
                let stamp = Stamp(hlc: HLCTimestamp(rawValue: clock), replica: ids[author])
                let record = records.randomElement(using: &rng)!
                let value = values.randomElement(using: &rng)!
                let collection = Self.collection(of: record)
                let action: RecordOperation.Action
                switch Int.random(in: 0..<20, using: &rng) {
                case 0..<7: action = .add(field: "tags", value: value)
                case 7..<12:
                    action = .remove(field: "tags", value: value, observed: world.tags(of: value, in: "tags", of: record, in: collection))
                case 12..<18: action = .set(field: ["title", "body"].randomElement(using: &rng)!, value: value)
                default: action = .delete
                }
                let op = RecordOperation(stamp: stamp, collection: collection, record: record, action: action)
                world.apply(op, inBundle: sequences[author])
                ops.append(op)
            }
            bundles.append(Bundle(author: author, sequence: sequences[author], operations: ops))
        }
        let cut = sequences.map { UInt64.random(in: 0...$0, using: &rng) }
        return History(ids: ids, bundles: bundles, cut: cut)
    }

    static let signers = [
        try! Identity(seed: [UInt8](repeating: 0x61, count: 32)), try! Identity(seed: [UInt8](repeating: 0x62, count: 32)),
    ]
    static let space = try! Identity(seed: [UInt8](repeating: 0x63, count: 32)).publicKey
    static let epoch = EpochKey(key: try! SymmetricKey(bytes: [UInt8](repeating: 0x64, count: 32)))

    static func seal(_ state: ReplicaState, _ history: History, chunkLimit: Int, key: EpochKey?, signer: Identity) -> SealedSnapshot {
        var writer = SnapshotWriter(chunkLimit: chunkLimit)
        for record in state.recordsInKeyOrder {
            writer.append(SnapshotRecord(collection: record.collection, id: record.id, state: record.state))
        }
        return SealedSnapshot.seal(
            space: space, madeAt: HLCTimestamp(rawValue: 1), key: key, checkpoint: BundleID(digest: Blake2b.hash([9])),
            links: history.links, membershipDigest: SnapshotManifest.membershipDigest(of: [BundleID]()), visibleDigest: state.digest,
            writer: &writer, signer: signer)
    }

    /// What a loader does: decode and check everything, then build the state.
    static func load(_ snapshot: SealedSnapshot, key: EpochKey?) throws -> ReplicaState {
        let decoded = try SealedSnapshot.decode(manifest: snapshot.manifest.bytes, chunks: snapshot.chunks)
        var state = ReplicaState()
        for record in try decoded.records(key: key) { state.insertRecord(record.state, id: record.id, in: record.collection) }
        guard state.digest == decoded.manifest.visibleDigest else { throw SnapshotPropertyFailure("visible digest differs") }
        return state
    }

    @Test func loadPlusTailEqualsReplay() throws {
        try PropertyRunner.check("loadPlusTailEqualsReplay") { rng in
            let history = Self.history(using: &rng)
            var replay = ReplicaState()
            for bundle in history.bundles { for op in bundle.operations { replay.apply(op, inBundle: bundle.sequence) } }
            let key = Bool.random(using: &rng) ? Self.epoch : nil
            let snapshot = Self.seal(
                history.stateAtV(history.shuffledBelow(using: &rng)), history, chunkLimit: Int.random(in: 40...2_000, using: &rng),
                key: key,
                signer: Self.signers[0])
            var loaded = try Self.load(snapshot, key: key)
            // The tail: every bundle above V, each chain in order, shuffled across authors.
            var queues = history.ids.indices.map { author in history.bundles.filter { $0.author == author && !history.below($0) } }
            while queues.contains(where: { !$0.isEmpty }) {
                let author = queues.indices.filter { !queues[$0].isEmpty }.randomElement(using: &rng)!
                let bundle = queues[author].removeFirst()
                for op in bundle.operations { loaded.apply(op, inBundle: bundle.sequence) }
            }
            guard loaded.digest == replay.digest else {
                throw SnapshotPropertyFailure("snapshot + tail differs from the replay: \(StateDiff.differences(loaded, replay))")
            }
        }
    }

    @Test func stateDigestIsCanonical() throws {
        try PropertyRunner.check("stateDigestIsCanonical") { rng in
            let history = Self.history(using: &rng)
            let a = Self.seal(
                history.stateAtV(history.shuffledBelow(using: &rng)), history, chunkLimit: Int.random(in: 40...300, using: &rng), key: nil,
                signer: Self.signers[0])
            let b = Self.seal(
                history.stateAtV(history.shuffledBelow(using: &rng)), history, chunkLimit: Int.random(in: 300...4_000, using: &rng),
                key: Self.epoch, signer: Self.signers[1])
            guard a.manifest.stateDigest == b.manifest.stateDigest, a.manifest.visibleDigest == b.manifest.visibleDigest,
                a.manifest.recordCount == b.manifest.recordCount
            else {
                throw SnapshotPropertyFailure("two sealers at the same V disagree: \(a.manifest.stateDigest) vs \(b.manifest.stateDigest)")
            }
            // Both load.
            _ = try Self.load(a, key: nil)
            _ = try Self.load(b, key: Self.epoch)
        }
    }

    @Test func tamperingIsDetected() throws {
        try PropertyRunner.check("tamperingIsDetected") { rng in
            let history = Self.history(using: &rng)
            let truth = history.stateAtV(history.shuffledBelow(using: &rng))
            let key = Bool.random(using: &rng) ? Self.epoch : nil
            let snapshot = Self.seal(truth, history, chunkLimit: Int.random(in: 40...600, using: &rng), key: key, signer: Self.signers[0])
            // 1. Bytes changed in transit: refused by the codec.
            var manifest = snapshot.manifest.bytes
            var chunks = snapshot.chunks
            if Bool.random(using: &rng) {
                manifest = ByteMutator.mutate(manifest, using: &rng)
            } else {
                let index = Int.random(in: 0..<chunks.count, using: &rng)
                chunks[index] = ByteMutator.mutate(chunks[index], using: &rng)
            }
            if manifest != snapshot.manifest.bytes || chunks != snapshot.chunks {
                do {
                    _ = try Self.load(SealedSnapshot(manifest: try SnapshotManifest.decode(manifest), chunks: chunks), key: key)
                    throw SnapshotPropertyFailure("a tampered snapshot loaded")
                } catch is ConcordError {}
            }
            // 2. Forged content, consistently signed by the member itself: it loads, and the
            // recompute from the log (the state at V) gives another state digest.
            var forged = truth
            let record = Self.records.randomElement(using: &rng)!
            let collection = Self.collection(of: record)
            forged.apply(
                RecordOperation(
                    stamp: Stamp(hlc: HLCTimestamp(rawValue: UInt64.random(in: 1...(1 << 62), using: &rng)), replica: history.ids[0]),
                    collection: collection, record: record, action: .set(field: "title", value: "forged")))
            guard forged != truth else { return }
            let lie = Self.seal(forged, history, chunkLimit: 500, key: key, signer: Self.signers[0])
            _ = try Self.load(lie, key: key)
            let recomputed = Self.seal(
                history.stateAtV(history.shuffledBelow(using: &rng)), history, chunkLimit: 4_000, key: nil, signer: Self.signers[1])
            guard recomputed.manifest.stateDigest != lie.manifest.stateDigest else {
                throw SnapshotPropertyFailure("a forged snapshot passes the recompute")
            }
            guard recomputed.manifest.stateDigest == snapshot.manifest.stateDigest else {
                throw SnapshotPropertyFailure("the honest snapshot fails the recompute")
            }
        }
    }
}

struct SnapshotPropertyFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
