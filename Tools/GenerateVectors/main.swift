// concord-vectors: writes the language-neutral test vectors of Specs/vectors:
// values.jsonl and operations.jsonl (this file and MergeVectors.swift), bundles.jsonl
// (BundleVectors*.swift), hlc.jsonl (ClockVectors.swift), coalescing.jsonl
// (CoalescingVectors.swift), invites.jsonl (InviteVectors.swift), membership.jsonl
// (MembershipVectors*.swift), member_bundles.jsonl (MemberBundleVectors.swift) and
// snapshots.jsonl (SnapshotVectors.swift).
//
//     swift run concord-vectors [output-directory]     # default: Specs/vectors
//
// Every input is fixed (the one "random" batch uses an inline xorshift with a fixed
// seed; bundles use fixed test seeds, issue times, clock readings and nonces), and JSON
// is rendered by hand with a fixed key order, so regenerating produces byte-identical
// files on every platform. Each case is checked before anything is written: a valid
// value or batch must decode to its inputs and re-encode to the same bytes, an invalid
// one must throw the error code it names; each bundle is imported with the real
// BundleImporter, which must give the outcome or error code the case names. Layout and
// rules: Specs/wire-format.md.
import ConcordCore
import Foundation

/// Foundation also declares `RecordOperation` (NSOperation).

// MARK: - Case collection and self-check

var problems: [String] = []
var valueLines: [String] = []
var operationLines: [String] = []

/// Decodes exactly one value; bytes after it are malformed (a value vector holds one value).
func decodeSingleValue(_ bytes: [UInt8]) throws -> Value {
    var reader = ByteReader(bytes)
    let value = try Value.decode(from: &reader)
    guard reader.isAtEnd else { throw reader.error("\(reader.remaining) trailing bytes after the value") }
    return value
}

func errorCode(_ body: () throws -> Void) -> String? {
    do { try body() } catch let error as ConcordCoreError { return error.code.description } catch { return "\(error)" }
    return nil
}

@MainActor func validValue(_ name: String, _ value: Value) {
    let bytes = value.canonicalBytes
    if let code = errorCode({ if try decodeSingleValue(bytes) != value { throw CocoaError(.coderInvalidValue) } }) {
        problems.append("value \(name): \(code)")
    }
    valueLines.append(line([("name", .string(name)), ("expected", .string("valid")), ("hex", .string(hex(bytes))), ("value", json(value))]))
}

@MainActor func invalidValue(_ name: String, _ bytes: [UInt8], _ expected: String = "malformedEncoding") {
    let got = errorCode { _ = try decodeSingleValue(bytes) }
    if got != expected { problems.append("value \(name): expected \(expected), got \(got ?? "valid")") }
    valueLines.append(line([("name", .string(name)), ("expected", .string(expected)), ("hex", .string(hex(bytes)))]))
}

/// A valid batch. `bytes` defaults to the encoder's output; pass hand-built bytes for a
/// non-canonical but valid encoding, whose re-encoding is then given as `reencoded_hex`.
@MainActor func validBatch(_ name: String, _ ops: [RecordOperation], bytes: [UInt8]? = nil) {
    let canonical = OperationCodec.encode(ops)
    let input = bytes ?? canonical
    if let code = errorCode({ if try OperationCodec.decode(input) != ops { throw CocoaError(.coderInvalidValue) } }) {
        problems.append("batch \(name): \(code)")
    }
    var state = ReplicaState()
    state.apply(contentsOf: ops)
    var pairs: [(String, JSON)] = [("name", .string(name)), ("expected", .string("valid")), ("hex", .string(hex(input)))]
    if input != canonical { pairs.append(("reencoded_hex", .string(hex(canonical)))) }
    pairs += [("ops", .array(ops.map { json($0) })), ("state_digest_hex", .string(state.digestHex)),
              ("canonical_state_hex", .string(hex(state.canonicalEncoding()))), ("record_states", recordStates(state, ops))]
    operationLines.append(line(pairs))
}

@MainActor func invalidBatch(_ name: String, _ bytes: [UInt8], _ expected: String = "malformedEncoding") {
    let got = errorCode { _ = try OperationCodec.decode(bytes) }
    if got != expected { problems.append("batch \(name): expected \(expected), got \(got ?? "valid")") }
    operationLines.append(line([("name", .string(name)), ("expected", .string(expected)), ("hex", .string(hex(bytes)))]))
}

