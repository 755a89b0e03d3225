import Concord
import ConcordCrypto

/// Sync through a folder any file-sync tool (or a carried USB stick) moves around.
///
/// Each replica writes its own new bundles as `<replica-id prefix>-<first seq>-<last seq>.concord`
/// (the prefix is the first 16 hex digits of its replica id) and imports every other
/// `.concord` file in the folder. Files appear atomically (written under a hidden
/// `.tmp` name, then renamed), names are unique per replica and sequence range, and
/// hidden and `.tmp` files are ignored, so several replicas can use the folder at once
/// and none ever reads a half-written file.
///
/// ```swift
/// let report = try await FolderSync(directory: "/media/usb/concord").run(replica)
/// print(report)   // wrote 1 file (3 bundles), imported 2 files: applied 5, duplicate 0, ...
/// ```
public struct FolderSync: Sendable {
    /// The shared folder.
    public let directory: String

    /// A sync through `directory` (created if missing when ``run(_:progress:)`` runs).
    public init(directory: String) {
        self.directory = directory
    }

    /// Hex digits of the replica id that start each file name.
    public static let prefixLength = 16

    /// What one run did.
    public struct Report: Sendable, CustomStringConvertible {
        /// The file this replica wrote, if it had new bundles.
        public var written: BundleFileExport?
        /// Files imported, with what each did.
        public var imported: [(file: String, summary: ImportSummary)] = []
        /// Files skipped because this replica already holds all their bundles.
        public var upToDate: [String] = []
        /// Files rejected as a whole (truncated, damaged, another space), with why.
        public var rejected: [(file: String, error: ConcordSyncError)] = []

        /// The sum of the imported files' summaries.
        public var total: ImportSummary {
            imported.reduce(into: ImportSummary()) { total, entry in
                total.applied += entry.summary.applied
                total.duplicates += entry.summary.duplicates
                total.held += entry.summary.held
                total.forks += entry.summary.forks
                total.operationsApplied += entry.summary.operationsApplied
                total.rejected += entry.summary.rejected
            }
        }

        /// `wrote … ; imported 2 files: applied 5, duplicate 0, held 0, fork 0, rejected 0; 1 file rejected`.
        public var description: String {
            let wrote = written.map { "\($0)" } ?? "nothing new to write"
            let files = imported.count == 1 ? "1 file" : "\(imported.count) files"
            var text = "\(wrote); imported \(files): \(total)"
            if !upToDate.isEmpty { text += "; \(upToDate.count) already held" }
            if !rejected.isEmpty { text += "; \(rejected.count) file\(rejected.count == 1 ? "" : "s") rejected" }
            return text
        }
    }

    /// The file-name prefix of `replica`'s files.
    public static func prefix(of replicaID: ReplicaID) -> String { String(replicaID.hex.prefix(prefixLength)) }

    /// Parses `<16 hex>-<from>-<to>.concord`.
    static func parseName(_ name: String) -> (prefix: String, range: ClosedRange<UInt64>)? {
        guard name.hasSuffix("." + BundleFile.fileExtension) else { return nil }
        let stem = name.dropLast(BundleFile.fileExtension.count + 1)
        let parts = stem.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == prefixLength, parts[0].allSatisfy(\.isHexDigit),
              let from = UInt64(parts[1]), let to = UInt64(parts[2]), from >= 1, from <= to
        else { return nil }
        return (String(parts[0]).lowercased(), from...to)
    }

    /// Whether folder sync and directory imports consider `name` at all: visible
    /// `.concord` files, never temporary ones.
    public static func isCandidate(_ name: String) -> Bool {
        !name.hasPrefix(".") && !name.hasSuffix(FileIO.temporarySuffix) && name.hasSuffix("." + BundleFile.fileExtension)
    }

    /// Writes `replica`'s bundles not yet in the folder, then imports every other
    /// replica's file there. A rejected file is reported and skipped; the others are
    /// still imported.
    /// - Throws: ``ConcordSyncError`` `.fileSystem` (the folder cannot be listed or
    ///   written); ``ConcordError`` `.storage`.
    public func run(_ replica: Replica, progress: (@Sendable (ImportProgress) -> Void)? = nil) async throws -> Report {
        if !FileIO.exists(directory) {
            try FileIO.createDirectory(directory)
        }
        guard FileIO.isDirectory(directory) else {
            throw ConcordSyncError(.fileSystem, "\(directory) is not a directory; give the path of the shared folder")
        }
        var report = Report()
        let me = replica.membership.device.publicKey
        let myPrefix = Self.prefix(of: replica.replicaID)

        // 1. Our own new bundles: everything above the highest sequence already in the folder.
        if replica.role == .writer {
            let names = try FileIO.list(directory)
            let written = names.compactMap(Self.parseName).filter { $0.prefix == myPrefix }.map(\.range.upperBound).max() ?? 0
            try await replica.seal()
            let head = try await replica.versionVector()[me]
            if head > written {
                var above = try await replica.versionVector()
                above[me] = written
                let path = directory + "/" + myPrefix + "-\(written + 1)-\(head)." + BundleFile.fileExtension
                report.written = try await replica.exportBundleFile(to: path, since: above, authors: [me])
            }
        }

        // 2. Everyone else's files, skipping those whose bundles we already hold.
        let vector = try await replica.versionVector()
        for name in try FileIO.list(directory) where Self.isCandidate(name) {
            let parsed = Self.parseName(name)
            if parsed?.prefix == myPrefix { continue }
            if let parsed {
                let authors = vector.entries.keys.filter { $0.hex.hasPrefix(parsed.prefix) }
                if authors.count == 1, vector[authors[0]] >= parsed.range.upperBound {
                    report.upToDate.append(name)
                    continue
                }
            }
            let path = directory + "/" + name
            do {
                let summary = try await replica.importBundleFile(at: path, progress: progress)
                report.imported.append((name, summary))
            } catch let error as ConcordSyncError {
                report.rejected.append((name, error))
            }
        }
        return report
    }
}
