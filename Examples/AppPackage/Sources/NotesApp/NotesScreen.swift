import Concord

/// What the notes screen shows, as lines of text: the body of the SwiftUI view
/// (`NotesView`) rendered without SwiftUI, so the demo and the tests see what a user sees.
@MainActor
public struct NotesScreen {
    public let model: NotesModel

    public init(model: NotesModel) { self.model = model }

    /// One line per note: pin, title, tags, checklist.
    public var lines: [String] {
        model.notes.map { note in
            var line = (note.pinned ? "📌 " : "   ") + note.title
            if !note.tags.isEmpty { line += " " + note.tags.sorted().map { "#\($0)" }.joined(separator: " ") }
            if !note.checklist.isEmpty { line += " [" + note.checklist.joined(separator: ", ") + "]" }
            if note.priority != .normal { line += " (\(note.priority))" }
            return line
        } + ["— \(model.notes.count) notes, \(model.pinned.count) pinned; \(model.lastSync)"]
    }
}

#if canImport(SwiftUI)
import SwiftUI

/// The notes screen in SwiftUI (Apple platforms; not compiled on Linux).
public struct NotesView: View {
    let model: NotesModel

    public init(model: NotesModel) { self.model = model }

    public var body: some View {
        List(model.notes) { note in
            HStack {
                if note.pinned { Image(systemName: "pin.fill") }
                Text(note.title)
            }
            .swipeActions { Button("Pin") { Task { try? await model.togglePin(note) } } }
        }
        .overlay(alignment: .bottom) { Text(model.lastSync).font(.footnote) }
    }
}
#endif
