import ArgumentParser
import Concord
import Foundation

/// Snapshots (`Specs/snapshots.md` §4): `concord snapshot seal | show | verify | load`, and
/// the `snapshot` line and key of `status`.
struct SnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Seal, show, verify and load snapshots: the state at a checkpoint, so a new device needs no full log.",
        discussion: """
            Examples:
              concord snapshot seal --out school.snapshot      # an admin, after a checkpoint
              concord snapshot show --json
              concord snapshot load school.snapshot            # on a newly joined device, then sync
              concord snapshot verify school.snapshot          # on a device that holds the log
            """,
        subcommands: [SealSnapshot.self, ShowSnapshot.self, VerifySnapshot.self, LoadSnapshot.self]
    )

    /// `{"id": "...", "signer": "...", "state": "provisional", "records": N, "vector": {...}}`.
    static func json(_ status: SnapshotStatus) -> String {
        JSONText.object([
            ("id", JSONText.string(status.id.hex)), ("signer", JSONText.string(status.signer.hex)),
            ("state", JSONText.string(status.state.rawValue)), ("records", String(status.records)),
            ("vector", JSONText.vector(status.vector)),
        ])
    }

    /// `3f2a9c01 by 1a2b3c4d, verified, 1,204 records at [..]`.
    static func line(_ status: SnapshotStatus) -> String {
        "\(status.id.hex.prefix(8)) by \(status.signer.hex.prefix(8)), \(status.state.rawValue), \(status.records) records at \(JSONText.vector(status.vector))"
    }

    /// A snapshot file: `CNSF | u8 01 | blob manifest | varint n | n × blob chunk | varint m |
    /// m × blob control bundle` (blobs are varint-length-prefixed). CLI-only: the protocol
    /// carries manifests and chunks separately (`Specs/snapshots.md` §5.2).
    static func encodeFile(_ snapshot: SealedSnapshot, controls: [[UInt8]]) -> [UInt8] {
        var w = ByteWriter()
        w.write(contentsOf: Array("CNSF".utf8))
        w.write(1)
        w.writeLengthPrefixed(snapshot.manifest.bytes)
        w.writeVarint(UInt64(snapshot.chunks.count))
        for chunk in snapshot.chunks { w.writeLengthPrefixed(chunk) }
        w.writeVarint(UInt64(controls.count))
        for bundle in controls { w.writeLengthPrefixed(bundle) }
        return w.bytes
    }

    static func decodeFile(_ bytes: [UInt8], path: String) throws -> (SealedSnapshot, [[UInt8]]) {
        guard bytes.starts(with: Array("CNSF".utf8)), bytes.count > 5, bytes[4] == 1 else {
            throw CLIFailure(
                message: "\(path) is not a Concord snapshot file (made by `concord snapshot seal --out`)", status: Exit.rejected)
        }
        do {
            var r = ByteReader(bytes, range: 5..<bytes.count)
            let manifest = try r.readLengthPrefixed()
            let chunks = try (0..<r.readCount(what: "chunk")).map { _ in try r.readLengthPrefixed() }
            let controls = try (0..<r.readCount(what: "control bundle")).map { _ in try r.readLengthPrefixed() }
            guard r.isAtEnd else { throw r.error("trailing bytes") }
            return (try SealedSnapshot.decode(manifest: manifest, chunks: chunks), controls)
        } catch let error as ConcordError {
            throw error
        } catch {
            throw CLIFailure(message: "\(path) is damaged or truncated: \(error)", status: Exit.rejected)
        }
    }
}

