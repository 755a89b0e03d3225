import ArgumentParser
import Concord
import ConcordCrypto
import ConcordSync
import Foundation

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the store's bundles into a bundle file (.concord), atomically.",
        discussion: """
            Seals pending writes first, then writes every bundle the store holds (all \
            devices'), or only those above the version vector in VECTOR_FILE (what \
            `concord vector` printed on the receiving device). The file appears complete or \
            not at all: it is written under a temporary name and renamed. Carry it by USB \
            stick, e-mail or a shared folder; the other device runs `concord import FILE`.

            Examples:
              concord export /media/usb/school.concord
              concord export delta.concord --since office-vector.json
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The file to write (a regular file there is replaced; a device, FIFO, socket, directory or symbolic link is refused).")
    var file: String
    @Option(help: ArgumentHelp("Only bundles above this version vector (JSON from `concord vector`).", valueName: "VECTOR_FILE"))
    var since: String?

    func run() async throws {
        let vector = try since.map(readVector) ?? VersionVector()
        let replica = try options.open()
        let bar = ProgressBar("exporting")
        let result = try await replica.exportBundleFile(to: file, since: vector, progress: bar.callback)
        bar.finish()
        print(result)
    }
}

/// Reads `{"<64 hex digits>": sequence, ...}`.
func readVector(_ path: String) throws -> VersionVector {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw CLIFailure(message: "cannot read the version vector file \(path); write it with `concord vector > \(path)` on the receiving device")
    }
    guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw CLIFailure(message: "\(path) is not a JSON object of device id -> sequence; write it with `concord vector`")
    }
    var vector = VersionVector()
    for (hex, raw) in object {
        guard let key = try? PublicKey(hex: hex), let number = raw as? NSNumber, number.int64Value >= 0, Double(number.int64Value) == number.doubleValue else {
            throw CLIFailure(message: "\(path): entry \"\(hex)\" is not a device id (64 hex digits) with a whole sequence number; write the file with `concord vector`")
        }
        vector[key] = UInt64(number.int64Value)
    }
    return vector
}

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import bundle files (or every .concord file in a directory).",
        discussion: """
            Each file's checksum and structure are checked before anything of it is \
            imported: a truncated, damaged, tampered or foreign file is rejected whole and \
            changes nothing. Files are read in bounded memory, whatever their size. In a \
            directory, FIFOs, devices and sockets are skipped with a warning, never opened; \
            a bundle file given by name must be a regular file. Each bundle is then verified (signature, membership, chain) and \
            applied entirely or not at all. Importing a file twice changes nothing (its \
            bundles count as duplicates). Prints applied / duplicate / held / fork / \
            rejected counts; exit status 2 if any file or bundle was rejected.

            Examples:
              concord import /media/usb/school.concord
              concord import a.concord b.concord
              concord import /media/usb/concord/      # every .concord file in it
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "Bundle files or directories.") var paths: [String]

    func validate() throws {
        if paths.isEmpty { throw ValidationError("give at least one bundle file or directory") }
    }

    func run() async throws {
        // Names are kept as bytes (a name that is not UTF-8 still opens); anything that is
        // not a regular file is never opened, so a FIFO cannot make the import block.
        var files: [(path: RawPath, name: String)] = []
        for path in paths {
            switch FileIO.kind(of: RawPath(path)) {
            case .missing:
                throw CLIFailure(message: "\(path) does not exist; give the path of a .concord file or of a folder holding some")
            case .directory:
                for entry in try FileIO.list(RawPath(path)) where FolderSync.isCandidate(entry.name) {
                    if entry.kind == .regular {
                        files.append((entry.path, entry.path.description))
                    } else {
                        Output.error("concord: warning: skipped \(entry.path): it is \(entry.kind.phrase), not a regular file; it was not opened")
                    }
                }
            case .regular:
                files.append((RawPath(path), path))
            case let kind:
                // A bundle file is read twice (checked whole, then imported), so it must be a
                // regular file; a pipe (`<(…)`) is refused rather than read once and lost.
                throw CLIFailure(message: "\(path) is \(kind.phrase), not a bundle file; nothing was read from it. Give the path of a .concord file or of a folder holding some (save a stream to a file first)")
            }
        }
        let replica = try options.open()
        var total = ImportSummary()
        var rejectedFiles = 0
        for (path, file) in files {
            let bar = ProgressBar("importing \(FileIO.baseName(of: file))")
            do {
                let summary = try await replica.importBundleFile(at: path, progress: bar.callback)
                bar.finish()
                if files.count > 1 { print("\(file): \(summary)") }
                for rejection in summary.rejected {
                    Output.error("concord: \(file): bundle \(rejection.index + 1) rejected: \(rejection.error.message)")
                }
                total.applied += summary.applied
                total.duplicates += summary.duplicates
                total.held += summary.held
                total.forks += summary.forks
                total.forkedPlaces += summary.forkedPlaces
                total.rejected += summary.rejected
                total.denied += summary.denied
                Output.warnVoided(summary.voided, in: file)
            } catch let error as ConcordSyncError {
                bar.finish()
                rejectedFiles += 1
                Output.error("concord: " + error.message)
                if files.count > 1 { print("\(file): rejected") }
            }
        }
        let rejected = total.rejected.count + rejectedFiles
        print("applied \(total.applied), duplicate \(total.duplicates), held \(total.held), fork \(total.forks), rejected \(rejected)")
        if !total.denied.isEmpty {
            // `Specs/permissions.md` §6.3: denied ops are not applied; say so, once.
            Output.error(
                "concord: \(total.denied.count) ops of these bundles are denied by the space's policy and not applied; `concord log --denied` lists them"
            )
        }
        if let status = try await Output.reportAfterImport(total, replica: replica) { throw ExitCode(status) }
        if rejected > 0 {
            throw ExitCode(Exit.rejected)
        }
    }
}

