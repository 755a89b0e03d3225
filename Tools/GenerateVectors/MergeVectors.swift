// Valid operation batches added so that every deviation of the mutation harness
// (Tools/reference/mutants.py, Specs/correctness.md "Mutation-adequate vectors") fails at
// least one vector: the value order across and within kinds, LWW ties, the stamp rules of
// removes, removes and deletes that must not count as writes, and the name order of the
// canonical encoding. Appended after the earlier cases: vectors are only ever added.
import ConcordCore

/// Every kind with the edge cases of its order (`Specs/crdt-semantics.md` section 1), in
/// the value order: a set holding them all lists them in exactly this order.
let valuesInOrder: [Value] = [
    .null, .bool(false), .bool(true),
    .int(.min), .int(-1), .int(0), .int(1), .int(.max),
] + [
    0xFFFF_FFFF_FFFF_FFFF,  // -NaN, largest payload: first of all doubles
    0xFFF8_0000_0000_0000,  // -NaN (quiet)
    0xFFF0_0000_0000_0001,  // -NaN, smallest payload
    0xFFF0_0000_0000_0000,  // -infinity
    0xBFF8_0000_0000_0000,  // -1.5
    0x8000_0000_0000_0001,  // the negative subnormal closest to zero
    0x8000_0000_0000_0000,  // -0.0
    0x0000_0000_0000_0000,  // +0.0
    0x0000_0000_0000_0001,  // the smallest subnormal
    0x3FF8_0000_0000_0000,  // 1.5
    0x7FF0_0000_0000_0000,  // +infinity
    0x7FF0_0000_0000_0001,  // +NaN, smallest payload
    0x7FF8_0000_0000_0000,  // +NaN (quiet)
    0x7FFF_FFFF_FFFF_FFFF,  // +NaN, largest payload: last of all doubles
].map { Value.double(Double(bitPattern: $0)) } + [
    // UTF-8 byte order: "ab" before "b" (a prefix and byte order, not length), U+FF61
    // (ef bd a1) before U+1F600 (f0 9f 98 80) although UTF-16 orders them the other way.
    .string(""), .string("A"), .string("a"), .string("ab"), .string("b"), .string("e\u{301}"), .string("\u{E9}"),
    .string("\u{FF61}"), .string("\u{1F600}"),
    .bytes([]), .bytes([0x00]), .bytes([0x00, 0x00]), .bytes([0x7F]), .bytes([0x80]), .bytes([0xFF]), .bytes([0xFF, 0x00]),
    // Collection first, then id: ("a", E621...) before ("b", 0F8F...).
    .reference(RecordReference(collection: "", id: todo3)),
    .reference(RecordReference(collection: "a", id: todo1)),
    .reference(RecordReference(collection: "b", id: todo2)),
    .reference(RecordReference(collection: "b", id: todo3)),
]

@MainActor func addMergeVectors() {
    // Added in a scrambled order (a stride through the list), so that a set that lists
    // members in arrival order fails too.
    let count = valuesInOrder.count
    let order = (0..<count).map { ($0 * 17) % count }
    precondition(Set(order).count == count, "the stride must visit every value once")
    validBatch("set_members_in_value_order", order.enumerated().map { step, i in
        op(at(1, UInt16(step)), .add(field: "s", value: valuesInOrder[i]))
    })
    validBatch("lww_identical_stamp_value_order_across_kinds", [
        op(at(2), .set(field: "number", value: .double(1.0))),
        op(at(2), .set(field: "number", value: .int(5))),
        op(at(2), .set(field: "blob", value: .bytes([0x00]))),
        op(at(2), .set(field: "blob", value: .string("z"))),
    ])
    validBatch("lww_equal_hlc_replica_beats_value", [
        op(at(2, 0, bob), .set(field: "title", value: "aaa")),
        op(at(2), .set(field: "title", value: "zzz")),
    ])

    // Removes: observed tags must be older than the remove and newer than the delete.
    validBatch("remove_ignores_observed_tag_after_itself", [
        op(at(7), .add(field: "tags", value: "x")),
        op(at(5, 0, bob), .remove(field: "tags", value: "x", observed: [at(7)])),
    ])
    validBatch("remove_ignores_observed_tag_equal_to_its_stamp", [
        op(at(5, 0, bob), .add(field: "tags", value: "x")),
        op(at(5, 0, bob), .remove(field: "tags", value: "x", observed: [at(5, 0, bob)])),
    ])
    validBatch("remove_ignores_observed_tags_at_or_before_delete", [
        op(at(3), .add(field: "tags", value: "x")),
        op(at(5, 0, bob), .delete),
        op(at(6), .add(field: "tags", value: "x")),
        op(at(7), .remove(field: "tags", value: "x", observed: [at(3), at(5, 0, bob), at(6)])),
    ])
    validBatch("remove_after_delete_does_not_revive", [
        op(at(1), .set(field: "a", value: 1)),
        op(at(3), .add(field: "tags", value: "x")),
        op(at(5, 0, bob), .delete),
        op(at(7), .remove(field: "tags", value: "x", observed: [at(3)])),
    ])
    validBatch("delete_and_dropped_writes_set_deleted_at_and_last_write", [
        op(at(4), .set(field: "a", value: 1)),
        op(at(9, 0, bob), .delete),
        op(at(6), .set(field: "b", value: 2)),
        op(at(2, 0, bob), .delete),
    ])

    // Names sort by UTF-8 bytes in the canonical encoding: U+FF61 before U+1F600.
    validBatch("names_sorted_by_utf8_bytes", [
        op(at(1), .set(field: "\u{1F600}", value: 1), in: "\u{1F600}"),
        op(at(2), .set(field: "\u{FF61}", value: 2), in: "\u{1F600}"),
        op(at(3), .add(field: "\u{1F600}", value: 3), in: "\u{FF61}"),
        op(at(4), .add(field: "\u{FF61}", value: 4), in: "\u{FF61}"),
    ])
}