struct SealSnapshot: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seal",
        abstract: "Seal a snapshot at the latest checkpoint and keep it as this device's latest.",
        discussion: """
            The snapshot holds the state at the stable cut of the latest checkpoint, recomputed \
            from the log, signed by this device. Admin devices also seal one on their own at a \
            sync after a checkpoint when it would replace 10,000 bundles or more. With --out, \
            the snapshot and the control bundles a new device needs first go to a file for \
            `concord snapshot load`.

            Examples:
              concord snapshot seal
              concord snapshot seal --out school.snapshot --json
            """
    )
    @OptionGroup var options: StoreOptions
    @Option(help: "Also write the snapshot and the control bundles it needs to this file.") var out: String?
    @Flag(help: "Print a JSON object.") var json = false

    func run() async throws {
        let replica = try options.open()
        guard let snapshot = try await replica.sealSnapshot() else {
            throw CLIFailure(
                message: "no checkpoint to seal a snapshot at yet: an admin device checkpoints at a sync once other members acknowledged")
        }
        if let out {
            let controls = try await replica.controlBundles(through: snapshot.manifest)
            try Data(SnapshotCommand.encodeFile(snapshot, controls: controls)).write(to: URL(fileURLWithPath: out))
        }
        let status = try await replica.snapshotStatus()!
        print(json ? SnapshotCommand.json(status) : "sealed snapshot \(SnapshotCommand.line(status))")
    }
}

struct ShowSnapshot: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show this device's latest snapshot: id, signer, provisional or verified.",
        discussion: """
            Examples:
              concord snapshot show
              concord snapshot show --json      # null when there is none
            """
    )
    @OptionGroup var options: StoreOptions
    @Flag(help: "Print a JSON object.") var json = false

    func run() async throws {
        let replica = try options.open()
        let status = try await replica.snapshotStatus()
        if json {
            print(status.map(SnapshotCommand.json) ?? "null")
        } else {
            print(status.map { "snapshot \(SnapshotCommand.line($0))" } ?? "no snapshot")
        }
    }
}

struct VerifySnapshot: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a snapshot by recomputing it from this device's log.",
        discussion: """
            Replays the log at or below the snapshot's vector, prunes it and compares the \
            digests. Exit status 2 and `snapshot-mismatch` naming the signer when they differ.

            Examples:
              concord snapshot verify                      # this device's latest
              concord snapshot verify school.snapshot --json
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "A snapshot file; this device's latest snapshot when omitted.") var file: String?
    @Flag(help: "Print a JSON object.") var json = false

    func run() async throws {
        let replica = try options.open()
        var snapshot: SealedSnapshot?
        if let file { snapshot = try SnapshotCommand.decodeFile(try readFile(file), path: file).0 }
        let status = try await replica.verifySnapshot(snapshot)
        print(json ? SnapshotCommand.json(status) : "verified snapshot \(SnapshotCommand.line(status))")
    }
}

struct LoadSnapshot: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load a snapshot file into this newly joined, empty replica; then sync the rest.",
        discussion: """
            Checks the signature, the checkpoint, the signer (an admin), every chunk and the \
            digests before writing anything. The snapshot stays provisional until a device \
            that holds the log verifies it.

            Examples:
              concord snapshot load school.snapshot && concord sync http://relay:8080
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The file `concord snapshot seal --out` wrote.") var file: String
    @Flag(help: "Print a JSON object.") var json = false

    func run() async throws {
        let replica = try options.open()
        let (snapshot, controls) = try SnapshotCommand.decodeFile(try readFile(file), path: file)
        let summary = try await replica.loadSnapshot(snapshot, controlBundles: controls)
        if json {
            print(
                JSONText.object([
                    ("snapshot", JSONText.string(summary.snapshot.hex)), ("signer", JSONText.string(summary.signer.hex)),
                    ("records", String(summary.records)), ("live_records", String(summary.liveRecords)),
                    ("control_bundles", String(summary.controlBundles)), ("vector", JSONText.vector(summary.vector)),
                ]))
        } else {
            print(
                "loaded snapshot \(summary.snapshot.hex.prefix(8)): \(summary.records) records (\(summary.liveRecords) live); now sync to get what came after it"
            )
        }
    }
}

private func readFile(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else { throw CLIFailure(message: "cannot read \(path)") }
    return [UInt8](data)
}
