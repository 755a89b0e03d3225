import ConcordCore
import ConcordProtocol

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
    ///   - directory: Where the new replica goes (created if missing; it must not hold one).
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
