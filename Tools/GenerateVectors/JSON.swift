// JSON rendering with a fixed key order, and the JSON form of values and operations
// shared by every vectors file (`Specs/wire-format.md`, section 9).
import ConcordCore
import Foundation

indirect enum JSON {
    /// `number` is written in decimal; use it only below 2^53, where every JSON reader
    /// is exact. Larger integers (clock readings, `int` values) are decimal strings.
    case string(String), bool(Bool), number(UInt64), array([JSON]), object([(String, JSON)])

    func render(into out: inout String) {
        switch self {
        case .string(let s):
            out += "\""
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case _ where scalar.value < 0x20: out += "\\u" + String(format: "%04x", scalar.value)
                default: out.unicodeScalars.append(scalar)
                }
            }
            out += "\""
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n):
            precondition(n < 1 << 53, "JSON numbers above 2^53 lose precision in some readers; write a string")
            out += String(n)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.render(into: &out)
            }
            out += "]"
        case .object(let pairs):
            out += "{"
            for (i, (key, value)) in pairs.enumerated() {
                if i > 0 { out += "," }
                JSON.string(key).render(into: &out)
                out += ":"
                value.render(into: &out)
            }
            out += "}"
        }
    }
}

func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

func json(_ v: Value) -> JSON {
    switch v {
    case .null: .object([("type", .string("null"))])
    case .bool(let b): .object([("type", .string("bool")), ("bool", .bool(b))])
    case .int(let i): .object([("type", .string("int")), ("int", .string(String(i)))])
    case .double(let d): .object([("type", .string("double")), ("bits", .string(String(format: "%016llx", d.bitPattern)))])
    case .string(let s): .object([("type", .string("string")), ("string", .string(s)), ("utf8_hex", .string(hex(s.utf8)))])
    case .bytes(let b): .object([("type", .string("bytes")), ("hex", .string(hex(b)))])
    case .reference(let r):
        .object([("type", .string("reference")), ("collection", .string(r.collection)), ("id", .string(r.id.uuidString))])
    }
}

func json(_ s: Stamp) -> JSON { .object([("replica", .string(s.replica.hex)), ("hlc", .string(String(s.hlc.rawValue)))]) }

func json(_ op: RecordOperation) -> JSON {
    var pairs: [(String, JSON)] = []
    let kind: String
    switch op.action {
    case .set: kind = "set"
    case .add: kind = "add"
    case .remove: kind = "remove"
    case .delete: kind = "delete"
    }
    pairs.append(("kind", .string(kind)))
    pairs += [("replica", .string(op.stamp.replica.hex)), ("hlc", .string(String(op.stamp.hlc.rawValue)))]
    pairs += [("collection", .string(op.collection)), ("record", .string(op.record.uuidString))]
    switch op.action {
    case let .set(field, value), let .add(field, value):
        pairs += [("field", .string(field)), ("value", json(value))]
    case let .remove(field, value, observed):
        pairs += [("field", .string(field)), ("value", json(value)), ("observed", .array(observed.map { json($0) }))]
    case .delete:
        break
    }
    return .object(pairs)
}

func line(_ pairs: [(String, JSON)]) -> String {
    var out = ""
    JSON.object(pairs).render(into: &out)
    return out
}

/// The `record_states` of a valid batch (`Specs/wire-format.md` section 9.1): every record
/// the ops name, hidden ones included, sorted by collection bytes and then id bytes, each
/// with its full CRDT state in the storage encoding of `Specs/storage-schema.md` section 5
/// (stamps, tombstones, `deletedAt` and `lastWrite`), so an implementation can compare
/// the hidden state, not only the visible one.
func recordStates(_ state: ReplicaState, _ ops: [RecordOperation]) -> JSON {
    var keys: [(collection: [UInt8], name: String, id: RecordID)] = []
    var seen = Set<String>()
    for op in ops where seen.insert(hex(op.collection.utf8) + op.record.uuidString).inserted {
        keys.append((Array(op.collection.utf8), op.collection, op.record))
    }
    keys.sort { $0.collection == $1.collection ? $0.id.bytes.lexicographicallyPrecedes($1.id.bytes) : $0.collection.lexicographicallyPrecedes($1.collection) }
    return .array(keys.map { key in
        // Cannot be nil: every record an op names exists in the state.
        let record = state.recordState(key.id, in: key.name)!
        return .object([("collection", .string(key.name)), ("record", .string(key.id.uuidString)),
                        ("state_hex", .string(hex(record.storageEncoding())))])
    })
}
