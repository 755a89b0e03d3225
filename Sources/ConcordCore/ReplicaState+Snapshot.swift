// What a snapshot (`Specs/snapshots.md` §4) needs of a state: its records in key order
// (`insertRecord(_:id:in:)` rebuilds a state from them).

extension ReplicaState {
    /// Every record held, visible or not, in (collection bytes, id bytes) order: the order
    /// of a snapshot's chunks.
    /// - Complexity: O(n log n) in the number of records.
    package var recordsInKeyOrder: [(collection: String, id: RecordID, state: RecordState)] {
        collectionIndex.keys.sorted().flatMap { name in
            sortedIDs(in: name).map { id in (name.string, id, records[RecordKey(collection: name, id: id)]!) }
        }
    }
}
