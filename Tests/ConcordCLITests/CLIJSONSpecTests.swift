import Concord
import Foundation
import Testing

/// The real `concord` binary against `Specs/cli-json.md`: every value kind, record and
/// list layout, key order, `conflicts`, `status`, `vector` and `log`. Expected texts are
/// built here from the spec's rules and examples, not from the CLI's own renderer.
@Suite("concord CLI output follows Specs/cli-json.md (real binary)", .serialized)
struct CLIJSONSpecTests {
    static let record = "E621E1F8-C36C-495A-93FC-0C247A3E6E5F"

    /// Section 1: the string escapes.
    static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0..<0x20: out += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Section 1: keys sorted by their UTF-8 bytes.
    static func object(_ entries: [(String, String)]) -> String {
        let sorted = entries.sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
        return "{" + sorted.map { string($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }

    /// Section 2, one example per row of the table (field name, value, its JSON text).
    static let values: [(String, Value, String)] = [
        ("null", .null, "null"),
        ("bool", .bool(false), "false"),
        ("int", .int(5), "5"),
        ("int_min", .int(.min), "-9223372036854775808"),
        ("int_negative", .int(-5), "-5"),
        ("double_1_5", .double(1.5), "1.5"),
        ("double_5", .double(5), "5.0"),
        ("double_negative_zero", .double(-0.0), "-0.0"),
        ("double_1e16", .double(1e16), "1e+16"),
        ("double_smallest", .double(Double(bitPattern: 1)), "5e-324"),
        ("double_1e-4", .double(0.0001), "0.0001"),
        ("double_1e-5", .double(0.00001), "1e-05"),
        ("double_infinity", .double(.infinity), "\"Infinity\""),
        ("double_negative_infinity", .double(-.infinity), "\"-Infinity\""),
        ("double_nan", .double(.nan), "\"NaN\""),
        ("double_negative_nan_payload", .double(Double(bitPattern: 0xFFF0_0000_0000_0001)), "\"NaN\""),
        ("string", .string("Buy milk"), "\"Buy milk\""),
        ("string_escapes", .string("q\"b\\s\nn\rr\tt\u{1}a\u{1F}b\u{7F}/\u{E9}e\u{301}\u{2028}\u{1F600}"),
         "\"q\\\"b\\\\s\\nn\\rr\\tt\\u0001a\\u001fb\u{7F}/\u{E9}e\u{301}\u{2028}\u{1F600}\""),
        ("bytes", .bytes([0x00, 0xFF]), "{\"$bytes\":\"00ff\"}"),
        ("bytes_empty", .bytes([]), "{\"$bytes\":\"\"}"),
        ("reference", .reference(RecordReference(collection: "todos", id: try! RecordID(uuidString: record))),
         "{\"$ref\":\"todos/E621E1F8-C36C-495A-93FC-0C247A3E6E5F\"}"),
    ]

    @Test("values, records, key order and the list layout (sections 1-3)")
    func valuesAndRecords() async throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let a = Device(cli: cli, store: scratch.file("a"))
        try a.ok("init", "--format", "2")
        let id = try RecordID(uuidString: Self.record)
        let second = try RecordID(uuidString: "0F8FAD5B-D9CB-469F-A165-70867728950E")
        // Names whose UTF-8 order differs from code-unit and case-insensitive orders.
        let names = ["B", "a", "\u{FF61}", "\u{1F600}"]
        do {
            // Values the CLI cannot parse (bytes, references, non-finite doubles, control
            // characters) are written through the library into the same store.
            let replica = try Replica.open(at: a.store)
            try await replica.write { tx in
                for (field, value, _) in Self.values { try tx.set(field, to: value, record: id, in: "things") }
                for (i, name) in names.enumerated() { try tx.set(name, to: .int(Int64(i)), record: id, in: "things") }
                for member: Value in [.string("a"), .int(3), .bytes([1]), .double(-1.5), .null] {
                    try tx.add(member, to: "tags", record: id, in: "things")
                }
                try tx.add("x", to: "emptied", record: id, in: "things")
                try tx.set("title", to: "second", record: second, in: "things")
            }
            try await replica.write { tx in try tx.remove("x", from: "emptied", record: id, in: "things") }
        }

        var fields = Self.values.map { ($0.0, $0.2) }
        fields += names.enumerated().map { ($0.element, String($0.offset)) }
        // Set members in the value order: null < int < double < string < bytes.
        let sets = [("tags", "[null,3,-1.5,\"a\",{\"$bytes\":\"01\"}]")]
        let expected = "{\"id\":\"\(Self.record)\",\"fields\":" + Self.object(fields) + ",\"sets\":" + Self.object(sets) + "}"
        let got = try a.ok("get", "things", Self.record, "--json")
        // Compared as bytes: String == would equate canonically equivalent text.
        #expect(Array(got.utf8) == Array((expected + "\n").utf8), "got \(got)")
        // It is JSON, and the key order of the text is the UTF-8 byte order.
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(got.utf8)) as? [String: Any])
        #expect((parsed["fields"] as? [String: Any])?.count == fields.count)
        #expect(fields.map(\.0).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }.first == "B")

