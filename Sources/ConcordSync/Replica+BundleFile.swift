import Concord
import ConcordCrypto

/// What `Replica.exportBundleFile(to:since:authors:progress:)` wrote.
public struct BundleFileExport: Hashable, Sendable, CustomStringConvertible {
    /// The file written.
    public var path: String
    /// Bundles in the file.
    public var bundles: Int
    /// Size of the file in bytes.
    public var bytes: Int
    /// The exporting device's own sequence numbers in the file, when there are any.
    public var ownSequences: ClosedRange<UInt64>?

    /// `wrote 3 bundles (1234 bytes) to out.concord`.
    public var description: String { "wrote \(bundles) bundle\(bundles == 1 ? "" : "s") (\(bytes) bytes) to \(path)" }
}

extension Replica {
    /// Writes the bundles of the log above `vector` (every bundle by default) into a
    /// bundle file, atomically: a temporary file in the same directory, renamed over
    /// `path` once complete. Pending local writes are sealed first. Streams the log a
    /// page at a time; memory stays bounded.
    ///
    /// ```swift
    /// try await replica.exportBundleFile(to: "/media/usb/school.concord")
    /// try await replica.exportBundleFile(to: "delta.concord", since: theirVector)
    /// ```
    /// - Parameters:
    ///   - path: The file to write. A regular file there is replaced; anything else (a
    ///     device such as `/dev/null`, a FIFO, a socket, a directory, a symbolic link) is
    ///     refused and left as it is.
    ///   - vector: What the receiver already holds.
    ///   - authors: Only these authors' bundles (`nil`: everyone's).
    ///   - progress: Called every 256 bundles and at the end (`bundlesTotal` is the
    ///     size of the whole log, an upper bound).
    /// - Throws: ``ConcordSyncError`` `.fileSystem` (also when `path` is not a regular
    ///   file); `ConcordError` from the store.
    @discardableResult
    public func exportBundleFile(
        to path: String, since vector: VersionVector = VersionVector(), authors: Set<PublicKey>? = nil,
        progress: (@Sendable (ImportProgress) -> Void)? = nil
    ) async throws -> BundleFileExport {
        let stream = try bundles(since: vector)
        let total = progress == nil ? nil : try bundleCount()
        let writer = try BundleFile.Writer(path: path, spaceID: spaceID)
        let me = membership.device.publicKey
        var own: ClosedRange<UInt64>?
        var report = ImportProgress(bundlesDone: 0, bundlesTotal: total, bytesDone: 0, bytesTotal: nil)
        do {
            for try await bundle in stream {
                if let authors, !authors.contains(bundle.author) { continue }
                try writer.append(bundle.bytes)
                if bundle.author == me {
                    own = own.map { min($0.lowerBound, bundle.sequence)...max($0.upperBound, bundle.sequence) }
                        ?? bundle.sequence...bundle.sequence
                }
                report.bundlesDone += 1
                report.bytesDone = writer.byteCount
                if report.bundlesDone % 256 == 0 { progress?(report) }
            }
            try writer.commit()
        } catch {
            writer.abort()
            throw error
        }
        report.bundlesTotal = report.bundlesDone
        report.bytesDone = writer.byteCount
        report.bytesTotal = writer.byteCount
        progress?(report)
        return BundleFileExport(path: path, bundles: writer.count, bytes: writer.byteCount, ownSequences: own)
    }

