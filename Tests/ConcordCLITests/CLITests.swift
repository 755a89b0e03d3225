import ConcordTesting
import Foundation
import Testing

@Suite("concord CLI (real binary)", .serialized)
struct CLITests {
    @Test("three stores converge through files imported in random order, with duplicates")
    func threeStoresConverge() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let seed = ProcessInfo.processInfo.environment["CONCORD_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64(UInt32.max))
        print("threeStoresConverge seed \(seed) (reproduce with CONCORD_SEED=\(seed))")
        var rng = SeededGenerator(seed: seed)

        let a = Device(cli: cli, store: scratch.file("a"))
        let b = Device(cli: cli, store: scratch.file("b"))
        let c = Device(cli: cli, store: scratch.file("c"))
        try a.ok("init", "--format", "2")
        try b.ok("join", try a.ok("invite").trimmingCharacters(in: .whitespacesAndNewlines))
        try c.ok("join", try a.ok("invite").trimmingCharacters(in: .whitespacesAndNewlines))
        let devices = [a, b, c]
        let ids = (0..<4).map { _ in UUID().uuidString }
        var files: [String] = []
        for round in 0..<3 {
            for (index, device) in devices.enumerated() {
                let before = scratch.file("v-\(index)-\(round).json")
                try device.ok("vector").write(toFile: before, atomically: true, encoding: .utf8)
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    let id = ids.randomElement(using: &rng)!
                    switch Int.random(in: 0..<4, using: &rng) {
                    case 0: try device.ok("put", "notes", id, "title=\"\(index)-\(round)\"", "n=\(Int.random(in: -5...5, using: &rng))")
                    case 1: try device.ok("add", "notes", id, "tags", "\"t\(Int.random(in: 0..<4, using: &rng))\"")
                    case 2: try device.ok("remove", "notes", id, "tags", "\"t\(Int.random(in: 0..<4, using: &rng))\"")
                    default: try device.ok("put", "notes", id, "score=\(Double(Int.random(in: 0..<100, using: &rng)) / 4)", "done=\(Bool.random(using: &rng))")
                    }
                }
                // Full files and deltas (a delta imported before what it follows is held).
                let name = scratch.file("f-\(index)-\(round).concord")
                if Bool.random(using: &rng) {
                    try device.ok("export", name)
                } else {
                    try device.ok("export", name, "--since", before)
                }
                files.append(name)
            }
            // Some files travel mid-way, so later writes are causally after earlier ones.
            if round == 1 {
                for device in devices { try device.ok("import", files.randomElement(using: &rng)!) }
            }
        }
        for device in devices {
            var order = files + (0..<3).map { _ in files.randomElement(using: &rng)! }  // duplicates
            order.shuffle(using: &rng)
            // In two calls: the first may leave bundles held; the second releases them.
            let half = order.count / 2
            _ = try device.run(["import"] + Array(order[..<half]))
            let last = try device.run(["import"] + Array(order[half...]) + [files[0]])
            #expect(last.status == 0, "\(last.stderr)")
            #expect(last.stdout.contains("rejected 0"))
        }
        let lists = try devices.map { try $0.ok("list", "notes", "--json") }
        #expect(lists[0] == lists[1] && lists[1] == lists[2], "seed \(seed): \(lists)")
        let statuses = try devices.map { try $0.ok("status", "--json") }
        let digests = statuses.map { status in status.components(separatedBy: "\"state_digest\":\"")[1].prefix(64) }
        #expect(Set(digests).count == 1, "seed \(seed)")
        let vectors = try devices.map { try $0.ok("vector") }
        #expect(Set(vectors).count == 1)
    }

    @Test("a read-only member cannot write")
    func readOnlyCannotWrite() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let a = Device(cli: cli, store: scratch.file("a"))
        let r = Device(cli: cli, store: scratch.file("r"))
        try a.ok("init", "--format", "2")
        let id = UUID().uuidString
        try a.ok("put", "todos", id, "title=\"x\"")
        try a.ok("export", scratch.file("a.concord"))
        try r.ok("join", try a.ok("invite", "--read-only").trimmingCharacters(in: .whitespacesAndNewlines))
        try r.ok("import", scratch.file("a.concord"))
        #expect(try r.ok("get", "todos", id, "--json").contains("\"title\":\"x\""))
        let add = try r.run("add", "todos", id, "tags", "1")
        #expect(add.status == 1 && add.stderr.contains("cannot write"))
        let put = try r.run("put", "todos", id, "title=\"y\"")
        #expect(put.status == 1)
        #expect(put.stderr.hasPrefix("concord: ") && put.stderr.contains("cannot write"), "\(put.stderr)")
        let delete = try r.run("delete", "todos", id)
        #expect(delete.status == 1 && delete.stderr.contains("cannot write"))
        #expect(try r.ok("get", "todos", id, "--json").contains("\"title\":\"x\""))
        let invite = try r.run("invite")
        #expect(invite.status != 0)
    }

    @Test("tampered, truncated and foreign files are rejected with status 2 and change nothing")
    func rejectedFiles() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let a = Device(cli: cli, store: scratch.file("a"))
        let b = Device(cli: cli, store: scratch.file("b"))
        let other = Device(cli: cli, store: scratch.file("other"))
        try a.ok("init", "--format", "2")
        try b.ok("join", try a.ok("invite").trimmingCharacters(in: .whitespacesAndNewlines))
        try other.ok("init", "--format", "2")
        for i in 0..<3 { try a.ok("put", "todos", UUID().uuidString, "n=\(i)") }
        try b.ok("put", "todos", UUID().uuidString, "n=99")
        try a.ok("export", scratch.file("a.concord"))
        try other.ok("put", "todos", UUID().uuidString, "n=1")
        try other.ok("export", scratch.file("other.concord"))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: scratch.file("a.concord")))
        // The status without bytes_on_disk: SQLite's -wal and -shm files may change size
        // under a rolled-back import without the store changing.
        func status() throws -> String {
            try b.ok("status", "--json").replacingOccurrences(of: #""bytes_on_disk":[0-9]+,"#, with: "", options: .regularExpression)
        }
        let before = (try b.ok("vector"), try b.ok("list", "todos", "--json"), try status())

        func expectRejected(_ path: String, _ needle: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let result = try b.run("import", path)
            #expect(result.status == 2, "\(path): \(result.status) \(result.stderr)", sourceLocation: sourceLocation)
            #expect(result.stderr.hasPrefix("concord: ") && (needle.isEmpty || result.stderr.contains(needle)), "\(result.stderr)", sourceLocation: sourceLocation)
            #expect(result.stdout.contains("applied 0") && result.stdout.contains("rejected 1"), sourceLocation: sourceLocation)
            #expect((try b.ok("vector"), try b.ok("list", "todos", "--json"), try status()) == before, sourceLocation: sourceLocation)
        }
        for offset in [0, 4, 10, 60, bytes.count / 2, bytes.count - 40, bytes.count - 1] {
            var tampered = bytes
            tampered[offset] ^= 0x10
            try tampered.write(to: URL(fileURLWithPath: scratch.file("t\(offset).concord")))
            try expectRejected(scratch.file("t\(offset).concord"), offset < 5 ? "" : "checksum")
        }
        for length in [0, 3, 36, 68, 69, bytes.count / 2, bytes.count - 1] {
            try bytes.prefix(length).write(to: URL(fileURLWithPath: scratch.file("cut\(length).concord")))
            try expectRejected(scratch.file("cut\(length).concord"), length < 69 ? "cut off" : "truncated")
        }
        try expectRejected(scratch.file("other.concord"), "space")
        // A rejected file among good ones: the good one (a single bundle: the three puts were
        // sealed together at export) is imported, the status is 2.
        let mixed = try b.run("import", scratch.file("t10.concord"), scratch.file("a.concord"))
        #expect(mixed.status == 2)
        #expect(mixed.stdout.contains("applied 1, duplicate 0, held 0, fork 0, rejected 1"), "\(mixed.stdout)")
    }

    @Test("get exits 3 for an absent or deleted record; list --json has the documented form")
    func getAndList() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let a = Device(cli: cli, store: scratch.file("a"))
        try a.ok("init", "--format", "2")
        let first = "00000000-0000-4000-8000-000000000001"
        let second = "00000000-0000-4000-8000-000000000002"
        let gone = "00000000-0000-4000-8000-000000000003"
        try a.ok("put", "todos", second, "title=\"Call \\\"Ada\\\"\"", "done=true", "n=42", "x=1.5", "none=null", "big=-9223372036854775808")
        try a.ok("add", "todos", second, "tags", "\"b\"")
        try a.ok("add", "todos", second, "tags", "\"a\"")
        try a.ok("add", "todos", second, "tags", "3")
        try a.ok("put", "todos", first, "title=\"Buy milk\"", "done=false")
        try a.ok("put", "todos", gone, "title=\"gone\"")
        try a.ok("delete", "todos", gone)

        #expect(try a.run("get", "todos", gone).status == 3)
        let absent = try a.run("get", "todos", UUID().uuidString)
        #expect(absent.status == 3 && absent.stderr.hasPrefix("concord: no record"))
        #expect(try a.run("get", "todos", "not-a-uuid").status == 1)

        let list = try a.ok("list", "todos", "--json")
        #expect(list == """
            [
              {"id":"\(first)","fields":{"done":false,"title":"Buy milk"},"sets":{}},
              {"id":"\(second)","fields":{"big":-9223372036854775808,"done":true,"n":42,"none":null,"title":"Call \\"Ada\\"","x":1.5},"sets":{"tags":[3,"a","b"]}}
            ]

            """)
        let parsed = try JSONSerialization.jsonObject(with: Data(list.utf8)) as? [[String: Any]]
        #expect(parsed?.count == 2)
        let filtered = try a.ok("list", "todos", "--json", "--where", "done=true")
        #expect(filtered.contains(second) && !filtered.contains(first))
        #expect(try a.ok("list", "nothing", "--json") == "[]\n")
        #expect(try a.ok("get", "todos", first, "--json") == "{\"id\":\"\(first)\",\"fields\":{\"done\":false,\"title\":\"Buy milk\"},\"sets\":{}}\n")
        let bad = try a.run("put", "todos", first, "title=Buy")
        #expect(bad.status == 1 && bad.stderr.contains("not a JSON scalar"))
    }

    @Test("--store, $CONCORD_STORE and ./.concord; --help with examples on every command")
    func storeSelectionAndHelp() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        #expect(try cli.run(["init"], in: scratch.path).status == 0)
        #expect(FileManager.default.fileExists(atPath: scratch.file(".concord/replica.sqlite")))
        #expect(try cli.run(["init"], environment: ["CONCORD_STORE": scratch.file("env")]).status == 0)
        #expect(try cli.run(["vector", "--store", scratch.file("env")]).status == 0)
        let missing = try cli.run(["status", "--store", scratch.file("none")])
        #expect(missing.status == 1 && missing.stderr.contains("concord init"))

        let help = try cli.run(["--help"])
        #expect(help.status == 0 && help.stdout.contains("Exit status") && help.stdout.contains("sync-folder"))
        for command in ["init", "invite", "join", "put", "add", "remove", "delete", "get", "list", "export", "import", "vector", "status", "log", "conflicts", "sync-folder"] {
            let result = try cli.run([command, "--help"])
            #expect(result.status == 0, "\(command)")
            #expect(result.stdout.contains("Examples:") && result.stdout.contains("--store"), "\(command) --help")
        }
        let usage = try cli.run(["put"])
        #expect(usage.status == 1 && usage.stderr.hasPrefix("concord: "))
    }

    @Test("sync-folder: two stores through one folder")
    func syncFolder() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let a = Device(cli: cli, store: scratch.file("a"))
        let b = Device(cli: cli, store: scratch.file("b"))
        try a.ok("init", "--format", "2")
        try b.ok("join", try a.ok("invite").trimmingCharacters(in: .whitespacesAndNewlines))
        let id = UUID().uuidString
        try a.ok("put", "todos", id, "title=\"a\"")
        try b.ok("add", "todos", id, "tags", "\"b\"")
        let folder = scratch.file("shared")
        try a.ok("sync-folder", folder)
        try b.ok("sync-folder", folder)
        try a.ok("sync-folder", folder)
        #expect(try a.ok("list", "todos", "--json") == b.ok("list", "todos", "--json"))
        #expect(try a.ok("get", "todos", id, "--json").contains("\"tags\":[\"b\"]"))
    }

    @Test("the demo script runs end to end")
    func demo() throws {
        let cli = try CLI.locate()
        let result = try CLI.execute("/bin/bash", [CLI.packageRoot + "/Examples/demo.sh"], environment: ["CONCORD": cli.binary])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("identical"))
        #expect(result.stdout.contains("overwritten concurrently"))
        #expect(result.stdout.contains("rejected (exit status 2)"))
    }
}