        // list: sorted by id, two-space indent, one record per line.
        let secondLine = "{\"id\":\"0F8FAD5B-D9CB-469F-A165-70867728950E\",\"fields\":{\"title\":\"second\"},\"sets\":{}}"
        #expect(Array(try a.ok("list", "things", "--json").utf8) == Array("[\n  \(secondLine),\n  \(expected)\n]\n".utf8))
        #expect(try a.ok("list", "things", "--json", "--where", "title=\"second\"") == "[\n  \(secondLine)\n]\n")
        #expect(try a.ok("list", "nothing", "--json") == "[]\n")
        let absent = try a.run("get", "things", "7C9E6679-7425-40DE-944B-E07FC1F90AE7", "--json")
        #expect(absent.status == 3 && absent.stdout.isEmpty)
    }

    @Test("conflicts, status, vector and log (sections 5-8)")
    func conflictsStatusVectorAndLog() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let a = Device(cli: cli, store: scratch.file("a"))
        let b = Device(cli: cli, store: scratch.file("b"))
        try a.ok("init", "--format", "2")
        #expect(try a.ok("log") == "the log is empty\n")
        #expect(try a.ok("vector") == "{}\n")
        try b.ok("join", try a.ok("invite").trimmingCharacters(in: .whitespacesAndNewlines))

        // Concurrent writes of one field, then an exchange of files.
        try a.ok("put", "todos", Self.record, "title=\"from a\"", "n=1")
        try b.ok("put", "todos", Self.record, "title=\"from b\"")
        try a.ok("export", scratch.file("a.concord"))
        try b.ok("export", scratch.file("b.concord"))
        try a.ok("import", scratch.file("b.concord"))
        try b.ok("import", scratch.file("a.concord"))

        // status: keys in UTF-8 order, the documented types; equal digests.
        let statusKeys = ["bundles", "device", "encrypted", "format", "held_bundles", "pending_operations", "policy", "problems", "quarantined_bundles", "role",
                          "snapshot", "space", "stable_cut", "stale_members", "state_digest", "storage", "store", "unacknowledged_bundles", "vector"]
        var devices: [String] = []
        var digests: [String] = []
        for device in [a, b] {
            let text = try device.ok("status", "--json")
            #expect(text.hasSuffix("}\n") && !text.dropLast().contains("\n"))
            let status = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            #expect(Set(status.keys) == Set(statusKeys))
            let positions = statusKeys.map { text.range(of: "\"\($0)\":")!.lowerBound }
            #expect(positions == positions.sorted(), "status keys are not in UTF-8 order: \(text)")
            #expect(status["role"] as? String == "writer")
            #expect((status["problems"] as? [Any])?.isEmpty == true, "no problems: \(text)")
            #expect(text.contains("\"encrypted\":true,") || text.contains("\"encrypted\":false,"), "encrypted is not a JSON bool: \(text)")
            #expect(status["store"] as? String == device.store)
            // Stability: nothing counted in a space without members.
            #expect((status["stable_cut"] as? [String: Any])?.isEmpty == true, "\(text)")
            #expect((status["stale_members"] as? [Any])?.isEmpty == true, "\(text)")
            #expect(status["snapshot"] is NSNull, "\(text)")
            for key in ["bundles", "held_bundles", "pending_operations", "quarantined_bundles", "unacknowledged_bundles"] {
                #expect(status[key] is NSNumber, "\(key)")
            }
            // storage: the counts after one record written on each device and exchanged.
            let storage = try #require(status["storage"] as? [String: Any], "storage is an object: \(text)")
            let storageKeys: Set = [
                "bytes_on_disk", "delete_stubs", "deleted_records", "floor", "held_bundles", "live_records", "log_bundles",
                "log_bytes", "quarantined_bundles", "set_tombstones",
            ]
            #expect(Set(storage.keys) == storageKeys)
            #expect(storage["floor"] is NSNull, "no snapshot loaded or compacted to: \(text)")
            #expect(storage["live_records"] as? Int == 1 && storage["deleted_records"] as? Int == 0, "\(text)")
            #expect(storage["delete_stubs"] as? Int == 0 && storage["set_tombstones"] as? Int == 0, "\(text)")
            #expect(storage["log_bundles"] as? Int == 2, "\(text)")
            #expect((storage["bytes_on_disk"] as? Int ?? 0) > 0 && (storage["log_bytes"] as? Int ?? 0) > 0, "\(text)")
            let hex = { (key: String) in (status[key] as? String).map { $0.count == 64 && $0.allSatisfy(\.isHexDigit) && $0 == $0.lowercased() } ?? false }
            #expect(hex("device") && hex("space") && hex("state_digest"))
            devices.append(status["device"] as! String)
            digests.append(status["state_digest"] as! String)
        }
        #expect(digests[0] == digests[1])

        // vector: each device at 1, keys sorted.
        let vector = Self.object(devices.map { ($0, "1") })
        #expect(try a.ok("vector") == vector + "\n")
        #expect(try b.ok("vector") == vector + "\n")

        // conflicts: the loser is the other device's write; value before author.
        let conflicts = try a.ok("conflicts", "todos", Self.record, "--json")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(conflicts.utf8)) as? [String: [String: Any]])
        let current = try #require(parsed["title"]?["current"] as? String)
        let loser = current == "from a" ? ("from b", devices[1]) : ("from a", devices[0])
        #expect(conflicts == "{\"title\":{\"current\":\(Self.string(current)),\"overwritten\":[{\"value\":\(Self.string(loser.0)),\"author\":\"\(loser.1)\"}]}}\n")
        #expect(try a.ok("conflicts", "todos", Self.record, "n", "--json") == "{}\n")

        // log: one line per bundle, columns as in section 8.
        let pattern = try Regex("^([0-9a-f]{16})( \\(this device\\))? #([0-9]+)  ([0-9]+) ops  ([0-9]+) bytes  [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z  id [0-9a-f]{8}$")
        let lines = try a.ok("log").split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        for line in lines {
            let match = try #require(try pattern.wholeMatch(in: line), "\(line)")
            let author = String(match.output[1].substring ?? "")
            let mine = match.output[2].substring != nil
            #expect(devices.contains { $0.hasPrefix(author) })
            #expect(mine == devices[0].hasPrefix(author))
            #expect(match.output[3].substring == "1")
            #expect(match.output[4].substring == (mine ? "2" : "1"))
        }
    }

    /// `storage` counts what pruning keeps (`Specs/cli-json.md` §6, issue 16 stage 1): a
    /// removed tag goes once its add is held (on the writer when it seals, on the other
    /// device as it imports), a deleted record stays as one delete stub.
    @Test("status storage: set tombstones pruned as written, delete stubs")
    func statusStorageCountsPrunedTombstonesAndStubs() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let a = Device(cli: cli, store: scratch.file("a"))
        let b = Device(cli: cli, store: scratch.file("b"))
        try a.ok("init", "--format", "2")
        try b.ok("join", try a.ok("invite").trimmingCharacters(in: .whitespacesAndNewlines))
        let other = "0F8FAD5B-D9CB-469F-A165-70867728950E"
        try a.ok("put", "todos", Self.record, "title=\"churn\"")
        for round in 0..<3 {
            try a.ok("add", "todos", Self.record, "tags", "\"t\(round)\"")
            try a.ok("export", scratch.file("a\(round).concord"))
            try a.ok("remove", "todos", Self.record, "tags", "\"t\(round)\"")
        }
        try a.ok("put", "todos", other, "title=\"gone soon\"")
        try a.ok("delete", "todos", other)
        try a.ok("export", scratch.file("a.concord"))
        try b.ok("import", scratch.file("a.concord"))
        for device in [a, b] {
            let text = try device.ok("status", "--json")
            let status = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            let storage = try #require(status["storage"] as? [String: Any], "\(text)")
            #expect(storage["set_tombstones"] as? Int == 0, "every removed tag's add is held: \(text)")
            #expect(storage["delete_stubs"] as? Int == 1 && storage["deleted_records"] as? Int == 1, "\(text)")
            #expect(storage["live_records"] as? Int == 1, "\(text)")
            #expect(storage["log_bundles"] as? Int ?? 0 >= 1, "\(text)")
        }
    }
}
