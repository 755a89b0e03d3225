import ConcordCore
import GRDB

extension SQLiteTransaction {
    func counts() throws -> StoreCounts {
        try mapping {
            var counts = StoreCounts()
            // One pass over the record states: visibility is a column, set tombstones live
            // inside the state.
            let rows = try Row.fetchCursor(db.cachedStatement(sql: "SELECT state, visible FROM records"))
            while let row = try rows.next() {
                let state = try row.withUnsafeData(atIndex: 0) { data -> RecordState in
                    guard let data else { throw StoreError(.decoding, "a record row has no state") }
                    return try Self.recordState(Array(data))
                }
                if (row[1] as Int64? ?? 0) != 0 {
                    counts.liveRecords += 1
                } else {
                    counts.deletedRecords += 1
                    if state.deletedAt != nil { counts.deleteStubs += 1 }
                }
                counts.setTombstones += state.setTombstoneCount
            }
            if let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*), COALESCE(SUM(LENGTH(bytes)), 0) FROM bundles")) {
                counts.logBundles = row[0]
                counts.logBytes = row[1]
            }
            counts.heldBundles = try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM held_bundles")) ?? 0
            counts.quarantinedBundles = try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM quarantined_bundles")) ?? 0
            return counts
        }
    }
}
