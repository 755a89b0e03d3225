import ConcordCore
import Foundation
import Testing

/// Foundation also declares `RecordOperation` (NSOperation).

/// Runs the language-neutral vectors of `Specs/vectors` (written by `swift run concord-vectors`)
/// against ConcordCore's public API. The rules they encode are `Specs/wire-format.md`.
///
/// Each line is one case: `expected` is `"valid"` or the `ConcordCoreError` code the
/// decoder must throw. Valid cases must decode to the JSON-described value or operations,
/// re-encode to the same bytes (or to `reencoded_hex` for accepted non-canonical input) and,
/// for batches, produce `state_digest_hex` and `canonical_state_hex` in any order of application.
@Suite struct VectorConformanceTests {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Specs/vectors")

    /// Fewer cases than this means a file was emptied or truncated.
    static let minimumValueCases = 50
    static let minimumOperationCases = 120

    @Test func everyVectorConforms() throws {
        let values = try Self.load("values.jsonl")
        let batches = try Self.load("operations.jsonl")
        var passed = 0
        for case_ in values where check(case_, Self.checkValue) { passed += 1 }
        for case_ in batches where check(case_, Self.checkBatch) { passed += 1 }
        #expect(passed == values.count + batches.count)
        print("conformance: \(passed) vectors passed (\(values.count) values, \(batches.count) operation batches)")
    }

    @Test func vectorFilesAreComplete() throws {
        let values = try Self.load("values.jsonl")
        let batches = try Self.load("operations.jsonl")
        #expect(values.count >= Self.minimumValueCases)
        #expect(batches.count >= Self.minimumOperationCases)
        for cases in [values, batches] {
            let names = cases.map(\.name)
            #expect(Set(names).count == names.count, "case names must be unique")
            let expected = Set(cases.map(\.expected))
            #expect(expected.isSubset(of: ["valid", "malformedEncoding", "unsupportedVersion"]))
            #expect(expected.contains("valid") && expected.contains("malformedEncoding"))
        }
        // A stable core that later regenerations must keep (add cases, never drop these).
        let batchNames = Set(batches.map(\.name))
        for name in ["empty_batch", "every_kind", "seeded_history_40_ops", "format_version_2", "unknown_op_kind_4",
                     "replica_index_out_of_range", "non_minimal_varint_index", "varint_over_64_bits_hlc_delta",
                     "invalid_utf8_name", "bool_value_2", "trailing_byte_after_ops", "huge_op_count",
                     "set_members_in_value_order", "lww_equal_hlc_replica_beats_value", "remove_ignores_observed_tag_after_itself",
                     "remove_ignores_observed_tags_at_or_before_delete", "remove_after_delete_does_not_revive",
                     "delete_and_dropped_writes_set_deleted_at_and_last_write", "names_sorted_by_utf8_bytes"] {
            #expect(batchNames.contains(name), "missing operation vector \(name)")
        }
        // Every valid batch states the full state of its records.
        #expect(batches.filter { $0.expected == "valid" && $0.json["record_states"] == nil }.isEmpty)
        let truncations = batches.filter { $0.name.hasPrefix("truncated_at_") }
        #expect(truncations.count >= 20)
        let valueNames = Set(values.map(\.name))
        for name in ["null", "int_min", "double_negative_zero", "double_nan_payload", "string_e_acute_decomposed_nfd",
                     "reference", "bool_2", "string_invalid_utf8_surrogate", "int_varint_over_64_bits"] {
            #expect(valueNames.contains(name), "missing value vector \(name)")
        }
    }

    // MARK: - Checking one case

    /// Runs `body`, recording any failure against the case's name.
    func check(_ vector: Vector, _ body: (Vector) throws -> Void) -> Bool {
        do {
            try body(vector)
            return true
        } catch {
            Issue.record("vector \(vector.name): \(error)")
            return false
        }
    }

    static func checkValue(_ v: Vector) throws {
        let bytes = try v.bytes("hex")
        guard v.expected == "valid" else {
            try expectError(v) {
                var reader = ByteReader(bytes)
                _ = try Value.decode(from: &reader)
                // A value vector holds exactly one value.
                guard reader.isAtEnd else { throw reader.error("trailing bytes after the value") }
            }
            return
        }
        var reader = ByteReader(bytes)
        let decoded = try Value.decode(from: &reader)
        let expected = try value(v.object("value"))
        try require(reader.isAtEnd, v, "decoding left \(reader.remaining) bytes")
        try require(decoded == expected, v, "decoded \(decoded), JSON describes \(expected)")
        try require(decoded.canonicalBytes == bytes, v, "re-encoding gives \(hex(decoded.canonicalBytes))")
    }