    /// Imports a bundle file in bounded memory: checks its header, then its checksum and
    /// every entry **before** importing anything (a truncated, damaged or foreign file is
    /// rejected as a whole and the store is unchanged), then reads the bundles again and
    /// imports them in batches of about 8 MiB, each bundle verified and applied entirely
    /// or not at all. Importing a file twice changes nothing (its bundles are duplicates).
    /// A FIFO, device or socket at `path` is refused without being opened.
    ///
    /// ```swift
    /// let summary = try await replica.importBundleFile(at: "/media/usb/office.concord")
    /// print(summary)   // applied 12, duplicate 0, held 0, fork 0, rejected 0
    /// ```
    /// - Returns: Counts of each outcome; a bundle that fails its own checks (a forged
    ///   signature under a recomputed checksum) is counted in `rejected`.
    /// - Throws: ``ConcordSyncError`` (`.fileSystem`, `.truncatedFile`, `.notABundleFile`,
    ///   `.unsupportedVersion`, `.checksumMismatch`, `.malformedFile`, `.wrongSpace`);
    ///   `ConcordError` `.storage`.
    /// - Complexity: O(n) time in the file's size (read twice); memory bounded by one
    ///   batch, whatever the file's size.
    @discardableResult
    public func importBundleFile(at path: String, progress: (@Sendable (ImportProgress) -> Void)? = nil) throws -> ImportSummary {
        try importBundleFile(at: RawPath(path), progress: progress)
    }

    /// ``importBundleFile(at:progress:)`` for a path of exact bytes (a name listed from a
    /// directory that is not UTF-8).
    @discardableResult
    package func importBundleFile(at path: RawPath, progress: (@Sendable (ImportProgress) -> Void)? = nil) throws -> ImportSummary {
        let reader = try BundleFileReader(path: path, limits: options.limits, batchBytes: Self.bundleFileChunkBytes)
        guard reader.spaceID == spaceID else {
            throw Self.wrongSpace(reader.spaceID, in: spaceID, path: "\(path): ")
        }
        var total = ImportSummary()
        var report = ImportProgress(bundlesDone: 0, bundlesTotal: reader.count, bytesDone: 0, bytesTotal: reader.bundleByteCount)
        progress?(report)
        try reader.forEachBatch { bundles, byteCount in
            let summary: ImportSummary = try self.import(bundles, progress: nil)
            total.add(summary, shiftingRejectionsBy: report.bundlesDone)
            report.bundlesDone += bundles.count
            report.bytesDone += byteCount
            progress?(report)
        }
        return total
    }

    /// Imports an already parsed bundle file (see ``importBundleFile(at:progress:)``).
    @discardableResult
    public func importBundleFile(_ file: BundleFile, progress: (@Sendable (ImportProgress) -> Void)? = nil) throws -> ImportSummary {
        guard file.spaceID == spaceID else { throw Self.wrongSpace(file.spaceID, in: spaceID, path: "") }
        let bytesTotal = file.bundleByteCount
        var total = ImportSummary()
        var report = ImportProgress(bundlesDone: 0, bundlesTotal: file.count, bytesDone: 0, bytesTotal: bytesTotal)
        progress?(report)
        var index = 0
        while index < file.count {
            // One batch of copies at a time: at most ~8 MiB of bundles beside the file.
            var chunk: [[UInt8]] = []
            var chunkBytes = 0
            let first = index
            while index < file.count, chunkBytes < Self.bundleFileChunkBytes {
                let bundle = file.bundleBytes(at: index)
                chunk.append(Array(bundle))
                chunkBytes += bundle.count
                index += 1
            }
            total.add(try self.import(chunk), shiftingRejectionsBy: first)
            report.bundlesDone = index
            report.bytesDone += chunkBytes
            progress?(report)
        }
        return total
    }

    private static func wrongSpace(_ file: SpaceID, in space: SpaceID, path: String) -> ConcordSyncError {
        ConcordSyncError(.wrongSpace, "\(path)the bundle file belongs to space \(file.shortDescription), but this replica is in space \(space.shortDescription); nothing was imported. Import it into a replica of that space")
    }

    static var bundleFileChunkBytes: Int { 8 << 20 }
}

extension ImportSummary {
    /// Adds another summary's counts (``ImportSummary/add(_:)``); its rejections' indexes
    /// are shifted by `offset`.
    mutating func add(_ other: ImportSummary, shiftingRejectionsBy offset: Int) {
        var shifted = other
        shifted.rejected = other.rejected.map { rejection in
            var moved = rejection
            moved.index += offset
            return moved
        }
        add(shifted)
    }
}