struct SyncFolder: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync-folder",
        abstract: "Sync through a shared folder: write this device's new bundles, import the others'.",
        discussion: """
            Writes this device's bundles not yet in DIR as \
            <device id prefix>-<first seq>-<last seq>.concord (atomically), then imports every \
            other .concord file in DIR (hidden and .tmp files are skipped; FIFOs, devices and \
            sockets are skipped with a warning, never opened). What to write is decided from \
            the store: a file named like this device's counts only if it holds exactly its \
            bundles, so a stray or damaged file cannot stop it from writing. Any file-sync tool \
            or a USB stick carried between devices becomes the transport; several devices may \
            run it on the same folder at the same time. Exit status 2 if a file or bundle was \
            rejected (the other files are still imported).

            Examples:
              concord sync-folder ~/Dropbox/school-concord
              concord --store /data/office sync-folder /media/usb/concord
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The shared folder (created if missing).") var directory: String

    func run() async throws {
        let replica = try options.open()
        let bar = ProgressBar("syncing")
        let report = try await FolderSync(directory: directory).run(replica, progress: bar.callback)
        bar.finish()
        if let written = report.written { print(written) }
        for (file, summary) in report.imported { print("imported \(file): \(summary)") }
        for (file, reason) in report.skipped { Output.error("concord: warning: skipped \(file): \(reason)") }
        for (file, error) in report.rejected { Output.error("concord: \(file) rejected: \(error.message)") }
        Output.warnVoided(report.total.voided)
        let total = report.total
        print("applied \(total.applied), duplicate \(total.duplicates), held \(total.held), fork \(total.forks), rejected \(total.rejected.count + report.rejected.count)")
        if let status = try await Output.reportAfterImport(total, replica: replica) { throw ExitCode(status) }
        if !total.rejected.isEmpty || !report.rejected.isEmpty { throw ExitCode(Exit.rejected) }
    }
}
