import Concord
import Foundation

/// A note, as the app stores it. `RecordModel` gives the collection name, the defaults
/// old records read for fields added later, and key paths as field names.
public struct Note: RecordModel, Identifiable, Hashable, Sendable {
    public static let collection = "notes"
    public static let recordDefaults = Note(title: "")

    public var id = UUID()
    public var title: String
    public var body = ""
    public var pinned = false
    /// Kept in order, duplicates allowed (an ordered list field).
    public var checklist: [String] = []
    /// An add-wins set: concurrent adds and removes merge.
    public var tags: Set<String> = []
    /// Added in version 2 of the app: version-1 records read `.normal`.
    public var priority: Priority = .normal

    public enum Priority: String, Codable, Hashable, Sendable, CaseIterable {
        case low, normal, high
    }

    public init(title: String, body: String = "", tags: Set<String> = []) {
        self.title = title
        self.body = body
        self.tags = tags
    }
}
