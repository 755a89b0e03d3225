import Concord
import ConcordSync
import Foundation
import Observation

/// The app's model: one per device (per window in a SwiftUI app), owning the replica.
/// Views read ``notes`` and ``pinned``, which are live: they change when a local edit or
/// a synced one changes what they show, and only then.
///
/// ```swift
/// let model = try await NotesModel(directory: supportDirectory)
/// var body: some View { List(model.notes) { NoteRow(note: $0) } }
/// ```
@MainActor @Observable
public final class NotesModel {
    /// The device's replica.
    public let replica: Replica
    /// Every note, by title.
    public let all: LiveModels<Note>
    /// The pinned notes, by title (a typed query: key paths, not strings).
    public let pinnedNotes: LiveModels<Note>
    /// The outcome of the last sync, for the status line.
    public private(set) var lastSync = "never synced"

    /// Every note, by title.
    public var notes: [Note] { all.models }
    /// The pinned notes.
    public var pinned: [Note] { pinnedNotes.models }

    /// Opens the notes of this device in `directory`, creating a new space there (this
    /// device its first admin) if it holds no replica yet.
    /// - Parameters:
    ///   - directory: Where the replica lives.
    ///   - name: The device's name as other members see it; the host name by default.
    public convenience init(directory: String, name: String = Replica.defaultDeviceName) async throws {
        let replica =
            FileManager.default.fileExists(atPath: directory + "/replica.sqlite")
            ? try Replica.open(at: directory) : try await Replica.create(at: directory, name: name)
        try self.init(replica: replica)
    }

    /// Joins the space of another device of the user with an invite from ``invite()``. The
    /// new device writes once it has synced with the inviting one (``sync(through:)`` on
    /// both).
    /// - Parameters:
    ///   - invite: The invite text (`concord2-...`).
    ///   - directory: Where the new replica lives.
    ///   - name: The device's name; the host name by default.
    public convenience init(joining invite: String, directory: String, name: String = Replica.defaultDeviceName) async throws {
        let replica = try await Replica.join(try MemberInviteToken(invite), at: directory, name: name)
        try self.init(replica: replica)
    }

    /// The notes of a replica (for example one that joined with an invite).
    public init(replica: Replica) throws {
        self.replica = replica
        all = LiveModels(Note.self, matching: RecordQuery(Note.collection).order(by: try Note.fieldName(\.title)), in: replica)
        pinnedNotes = try LiveModels(Note.query.where(\.pinned, .equals(true)).order(by: \.title), in: replica)
    }

    /// Adds a note.
    @discardableResult
    public func add(_ title: String, body: String = "", tags: Set<String> = []) async throws -> Note {
        let note = Note(title: title, body: body, tags: tags)
        try await replica.save(note)
        return note
    }

    /// Saves an edited note: only the changed fields are written.
    public func save(_ note: Note) async throws {
        try await replica.save(note)
    }

    /// Pins or unpins a note.
    public func togglePin(_ note: Note) async throws {
        var changed = note
        changed.pinned.toggle()
        try await replica.save(changed)
    }

    /// Deletes a note.
    public func delete(_ note: Note) async throws {
        try await replica.delete(note)
    }

    /// Whether a note's changes have left this device.
    public func syncStatus(of note: Note) async throws -> SyncStatus {
        try await replica.syncStatus(of: note)
    }

    /// Syncs through a shared folder (a file-sync service, a USB stick): writes this
    /// device's new bundles there and imports the others'.
    public func sync(through folder: String) async throws {
        let report = try await FolderSync(directory: folder).run(replica)
        lastSync = "\(report.total.applied) bundles in, \(report.written?.bundles ?? 0) out"
    }

    /// An invite for another device of the same user: a writer, valid for 7 days.
    public func invite() async throws -> String {
        try await replica.invite(role: .writer).text
    }
}
