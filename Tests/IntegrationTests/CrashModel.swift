import Concord
import ConcordCore
import Foundation

/// The data layout shared with `Tests/CrashWorker/Layout.swift` (kept in sync by hand):
/// every field has exactly one writer, so the expected state is exact.
///
/// - The worker (replica A) writes LWW fields `w0`…`w4` and the OR-set `wt` in
///   `shared` and `private`, and deletes records only in `private`.
/// - The peer (P) writes `p0`…`p4` and `pt` in `shared` and `peer`, and deletes records
///   only in `peer`.
enum CrashLayout {
    static let recordsPerCollection = 50
    static let workerCollections = ["shared", "private"]
    static let peerCollections = ["shared", "peer"]
    static let peerFields = ["p0", "p1", "p2", "p3", "p4"]
    static let peerSet = "pt"
    static let tagMembers: Int64 = 6

    static func recordID(_ collection: String, _ index: Int) -> RecordID {
        let high: UInt64 = switch collection {
        case "shared": 0x5348_4152_4544_0000
        case "private": 0x5052_4956_4154_0000
        default: 0x5045_4552_0000_0000
        }
        return RecordID(high: high, low: UInt64(index))
    }

    static func ids(_ collection: String) -> [RecordID] {
        (0..<recordsPerCollection).map { recordID(collection, $0) }
    }
}

/// SplitMix64: the seeded generator of the test (the worker has its own copy).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One local operation of one writer, as the model sees it.
enum ModelOperation: Equatable, Sendable {
    case set(collection: String, record: RecordID, field: String, value: Int64)
    case add(collection: String, record: RecordID, field: String, value: Int64)
    case remove(collection: String, record: RecordID, field: String, value: Int64)
    case delete(collection: String, record: RecordID)

    var collection: String {
        switch self {
        case let .set(c, _, _, _), let .add(c, _, _, _), let .remove(c, _, _, _), let .delete(c, _): c
        }
    }

    var record: RecordID {
        switch self {
        case let .set(_, r, _, _), let .add(_, r, _, _), let .remove(_, r, _, _), let .delete(_, r): r
        }
    }

    /// Parses the words of a journal line after its tag: `set|add|remove <c> <r> <f> <v>`
    /// or `delete <c> <r>` (intent), or the same after `W|A|R|D` (acknowledgement).
    init?(kind: String, _ words: ArraySlice<String>) {
        let words = Array(words)
        guard words.count >= 2, let id = try? RecordID(uuidString: words[1]) else { return nil }
        if kind == "delete" || kind == "D" {
            self = .delete(collection: words[0], record: id)
            return
        }
        guard words.count == 4, let value = Int64(words[3]) else { return nil }
        switch kind {
        case "set", "W": self = .set(collection: words[0], record: id, field: words[2], value: value)
        case "add", "A": self = .add(collection: words[0], record: id, field: words[2], value: value)
        case "remove", "R": self = .remove(collection: words[0], record: id, field: words[2], value: value)
        default: return nil
        }
    }

    func apply(to write: WriteTransaction) throws {
        switch self {
        case let .set(c, r, f, v): try write.set(f, to: .int(v), record: r, in: c)
        case let .add(c, r, f, v): try write.add(.int(v), to: f, record: r, in: c)
        case let .remove(c, r, f, v): try write.remove(.int(v), from: f, record: r, in: c)
        case let .delete(c, r): try write.delete(record: r, in: c)
        }
    }
}

/// One record as seen by one writer: its fields, its one OR-set, and whether that
/// writer's latest constructive write is after its latest delete. Exact because every
/// writer's stamps increase and no two writers share a field.
struct ModelRecord: Equatable, Sendable {
    var fields: [String: Int64] = [:]
    var members: Set<Int64> = []
    var visible = false
}

/// Records of one writer, by collection and id.
struct RecordsModel: Equatable, Sendable {
    var records: [String: [RecordID: ModelRecord]] = [:]

    subscript(collection: String, id: RecordID) -> ModelRecord {
        get { records[collection]?[id] ?? ModelRecord() }
        set { records[collection, default: [:]][id] = newValue }
    }

    /// Applies `operation`; `false` when it is a remove of an absent member (Concord
    /// then records no operation).
    @discardableResult
    mutating func apply(_ operation: ModelOperation) -> Bool {
        var record = self[operation.collection, operation.record]
        defer { self[operation.collection, operation.record] = record }
        switch operation {
        case let .set(_, _, field, value):
            record.fields[field] = value
            record.visible = true
        case let .add(_, _, _, value):
            record.members.insert(value)
            record.visible = true
        case let .remove(_, _, _, value):
            return record.members.remove(value) != nil
        case .delete:
            record = ModelRecord()
        }
        return true
    }
}

