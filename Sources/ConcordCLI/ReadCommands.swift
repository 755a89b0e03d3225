import ArgumentParser
import Concord
import Foundation

/// Text lines for one record: `field = value`, sets as `field = {a, b}`.
func describe(_ record: RecordView) -> String {
    var lines = ["id = \(record.id.uuidString)"]
    lines += record.fields.map { "\($0.name) = \(JSONText.value($0.value))" }
    lines += record.sets.map { "\($0.name) = {" + $0.members.sorted().map(JSONText.value).joined(separator: ", ") + "}" }
    return lines.joined(separator: "\n")
}

func notFound(_ id: RecordID, _ collection: String) -> CLIFailure {
    CLIFailure(
        message: "no record \(id.uuidString) in \(collection) (absent or deleted); list the collection with `concord list \(collection)`",
        status: Exit.notFound)
}

struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print one record; exit status 3 if it is absent or deleted.",
        discussion: """
            Examples:
              concord get todos E621E1F8-C36C-495A-93FC-0C247A3E6E5F
              concord get todos "$id" --json     # {"id":"...","fields":{"done":false,...},"sets":{"tags":["a","b"]}}

            --json: LWW fields are in "fields", OR-set fields (sorted arrays) in "sets", so \
            a name that is both shows both. Names are exact bytes: two that differ only in \
            Unicode normalization (NFC "é" and NFD "é") are two keys; read them with a JSON \
            parser that keeps such keys apart (jq, Python and JavaScript do).
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The collection.") var collection: String
    @Argument(help: "The record id (a UUID).") var id: String
    @Flag(help: "Print {\"id\": ..., \"fields\": {...}, \"sets\": {...}}: LWW fields, and OR-set fields as sorted arrays.") var json = false

    func run() async throws {
        let record = try Parse.id(id)
        let replica = try options.open()
        guard let view = try await replica.record(record, in: collection) else { throw notFound(record, collection) }
        print(json ? JSONText.record(view) : describe(view))
    }
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the records of a collection, sorted by id.",
        discussion: """
            --where FIELD=JSON keeps records whose LWW field equals the value (repeat it to \
            require several). --json prints a JSON array sorted by id, each element \
            {"id": ..., "fields": {...}, "sets": {...}}: LWW fields in "fields", OR-set \
            fields as sorted arrays in "sets" (a name that is both shows both). Names are \
            exact bytes: two that differ only in Unicode normalization are two keys. Two \
            replicas in the same state print identical bytes.

            Examples:
              concord list todos
              concord list todos --json
              concord list todos --where done=false --where owner='"ada"' --json
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The collection.") var collection: String
    @Flag(help: "Print a JSON array.") var json = false
    @Option(name: .customLong("where"), help: ArgumentHelp("Keep records whose field equals the JSON value.", valueName: "FIELD=JSON"))
    var conditions: [String] = []

    func run() async throws {
        var query = RecordQuery(collection)
        for condition in conditions {
            let (field, value) = try Parse.assignment(condition)
            query = query.where(field, .equals(value))
        }
        let replica = try options.open()
        let records = try await replica.records(matching: query).sorted { $0.id.uuidString < $1.id.uuidString }
        if json {
            print(JSONText.records(records))
        } else if records.isEmpty {
            print("no records in \(collection)")
        } else {
            print(records.map(describe).joined(separator: "\n\n"))
        }
    }
}

