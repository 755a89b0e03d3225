import ConcordCore
import ConcordTesting
import Testing

/// The pruned form (`Specs/crdt-semantics.md` §11.2–§11.3) over random histories: devices
/// write bundles (per-author chains, each bundle's clock range after its predecessor's),
/// receive bundles in random order with duplicates (a bundle waits for its predecessor, as
/// in the importer), and some prune at random frontiers at or below what they hold. Every
/// device keeps an unpruned shadow fed the same bundles. Seeds are printed by
/// `PropertyRunner`; reproduce one with `CONCORD_SEED=N`.
@Suite struct PruneProperties {
    /// One sealed bundle of the simulation.
    struct Bundle {
        let author: Int
        let sequence: UInt64
        let operations: [RecordOperation]
        var hlcMax: HLCTimestamp { operations.last!.stamp.hlc }
    }

    /// A device: its (maybe pruned) state, the unpruned shadow, and its view of the chains.
    struct Device {
        let index: Int
        let prunes: Bool
        var state = ReplicaState()
        var shadow = ReplicaState()
        var held: [UInt64]
        var heads = Frontier()
        var waiting: [Int: [UInt64: Bundle]] = [:]
        var clock: UInt64
        var sequence: UInt64 = 0
        var pruneCount = 0

        init(index: Int, authors: Int, prunes: Bool, clock: UInt64) {
            self.index = index
            self.prunes = prunes
            self.clock = clock
            held = Array(repeating: 0, count: authors)
        }

        /// Applies `bundle` if it extends its chain (then releases what waited for it),
        /// keeps it if it is early, ignores it if it is a duplicate.
        mutating func receive(_ bundle: Bundle, ids: [ReplicaID]) {
            guard bundle.sequence > held[bundle.author] else { return }
            guard bundle.sequence == held[bundle.author] + 1 else {
                waiting[bundle.author, default: [:]][bundle.sequence] = bundle
                return
            }
            var next: Bundle? = bundle
            while let current = next {
                for op in current.operations {
                    state.apply(op, inBundle: current.sequence)
                    shadow.apply(op, inBundle: current.sequence)
                }
                held[current.author] = current.sequence
                heads.advance(ids[current.author], to: current.hlcMax)
                clock = max(clock, current.hlcMax.rawValue)
                next = waiting[current.author]?.removeValue(forKey: current.sequence + 1)
            }
        }

        /// A frontier at or below the held one: per author the head, an earlier reading, or nothing.
        func randomFrontier(using rng: inout SeededGenerator) -> Frontier {
            var frontier = Frontier()
            for (author, head) in heads.heads {
                switch Int.random(in: 0..<10, using: &rng) {
                case 0..<6: frontier.advance(author, to: head)
                case 6..<9: frontier.advance(author, to: HLCTimestamp(rawValue: head.rawValue - UInt64.random(in: 0...6, using: &rng)))
                default: break
                }
            }
            return frontier
        }
    }

    static let collection = "notes"
    static let records = (1...3).map { RecordID(high: 0x5EED, low: UInt64($0)) }
    static let values: [Value] = ["x", "y", "z", 1]