/// The part of a record view one writer owns: fields with its prefix, and its set.
struct OwnedPart: Equatable, CustomStringConvertible {
    var fields: [String: Int64]
    var members: Set<Int64>

    init(_ view: RecordView, fieldPrefix: String, set: String) {
        fields = [:]
        for field in view.fields where field.name.hasPrefix(fieldPrefix) {
            if case .int(let value) = field.value { fields[field.name] = value } else { fields[field.name] = .min }
        }
        members = Set(view.members(of: set).map { if case .int(let value) = $0 { value } else { .min } })
    }

    init(_ record: ModelRecord) {
        fields = record.visible ? record.fields : [:]
        members = record.visible ? record.members : []
    }

    var description: String {
        "{" + fields.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            + " set: " + members.sorted().map(String.init).joined(separator: ",") + "}"
    }
}

// MARK: - The journal

/// One call of the worker, from its journal.
struct JournalCall {
    enum Kind: Equatable {
        case write([ModelOperation])
        case seal
        case importOne(Int)
        case bulk([Int])

        var name: String {
            switch self {
            case .write: "write"
            case .seal: "seal"
            case .importOne: "import"
            case .bulk: "bulk import"
            }
        }
    }

    var number: Int
    var kind: Kind
    /// The acknowledgement lines (between `E` and `K`); `nil` when the call had not
    /// returned (or its acknowledgement was not durable) when the worker was killed.
    var acknowledgement: [[String]]?
    /// How long the call took (from the worker's `K` line).
    var microseconds = 0
}

/// A worker journal, parsed.
struct ParsedJournal {
    /// Whether the worker opened the replica (`H`).
    var opened = false
    /// Calls whose intent is complete, in order; only the last may lack its
    /// acknowledgement.
    var calls: [JournalCall] = []
    /// The worker's own failure (`X`), if any.
    var failure: String?
    /// Lines that do not parse.
    var problems: [String] = []

    /// The call in flight at the kill: intent durable, acknowledgement not.
    var inFlight: JournalCall? { calls.last.flatMap { $0.acknowledgement == nil ? $0 : nil } }

    init(contents: String) {
        var lines = contents.components(separatedBy: "\n")
        // A kill during the journal's own write can leave a partial last line.
        // (And a complete journal ends with "\n": its last component is empty.)
        lines.removeLast()
        var current: JournalCall?
        var intentDone = false
        var operations: [ModelOperation] = []
        var acknowledgement: [[String]] = []
        for line in lines {
            let words = line.split(separator: " ").map(String.init)
            guard let tag = words.first else { continue }
            switch tag {
            case "H":
                opened = true
            case "X":
                failure = line
            case "B":
                if current != nil { problems.append("call without acknowledgement before \(line)") }
                guard words.count >= 3, let number = Int(words[1]) else { problems.append(line); continue }
                let kind: JournalCall.Kind
                switch words[2] {
                case "write": kind = .write([])
                case "seal": kind = .seal
                case "import" where words.count == 4 && Int(words[3]) != nil: kind = .importOne(Int(words[3])!)
                case "bulk" where words.count == 4: kind = .bulk(words[3].split(separator: ",").compactMap { Int($0) })
                default: problems.append(line); continue
                }
                current = JournalCall(number: number, kind: kind, acknowledgement: nil)
                intentDone = false
                operations = []
                acknowledgement = []
            case "O":
                guard words.count >= 2, let operation = ModelOperation(kind: words[1], words.dropFirst(2)) else { problems.append(line); continue }
                operations.append(operation)
            case "E":
                guard var call = current else { problems.append(line); continue }
                if case .write = call.kind { call.kind = .write(operations) }
                current = call
                intentDone = true
                calls.append(call)
            case "K":
                guard let call = current, intentDone, words.count == 3, Int(words[1]) == call.number, let micros = Int(words[2]) else { problems.append(line); continue }
                calls[calls.count - 1].acknowledgement = acknowledgement
                calls[calls.count - 1].microseconds = micros
                current = nil
            default:
                guard intentDone else { problems.append(line); continue }
                acknowledgement.append(words)
            }
        }
    }
}