struct Conflicts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the concurrent writes that lost to a record's LWW fields.",
        discussion: """
            For every LWW field of the record (or only FIELD), prints the current value and \
            each value another device wrote concurrently (without having seen the winner's \
            author's write) that was overwritten. Write the merged value with `concord put` \
            to resolve. Exit status 3 if the record is absent or deleted.

            Examples:
              concord conflicts todos E621E1F8-C36C-495A-93FC-0C247A3E6E5F
              concord conflicts todos "$id" title --json
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The collection.") var collection: String
    @Argument(help: "The record id (a UUID).") var id: String
    @Argument(help: "Only this field.") var field: String?
    @Flag(help: "Print {\"FIELD\": {\"current\": ..., \"overwritten\": [{\"value\": ..., \"author\": HEX}]}}.") var json = false

    func run() async throws {
        let record = try Parse.id(id)
        let replica = try options.open()
        guard let view = try await replica.record(record, in: collection) else { throw notFound(record, collection) }
        let fields = field.map { [$0] } ?? view.fields.map(\.name)
        var entries: [(String, String)] = []
        var lines: [String] = []
        for name in fields {
            let losers = try await replica.conflicts(of: name, record: record, in: collection)
            guard !losers.isEmpty else { continue }
            let current = view[name].map(JSONText.value) ?? "null"
            let overwritten = losers.map { "{\"value\":\(JSONText.value($0.value)),\"author\":\(JSONText.string($0.author.hex))}" }
            entries.append((name, "{\"current\":\(current),\"overwritten\":[\(overwritten.joined(separator: ","))]}"))
            lines.append("\(name): \(current) (current)")
            lines += losers.map { "  overwritten concurrently: \(JSONText.value($0.value)) by device \($0.author.shortDescription)" }
        }
        if json {
            print(JSONText.object(entries))
        } else {
            print(lines.isEmpty ? "no conflicts" : lines.joined(separator: "\n"))
        }
    }
}

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show every shared write of one LWW field, oldest first.",
        discussion: """
            Examples:
              concord history todos E621E1F8-C36C-495A-93FC-0C247A3E6E5F title
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The collection.") var collection: String
    @Argument(help: "The record id (a UUID).") var id: String
    @Argument(help: "The field.") var field: String

    func run() async throws {
        let record = try Parse.id(id)
        let replica = try options.open()
        let writes = try await replica.history(of: field, record: record, in: collection)
        if writes.isEmpty, try await replica.record(record, in: collection) == nil { throw notFound(record, collection) }
        for write in writes {
            let place = write.sequence.map { "bundle \($0)" } ?? "not sealed yet"
            print(
                "\(JSONText.value(write.value)) by device \(write.author.shortDescription) (\(place))\(write.isCurrent ? " current" : "")")
        }
    }
}