// MARK: - Fixed inputs

let alice = ReplicaID(bytes: (0..<32).map { UInt8($0) })!           // 000102...1f
let bob = ReplicaID(bytes: (0..<32).map { UInt8(0xe0 + $0) })!      // e0e1...ff
let carol = ReplicaID(bytes: [UInt8](repeating: 0x7c, count: 32))!
let todo1 = try! RecordID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")
let todo2 = try! RecordID(uuidString: "0F8FAD5B-D9CB-469F-A165-70867728950E")
let todo3 = try! RecordID(uuidString: "7C9E6679-7425-40DE-944B-E07FC1F90AE7")
let base: UInt64 = 1_700_000_000_000

func at(_ dms: UInt64, _ counter: UInt16 = 0, _ replica: ReplicaID = alice) -> Stamp {
    Stamp(hlc: HLCTimestamp(milliseconds: base + dms, counter: counter), replica: replica)
}

func op(_ s: Stamp, _ action: RecordOperation.Action, _ record: RecordID = todo1, in collection: String = "todos") -> RecordOperation {
    RecordOperation(stamp: s, collection: collection, record: record, action: action)
}

/// Writes a batch header by hand: format byte, tables, then the op count.
func header(version: UInt8 = 1, replicas: [ReplicaID] = [alice], names: [String] = ["c", "f"],
            records: [RecordID] = [todo1], opCount: UInt64) -> ByteWriter {
    var w = ByteWriter()
    w.write(version)
    w.writeVarint(UInt64(replicas.count))
    for r in replicas { w.write(contentsOf: r.bytes) }
    w.writeVarint(UInt64(names.count))
    for n in names { w.writeString(n) }
    w.writeVarint(UInt64(records.count))
    for r in records { w.write(contentsOf: r.bytes) }
    w.writeVarint(opCount)
    return w
}

func bytes(_ w: ByteWriter, _ tail: [UInt8] = []) -> [UInt8] { w.bytes + tail }

/// Minimal xorshift64 so the "random" batch needs no library and never changes.
struct XorShift64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

// MARK: - Values

validValue("null", .null)
validValue("bool_false", .bool(false))
validValue("bool_true", .bool(true))
for (name, i) in [("int_zero", 0), ("int_one", 1), ("int_minus_one", -1), ("int_63", 63), ("int_64_two_bytes", 64),
                  ("int_minus_64", -64), ("int_minus_65", -65), ("int_max", Int64.max), ("int_min", Int64.min)] as [(String, Int64)] {
    validValue(name, .int(i))
}
for (name, bits) in [("double_zero", 0), ("double_negative_zero", 0x8000_0000_0000_0000), ("double_1_5", 0x3FF8_0000_0000_0000),
                     ("double_infinity", 0x7FF0_0000_0000_0000), ("double_negative_infinity", 0xFFF0_0000_0000_0000),
                     ("double_quiet_nan", 0x7FF8_0000_0000_0000), ("double_nan_payload", 0x7FF0_0000_0000_0001),
                     ("double_negative_nan", 0xFFF8_0000_0000_0000), ("double_smallest_subnormal", 1)] as [(String, UInt64)] {
    validValue(name, .double(Double(bitPattern: bits)))
}
validValue("string_empty", .string(""))
validValue("string_ascii", .string("hello"))
validValue("string_e_acute_precomposed_nfc", .string("\u{E9}"))
validValue("string_e_acute_decomposed_nfd", .string("e\u{301}"))
validValue("string_emoji_four_byte_utf8", .string("\u{1F600}"))
validValue("string_with_nul", .string("a\u{0}b"))
validValue("string_128_bytes_two_byte_length", .string(String(repeating: "x", count: 128)))
validValue("bytes_empty", .bytes([]))
validValue("bytes_00_ff", .bytes([0x00, 0xFF]))
validValue("bytes_200", .bytes((0..<200).map { UInt8($0) }))
validValue("reference", .reference(RecordReference(collection: "todos", id: todo1)))
validValue("reference_empty_collection", .reference(RecordReference(collection: "", id: todo2)))