    /// A bundle of 1-3 ops written by `device` from its own state (removes name the live
    /// tags it sees, or now and then a stamp that never added anything).
    static func write(_ device: inout Device, id: ReplicaID, using rng: inout SeededGenerator) -> Bundle {
        device.sequence += 1
        var ops: [RecordOperation] = []
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            device.clock += UInt64.random(in: 1...3, using: &rng)
            let stamp = Stamp(hlc: HLCTimestamp(rawValue: device.clock), replica: id)
            let record = records.randomElement(using: &rng)!
            let value = values.randomElement(using: &rng)!
            let action: RecordOperation.Action
            switch Int.random(in: 0..<20, using: &rng) {
            case 0..<7: action = .add(field: "tags", value: value)
            case 7..<13:
                var observed = device.state.tags(of: value, in: "tags", of: record, in: collection)
                if observed.isEmpty || Int.random(in: 0..<8, using: &rng) == 0 {
                    observed.append(Stamp(hlc: HLCTimestamp(rawValue: device.clock - 1), replica: id))
                }
                action = .remove(field: "tags", value: value, observed: observed)
            case 13..<17: action = .set(field: ["title", "body"].randomElement(using: &rng)!, value: value)
            default: action = .delete
            }
            let op = RecordOperation(stamp: stamp, collection: collection, record: record, action: action)
            device.state.apply(op, inBundle: device.sequence)
            device.shadow.apply(op, inBundle: device.sequence)
            ops.append(op)
        }
        device.held[device.index] = device.sequence
        device.heads.advance(id, to: ops.last!.stamp.hlc)
        return Bundle(author: device.index, sequence: device.sequence, operations: ops)
    }

    /// A device's pruned state shows exactly what its unpruned shadow shows: same canonical
    /// state, and every record hidden in the shadow (deleted, or never written) is hidden.
    static func expectInvisible(_ device: Device, seed: UInt64, _ when: String) throws {
        guard device.state.digest == device.shadow.digest else {
            throw PruneFailure(
                "device \(device.index) \(when): pruned and unpruned states differ: \(StateDiff.differences(device.state, device.shadow))"
            )
        }
        for id in records {
            let shown = device.state.recordState(id, in: collection)?.isVisible ?? false
            let truth = device.shadow.recordState(id, in: collection)?.isVisible ?? false
            guard shown == truth else {
                throw PruneFailure("device \(device.index) \(when): record \(id) visible \(shown), unpruned \(truth)")
            }
        }
    }

    /// Runs one random history; returns the devices after full delivery and every bundle.
    static func run(using rng: inout SeededGenerator, check: (Device, String) throws -> Void) throws -> (
        devices: [Device], bundles: [Bundle], ids: [ReplicaID]
    ) {
        let count = Int.random(in: 2...4, using: &rng)
        let ids = (0..<count).map { i in ReplicaID(bytes: [UInt8](repeating: UInt8(0x10 * (i + 1)), count: 32))! }
        let start = UInt64(1_700_000_000_000) << 16
        var devices = (0..<count).map { Device(index: $0, authors: count, prunes: $0 == 0 || Bool.random(using: &rng), clock: start) }
        var bundles: [Bundle] = []
        for _ in 0..<Int.random(in: 10...50, using: &rng) {
            let d = Int.random(in: 0..<count, using: &rng)
            switch Int.random(in: 0..<20, using: &rng) {
            case 0..<8:
                bundles.append(write(&devices[d], id: ids[d], using: &rng))
            case 8..<17:
                // Any bundle sealed so far: early ones wait, old ones are duplicates.
                guard let bundle = bundles.randomElement(using: &rng) else { continue }
                devices[d].receive(bundle, ids: ids)
            default:
                guard devices[d].prunes else { continue }
                let frontier = devices[d].randomFrontier(using: &rng)
                #expect(frontier.isAtOrBefore(devices[d].heads))
                devices[d].state.prune(frontier: frontier)
                devices[d].pruneCount += 1
            }
            try check(devices[d], "mid-history")
        }
        // Deliver everything to everyone, in random order with duplicates, pruning now and then.
        for d in devices.indices {
            var deliveries = bundles + bundles.filter { _ in Bool.random(using: &rng) }
            deliveries.shuffle(using: &rng)
            for bundle in deliveries {
                devices[d].receive(bundle, ids: ids)
                if devices[d].prunes, Int.random(in: 0..<6, using: &rng) == 0 {
                    devices[d].state.prune(frontier: devices[d].randomFrontier(using: &rng))
                    devices[d].pruneCount += 1
                    try check(devices[d], "during final delivery")
                }
            }
            try check(devices[d], "after final delivery")
        }
        return (devices, bundles, ids)
    }

    @Test func pruneCommutesWithLaterOps() throws {
        var pruned = 0
        try PropertyRunner.check("prune commutes with later ops, nothing deleted comes back") { rng in
            let seed = rng.seed
            let (devices, bundles, _) = try Self.run(using: &rng) { device, when in try Self.expectInvisible(device, seed: seed, when) }
            pruned += devices.reduce(0) { $0 + $1.pruneCount }
            // Every device, pruned or not, reaches the canonical state of all the ops.
            var all = ReplicaState()
            for bundle in bundles { for op in bundle.operations { all.apply(op, inBundle: bundle.sequence) } }
            for device in devices where device.state.digest != all.digest {
                throw PruneFailure("device \(device.index) did not converge")
            }
        }
        #expect(pruned > 1000, "the histories prune too rarely (\(pruned) prunes)")
    }

    @Test func prunedFormAtTheFullFrontierIsTheSameEverywhere() throws {
        try PropertyRunner.check("the pruned form at the full frontier is one state") { rng in
            let seed = rng.seed
            let (devices, bundles, _) = try Self.run(using: &rng) { _, _ in }
            var all = ReplicaState()
            for bundle in bundles { for op in bundle.operations { all.apply(op, inBundle: bundle.sequence) } }
            let full = devices[0].heads
            let reference = all.pruned(frontier: full)
            try expectConverged([reference] + devices.map { $0.state.pruned(frontier: full) }, seed: seed)
            // Nothing with tombstones is left: every tag is delivered.
            for id in Self.records {
                #expect((reference.recordState(id, in: Self.collection)?.setTombstoneCount ?? 0) == 0)
            }
            // The stubs keep their delete's bundle, and the storage encoding reads back.
            for id in Self.records {
                guard let record = reference.recordState(id, in: Self.collection) else { continue }
                if record.deletedAt != nil { #expect(record.deleteBundle != nil) }
                if !record.isVisible { #expect(record.lastWrite == nil) }
                #expect(try RecordState(storageEncoding: record.storageEncoding()) == record)
            }
        }
    }

    @Test func mergeOfPrunedStatesEqualsMergeOfUnpruned() throws {
        try PropertyRunner.check("merge of pruned states keeps the visible union") { rng in
            let seed = rng.seed
            // Two devices mid-history: stop the run early by taking a random prefix of bundles.
            let (_, bundles, ids) = try Self.run(using: &rng) { _, _ in }
            var a = Device(index: 0, authors: ids.count, prunes: true, clock: 0)
            var b = Device(index: 1, authors: ids.count, prunes: true, clock: 0)
            for bundle in bundles.shuffled(using: &rng) where Bool.random(using: &rng) { a.receive(bundle, ids: ids) }
            for bundle in bundles.shuffled(using: &rng) where Bool.random(using: &rng) { b.receive(bundle, ids: ids) }
            let fa = a.randomFrontier(using: &rng), fb = b.randomFrontier(using: &rng)
            a.state.prune(frontier: fa)
            b.state.prune(frontier: fb)
            var ab = a.state, ba = b.state, truth = a.shadow
            ab.merge(b.state, prunedAt: fb, ownFrontier: fa)
            ba.merge(a.state, prunedAt: fa, ownFrontier: fb)
            truth.merge(b.shadow)
            guard ab.digest == truth.digest, ba.digest == truth.digest else {
                throw PruneFailure("merged pruned states differ from the merged unpruned ones: \(StateDiff.differences(ab, truth))")
            }
            try expectConverged(
                [ab.pruned(frontier: fa.union(fb)), ba.pruned(frontier: fa.union(fb)), truth.pruned(frontier: fa.union(fb))], seed: seed)
        }
    }
}

/// A broken pruning property (the runner adds the seed).
struct PruneFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
