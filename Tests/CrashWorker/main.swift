// concord-crash-worker --store DIR --peer-bundles FILE --seed N --journal FILE
//
// The process `Tests/IntegrationTests/CrashSafetyTests.swift` SIGKILLs at random moments.
// It opens the replica in DIR (the test created it) and loops forever over a seeded mix
// of local write transactions, seals, and imports of the peer's bundles (single and
// bulk, in order, out of order and duplicated), journaling each call:
//
//   H <seed>                           the replica is open
//   B <n> write|seal|import <seq>|bulk <seq,seq,…>   about to make call n (with, for a
//   O set|add|remove|delete …          write, its operations), then
//   E <n>                              end of the intent (one write+fsync for B…E)
//   W|A|R|D <collection> <record> …    call n returned: each acknowledged operation,
//   S <sequence>                       each sealed bundle,
//   I <seq> <bundle-id> <outcome> …    the outcome of a single import,
//   M applied … rejected … ops …       the summary of a bulk import,
//   K <n> <µs>                         end of the acknowledgement (one write+fsync), and
//                                      how long the call took
//
// Acknowledgement lines are written only after the call returned, so they are exactly
// the operations Concord acknowledged. The intent lines let the test know the call that
// was in flight when the kill landed (it may or may not have committed).
import Concord
import ConcordCore
import Foundation

/// SplitMix64: small, seeded, good enough to pick operations.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One planned local operation.
enum PlannedOperation: Sendable {
    case set(collection: String, record: RecordID, field: String, value: Int64)
    case add(collection: String, record: RecordID, value: Int64)
    case remove(collection: String, record: RecordID, value: Int64)
    case delete(collection: String, record: RecordID)

    /// The intent line (`O …`).
    var intent: String {
        switch self {
        case let .set(c, r, f, v): "O set \(c) \(r.uuidString) \(f) \(v)"
        case let .add(c, r, v): "O add \(c) \(r.uuidString) \(Layout.workerSet) \(v)"
        case let .remove(c, r, v): "O remove \(c) \(r.uuidString) \(Layout.workerSet) \(v)"
        case let .delete(c, r): "O delete \(c) \(r.uuidString)"
        }
    }

    /// The acknowledgement line (`W`, `A`, `R`, `D`).
    var acknowledgement: String {
        switch self {
        case let .set(c, r, f, v): "W \(c) \(r.uuidString) \(f) \(v)"
        case let .add(c, r, v): "A \(c) \(r.uuidString) \(Layout.workerSet) \(v)"
        case let .remove(c, r, v): "R \(c) \(r.uuidString) \(Layout.workerSet) \(v)"
        case let .delete(c, r): "D \(c) \(r.uuidString)"
        }
    }

    func apply(to tx: WriteTransaction) throws {
        switch self {
        case let .set(c, r, f, v): try tx.set(f, to: .int(v), record: r, in: c)
        case let .add(c, r, v): try tx.add(.int(v), to: Layout.workerSet, record: r, in: c)
        case let .remove(c, r, v): try tx.remove(.int(v), from: Layout.workerSet, record: r, in: c)
        case let .delete(c, r): try tx.delete(record: r, in: c)
        }
    }
}

struct Arguments {
    var store = ""
    var peerBundles = ""
    var seed: UInt64 = 0
    var journal = ""

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next() else { fail("missing value after \(flag)") }
            switch flag {
            case "--store": store = value
            case "--peer-bundles": peerBundles = value
            case "--seed":
                guard let number = UInt64(value) else { fail("--seed wants an unsigned integer, not \(value)") }
                seed = number
            case "--journal": journal = value
            default: fail("unknown option \(flag); usage: concord-crash-worker --store DIR --peer-bundles FILE --seed N --journal FILE")
            }
        }
        if store.isEmpty || peerBundles.isEmpty || journal.isEmpty {
            fail("usage: concord-crash-worker --store DIR --peer-bundles FILE --seed N --journal FILE")
        }
        guard seed < 1 << 36 else { fail("--seed must be below 2^36") }
    }
}

/// Reads the peer file: bundles as a 4-byte big-endian length and the bytes, in the
/// peer's chain order (the bundle at index i has sequence i + 1).
func readPeerBundles(_ path: String) -> [ChangeBundle] {
    guard let data = FileManager.default.contents(atPath: path) else { fail("cannot read \(path)") }
    let bytes = [UInt8](data)
    var bundles: [ChangeBundle] = []
    var offset = 0
    while offset < bytes.count {
        guard offset + 4 <= bytes.count else { fail("\(path): truncated length at \(offset)") }
        let length = bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
        offset += 4
        guard offset + length <= bytes.count else { fail("\(path): truncated bundle at \(offset)") }
        do {
            let bundle = try ChangeBundle(bytes: Array(bytes[offset..<(offset + length)]))
            guard bundle.sequence == UInt64(bundles.count + 1) else { fail("\(path): bundle \(bundles.count) has sequence \(bundle.sequence)") }
            bundles.append(bundle)
        } catch {
            fail("\(path): bundle \(bundles.count) does not decode: \(error)")
        }
        offset += length
    }
    return bundles
}

let arguments = Arguments(CommandLine.arguments)
let peer = readPeerBundles(arguments.peerBundles)
let journal = Journal(path: arguments.journal)
let replica: Replica
do {
    replica = try Replica.open(at: arguments.store)
} catch {
    fail("cannot open \(arguments.store): \(error)")
}
journal.append(["H \(arguments.seed)"])
await Worker(replica: replica, peer: peer, journal: journal, seed: arguments.seed).run()