invalidValue("empty_input", [])
invalidValue("unknown_tag_7", [0x07])
invalidValue("unknown_tag_ff", [0xFF])
invalidValue("bool_2", [0x01, 0x02])
invalidValue("bool_truncated", [0x01])
invalidValue("int_truncated_varint", [0x02, 0x80])
invalidValue("int_non_minimal_varint", [0x02, 0x80, 0x00])
invalidValue("int_non_minimal_zero", [0x02, 0x80, 0x80, 0x00])
invalidValue("int_varint_over_64_bits", [0x02] + [UInt8](repeating: 0xFF, count: 9) + [0x02])
invalidValue("int_varint_eleven_bytes", [0x02] + [UInt8](repeating: 0x80, count: 10) + [0x01])
invalidValue("double_truncated", [0x03, 0, 0, 0, 0, 0, 0, 0])
invalidValue("string_length_past_end", [0x04, 0x05, 0x61])
invalidValue("string_huge_length", [0x04, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])
invalidValue("string_invalid_utf8_ff", [0x04, 0x01, 0xFF])
invalidValue("string_invalid_utf8_lone_continuation", [0x04, 0x01, 0x80])
invalidValue("string_invalid_utf8_overlong_nul", [0x04, 0x02, 0xC0, 0x80])
invalidValue("string_invalid_utf8_surrogate", [0x04, 0x03, 0xED, 0xA0, 0x80])
invalidValue("string_invalid_utf8_truncated_sequence", [0x04, 0x02, 0xE2, 0x82])
invalidValue("string_invalid_utf8_above_10ffff", [0x04, 0x04, 0xF4, 0x90, 0x80, 0x80])
invalidValue("bytes_length_past_end", [0x05, 0x03, 0x00, 0x01])
invalidValue("bytes_huge_length", [0x05, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40])
invalidValue("reference_truncated_id", [0x06, 0x01, 0x63] + [UInt8](repeating: 0xAB, count: 15))
invalidValue("reference_invalid_utf8_collection", [0x06, 0x01, 0xFF] + [UInt8](repeating: 0xAB, count: 16))
invalidValue("trailing_byte", [0x00, 0x00])

// MARK: - Valid operation batches