struct VectorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vector",
        abstract: "Print the version vector as JSON: device id (hex) -> highest bundle held.",
        discussion: """
            Give it to another device so it exports only what you lack.

            Examples:
              concord vector > mine.json               # on B
              concord export delta.concord --since mine.json   # on A
            """
    )
    @OptionGroup var options: StoreOptions

    func run() async throws {
        let replica = try options.open()
        print(JSONText.vector(try await replica.versionVector()))
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the replica: space, device, role, pending writes, bundles, state digest, problems.",
        discussion: """
            Two replicas holding the same data show the same state digest. When the device \
            needs its owner (its clock is wrong, or a copy of this store wrote too), an \
            `attention` line says what happened, with dates, and what to do; the exit status \
            is then 4 (`--json`: the `problems` array, each with `kind`, `remedy` and \
            `message`). `storage` (`--json`: an object) says what the replica keeps: bytes \
            on disk (the database with its -wal and -shm files), live and deleted records, \
            OR-set tombstones, and the log's bundles and bytes. `stability` (`--json`: \
            `stable_cut`, `stale_members`) says how much of the log every counted member has \
            acknowledged, and which members are marked stale. `snapshot` (`--json`: `id`, \
            `signer`, `state`, or null) names this device's latest snapshot, provisional \
            until recomputed from a log, or verified.

            Examples:
              concord status
              concord status --json
            """
    )
    @OptionGroup var options: StoreOptions
    @Flag(help: "Print a JSON object.") var json = false

    func run() async throws {
        let replica = try options.open()
        let status = try await replica.status()
        let digest = try await replica.state().digestHex
        let encrypted = replica.membership.isEncrypted
        let storage = try await replica.storageReport()
        let members =
            replica.membership.isMemberFormat
            ? ", with members" : "; no members: `concord migrate --to DIR` moves its data into a space with members"
        let policy = replica.membership.isMemberFormat ? try await Self.policy(replica) : nil
        let stability = try await Self.stability(replica)
        let snapshot = replica.membership.isMemberFormat ? try await replica.snapshotStatus() : nil
        if json {
            print(
                JSONText.object([
                    ("store", JSONText.string(options.path)),
                    ("space", JSONText.string(replica.spaceID.hex)),
                    ("device", JSONText.string(replica.replicaID.hex)),
                    ("role", JSONText.string("\(replica.role)")),
                    ("encrypted", encrypted ? "true" : "false"),
                    ("format", replica.membership.isMemberFormat ? "3" : "2"),
                    ("pending_operations", String(status.pendingOperations)),
                    ("bundles", String(status.bundles)),
                    ("held_bundles", String(status.heldBundles)),
                    ("quarantined_bundles", String(status.quarantinedBundles)),
                    ("unacknowledged_bundles", String(status.unacknowledgedBundles)),
                    ("vector", JSONText.vector(status.versionVector)),
                    ("state_digest", JSONText.string(digest)),
                    ("problems", "[" + status.problems.map(Self.json).joined(separator: ",") + "]"),
                    ("storage", Self.json(storage)),
                    ("policy", policy?.json ?? "null"),
                    ("stable_cut", stability.stableCut),
                    ("stale_members", stability.staleMembers),
                    ("snapshot", snapshot.map(SnapshotCommand.json) ?? "null"),
                ]))
            if !status.problems.isEmpty { throw ExitCode(Exit.attention) }
            return
        }
        print(
            """
            store                   \(options.path)
            space                   \(replica.spaceID.hex) (\(encrypted ? "encrypted" : "plaintext")\(members))
            device                  \(replica.replicaID.hex) (\(replica.role))
            pending operations      \(status.pendingOperations) (sealed into a bundle on export)
            bundles                 \(status.bundles) in the log, \(status.heldBundles) held, \(status.quarantinedBundles) quarantined
            unacknowledged bundles  \(status.unacknowledgedBundles)
            vector                  \(JSONText.vector(status.versionVector))
            state digest            \(digest)
            storage                 \(storage.bytesOnDisk) bytes on disk; \(storage.counts.liveRecords) live records, \(storage.counts.deletedRecords) deleted (\(storage.counts.deleteStubs) delete stubs), \(storage.counts.setTombstones) set tombstones; log \(storage.counts.logBytes) bytes
            """)
        if let policy { print("policy                  \(policy.line)") }
        if replica.membership.isMemberFormat { print("stability               \(stability.line)") }
        if let snapshot { print("snapshot                \(SnapshotCommand.line(snapshot))") }
        for problem in status.problems {
            print("attention               \(problem.message)")
        }
        if !status.problems.isEmpty { throw ExitCode(Exit.attention) }
    }

    /// The policy in force and the denials (`Specs/permissions.md` §6.3): the `policy` line
    /// and the `policy` object of `--json` (`Specs/cli-json.md`); `nil` when no policy was
    /// ever set and nothing was denied.
    static func policy(_ replica: Replica) async throws -> (line: String, json: String)? {
        let state = try await replica.memberContext().state
        let denials = try await replica.deniedOperations()
        let unread = state.policies.isEmpty ? 0 : try await replica.unreadSections().count
        guard let latest = state.policies.last else {
            guard !denials.isEmpty else { return nil }
            return (
                "none; \(denials.count) ops denied (policy roles without a policy); concord log --denied",
                JSONText.object([("state", JSONText.string("none")), ("denied", String(denials.count))])
            )
        }
        let by = state.member(latest.by.author)?.name ?? String(latest.by.author.hex.prefix(8))
        let at = CalendarTime.text(HLCTimestamp(rawValue: latest.by.stamp).milliseconds)
        let kind: String
        switch try await replica.policy() {
        case .cleared?: kind = "cleared"
        case .unreadable?: kind = "unreadable"
        case .broken?: kind = "broken"
        default: kind = "policy"
        }
        let names = Dictionary(state.members.map { ($0.device, $0.name) }, uniquingKeysWith: { a, _ in a })
        var line = kind == "cleared" ? "cleared by \(by) on \(at)" : "set by \(by) on \(at)"
        if kind == "unreadable" { line += " (not readable here yet: sync with an admin)" }
        if kind == "broken" { line += " (cannot be read: only admins may write until an admin sets it again)" }
        if let newest = denials.max(by: { $0.stamp < $1.stamp }) {
            let who = names[newest.author] ?? String(newest.author.hex.prefix(8))
            line += "; \(denials.count) ops denied (latest: \(who), \(newest.denial.message)); concord log --denied"
        } else {
            line += "; no op denied"
        }
        if unread > 0 {
            line += "; \(unread) sealed section\(unread == 1 ? "" : "s") of read scopes this device is not in, stored unread"
        }
        let json = JSONText.object([
            ("state", JSONText.string(kind)), ("set_by", JSONText.string(by)), ("set_by_device", JSONText.string(latest.by.author.hex)),
            ("at", JSONText.string(CalendarTime.text(HLCTimestamp(rawValue: latest.by.stamp).milliseconds, seconds: true))),
            ("denied", String(denials.count)), ("unread_sections", String(unread)),
        ])
        return (line, json)
    }

    /// `{"bytes_on_disk": 1, "live_records": 1, "deleted_records": 0, "set_tombstones": 0, "log_bundles": 1, "log_bytes": 1, ...}`.
    static func json(_ storage: StorageReport) -> String {
        let counts = storage.counts
        return JSONText.object([
            ("bytes_on_disk", String(storage.bytesOnDisk)), ("live_records", String(counts.liveRecords)),
            ("deleted_records", String(counts.deletedRecords)), ("delete_stubs", String(counts.deleteStubs)),
            ("set_tombstones", String(counts.setTombstones)),
            ("log_bundles", String(counts.logBundles)), ("log_bytes", String(counts.logBytes)),
            ("held_bundles", String(counts.heldBundles)), ("quarantined_bundles", String(counts.quarantinedBundles)),
            ("floor", storage.floor.map { JSONText.string($0.hex) } ?? "null"),
        ])
    }

    /// `{"kind": "forked", "remedy": "recover", "message": "...", ...}`.
    static func json(_ problem: ReplicaProblem) -> String {
        var entries = [
            ("kind", JSONText.string(problem.kind.description)), ("remedy", JSONText.string(problem.remedy.description)),
            ("message", JSONText.string(problem.message)),
            ("device_clock", JSONText.string(CalendarTime.text(problem.deviceTime, seconds: true))),
        ]
        if let evidence = problem.evidenceTime {
            entries.append(("evidence_time", JSONText.string(CalendarTime.text(evidence, seconds: true))))
        }
        if let forkedAt = problem.forkedAt { entries.append(("forked_at", String(forkedAt))) }
        return JSONText.object(entries)
    }
}

