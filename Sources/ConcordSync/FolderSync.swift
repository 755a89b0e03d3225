import Concord
import ConcordCrypto

/// Sync through a folder any file-sync tool (or a carried USB stick) moves around
/// (`Specs/wire-format.md` §10.2).
///
/// Each replica writes its own new bundles as `<replica-id prefix>-<first seq>-<last seq>.concord`
/// (the prefix is the first 16 hex digits of its replica id) and imports every other
/// `.concord` file in the folder. Files appear atomically (written under a hidden
/// `.tmp` name, then renamed), names are unique per replica and sequence range, and
/// hidden and `.tmp` files are ignored, so several replicas can use the folder at once
/// and none ever reads a half-written file.
///
/// What to write is decided from the replica's own store, never from file names alone:
/// a file named like one of its own counts as written only when it holds exactly the
/// bundles its name promises, byte for byte as the store holds them. Entries that are
/// not regular files (FIFOs, devices, sockets, directories) are skipped without being
/// opened and listed in ``Report/skipped``.
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
        /// Entries named like bundle files that are not regular files (a FIFO, a device,
        /// a socket, a directory), with what they are. They were never opened.
        public var skipped: [(file: String, reason: String)] = []

        /// The sum of the imported files' summaries.
        public var total: ImportSummary {
            imported.reduce(into: ImportSummary()) { total, entry in
                total.add(entry.summary, shiftingRejectionsBy: 0)
            }
        }

        /// `wrote … ; imported 2 files: applied 5, duplicate 0, held 0, fork 0, rejected 0; 1 file rejected`.
        public var description: String {
            let wrote = written.map { "\($0)" } ?? "nothing new to write"
            let files = imported.count == 1 ? "1 file" : "\(imported.count) files"
            var text = "\(wrote); imported \(files): \(total)"
            if !upToDate.isEmpty { text += "; \(upToDate.count) already held" }
            if !rejected.isEmpty { text += "; \(rejected.count) file\(rejected.count == 1 ? "" : "s") rejected" }
            if !skipped.isEmpty { text += "; \(skipped.count) skipped (not regular files)" }
            return text
        }
    }

    /// The file-name prefix of `replica`'s files.
    public static func prefix(of replicaID: ReplicaID) -> String { String(replicaID.hex.prefix(prefixLength)) }

    /// Parses `<16 hex>-<first>-<last>.concord`, or `<16 hex>-<first>-<last>-<k>.concord`
    /// (`k ≥ 2`: the name `<16 hex>-<first>-<last>.concord` was taken by a file that is
    /// not this replica's).
    package static func parseName(_ name: String) -> (prefix: String, range: ClosedRange<UInt64>)? {
        guard name.hasSuffix("." + BundleFile.fileExtension) else { return nil }
        let stem = name.dropLast(BundleFile.fileExtension.count + 1)
        let parts = stem.split(separator: "-", omittingEmptySubsequences: false)
        func number(_ text: Substring) -> UInt64? {
            text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) ? UInt64(text) : nil
        }
        let hex = parts.first?.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) || ($0 >= 0x41 && $0 <= 0x46) } ?? false
        guard parts.count == 3 || (parts.count == 4 && (number(parts[3]) ?? 0) >= 2),
              parts[0].count == prefixLength, hex,
              let from = number(parts[1]), let to = number(parts[2]), from >= 1, from <= to
        else { return nil }
        return (String(parts[0]).lowercased(), from...to)
    }

    /// Whether folder sync and directory imports consider `name` at all: visible
    /// `.concord` files, never temporary ones.
    public static func isCandidate(_ name: String) -> Bool { isCandidate(Array(name.utf8)) }

    /// ``isCandidate(_:)`` for a name's exact bytes (which need not be UTF-8).
    package static func isCandidate(_ name: [UInt8]) -> Bool {
        let suffix = Array(("." + BundleFile.fileExtension).utf8)
        return name.first != 0x2E && !name.ends(with: Array(FileIO.temporarySuffix.utf8)) && name.ends(with: suffix)
    }

    /// Writes `replica`'s bundles not yet in the folder, then imports every other
    /// replica's file there. A rejected file is reported and skipped; the others are
    /// still imported. In a space with members it first seals the acknowledgement, stale
    /// marks and checkpoint that are due (`Replica.performStabilityDuties()`), so they
    /// travel with this run's files.
    ///
    /// Which of its bundles the folder holds is decided from the replica's store: the
    /// files named with its prefix are read and count only when they hold exactly its
    /// bundles `first…last`, as stored (so a spoofed or damaged name cannot silence it);
    /// it then writes every bundle above the longest run `1…h` those files cover. A file
    /// with its prefix that does not pass is imported like any other file. An existing
    /// file is never replaced: a taken name gets a `-<k>` suffix.
    /// - Complexity: reads this replica's own files in the folder, and every other file
    ///   it may lack bundles of, in bounded memory.
    /// - Throws: ``ConcordSyncError`` `.fileSystem` (the folder cannot be listed or
    ///   written); `ConcordError` `.storage`.
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

        var candidates: [DirectoryEntry] = []
        for entry in try FileIO.list(RawPath(directory)) where Self.isCandidate(entry.name) {
            if entry.kind == .regular {
                candidates.append(entry)
            } else {
                report.skipped.append((entry.displayName, "it is \(entry.kind.phrase), not a regular file; it was not opened"))
            }
        }

        // 1. Our own new bundles: everything above what our verified files cover.
        var ownFiles: Set<[UInt8]> = []
        if replica.role == .writer {
            // Acks, stale marks and checkpoints due after what earlier runs imported
            // (`Specs/snapshots.md` §2-§3), written with this run's own bundles.
            do {
                try await replica.performStabilityDuties()
            } catch let error as ConcordError where error.code == .notAllowed {}
            try await replica.seal()
            let head = try await replica.versionVector()[me]
            var covered: [ClosedRange<UInt64>] = []
            for entry in candidates {
                guard let parsed = Self.parseName(entry.displayName), parsed.prefix == myPrefix, parsed.range.upperBound <= head else { continue }
                if try await replica.holdsOwnBundles(inFileAt: entry.path, range: parsed.range) {
                    ownFiles.insert(entry.name)
                    covered.append(parsed.range)
                }
            }
            let written = Self.coveredPrefix(covered)
            if head > written {
                var above = try await replica.versionVector()
                above[me] = written
                let stem = directory + "/" + myPrefix + "-\(written + 1)-\(head)"
                var path = stem + "." + BundleFile.fileExtension
                var copy = 2
                while FileIO.exists(path) {
                    path = stem + "-\(copy)." + BundleFile.fileExtension
                    copy += 1
                }
                report.written = try await replica.exportBundleFile(to: path, since: above, authors: [me])
            }
        }

        // 2. Every file whose bundles we may lack: other replicas' files we are not up to
        // date with, and files with our prefix that do not hold exactly our stored bundles.
        // Those were written by another copy of this store (a restored backup, a copied
        // folder), and importing them shows the fork or extends the chain (sync-protocol §5).
        let vector = try await replica.versionVector()
        for entry in candidates where !ownFiles.contains(entry.name) {
            let name = entry.displayName
            if let parsed = Self.parseName(name), parsed.prefix != myPrefix {
                let authors = vector.entries.keys.filter { $0.hex.hasPrefix(parsed.prefix) }
                if authors.count == 1, vector[authors[0]] >= parsed.range.upperBound {
                    report.upToDate.append(name)
                    continue
                }
            }
            do {
                let summary = try await replica.importBundleFile(at: entry.path, progress: progress)
                report.imported.append((name, summary))
            } catch let error as ConcordSyncError {
                report.rejected.append((name, error))
            }
        }
        return report
    }

    /// The largest `h` such that `ranges` cover every sequence in `1…h` (0 if none).
    package static func coveredPrefix(_ ranges: [ClosedRange<UInt64>]) -> UInt64 {
        var h: UInt64 = 0
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            guard range.lowerBound <= h + 1 else { break }
            h = max(h, range.upperBound)
        }
        return h
    }
}

extension Replica {
    /// Whether the bundle file at `path` holds exactly this device's own bundles
    /// `range`, in order, byte for byte as the store holds them. Reads the file in
    /// bounded memory; a file that is unreadable, damaged or of another space holds none.
    /// - Throws: `ConcordError` `.storage`.
    func holdsOwnBundles(inFileAt path: RawPath, range: ClosedRange<UInt64>) throws -> Bool {
        guard let reader = try? BundleFileReader(path: path, limits: options.limits),
              reader.spaceID == spaceID, UInt64(reader.count) == range.upperBound - range.lowerBound + 1
        else { return false }
        let me = membership.device.publicKey
        var next = range.lowerBound
        struct Mismatch: Error {}
        do {
            try reader.forEachBatch { bundles, _ in
                try store.read { tx in
                    for bundle in bundles {
                        guard let stored = try tx.bundle(of: me, sequence: next), stored.bytes == bundle else { throw Mismatch() }
                        next += 1
                    }
                }
            }
        } catch let error as StoreError {
            throw ConcordError(.storage, error.message)
        } catch {
            return false  // a mismatch, or the file changed or vanished while read
        }
        return true
    }
}

extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && self[(count - suffix.count)...].elementsEqual(suffix) }
}