validBatch("empty_batch", [])
validBatch("single_set", [op(at(0), .set(field: "title", value: "Buy milk"))])
validBatch("every_kind", [
    op(at(0), .set(field: "title", value: "Buy milk")),
    op(at(0, 1), .add(field: "tags", value: "errand")),
    op(at(2, 0, bob), .remove(field: "tags", value: "errand", observed: [at(0, 1)])),
    op(at(3), .delete, todo2),
])
validBatch("all_value_kinds", [
    op(at(1, 0), .set(field: "null", value: .null)),
    op(at(1, 1), .set(field: "bool", value: .bool(true))),
    op(at(1, 2), .set(field: "int", value: .int(-5))),
    op(at(1, 3), .set(field: "double", value: .double(1.5))),
    op(at(1, 4), .set(field: "string", value: .string("\u{E9}"))),
    op(at(1, 5), .set(field: "bytes", value: .bytes([0xCA, 0xFE]))),
    op(at(1, 6), .set(field: "ref", value: .reference(RecordReference(collection: "lists", id: todo3)))),
])
validBatch("concurrent_update_after_delete_revives_with_later_fields_only", [
    op(at(1), .set(field: "a", value: 1)),
    op(at(5, 0, bob), .delete),
    op(at(7), .set(field: "b", value: 2)),
])
validBatch("update_before_delete_is_lost", [op(at(4), .set(field: "a", value: 1)), op(at(5, 0, bob), .delete)])
validBatch("delete_wins_exact_tie", [op(at(5), .set(field: "a", value: 1)), op(at(5), .delete)])
validBatch("late_arrivals_stamped_before_delete_are_ignored", [
    op(at(10, 0, bob), .delete),
    op(at(3), .set(field: "a", value: 1)),
    op(at(4), .add(field: "t", value: 1)),
])
// The worked example of Specs/crdt-semantics.md ("The delete rule"), in its arrival order.
validBatch("crdt_semantics_worked_example", [
    op(at(10), .set(field: "title", value: "Milk")),
    op(at(11), .add(field: "tags", value: "home")),
    op(at(20, 0, bob), .delete),
    op(at(15), .set(field: "title", value: "Bread")),
    op(at(25), .set(field: "done", value: true)),
    op(at(26), .remove(field: "tags", value: "home", observed: [at(11)])),
    op(at(30, 0, bob), .add(field: "tags", value: "work")),
])
validBatch("add_wins_over_concurrent_remove", [
    op(at(1), .add(field: "tags", value: "x")),
    op(at(2, 0, bob), .add(field: "tags", value: "x")),
    op(at(3), .remove(field: "tags", value: "x", observed: [at(1)])),
])
validBatch("remove_arrives_before_its_add", [
    op(at(3, 0, bob), .remove(field: "tags", value: "x", observed: [at(1)])),
    op(at(1), .add(field: "tags", value: "x")),
])
validBatch("remove_emptied_set_record_still_exists", [
    op(at(1), .add(field: "tags", value: "x")),
    op(at(2), .remove(field: "tags", value: "x", observed: [at(1)])),
])
validBatch("remove_with_three_observed_tags", [
    op(at(1, 0, carol), .add(field: "tags", value: 7)),
    op(at(1, 0, bob), .add(field: "tags", value: 7)),
    op(at(0, 9), .add(field: "tags", value: 7)),
    op(at(4), .remove(field: "tags", value: 7, observed: [at(0, 9), at(1, 0, bob), at(1, 0, carol)])),
])
validBatch("lww_equal_hlc_greater_replica_wins", [
    op(at(2, 0, bob), .set(field: "title", value: "bob")),
    op(at(2), .set(field: "title", value: "alice")),
])
validBatch("lww_identical_stamp_greater_value_wins", [
    op(at(2), .set(field: "title", value: "b")),
    op(at(2), .set(field: "title", value: "a")),
])
validBatch("register_and_set_namespaces_are_separate", [
    op(at(1), .set(field: "tags", value: "scalar")),
    op(at(2), .add(field: "tags", value: "member")),
])
validBatch("names_are_not_normalized", [
    op(at(1), .set(field: "\u{E9}", value: "nfc"), in: "t\u{E2}ches"),
    op(at(2), .set(field: "e\u{301}", value: "nfd"), in: "t\u{E2}ches"),
    op(at(3), .add(field: "s", value: .string("e\u{301}")), in: "t\u{E2}ches"),
    op(at(4), .add(field: "s", value: .string("\u{E9}")), in: "t\u{E2}ches"),
])
validBatch("ops_out_of_clock_order", [
    op(at(9), .set(field: "a", value: 3), todo2, in: "other"),
    op(at(1, 0, bob), .set(field: "a", value: 1)),
    op(at(5), .set(field: "a", value: 2)),
])
validBatch("hlc_all_ones_delta_wraps", [
    RecordOperation(stamp: Stamp(hlc: HLCTimestamp(rawValue: .max), replica: alice), collection: "c", record: todo1,
              action: .set(field: "f", value: .null)),
])
validBatch("hlc_delta_ten_byte_varint", [
    RecordOperation(stamp: Stamp(hlc: HLCTimestamp(rawValue: 1 << 63), replica: alice), collection: "c", record: todo1, action: .delete),
])

// Non-canonical but valid: decoders accept unused and duplicate table entries; an
// encoder never writes them, so re-encoding gives `reencoded_hex`.
let simpleSet = [op(at(0), .set(field: "f", value: 1), in: "c")]
let simpleTail = Array(OperationCodec.encode(simpleSet).dropFirst(1 + 1 + 32 + 1 + 4 + 1 + 16 + 1))
var unused = header(replicas: [alice, bob], opCount: 1)
unused.write(contentsOf: simpleTail)
validBatch("noncanonical_unused_replica_entry", simpleSet, bytes: unused.bytes)
var duplicate = header(names: ["c", "f", "c"], opCount: 1)
duplicate.write(contentsOf: simpleTail)
validBatch("noncanonical_duplicate_name_entry", simpleSet, bytes: duplicate.bytes)

