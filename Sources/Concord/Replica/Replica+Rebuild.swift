import ConcordCore
import ConcordCrypto
import ConcordStore

/// Rebuilding records from the log: what a recovery and a branch switch need when bundles
/// leave a chain (`Specs/sync-protocol.md` §5). A record's state is the merge of every
/// operation on it, so it can always be computed again from the chain bundles that remain
/// and this device's unsealed operations.
extension Replica {
    /// What one pass over the log found.
    struct LogScan {
        /// The rebuilt states of the records asked for (absent: no operation left).
        var states: [RecordKey: RecordState] = [:]
        /// The newest reading of any chain bundle (header `hlc max`).
        var newest: HLCTimestamp = .zero
        /// The newest reading of any chain bundle by another author than the one excluded.
        var newestOfOthers: HLCTimestamp = .zero
    }

    /// Reads every chain bundle of the log, a page at a time, applying the operations on
    /// `keys` to fresh states; void bundles carry nothing.
    /// - Complexity: O(log): every bundle is decoded (and decrypted if any key is asked for).
    func scanLog(in tx: any StoreReader, rebuilding keys: Set<RecordKey>, excluding author: PublicKey) throws -> LogScan {
        var scan = LogScan()
        var opener = try BundleOpener(membership: membership, in: tx)
        var position: Int64 = 0
        var marks: [PublicKey: HLCTimestamp?] = [:]  // each author's chain mark so far
        while true {
            let page = try tx.bundles(after: position, limit: 256)
            for stored in page {
                let bundle = try StoreDestination.decode(stored)
                let newest = bundle.hlcRange.upperBound
                scan.newest = max(scan.newest, newest)
                if bundle.author != author { scan.newestOfOthers = max(scan.newestOfOthers, newest) }
                let mark = marks[bundle.author] ?? nil
                marks[bundle.author] = .some(stored.mark)
                guard !keys.isEmpty, case .success(let contents) = try opener.contentsOrVoid(of: bundle, after: mark) else { continue }
                for op in contents.operations {
                    let key = RecordKey(op.collection, op.record)
                    guard keys.contains(key) else { continue }
                    scan.states[key, default: RecordState()].apply(op)
                }
            }
            guard let last = page.last, page.count == 256 else { break }
            position = last.position
        }
        return scan
    }

    /// Writes rebuilt records over the stored ones: each key's rebuilt state with `local`
    /// operations applied on top. A record a local operation touches is marked unsealed;
    /// the others keep their stored bookkeeping.
    /// - Returns: What observers see change.
    func writeRebuilt(_ keys: Set<RecordKey>, from scan: LogScan, local: [RecordOperation], in tx: any StoreWriter) throws -> [RecordChange]
    {
        var states = scan.states
        var touched: Set<RecordKey> = []
        for op in local {
            let key = RecordKey(op.collection, op.record)
            guard keys.contains(key) else { continue }
            states[key, default: RecordState()].apply(op)
            touched.insert(key)
        }
        var changes: [RecordChange] = []
        for key in keys.sorted() {
            let collection = key.collection.string
            let previous = try tx.record(key.id, in: collection)
            let state = states[key] ?? RecordState()
            let sequence = touched.contains(key) ? StoredRecord.unsealed : previous?.localSequence
            if previous?.state == state && previous?.localSequence == sequence { continue }
            try tx.putRecord(StoredRecord(state: state, localSequence: sequence), id: key.id, in: collection, previous: previous)
            if let change = RecordChange.between(previous?.state, state, collection: collection, id: key.id, origin: .local) {
                changes.append(change)
            }
        }
        return changes
    }

    /// The operations of stored bundles (void ones carry none), in order.
    func operations(of bundles: [StoredBundle], in tx: any StoreReader) throws -> [RecordOperation] {
        var ops: [RecordOperation] = []
        var opener = try BundleOpener(membership: membership, in: tx)
        var previous: StoredBundle?
        for stored in bundles {
            let bundle = try StoreDestination.decode(stored)
            let mark =
                previous.map { $0.author == stored.author && $0.sequence + 1 == stored.sequence } == true
                ? previous?.mark : try tx.bundle(of: stored.author, sequence: stored.sequence - 1)?.mark
            previous = stored
            if case .success(let contents) = try opener.contentsOrVoid(of: bundle, after: mark) { ops += contents.operations }
        }
        return ops
    }
}
