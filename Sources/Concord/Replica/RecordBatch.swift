import ConcordCore
import ConcordStore

/// A record's place: collection and id, compared byte for byte. Ordered as the store's
/// primary key (collection bytes, then id bytes), so writes sorted by key walk its b-trees
/// in order.
struct RecordKey: Hashable, Comparable, Sendable {
    let collection: ByteString
    let id: RecordID

    init(_ collection: String, _ id: RecordID) {
        self.collection = ByteString(collection)
        self.id = id
    }

    static func < (lhs: RecordKey, rhs: RecordKey) -> Bool {
        lhs.collection != rhs.collection ? lhs.collection < rhs.collection : lhs.id < rhs.id
    }

    /// `keys` in ascending order (``<(_:_:)``), sorted as plain integers when every
    /// collection name fits in its ``ByteString`` head (16 bytes): sorting the keys
    /// themselves moves their strings (retained and released) and compares through them,
    /// which took about as long as reading the records of an import transaction.
    static func sorted(_ keys: [RecordKey]) -> [RecordKey] {
        guard keys.count > 1 else { return keys }
        guard keys.allSatisfy({ $0.collection.count <= 16 }) else { return keys.sorted() }
        /// A key as integers: two names of at most 16 bytes are equal when their heads and
        /// lengths are, and the byte-swapped heads compare as their bytes do.
        struct Flat {
            let head0: UInt64
            let head1: UInt64
            let count: Int
            let id: RecordID
            let index: Int
        }
        var flat: [Flat] = []
        flat.reserveCapacity(keys.count)
        for (index, key) in keys.enumerated() {
            let name = key.collection
            flat.append(Flat(head0: name.head0.byteSwapped, head1: name.head1.byteSwapped, count: name.count, id: key.id, index: index))
        }
        flat.sort { a, b in
            if a.head0 != b.head0 { return a.head0 < b.head0 }
            if a.head1 != b.head1 { return a.head1 < b.head1 }
            if a.count != b.count { return a.count < b.count }
            return a.id < b.id
        }
        return flat.map { keys[$0.index] }
    }
}

/// The records one transaction touches: loaded from the store once, changed in memory
/// by operations, written back by ``commit(to:origin:tracking:)``. A batch may be
/// committed several times in one transaction (an import commits after each bundle when
/// observers need per-bundle changes): each commit writes only the records changed since
/// the previous one, and records stay loaded, so a record touched by several bundles of
/// one transaction is read from the store once. Memory is bounded by the operations of
/// one transaction, never by the size of the store.
struct RecordBatch {
    struct Entry {
        /// The record as the store holds it now (as of the last commit of this batch).
        var previous: StoredRecord?
        var state: RecordState
        var writtenLocally = false
        /// Changed since the last commit.
        var dirty = false
    }

    private(set) var entries: [RecordKey: Entry] = [:]
    /// Records changed since the last commit, in the order they were first changed.
    private var changed: [RecordKey] = []

    /// Makes room for `count` records, so a batch filled one bundle at a time is not
    /// rehashed as it grows (each growth rehashes every key loaded so far).
    mutating func reserveCapacity(_ count: Int) {
        entries.reserveCapacity(count)
    }

    /// The current state of a record in this batch (loading it if needed).
    mutating func state(_ collection: String, _ id: RecordID, from reader: any StoreReader) throws -> RecordState {
        let key = RecordKey(collection, id)
        if let entry = entries[key] { return entry.state }
        return try load(key, from: reader).state
    }

    private mutating func load(_ key: RecordKey, from reader: any StoreReader) throws -> Entry {
        let previous = try reader.record(key.id, in: key.collection.string)
        let entry = Entry(previous: previous, state: previous?.state ?? RecordState())
        entries[key] = entry
        return entry
    }

    /// Loads, in key order, the records of `ops` not loaded yet. Loading them one by one as
    /// operations arrive reads the store in random order; sorted, the reads walk the
    /// records b-tree forward, each page fetched once.
    mutating func preload(_ ops: [RecordOperation], from reader: any StoreReader) throws {
        // Only the records not loaded yet are sorted (later bundles of a transaction
        // touch many records earlier ones loaded).
        var keys: [RecordKey] = []
        keys.reserveCapacity(ops.count)
        for op in ops {
            let key = RecordKey(op.collection, op.record)
            if entries.index(forKey: key) == nil { keys.append(key) }
        }
        var previous: RecordKey?
        for key in RecordKey.sorted(keys) where key != previous {
            previous = key
            _ = try load(key, from: reader)
        }
    }

