// Specs/vectors/coalescing.jsonl: what sealing keeps of a batch (Specs/wire-format.md
// section 7.6). Each case's `ops` are sealed with `Membership.seal` by the writer device
// `07 x 32` of the plaintext test space and read back with `Membership.contents(of:)`:
// `coalesced` is what the bundle carries, in the original order.
import Concord
import ConcordCore

@MainActor var coalescingLines: [String] = []

@MainActor func addCoalescingVectors() throws {
    let writer = try BundleFixtures.writer(BundleFixtures.aliceDevice, of: BundleFixtures.plain)
    let me = ReplicaID(bytes: writer.device.publicKey.bytes)!
    func s(_ dms: UInt64, _ counter: UInt16 = 0) -> Stamp {
        Stamp(hlc: HLCTimestamp(milliseconds: base + dms, counter: counter), replica: me)
    }
    func add(_ name: String, _ description: String, _ ops: [RecordOperation]) throws {
        let kept = try writer.contents(of: writer.seal(ops, previous: nil)).operations
        coalescingLines.append(line([
            ("name", .string(name)), ("description", .string(description)),
            ("ops", .array(ops.map { json($0) })), ("coalesced", .array(kept.map { json($0) })),
        ]))
    }
    try add("exact_duplicates_dropped", "an op repeated exactly is kept once, at its first place",
            [op(s(1), .set(field: "f", value: 1)), op(s(2), .add(field: "t", value: "x")),
             op(s(1), .set(field: "f", value: 1)), op(s(2), .add(field: "t", value: "x"))])
    try add("lww_winner_of_each_field", "of the sets of one field only the LWW winner stays (the greatest stamp, not the last in the batch); other fields and records are separate",
            [op(s(3), .set(field: "f", value: 1)), op(s(1), .set(field: "f", value: 2)), op(s(2), .set(field: "g", value: 3)),
             op(s(0), .set(field: "f", value: 4), todo2)])
    try add("greatest_delete_of_a_record", "of the deletes of one record only the one with the greatest stamp stays",
            [op(s(2), .delete), op(s(5), .delete), op(s(3), .delete)])
    try add("delete_keeps_the_last_write_carrier", "ops at or before the delete are dropped, except the newest set or add, which carries the record's last-write stamp when nothing after the delete does; a remove never carries it",
            [op(s(1), .set(field: "a", value: 1)), op(s(2), .add(field: "t", value: "x")),
             op(s(3), .remove(field: "t", value: "x", observed: [s(2)])), op(s(5), .delete)])
    try add("delete_drops_ops_at_its_stamp", "an op stamped exactly at the delete is dropped when a later write carries the last-write stamp",
            [op(s(5), .set(field: "b", value: 1)), op(s(5), .delete), op(s(7), .set(field: "c", value: 2)),
             op(s(6), .add(field: "t", value: "y")), op(s(4), .add(field: "t", value: "z"), todo2)])
    try add("delete_keeps_the_first_of_equal_newest_writes", "two writes share the newest stamp before the delete (only a hostile or broken clock does that): the first in batch order carries the last-write stamp",
            [op(s(5), .set(field: "a", value: 1)), op(s(5), .add(field: "t", value: "x")), op(s(6), .delete)])
}
