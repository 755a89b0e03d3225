import Concord
import Foundation
import NotesApp
import Testing

@MainActor
@Suite("Notes app on Concord")
struct NotesAppTests {
    static func directory() -> String {
        let path = NSTemporaryDirectory() + "notes-app-tests-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func eventually(_ condition: () -> Bool) async throws {
        for _ in 0..<1000 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
    }

    @Test("two devices edit offline, sync through a folder, and show the same notes")
    func twoDevicesConverge() async throws {
        let root = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let phone = try await NotesModel(directory: root + "/phone", name: "phone")
        let laptop = try await NotesModel(joining: try await phone.invite(), directory: root + "/laptop", name: "laptop")
        var note = try await phone.add("Trip", tags: ["travel"])
        note.checklist = ["passport", "tickets"]
        try await phone.save(note)
        try await phone.sync(through: root + "/shared")
        try await laptop.sync(through: root + "/shared")
        try await Self.eventually { laptop.notes.count == 1 }
        #expect(laptop.notes.first?.checklist == ["passport", "tickets"])

        var edited = try #require(laptop.notes.first)
        edited.checklist.append("charger")
        edited.tags.insert("work")
        try await laptop.save(edited)
        try await phone.togglePin(note)
        for model in [laptop, phone, laptop] { try await model.sync(through: root + "/shared") }
        try await Self.eventually { phone.notes == laptop.notes && laptop.pinned.count == 1 }
        #expect(phone.notes == laptop.notes)
        #expect(laptop.notes.first?.pinned == true)
        #expect(laptop.notes.first?.checklist == ["passport", "tickets", "charger"])
        #expect(laptop.notes.first?.tags == ["travel", "work"])
        #expect(NotesScreen(model: laptop).lines.first?.hasPrefix("📌 Trip") == true)
    }

    @Test("a note written by version 1 of the app (no priority) reads the declared default")
    func oldRecordsReadDefaults() async throws {
        let root = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let model = try await NotesModel(directory: root + "/device")
        let id = RecordID.random()
        try await model.replica.write { @Sendable in try $0.set("title", to: "From version 1", record: id, in: Note.collection) }
        try await Self.eventually { model.notes.count == 1 }
        #expect(model.notes.first?.priority == .normal)
        #expect(model.all.undecodable.isEmpty)
    }
}
