// notes-example: a small notes program on the Concord library API (not the CLI).
//
// Two devices keep their own replica on disk, write notes offline, and sync by carrying
// bundle files over (a folder stands in for a USB stick). The office device watches an
// observation stream and prints every remote change it merges.
//
//   swift run notes-example            (part of `make test`)
import Concord
import Foundation

struct Note: Codable, Identifiable, Equatable {
    var id = UUID()
    var title: String
    var body: String
    var pinned = false
    var tags: Set<String> = []
}

/// Writes every bundle `from` has that `to` lacks into `stick/`, then imports the files
/// there into `to`: a USB stick round trip.
func carry(from: Replica, to: Replica, over stick: URL, label: String) async throws {
    let wanted = try await to.versionVector()
    var files: [URL] = []
    for try await bundle in try await from.bundles(since: wanted) {
        let file = stick.appendingPathComponent("\(label)-\(bundle.sequence)-\(bundle.id.shortDescription).bundle")
        try Data(bundle.bytes).write(to: file, options: .atomic)
        files.append(file)
    }
    let received = try files.map { [UInt8](try Data(contentsOf: $0)) }
    let summary = try await to.import(received)
    print("  carried \(files.count) bundle file(s) \(label): \(summary)")
}

@main
struct NotesExample {
    static func main() async throws {
        let root = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("concord-notes-\(UUID().uuidString)")
        let stick = root.appendingPathComponent("usb-stick")
        try FileManager.default.createDirectory(at: stick, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }

        print("1. The school laptop creates a space and invites the office laptop.")
        let school = try await Replica.create(at: root.appendingPathComponent("school").path, name: "school laptop")
        let invite = try await school.invite(role: .writer, expiresIn: 7 * 86_400_000)
        let office = try await Replica.join(invite, at: root.appendingPathComponent("office").path, name: "office laptop")
        // The office writes once it holds its invite: the first trip of the stick carries it.
        try await carry(from: school, to: office, over: stick, label: "school")

        // The office watches its notes; remote merges arrive here.
        let changes = await office.changes(in: "notes")
        let watcher = Task {
            var seen = 0
            for await batch in changes {
                for change in batch where change.origin != .local {
                    print("  [office sees] \(change.kind) note \(change.id.uuidString.prefix(8)): \(change.fields.joined(separator: ", "))")
                    seen += 1
                }
            }
            return seen
        }

        print("2. Both write offline.")
        var agenda = Note(title: "Staff meeting", body: "Agenda: timetable", tags: ["meeting"])
        try await school.save(agenda, in: "notes")
        try await school.save(Note(title: "Library books", body: "Return 12 books", tags: ["library"]), in: "notes")
        try await office.save(Note(title: "Budget", body: "Order chalk", pinned: true, tags: ["admin"]), in: "notes")

        print("3. The stick goes to the office and back.")
        try await carry(from: school, to: office, over: stick, label: "school")
        try await carry(from: office, to: school, over: stick, label: "office")

        print("4. Both edit the agenda offline: the office pins it, the school rewrites the body and adds a tag.")
        var officeCopy = try await office.fetch(Note.self, id: agenda.id, in: "notes")!
        officeCopy.pinned = true
        try await office.save(officeCopy, in: "notes")
        agenda.body = "Agenda: timetable, exams"
        agenda.tags.insert("exams")
        try await school.save(agenda, in: "notes")
        print("   office sync status of the agenda: \(try await office.syncStatus(of: RecordID(agenda.id), in: "notes"))")

        try await carry(from: school, to: office, over: stick, label: "school")
        try await carry(from: office, to: school, over: stick, label: "office")

        let schoolNotes = try await school.all(Note.self, in: "notes").sorted { $0.title < $1.title }
        let officeNotes = try await office.all(Note.self, in: "notes").sorted { $0.title < $1.title }
        print("5. Both devices now hold:")
        for note in officeNotes {
            print("   \(note.pinned ? "📌" : "  ") \(note.title): \(note.body) \(note.tags.sorted())")
        }
        let merged = officeNotes.first { $0.id == agenda.id }!
        let (a, b) = (try await school.state().digestHex, try await office.state().digestHex)
        try await Task.sleep(for: .milliseconds(200))  // let the watcher print what is buffered
        watcher.cancel()
        let seen = await watcher.value
        guard schoolNotes == officeNotes, a == b, merged.pinned, merged.tags == ["meeting", "exams"], seen > 0 else {
            print("notes example: NOT converged (\(a.prefix(12)) vs \(b.prefix(12)))")
            exit(1)
        }
        print("notes example: converged (state \(a.prefix(16))…, \(seen) remote changes observed)")
    }
}
