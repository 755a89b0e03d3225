import Foundation
import Testing

/// Issue 12.6 through the real binary: the JSON view keeps every field.
@Suite("concord JSON view (real binary)", .serialized)
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
}
