import ConcordCrypto
import ConcordStore

/// What a replica keeps and how much room it takes: the figures of `concord status
/// --json`'s `"storage"` object.
///
/// ```swift
/// let report = try await replica.storageReport()
/// print("\(report.bytesOnDisk) bytes, \(report.counts.liveRecords) live records, \(report.counts.logBundles) log bundles")
/// ```
public struct StorageReport: Hashable, Sendable {
    /// `replica.sqlite` with its `-wal` and `-shm` files, in bytes; 0 for a replica that
    /// does not live in a directory (an in-memory store).
    public var bytesOnDisk: Int
    /// Records, tombstones and log bundles.
    public var counts: StoreCounts
    /// The replica's **floor**: the id of the snapshot it was loaded from or compacted to
    /// (its base, `Specs/snapshots.md` §5.1); `nil` when it holds its whole log.
    public var floor: Digest32?
}

extension Replica {
    /// Counts what the replica keeps (live and deleted records, set tombstones, log
    /// bundles and their bytes) and measures its database files.
    ///
    /// ```swift
    /// let report = try await replica.storageReport()
    /// if report.counts.setTombstones > 100_000 { print("tombstones pile up") }
    /// ```
    /// - Complexity: reads every record state once (about a second per million records).
    public func storageReport() throws -> StorageReport {
        let (counts, floor) = try ConcordError.storage { try store.read { tx in (try tx.counts(), try Self.baseManifest(in: tx)?.id) } }
        let files = directory.map(ReplicaDirectory.databaseFiles(in:)) ?? []
        return StorageReport(bytesOnDisk: files.reduce(0) { $0 + ReplicaDirectory.size(of: $1) }, counts: counts, floor: floor)
    }
}