    /// Applies one operation; `bundle` is the sequence of the bundle that carries it in
    /// its author's chain, when known (a delete keeps it for its stub,
    /// ``ConcordCore/RecordState/deleteBundle``).
    mutating func apply(_ op: RecordOperation, local: Bool, inBundle bundle: UInt64? = nil, from reader: any StoreReader) throws {
        let key = RecordKey(op.collection, op.record)
        // One hash lookup when the record is loaded (always, after `preload`).
        let index: Dictionary<RecordKey, Entry>.Index
        if let loaded = entries.index(forKey: key) {
            index = loaded
        } else {
            _ = try load(key, from: reader)
            index = entries.index(forKey: key)!
        }
        withEntry(at: index, key) { entry in
            // A remote operation that changes nothing (an older write) leaves the record
            // clean; a local one always marks it, as it must be recorded as unsealed.
            let changed = bundle.map { entry.state.apply(op, inBundle: $0) } ?? entry.state.apply(op)
            if local { entry.writtenLocally = true }
            if (changed || local) && !entry.dirty {
                entry.dirty = true
                return true
            }
            return false
        }
    }

    /// Mutates the loaded entry of `key` in place; `body` returns whether it just became dirty.
    private mutating func withEntry(at index: Dictionary<RecordKey, Entry>.Index, _ key: RecordKey, _ body: (inout Entry) -> Bool) {
        if body(&entries.values[index]) { changed.append(key) }
    }

    /// Writes every record changed since the last commit back, and remembers the written
    /// states as what the store now holds.
    /// - Parameters:
    ///   - tx: The transaction.
    ///   - origin: Who made the changes.
    ///   - tracking: Whether to compute the changes for observers.
    ///   - frontier: When given, each changed record is written in its pruned form at this
    ///     frontier (`Specs/crdt-semantics.md` §11.3), which must be at or before the
    ///     replica's held frontier: what an import writes stays small, and its visible state
    ///     is the same (`Specs/snapshots.md` §9 stage 1).
    /// - Returns: The visible changes since the last commit (empty unless `tracking`).
    mutating func commit(
        to tx: any StoreWriter, origin: RecordChange.Origin, tracking: Bool, prunedAt frontier: Frontier? = nil
    ) throws -> [RecordChange] {
        var changes: [RecordChange] = []
        let keys = changed
        changed.removeAll(keepingCapacity: true)
        // Changes are reported in the order records were first changed (and pruned first,
        // as written); without them each record is pruned as it is written.
        if tracking {
            for key in keys {
                guard let index = entries.index(forKey: key) else { continue }
                if let frontier { Self.prune(&entries.values[index], at: frontier) }
                let entry = entries.values[index]
                if let change = RecordChange.between(
                    entry.previous?.state, entry.state, collection: key.collection.string, id: key.id, origin: origin)
                {
                    changes.append(change)
                }
            }
        }
        // Written in key order: the records and field index b-trees (keyed by collection
        // and id first) are then updated front to back, each page visited once, instead
        // of in random order.
        for key in RecordKey.sorted(keys) {
            guard let index = entries.index(forKey: key) else { continue }
            if !tracking, let frontier { Self.prune(&entries.values[index], at: frontier) }
            // In place: copying the entry out would retain and release all its parts.
            try Self.write(&entries.values[index], key, to: tx)
        }
        return changes
    }

    /// Replaces an entry's state by its pruned form at `frontier`.
    private static func prune(_ entry: inout Entry, at frontier: Frontier) {
        entry.state = entry.state.pruned(frontier: frontier) ?? RecordState()
    }

    /// Writes one changed record and remembers it as what the store holds.
    private static func write(_ entry: inout Entry, _ key: RecordKey, to tx: any StoreWriter) throws {
        entry.dirty = false
        let sequence = entry.writtenLocally ? StoredRecord.unsealed : entry.previous?.localSequence
        // States only grow (stamps only increase), so a record marked changed differs
        // from what the store holds; a local write is stored even when it lost, to
        // mark the record unsealed.
        let record = StoredRecord(state: entry.state, localSequence: sequence)
        try tx.putRecord(record, id: key.id, in: key.collection.string, previous: entry.previous)
        entry.previous = record
    }
}