    static func checkBatch(_ v: Vector) throws {
        let bytes = try v.bytes("hex")
        guard v.expected == "valid" else {
            try expectError(v) { _ = try OperationCodec.decode(bytes) }
            return
        }
        let decoded = try OperationCodec.decode(bytes)
        let expected = try v.array("ops").map(operation)
        try require(decoded == expected, v, "decoded \(decoded), JSON describes \(expected)")
        let canonical = v.json["reencoded_hex"] == nil ? bytes : try v.bytes("reencoded_hex")
        try require(OperationCodec.encode(decoded) == canonical, v, "re-encoding gives \(hex(OperationCodec.encode(decoded)))")

        let digest = try v.string("state_digest_hex")
        let canonicalState = try v.string("canonical_state_hex")
        var state = ReplicaState()
        state.apply(contentsOf: decoded)
        try require(state.digestHex == digest, v, "state digest \(state.digestHex)")
        try require(hex(state.canonicalEncoding()) == canonicalState, v, "canonical state \(hex(state.canonicalEncoding()))")
        try checkRecordStates(v, state)

        // Convergence: reversed order, duplicates, and merging two halves give the same state.
        var reversed = ReplicaState()
        reversed.apply(contentsOf: decoded.reversed() + decoded)
        try require(reversed.digestHex == digest, v, "reversed order gives \(reversed.digestHex)")
        var left = ReplicaState(), right = ReplicaState()
        left.apply(contentsOf: decoded.prefix(decoded.count / 2))
        right.apply(contentsOf: decoded.dropFirst(decoded.count / 2))
        right.merge(left)
        try require(right.digestHex == digest, v, "merging halves gives \(right.digestHex)")
        // The hidden state converges too: the same record states in every order.
        try require(reversed == state && right == state, v, "another order or a merge gives another full state")
    }

    /// `record_states`: the full state of every record the ops name (hidden ones too), in
    /// the storage encoding, sorted by collection bytes and then id bytes.
    static func checkRecordStates(_ v: Vector, _ state: ReplicaState) throws {
        let entries = try v.array("record_states")
        let keys = entries.map { (Array(($0["collection"] as? String ?? "").utf8), $0["record"] as? String ?? "") }
        try require(zip(keys, keys.dropFirst()).allSatisfy { a, b in
            a.0 == b.0 ? a.1 < b.1 : a.0.lexicographicallyPrecedes(b.0)
        }, v, "record_states are not sorted by collection bytes, then id")
        for entry in entries {
            let item = Vector(name: v.name, expected: "", json: entry)
            let id = try RecordID(uuidString: try item.string("record"))
            let collection = try item.string("collection")
            guard let record = state.recordState(id, in: collection) else {
                throw Mismatch(message: "\(v.name): no record \(collection)/\(id)")
            }
            try require(hex(record.storageEncoding()) == (try item.string("state_hex")), v,
                        "record \(collection)/\(id) has state \(hex(record.storageEncoding()))")
        }
        try require(entries.count == state.recordCount, v, "record_states lists \(entries.count) of \(state.recordCount) records")
    }

    static func expectError(_ v: Vector, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as ConcordCoreError {
            try require(error.code.description == v.expected, v, "threw \(error)")
            return
        }
        throw Mismatch(message: "\(v.name): decoded without error, expected \(v.expected)")
    }

    static func require(_ condition: Bool, _ v: Vector, _ message: @autoclosure () -> String) throws {
        if !condition { throw Mismatch(message: "\(v.name): \(message())") }
    }

    // MARK: - JSON to Swift values

