import ConcordCore
import Foundation
import Testing

/// `Specs/vectors/pruning.jsonl` (`Specs/crdt-semantics.md` §11.2–§11.3, the pruned form),
/// written by `Tools/reference/gen_pruning_vectors.py` from the independent Python
/// reference: ops applied with their bundle positions give the record states of the case;
/// pruning at the frontier gives the pruned record states (delete stubs in the version-2
/// record encoding) and leaves the canonical state alone; later ops on the pruned form give
/// the canonical state of applying them without pruning; merges of pruned states give the
/// same records either way round.
@Suite struct PruningVectorTests {
    @Test func everyPruningVectorConforms() throws {
        let cases = try VectorConformanceTests.load("pruning.jsonl")
        #expect(Set(cases.map(\.name)).count == cases.count, "case names must be unique")
        let groups = Dictionary(grouping: cases) { $0.json["group"] as? String ?? "" }
        #expect((groups["prune"]?.count ?? 0) >= 30)
        #expect((groups["merge"]?.count ?? 0) >= 10)
        for name in [
            "tombstone_of_undelivered_add_stays", "tombstone_at_frontier_is_dropped", "frontier_is_per_author", "live_tags_stay",
            "record_of_delivered_tombstones_only_goes", "hidden_record_keeps_stub_drops_write", "stub_with_unknown_bundle",
            "merge_pruned_with_unpruned_keeps_value_removed",
        ] {
            #expect(cases.contains { $0.name == name }, "missing pruning vector \(name)")
        }
        let passed = VectorConformanceTests.checkEach(cases, "pruning", check)
        print("conformance: \(passed) pruning vectors passed")
    }

    func check(_ v: Vector) throws {
        let frontier = try Self.frontier(v.array("frontier"))
        switch v.json["group"] as? String {
        case "prune":
            var state = try Self.state(v.array("ops"))
            try Self.records(v, "record_states", state)
            try VectorConformanceTests.require(
                hex(state.canonicalEncoding()) == (try v.string("canonical_state_hex")), v, "canonical state")
            let digest = state.digest
            state.prune(frontier: frontier)
            try Self.records(v, "pruned_record_states", state)
            try VectorConformanceTests.require(state.digest == digest, v, "pruning changed the canonical state")
            // Pruning again changes nothing; the copying form agrees.
            try VectorConformanceTests.require(state.prune(frontier: frontier).isEmpty, v, "a second prune dropped more")
            try VectorConformanceTests.require(
                try Self.state(v.array("ops")).pruned(frontier: frontier) == state, v, "pruned(frontier:) differs from prune(frontier:)")
            for j in try v.array("later_ops") { try Self.apply(j, to: &state) }
            try Self.records(v, "later_record_states", state)
            try VectorConformanceTests.require(
                hex(state.canonicalEncoding()) == (try v.string("later_canonical_state_hex")), v, "canonical state after the later ops")
        case "merge":
            let other = try Self.frontier(v.array("other_frontier"))
            let a = try Self.state(v.array("ops")).pruned(frontier: frontier)
            let b = try Self.state(v.array("other_ops")).pruned(frontier: other)
            var ab = a, ba = b
            ab.merge(b, prunedAt: other, ownFrontier: frontier)
            ba.merge(a, prunedAt: frontier, ownFrontier: other)
            for merged in [ab, ba] {
                try Self.records(v, "merged_record_states", merged)
                try VectorConformanceTests.require(
                    hex(merged.canonicalEncoding()) == (try v.string("canonical_state_hex")), v, "merged canonical state")
            }
        default:
            throw Mismatch(message: "\(v.name): unknown group")
        }
    }

    /// Applies ops in order, each with its bundle position when the case gives one.
    static func state(_ ops: [[String: Any]]) throws -> ReplicaState {
        var state = ReplicaState()
        for j in ops { try apply(j, to: &state) }
        return state
    }

    static func apply(_ j: [String: Any], to state: inout ReplicaState) throws {
        let op = try VectorConformanceTests.operation(j)
        if let bundle = j["bundle"] as? Int {
            state.apply(op, inBundle: UInt64(bundle))
        } else {
            state.apply(op)
        }
    }

    static func frontier(_ entries: [[String: Any]]) throws -> Frontier {
        var heads: [ReplicaID: HLCTimestamp] = [:]
        for entry in entries {
            let stamp = try VectorConformanceTests.stamp(entry)
            heads[stamp.replica] = stamp.hlc
        }
        return Frontier(heads)
    }

    /// The records listed under `key`, in the storage encoding, and no others.
    static func records(_ v: Vector, _ key: String, _ state: ReplicaState) throws {
        let entries = try v.array(key)
        for entry in entries {
            let item = Vector(name: v.name, expected: "", json: entry)
            let id = try RecordID(uuidString: try item.string("record"))
            let collection = try item.string("collection")
            guard let record = state.recordState(id, in: collection) else {
                throw Mismatch(message: "\(v.name): \(key): no record \(collection)/\(id)")
            }
            let encoded = record.storageEncoding()
            try VectorConformanceTests.require(
                hex(encoded) == (try item.string("state_hex")), v, "\(key): \(collection)/\(id) has state \(hex(encoded))")
            // The encoding reads back to the same state (version 1 and version 2).
            try VectorConformanceTests.require(
                try RecordState(storageEncoding: encoded) == record, v, "\(key): \(collection)/\(id) does not read back")
        }
        try VectorConformanceTests.require(
            entries.count == state.recordCount, v, "\(key) lists \(entries.count) of \(state.recordCount) records")
    }
}
