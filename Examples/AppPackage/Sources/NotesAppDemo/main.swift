// NotesAppDemo: two devices of the notes app, offline, syncing through a shared folder.
// Run by `make test` (Tools/check-app-package.sh) on Linux; the same model code backs
// the SwiftUI view on an iPhone.
import Concord
import Foundation
import NotesApp

@MainActor
func run() async throws {
    let root = NSTemporaryDirectory() + "notes-app-demo-\(UUID().uuidString)"
    let shared = root + "/shared-folder"
    try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }

    let phone = try await NotesModel(directory: root + "/phone", name: "phone")
    let laptop = try await NotesModel(joining: try await phone.invite(), directory: root + "/laptop", name: "laptop")
    // The laptop writes once it holds its invite: one sync through the folder.
    for model in [phone, laptop] { try await model.sync(through: shared) }

    var groceries = try await phone.add("Groceries", tags: ["home"])
    groceries.checklist = ["milk", "eggs", "milk"]
    try await phone.save(groceries)
    try await laptop.add("Quarterly report", tags: ["work"])
    for model in [phone, laptop] { try await model.sync(through: shared) }
    try await phone.sync(through: shared)

    // Offline edits of the same note on both devices: they merge field by field.
    var onLaptop = try require(laptop.notes.first { $0.id == groceries.id })
    onLaptop.checklist.insert("bread", at: 1)
    onLaptop.priority = .high
    try await laptop.save(onLaptop)
    try await phone.togglePin(groceries)
    for model in [phone, laptop, phone] { try await model.sync(through: shared) }

    // Live queries update on their own; give them a moment.
    for _ in 0..<200 where phone.pinned.isEmpty || laptop.pinned.isEmpty || phone.notes != laptop.notes {
        try await Task.sleep(for: .milliseconds(10))
    }
    for (name, model) in [("phone", phone), ("laptop", laptop)] {
        print("\(name):")
        for line in NotesScreen(model: model).lines { print("  " + line) }
    }
    guard phone.notes == laptop.notes, phone.pinned.map(\.title) == ["Groceries"],
        phone.notes.first(where: { $0.id == groceries.id })?.checklist == ["milk", "bread", "eggs", "milk"]
    else {
        print("notes app: NOT converged")
        exit(1)
    }
    print("notes app: both devices show the same \(phone.notes.count) notes")
}

struct Missing: Error {}
func require<T>(_ value: T?) throws -> T {
    guard let value else { throw Missing() }
    return value
}

try await run()