struct Log: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the bundles in the log: author, sequence, operations, size, time.",
        discussion: """
            Pending local writes are sealed into a bundle first.

            Ops the space's permission policy denied are marked under their bundle \
            (`denied: op N: <why>`); --denied lists only them, newest first.

            Examples:
              concord log
              concord log --denied
            """
    )
    @OptionGroup var options: StoreOptions
    @Flag(help: "List only the ops the space's policy denied, newest first, with author and date.") var denied = false

    func run() async throws {
        let replica = try options.open()
        let me = replica.membership.device.publicKey
        let formatter = ISO8601DateFormatter()
        let denials = replica.membership.isMemberFormat ? try await replica.deniedOperations() : []
        if denied {
            let names = Dictionary(try await replica.members().map { ($0.device, $0.name) }, uniquingKeysWith: { a, _ in a })
            let newest = denials.sorted { ($0.stamp, $0.index) > ($1.stamp, $1.index) }
            for denial in newest {
                let date = Date(timeIntervalSince1970: Double(denial.stamp.hlc.milliseconds) / 1000)
                let who = names[denial.author] ?? String(denial.author.hex.prefix(16))
                print(
                    "\(formatter.string(from: date))  \(who) #\(denial.sequence) op \(denial.index)  \(denial.kind.rawValue) \(denial.collection)/\(denial.record)\(denial.field.map { " \($0)" } ?? "")  denied: \(denial.denial.message)"
                )
            }
            if newest.isEmpty { print("no op was denied") }
            return
        }
        let byBundle = Dictionary(grouping: denials, by: \.bundleID)
        var count = 0
        for try await bundle in try await replica.bundles() {
            let ops =
                bundle.isControl ? "control" : ((try? await replica.contents(of: bundle).operations.count).map { "\($0) ops" } ?? "? ops")
            let date = Date(timeIntervalSince1970: Double(bundle.hlcRange.upperBound.milliseconds) / 1000)
            let who = bundle.author.hex.prefix(16) + (bundle.author == me ? " (this device)" : "")
            print(
                "\(who) #\(bundle.sequence)  \(ops)  \(bundle.bytes.count) bytes  \(formatter.string(from: date))  id \(bundle.id.shortDescription)"
            )
            for denial in byBundle[bundle.id] ?? [] {
                print("  denied: op \(denial.index): \(denial.denial.message)")
            }
            count += 1
        }
        if count == 0 { print("the log is empty") }
    }
}