    static func value(_ j: [String: Any]) throws -> Value {
        let v = Vector(name: "value", expected: "", json: j)
        switch try v.string("type") {
        case "null": return .null
        case "bool":
            guard let b = j["bool"] as? Bool else { throw Mismatch(message: "bool field is not true/false: \(j)") }
            return .bool(b)
        case "int": return .int(try parse(Int64(try v.string("int")), j))
        case "double": return .double(Double(bitPattern: try parse(UInt64(try v.string("bits"), radix: 16), j)))
        case "string":
            let utf8 = try v.bytes("utf8_hex")
            let text = try parse(String(validating: utf8, as: UTF8.self), j)
            // JSON text and the exact bytes must agree (nothing normalized on the way).
            guard Array(try v.string("string").utf8) == utf8 else { throw Mismatch(message: "string and utf8_hex disagree: \(j)") }
            return .string(text)
        case "bytes": return .bytes(try v.bytes("hex"))
        case "reference":
            return .reference(RecordReference(collection: try v.string("collection"), id: try RecordID(uuidString: try v.string("id"))))
        case let type:
            throw Mismatch(message: "unknown value type \(type)")
        }
    }

    static func stamp(_ j: [String: Any]) throws -> Stamp {
        let v = Vector(name: "stamp", expected: "", json: j)
        let hlc = try parse(UInt64(try v.string("hlc")), j)
        return Stamp(hlc: HLCTimestamp(rawValue: hlc), replica: try ReplicaID(hex: try v.string("replica")))
    }

    static func operation(_ j: [String: Any]) throws -> RecordOperation {
        let v = Vector(name: "op", expected: "", json: j)
        let action: RecordOperation.Action
        switch try v.string("kind") {
        case "set": action = .set(field: try v.string("field"), value: try value(v.object("value")))
        case "add": action = .add(field: try v.string("field"), value: try value(v.object("value")))
        case "remove":
            action = .remove(field: try v.string("field"), value: try value(v.object("value")),
                             observed: try v.array("observed").map(stamp))
        case "delete": action = .delete
        case let kind: throw Mismatch(message: "unknown op kind \(kind)")
        }
        return RecordOperation(stamp: try stamp(j), collection: try v.string("collection"),
                         record: try RecordID(uuidString: try v.string("record")), action: action)
    }

    static func parse<T>(_ value: T?, _ context: [String: Any]) throws -> T {
        guard let value else { throw Mismatch(message: "unparseable field in \(context)") }
        return value
    }

    // MARK: - Loading

    /// The cases of `file`. Each has a `name`, and an `expected` unless `withExpected` is
    /// false (`hlc.jsonl` states it per step, `coalescing.jsonl` has only valid cases).
    /// Checks every case, recording an issue naming each one that fails (`kind` names the
    /// file's vectors in the message), and expects all to pass.
    /// - Returns: How many passed.
    @discardableResult
    static func checkEach(_ cases: [Vector], _ kind: String, _ check: (Vector) throws -> Void) -> Int {
        var passed = 0
        for vector in cases {
            do {
                try check(vector)
                passed += 1
            } catch {
                Issue.record("\(kind) vector \(vector.name): \(error)")
            }
        }
        #expect(passed == cases.count)
        return passed
    }

    static func load(_ file: String, withExpected: Bool = true) throws -> [Vector] {
        let url = directory.appendingPathComponent(file)
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").enumerated().map { number, line in
            guard let json = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let name = json["name"] as? String, let expected = json["expected"] as? String ?? (withExpected ? nil : "")
            else { throw Mismatch(message: "\(file):\(number + 1) is not a vector object") }
            return Vector(name: name, expected: expected, json: json)
        }
    }
}

/// One parsed line of a vectors file.
struct Vector {
    let name: String
    let expected: String
    let json: [String: Any]

    func string(_ key: String) throws -> String {
        guard let s = json[key] as? String else { throw Mismatch(message: "\(name): missing string field \"\(key)\"") }
        return s
    }

    func object(_ key: String) throws -> [String: Any] {
        guard let o = json[key] as? [String: Any] else { throw Mismatch(message: "\(name): missing object field \"\(key)\"") }
        return o
    }

    func array(_ key: String) throws -> [[String: Any]] {
        guard let a = json[key] as? [[String: Any]] else { throw Mismatch(message: "\(name): missing array field \"\(key)\"") }
        return a
    }

    func bytes(_ key: String) throws -> [UInt8] {
        let text = Array(try string(key).utf8)
        guard text.count % 2 == 0 else { throw Mismatch(message: "\(name): odd-length hex in \"\(key)\"") }
        return try stride(from: 0, to: text.count, by: 2).map { i in
            guard let byte = UInt8(String(decoding: text[i..<i + 2], as: UTF8.self), radix: 16) else {
                throw Mismatch(message: "\(name): bad hex in \"\(key)\"")
            }
            return byte
        }
    }
}

struct Mismatch: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
