import Concord

/// Deterministic JSON rendering (keys sorted by UTF-8 bytes), written by hand so the
/// output of two replicas in the same state is byte-identical.
enum JSONText {
    static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A value: JSON scalars as themselves; non-finite doubles as strings ("NaN",
    /// "Infinity", "-Infinity"); bytes as `{"$bytes": hex}`; references as
    /// `{"$ref": "collection/UUID"}`.
    static func value(_ value: Value) -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d):
            if d.isNaN { return "\"NaN\"" }
            if d.isInfinite { return d > 0 ? "\"Infinity\"" : "\"-Infinity\"" }
            return "\(d)"
        case .string(let s): return string(s)
        case .bytes(let b): return "{\"$bytes\":\"" + b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() + "\"}"
        case .reference(let r): return "{\"$ref\":" + string("\(r.collection)/\(r.id.uuidString)") + "}"
        }
    }

    static func object(_ entries: [(String, String)]) -> String {
        let sorted = entries.sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
        return "{" + sorted.map { string($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }

    /// `{"id":"UUID","fields":{...}}`, OR-set fields as sorted arrays (an OR-set and an
    /// LWW field of the same name: the set is listed).
    static func record(_ record: RecordView) -> String {
        var fields: [String: String] = [:]
        for field in record.fields { fields[field.name] = value(field.value) }
        for set in record.sets { fields[set.name] = "[" + set.members.sorted().map(value).joined(separator: ",") + "]" }
        return "{\"id\":" + string(record.id.uuidString) + ",\"fields\":" + object(fields.map { ($0.key, $0.value) }) + "}"
    }

    /// A JSON array of records sorted by id, one per line.
    static func records(_ records: [RecordView]) -> String {
        let sorted = records.sorted { $0.id.uuidString < $1.id.uuidString }
        guard !sorted.isEmpty else { return "[]" }
        return "[\n" + sorted.map { "  " + record($0) }.joined(separator: ",\n") + "\n]"
    }

    static func vector(_ vector: VersionVector) -> String {
        object(vector.entries.map { ($0.key.hex, String($0.value)) })
    }
}
