import Foundation
import Testing

/// Issue 12.6 through the real binary: the JSON view keeps every field, and `put` takes
/// thousands of fields.
@Suite("concord JSON view and large puts (real binary)", .serialized)
struct OutputCLITests {
    @Test("get/list --json show a register and a set of one name, and names differing only in normalization, apart")
    func jsonViewKeepsEveryField() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let a = Device(cli: cli, store: scratch.file("a"))
        try a.ok("init")
        let id = "00000000-0000-4000-8000-000000000001"
        let nfc = "\u{E9}"  // é
        let nfd = "e\u{301}"  // e + combining acute
        try a.ok("put", "todos", id, "tags=1", "\(nfc)=1", "\(nfd)=2")
        try a.ok("add", "todos", id, "tags", "\"x\"")
        try a.ok("add", "todos", id, nfd, "true")

        let expected = "{\"id\":\"\(id)\",\"fields\":{\"\(nfd)\":2,\"tags\":1,\"\(nfc)\":1},\"sets\":{\"\(nfd)\":[true],\"tags\":[\"x\"]}}"
        let get = try a.ok("get", "todos", id, "--json")
        // Compare bytes: Swift's String == would call NFC and NFD equal.
        #expect(Array(get.utf8) == Array((expected + "\n").utf8), "\(get)")
        let list = try a.ok("list", "todos", "--json")
        #expect(Array(list.utf8) == Array("[\n  \(expected)\n]\n".utf8), "\(list)")
        // The text view lists both too.
        let text = try a.ok("get", "todos", id)
        #expect(text.contains("tags = 1") && text.contains("tags = {\"x\"}"), "\(text)")
    }

    @Test("put with 4,000 fields stores every one, with options and -- among them")
    func putWithThousandsOfFields() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let a = Device(cli: cli, store: scratch.file("a"))
        try a.ok("init")
        let id = "00000000-0000-4000-8000-000000000001"
        let count = 4_000
        let fields = (0..<count).map { "f\($0)=\($0 % 7 == 0 ? "\"s\($0)\"" : "\($0)")" }
        // --store in the middle of the fields, as the user may type it.
        var arguments = ["put", "todos", id] + fields[..<(count / 2)]
        arguments += ["--store", a.store] + fields[(count / 2)...]
        let put = try cli.run(arguments)
        #expect(put.status == 0, "\(put.stderr)")
        let json = try a.ok("get", "todos", id, "--json")
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let stored = try #require(object?["fields"] as? [String: Any])
        #expect(stored.count == count)
        for i in 0..<count {
            if i % 7 == 0 {
                #expect(stored["f\(i)"] as? String == "s\(i)", "f\(i)")
            } else {
                #expect((stored["f\(i)"] as? NSNumber)?.intValue == i, "f\(i)")
            }
        }
        // After --, a word starting with a dash is a field; a bad one is still named.
        try a.ok("put", "todos", id, "--", "-dash=1")
        #expect(try a.ok("get", "todos", id).contains("-dash = 1"))
        let bad = try a.run("put", "todos", id, "ok=1", "title=Buy", "also=2")
        #expect(bad.status == 1 && bad.stderr.contains("title"), "\(bad.stderr)")
        #expect(try a.run("put", "todos", id).status == 1)
        #expect(try a.run("put", "--help").stdout.contains("FIELD=JSON"))
    }
}
