import Testing

@testable import ConcordCore

/// `ReplicaState.canonicalEncoding(ofSorted:_:)`, the snapshot loader's visible digest
/// without building the state (`Specs/snapshots.md` §4.5 step 2): the same bytes as the
/// state's own encoding, and nil for records out of the canonical order.
@Suite struct CanonicalEncodingTests {
    /// A seeded state over three collections (one hidden entirely, names that sort
    /// differently as bytes and as Swift strings), with sets, deletes and empty records.
    static func randomState(seed: UInt64) -> ReplicaState {
        var rng = SplitMix64(state: seed)
        let collections = ["notes", "Notes", "é", "e\u{301}", "tasks-with-a-name-longer-than-16"]
        var ops: [RecordOperation] = []
        for n in 0..<300 {
            let record = RecordID(high: UInt64.random(in: 0...3, using: &rng) << 60, low: UInt64.random(in: 0..<40, using: &rng))
            let collection = collections.randomElement(using: &rng)!
            let s = stamp(UInt64(n + 1), 0, UInt8.random(in: 1...3, using: &rng))
            let action: RecordOperation.Action
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<5: action = .set(field: ["a", "b", "title"].randomElement(using: &rng)!, value: .int(Int64(n)))
            case 5..<8: action = .add(field: "tags", value: .string(["x", "y", "z"].randomElement(using: &rng)!))
            default: action = .delete
            }
            ops.append(op(action, s, record: record, collection: collection))
        }
        return state(ops)
    }

    @Test func streamingEncodingEqualsTheStatesEncoding() {
        for seed in UInt64(1)...40 {
            let state = Self.randomState(seed: seed)
            let records = state.recordsInKeyOrder
            #expect(records.contains { !$0.state.isVisible }, "seed \(seed): some hidden record")
            let streamed = ReplicaState.canonicalEncoding(ofSorted: records) { $0 }
            #expect(streamed == state.canonicalEncoding(), "seed \(seed)")
            #expect(ReplicaState.digest(ofSorted: records) { $0 } == state.digest, "seed \(seed)")
        }
        #expect(ReplicaState.canonicalEncoding(ofSorted: ReplicaState().recordsInKeyOrder) { $0 } == ReplicaState().canonicalEncoding())
    }

    @Test func recordsOutOfOrderGiveNil() {
        let records = Self.randomState(seed: 7).recordsInKeyOrder
        #expect(records.count > 2)
        var swapped = records
        swapped.swapAt(0, records.count - 1)
        #expect(ReplicaState.canonicalEncoding(ofSorted: swapped) { $0 } == nil)
        #expect(ReplicaState.canonicalEncoding(ofSorted: records + [records.last!]) { $0 } == nil, "a repeat")
    }
}

/// SplitMix64: a repeatable generator (ConcordCoreTests does not link ConcordTesting).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
