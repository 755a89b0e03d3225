import ConcordCore
import ConcordProtocol
import Foundation

/// What ``Replica/migrate(to:name:options:keyStore:progress:)`` did.
public struct Migration: Sendable, CustomStringConvertible {
    /// The new replica: a space with members, this device its first admin.
    public let replica: Replica
    /// How many live records were written into it.
    public let records: Int
    /// How many collections they are in.
    public let collections: Int
    /// How many field values and set members were written.
    public let values: Int

    /// "412 records in 3 collections (2,107 values)".
    public var description: String {
        "\(records) record\(records == 1 ? "" : "s") in \(collections) collection\(collections == 1 ? "" : "s") (\(values) value\(values == 1 ? "" : "s"))"
    }
}

extension Replica {
    /// Moves the data of a space without members (bundle format 2, made by earlier
    /// versions) into a **new space with members** in `directory`, with this device as its
    /// first admin: every live record is written there under the same id, with its fields'
    /// current values and its sets' current members. This replica is left as it was.
    ///
    /// A space without members cannot become one in place: its writers hold the space seed,
    /// which makes each of them a root authority that no admin could demote or remove
    /// (`Specs/membership.md` §11, stage 6). So the migration is a new space: the other
    /// devices join it with invites from the new replica (``invite(role:expiresIn:maxUses:)``)
    /// and stop syncing the old one. What is carried is the visible state, not the history:
    /// conflicts, field history and deleted records stay in the old replica.
    ///
    /// ```swift
    /// let old = try Replica.open(at: "School.concord")
    /// let migration = try await old.migrate(to: "School-members.concord", name: "Ms Dlamini's laptop")
    /// print(migration)                                   // 412 records in 3 collections (2,107 values)
    /// let token = try await migration.replica.invite(role: .writer)
    /// ```
    /// - Parameters:
    ///   - directory: Where the new replica goes: best missing or empty, since the space is
    ///     then built in a hidden sibling directory and renamed into place when complete, so a
    ///     crash or an error part-way leaves nothing there (run it again). A directory that
    ///     holds other files is filled in place; one that holds a replica is refused.
    ///   - name: This device's name in the new space; the host name by default.
    ///   - options: Tunables of the new replica.
    ///   - keyStore: Where the new replica's secrets go; key files in `directory` by default.
    ///   - progress: Called after each batch with the records written so far and the total.
    /// - Returns: The new replica and what was written. The new space encrypts its bundles if
    ///   this one does.
    /// - Throws: `ConcordError` `.unsupportedVersion` (this space already has members),
    ///   `.replicaExists`, `.storage`.
    public func migrate(
        to directory: String, name: String = Replica.defaultDeviceName, options: Options = Options(),
        keyStore: (any ReplicaKeyStore)? = nil, progress: (@Sendable (_ written: Int, _ total: Int) -> Void)? = nil
    ) async throws -> Migration {
        guard !membership.isMemberFormat else {
            throw ConcordError(
                .unsupportedVersion,
                "space \(spaceID.shortDescription) already has members (bundle format 3): there is nothing to migrate")
        }
        // Built beside `directory` and renamed into place when complete, so a crash or an
        // error part-way leaves no half-filled space where the user asked for one (a re-run
        // starts over). A directory that already holds other files is filled in place.
        let staging = Self.migrationStaging(for: directory)
        let building = staging ?? directory
        do {
            let built = try await fillMigration(
                at: building, name: name, options: options, keyStore: keyStore, progress: progress)
            guard let staging else { return built }
            let records = built.records
            let collections = built.collections
            let values = built.values
            try Self.moveMigration(from: staging, to: directory)
            let replica = try Replica.open(at: directory, options: options, keyStore: keyStore)
            return Migration(replica: replica, records: records, collections: collections, values: values)
        } catch {
            if let staging { try? FileManager.default.removeItem(atPath: staging) }
            throw error
        }
    }

    /// A hidden sibling of `directory` to build a migration in, or `nil` when `directory`
    /// exists and holds files (it is then filled in place).
    static func migrationStaging(for directory: String) -> String? {
        let files = FileManager.default
        var isDirectory: ObjCBool = false
        if files.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue, (try? files.contentsOfDirectory(atPath: directory))?.isEmpty == true else { return nil }
        }
        let url = URL(fileURLWithPath: directory).standardizedFileURL
        let nonce = (0..<8).map { _ in String(UInt8.random(in: 0...255), radix: 16) }.joined()
        return url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).migrating-\(nonce)").path
    }

    /// Renames a completed migration into `directory` (missing or empty).
    static func moveMigration(from staging: String, to directory: String) throws {
        // An empty directory the user made for it is replaced (rename(2) needs it gone).
        if FileManager.default.fileExists(atPath: directory) { _ = rmdir(directory) }
        guard rename(staging, directory) == 0 else {
            throw ConcordError(
                .storage,
                "the migrated space is complete in \(staging) but could not be moved to \(directory): \(String(cString: strerror(errno))); move it there yourself, or remove it and run the migration again"
            )
        }
    }

    /// Creates the new space in `directory` and writes this replica's live records into it.
    private func fillMigration(
        at directory: String, name: String, options: Options, keyStore: (any ReplicaKeyStore)?,
        progress: (@Sendable (_ written: Int, _ total: Int) -> Void)?
    ) async throws -> Migration {
        let names = try collections()
        var total = 0
        for collection in names { total += try count(matching: RecordQuery(collection)) }
        let target = try await Replica.create(
            at: directory, name: name, encrypted: membership.isEncrypted, options: options, keyStore: keyStore)
        var records = 0
        var values = 0
        for collection in names {
            var offset = 0
            while true {
                let page = try self.records(matching: RecordQuery(collection).limit(Self.migrationBatch, offset: offset))
                values += try await target.write { tx in
                    var written = 0
                    for record in page {
                        for field in record.fields {
                            try tx.set(field.name, to: field.value, record: record.id, in: collection)
                            written += 1
                        }
                        for set in record.sets {
                            for member in set.members {
                                try tx.add(member, to: set.name, record: record.id, in: collection)
                                written += 1
                            }
                        }
                    }
                    return written
                }
                records += page.count
                offset += page.count
                progress?(records, total)
                if page.count < Self.migrationBatch { break }
            }
        }
        return Migration(replica: target, records: records, collections: names.count, values: values)
    }

    /// Records per transaction of a migration: large enough to batch SQLite well, small
    /// enough to report progress and keep memory flat.
    static let migrationBatch = 2_000
}
