import ConcordCore

/// What happened to one record in a local write or an import, as observers see it.
///
/// ```swift
/// for await batch in await replica.changes(in: "todos") {
///     for change in batch where change.origin != .local {
///         print("\(change.kind) \(change.id): \(change.fields)")
///     }
/// }
/// ```
public struct RecordChange: Hashable, Sendable, CustomStringConvertible {
    /// The kind of change, as seen by readers.
    public enum Kind: Hashable, Sendable {
        /// The record became visible (new, or written again after a delete).
        case inserted
        /// Some of its fields changed.
        case updated
        /// It was deleted.
        case deleted
    }

    /// Where the change came from.
    public enum Origin: Hashable, Sendable {
        /// A write on this device.
        case local
        /// An imported bundle by this author.
        case remote(ReplicaID)
    }

    /// The record's collection.
    public var collection: String
    /// The record's id.
    public var id: RecordID
    /// What happened.
    public var kind: Kind
    /// Names of the fields (registers and sets) whose visible value changed, sorted; for
    /// an insert every field, for a delete every field it had.
    public var fields: [String]
    /// Who made the change.
    public var origin: Origin

    /// Creates a change.
    public init(collection: String, id: RecordID, kind: Kind, fields: [String], origin: Origin) {
        self.collection = collection
        self.id = id
        self.kind = kind
        self.fields = fields
        self.origin = origin
    }

    /// The visible difference between two states of a record; `nil` when readers see none.
    static func between(_ previous: RecordState?, _ current: RecordState, collection: String, id: RecordID, origin: Origin) -> RecordChange? {
        let was = previous?.isVisible ?? false
        switch (was, current.isVisible) {
        case (false, false):
            return nil
        case (false, true):
            return RecordChange(collection: collection, id: id, kind: .inserted, fields: current.changedFieldNames(comparedTo: RecordState()), origin: origin)
        case (true, false):
            return RecordChange(collection: collection, id: id, kind: .deleted, fields: previous!.changedFieldNames(comparedTo: RecordState()), origin: origin)
        case (true, true):
            let fields = current.changedFieldNames(comparedTo: previous!)
            return fields.isEmpty ? nil : RecordChange(collection: collection, id: id, kind: .updated, fields: fields, origin: origin)
        }
    }

    /// `updated todos/1B4E…: title, tags (remote 3f2a9c01)`.
    public var description: String {
        let who = switch origin {
        case .local: "local"
        case .remote(let author): "remote \(author.shortDescription)"
        }
        return "\(kind) \(collection)/\(id): \(fields.joined(separator: ", ")) (\(who))"
    }
}
