import ConcordCore
import ConcordStore

/// A record's place: collection and id, compared byte for byte.
struct RecordKey: Hashable, Sendable {
    let collection: ByteString
    let id: RecordID

    init(_ collection: String, _ id: RecordID) {
        self.collection = ByteString(collection)
        self.id = id
    }
}

/// The records one transaction touches: loaded from the store once, changed in memory
/// by operations, written back once. Memory is bounded by the operations of one
/// transaction, never by the size of the store.
struct RecordBatch {
    struct Entry {
        var previous: StoredRecord?
        var state: RecordState
        var writtenLocally = false
    }

    private(set) var entries: [RecordKey: Entry] = [:]
    private(set) var order: [RecordKey] = []

    /// The current state of a record in this batch (loading it if needed).
    mutating func state(_ collection: String, _ id: RecordID, from reader: any StoreReader) throws -> RecordState {
        try entry(RecordKey(collection, id), from: reader).state
    }

    private mutating func entry(_ key: RecordKey, from reader: any StoreReader) throws -> Entry {
        if let entry = entries[key] { return entry }
        let previous = try reader.record(key.id, in: key.collection.string)
        let entry = Entry(previous: previous, state: previous?.state ?? RecordState())
        entries[key] = entry
        order.append(key)
        return entry
    }

    /// Applies one operation.
    mutating func apply(_ op: RecordOperation, local: Bool, from reader: any StoreReader) throws {
        let key = RecordKey(op.collection, op.record)
        if entries[key] == nil { _ = try entry(key, from: reader) }
        entries[key]!.state.apply(op)
        if local { entries[key]!.writtenLocally = true }
    }

    /// Writes every changed record back.
    /// - Parameters:
    ///   - tx: The transaction.
    ///   - origin: Who made the changes.
    ///   - tracking: Whether to compute the changes for observers.
    /// - Returns: The visible changes (empty unless `tracking`).
    func commit(to tx: any StoreWriter, origin: RecordChange.Origin, tracking: Bool) throws -> [RecordChange] {
        var changes: [RecordChange] = []
        for key in order {
            let entry = entries[key]!
            let sequence = entry.writtenLocally ? StoredRecord.unsealed : entry.previous?.localSequence
            if !entry.writtenLocally, let previous = entry.previous, previous.state == entry.state { continue }
            try tx.putRecord(StoredRecord(state: entry.state, localSequence: sequence), id: key.id, in: key.collection.string, previous: entry.previous?.state)
            if tracking, let change = RecordChange.between(entry.previous?.state, entry.state, collection: key.collection.string, id: key.id, origin: origin) {
                changes.append(change)
            }
        }
        return changes
    }
}
