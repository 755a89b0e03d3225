extension MemoryTransaction {
    func counts() throws -> StoreCounts {
        var counts = StoreCounts()
        for record in contents.records.values {
            if record.state.isVisible {
                counts.liveRecords += 1
            } else {
                counts.deletedRecords += 1
                if record.state.deletedAt != nil { counts.deleteStubs += 1 }
            }
            counts.setTombstones += record.state.setTombstoneCount
        }
        for case let bundle? in contents.bundles {
            counts.logBundles += 1
            counts.logBytes += bundle.bytes.count
        }
        counts.heldBundles = contents.held.count
        counts.quarantinedBundles = contents.quarantined.count
        return counts
    }
}