// A seeded history from three replicas, shuffled so clock deltas go both ways.
var rng = XorShift64(state: 0x5EED_C0C0_4D00_0001)
let replicas = [alice, bob, carol]
let records = [todo1, todo2, todo3]
let collections = ["todos", "lists"]
let fields = ["title", "done", "tags", "n"]
let pool: [Value] = [.null, .bool(true), .bool(false), .int(0), .int(-3), .int(1 << 40), .double(-0.5), .double(0.0),
                     .string("a"), .string("\u{1F600}"), .bytes([1, 2, 3]), .reference(RecordReference(collection: "todos", id: todo2))]
var clock = HLCTimestamp(milliseconds: base, counter: 0).rawValue
var adds: [(key: String, value: Value, tag: Stamp)] = []
var seeded: [RecordOperation] = []
for _ in 0..<40 {
    clock += 1 + UInt64(rng.below(90_000))
    let stamp = Stamp(hlc: HLCTimestamp(rawValue: clock), replica: replicas[rng.below(3)])
    let (record, collection, field) = (records[rng.below(3)], collections[rng.below(2)], fields[rng.below(4)])
    let key = "\(collection)/\(record)/\(field)"
    let roll = rng.below(10)
    let action: RecordOperation.Action
    if roll < 4 {
        action = .set(field: field, value: pool[rng.below(pool.count)])
    } else if roll < 7 {
        let value = pool[rng.below(pool.count)]
        adds.append((key, value, stamp))
        action = .add(field: field, value: value)
    } else if roll < 9, let target = adds.filter({ $0.key == key }).last {
        let observed = adds.filter { $0.key == key && $0.value == target.value && rng.below(4) != 0 }.map(\.tag)
        action = .remove(field: field, value: target.value, observed: observed)
    } else {
        action = .delete
    }
    seeded.append(RecordOperation(stamp: stamp, collection: collection, record: record, action: action))
}
for i in stride(from: seeded.count - 1, to: 0, by: -1) { seeded.swapAt(i, rng.below(i + 1)) }
validBatch("seeded_history_40_ops", seeded)

// MARK: - Invalid operation batches

// Every truncation of one small batch that exercises every field of the layout.
let small = OperationCodec.encode([op(at(2), .remove(field: "t", value: "x", observed: [at(1)]), in: "c")])
for length in 0..<small.count { invalidBatch("truncated_at_\(length)_of_\(small.count)", Array(small.prefix(length))) }

let oneDelete: [UInt8] = [0x03, 0x00, 0x02, 0x00, 0x00]   // delete, replica 0, hlc 1, collection 0, record 0
invalidBatch("format_version_0", bytes(header(version: 0, opCount: 1), oneDelete), "unsupportedVersion")
invalidBatch("format_version_2", bytes(header(version: 2, opCount: 1), oneDelete), "unsupportedVersion")
invalidBatch("format_version_ff", [0xFF], "unsupportedVersion")
invalidBatch("unknown_op_kind_4", bytes(header(opCount: 1), [0x04, 0x00, 0x02, 0x00, 0x00]))
invalidBatch("unknown_op_kind_ff", bytes(header(opCount: 1), [0xFF, 0x00, 0x02, 0x00, 0x00]))
invalidBatch("replica_index_out_of_range", bytes(header(opCount: 1), [0x03, 0x01, 0x02, 0x00, 0x00]))
invalidBatch("collection_index_out_of_range", bytes(header(opCount: 1), [0x03, 0x00, 0x02, 0x02, 0x00]))
invalidBatch("record_index_out_of_range", bytes(header(opCount: 1), [0x03, 0x00, 0x02, 0x00, 0x01]))
invalidBatch("field_index_out_of_range", bytes(header(opCount: 1), [0x00, 0x00, 0x02, 0x00, 0x00, 0x02, 0x00]))
invalidBatch("observed_replica_index_out_of_range",
             bytes(header(opCount: 1), [0x02, 0x00, 0x04, 0x00, 0x00, 0x01, 0x00, 0x01, 0x05, 0x01]))
