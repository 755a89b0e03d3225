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

    /// An object of `entries`, keys in the order of their UTF-8 bytes. Keys are compared
    /// as bytes, never as Swift strings (which would merge `"é"` and `"e\u{301}"`): two
    /// names that differ only in Unicode normalization are two keys.
    static func object(_ entries: [(String, String)]) -> String {
        let sorted = entries.map { (key: Array($0.0.utf8), entry: $0) }
            .sorted { $0.key.lexicographicallyPrecedes($1.key) }
            .map(\.entry)
        return "{" + sorted.map { string($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }

    /// `{"id":"UUID","fields":{...},"sets":{...}}` (`Specs/cli-json.md`): LWW fields in
    /// `fields`, OR-set fields as sorted arrays in `sets`, so a name that is both a
    /// register and a set shows both; names are exact bytes (see ``object(_:)``).
    static func record(_ record: RecordView) -> String {
        let fields = record.fields.map { ($0.name, value($0.value)) }
        let sets = record.sets.map { ($0.name, "[" + $0.members.sorted().map(value).joined(separator: ",") + "]") }
        return "{\"id\":" + string(record.id.uuidString) + ",\"fields\":" + object(fields) + ",\"sets\":" + object(sets) + "}"
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