invalidBatch("index_huge", bytes(header(opCount: 1), [0x03, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x02, 0x00, 0x00]))
invalidBatch("non_minimal_varint_op_count", Array(bytes(header(opCount: 1)).dropLast()) + [0x81, 0x00] + oneDelete)
invalidBatch("non_minimal_varint_index", bytes(header(opCount: 1), [0x03, 0x80, 0x00, 0x02, 0x00, 0x00]))
invalidBatch("non_minimal_varint_hlc_delta", bytes(header(opCount: 1), [0x03, 0x00, 0x82, 0x00, 0x00, 0x00]))
invalidBatch("varint_over_64_bits_hlc_delta",
             bytes(header(opCount: 1), [0x03, 0x00] + [UInt8](repeating: 0xFF, count: 9) + [0x02, 0x00, 0x00]))
invalidBatch("varint_eleven_bytes_hlc_delta",
             bytes(header(opCount: 1), [0x03, 0x00] + [UInt8](repeating: 0x80, count: 10) + [0x01, 0x00, 0x00]))
invalidBatch("invalid_utf8_name", [0x01, 0x01] + alice.bytes + [0x01, 0x01, 0xFF, 0x01] + todo1.bytes + [0x00])
invalidBatch("invalid_utf8_string_value", bytes(header(opCount: 1), [0x00, 0x00, 0x02, 0x00, 0x00, 0x01, 0x04, 0x02, 0xC3, 0x28]))
invalidBatch("bool_value_2", bytes(header(opCount: 1), [0x00, 0x00, 0x02, 0x00, 0x00, 0x01, 0x01, 0x02]))
invalidBatch("unknown_value_tag", bytes(header(opCount: 1), [0x01, 0x00, 0x02, 0x00, 0x00, 0x01, 0x07]))
invalidBatch("trailing_byte_after_ops", bytes(header(opCount: 1), oneDelete + [0x00]))
invalidBatch("trailing_byte_after_empty_batch", [0x01, 0x00, 0x00, 0x00, 0x00, 0x00])
invalidBatch("huge_replica_count", [0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40])
invalidBatch("replica_count_exceeds_remaining_bytes", [0x01, 0x02] + alice.bytes + [0x00, 0x00, 0x00])
invalidBatch("huge_name_count", [0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
invalidBatch("huge_name_length", [0x01, 0x00, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x00, 0x00])
invalidBatch("huge_record_count", [0x01, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
invalidBatch("huge_op_count", [0x01, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
invalidBatch("op_count_exceeds_remaining_bytes", bytes(header(opCount: 2), oneDelete + [0x03, 0x00, 0x00, 0x00]))
invalidBatch("huge_observed_count",
             bytes(header(opCount: 1), [0x02, 0x00, 0x04, 0x00, 0x00, 0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x00, 0x01]))
invalidBatch("huge_bytes_value_length",
             bytes(header(opCount: 1), [0x00, 0x00, 0x02, 0x00, 0x00, 0x01, 0x05, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x00]))

// Valid batches added for the mutation harness (MergeVectors.swift).
addMergeVectors()

// MARK: - Change bundles

var bundleLines: [String] = []
do {
    let bundles = try BundleVectors.generate()
    problems += bundles.problems
    bundleLines = bundles.lines
} catch {
    problems.append("bundle fixtures: \(error)")
}

// MARK: - Clocks, coalescing and invite tokens

addClockVectors()
do {
    try addCoalescingVectors()
} catch {
    problems.append("coalescing: \(error)")
}
addInviteVectors()
addMembershipVectors()
addMembershipPolicyVectors()
addMembershipStabilityVectors()
addPolicyBodyVectors()
addMemberBundleVectors()
addSnapshotVectors()

// MARK: - Output

guard problems.isEmpty else {
    FileHandle.standardError.write(Data(("vectors disagree with ConcordCore:\n" + problems.joined(separator: "\n") + "\n").utf8))
    exit(1)
}
let directory = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "Specs/vectors"
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
for (file, lines) in [("values.jsonl", valueLines), ("operations.jsonl", operationLines), ("bundles.jsonl", bundleLines),
                      ("hlc.jsonl", clockLines), ("coalescing.jsonl", coalescingLines), ("invites.jsonl", inviteLines),
                      ("membership.jsonl", membershipLines), ("member_bundles.jsonl", memberBundleLines),
                      ("snapshots.jsonl", snapshotLines)] {
    let path = (directory as NSString).appendingPathComponent(file)
    try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
    print("wrote \(lines.count) cases to \(path)")
}
