/// What a reader sees of one record: current field values and set members, no metadata.
///
/// Fields are kept as arrays sorted by UTF-8 bytes rather than `[String: Value]`
/// dictionaries, because Swift's `String` equality would merge canonically equivalent
/// names (`"é"` and `"e\u{301}"`) that Concord keeps distinct.
///
/// ```swift
/// if let todo = state.record(id, in: "todos") {
///     print(todo["title"] ?? .null, todo.members(of: "tags"))
/// }
/// ```
public struct RecordView: Hashable, Sendable, CustomStringConvertible {
    /// One LWW field and its current value.
    public struct Field: Hashable, Sendable {
        public var name: String
        public var value: Value
        public init(name: String, value: Value) {
            self.name = name
            self.value = value
        }
        public static func == (l: Field, r: Field) -> Bool { ByteString(l.name) == ByteString(r.name) && l.value == r.value }
        public func hash(into hasher: inout Hasher) {
            hasher.combine(ByteString(name))
            hasher.combine(value)
        }
    }

    /// One OR-set field and its members, sorted by ``Value``'s total order.
    public struct SetField: Hashable, Sendable {
        public var name: String
        public var members: [Value]
        public init(name: String, members: [Value]) {
            self.name = name
            self.members = members
        }
        public static func == (l: SetField, r: SetField) -> Bool { ByteString(l.name) == ByteString(r.name) && l.members == r.members }
        public func hash(into hasher: inout Hasher) {
            hasher.combine(ByteString(name))
            hasher.combine(members)
        }
    }

    /// The record's id.
    public var id: RecordID
    /// LWW fields, sorted by name (UTF-8 bytes).
    public var fields: [Field]
    /// Non-empty OR-set fields, sorted by name (UTF-8 bytes).
    public var sets: [SetField]

    /// A view; `fields` and `sets` are sorted by name for you.
    public init(id: RecordID, fields: KeyValuePairs<String, Value> = [:], sets: KeyValuePairs<String, [Value]> = [:]) {
        self.init(id: id, fields: fields.map { Field(name: $0.key, value: $0.value) },
                  sets: sets.map { SetField(name: $0.key, members: $0.value.sorted()) })
    }

    /// A view from field arrays; they are sorted by name.
    public init(id: RecordID, fields: [Field], sets: [SetField]) {
        self.id = id
        self.fields = fields.sorted { ByteString($0.name) < ByteString($1.name) }
        self.sets = sets.sorted { ByteString($0.name) < ByteString($1.name) }
    }

    /// The value of LWW field `name` (byte-exact match), or `nil`.
    public subscript(name: String) -> Value? {
        let key = ByteString(name)
        return fields.first { ByteString($0.name) == key }?.value
    }

    /// The members of OR-set field `name` (byte-exact match); empty when absent.
    public func members(of name: String) -> [Value] {
        let key = ByteString(name)
        return sets.first { ByteString($0.name) == key }?.members ?? []
    }

    /// `1A2B3C4D {done: false, title: "milk", tags: {"x", "y"}}`.
    public var description: String {
        let parts = fields.map { "\($0.name): \($0.value)" }
            + sets.map { "\($0.name): {" + $0.members.map(\.description).joined(separator: ", ") + "}" }
        return "\(id.uuidString.prefix(8)) {" + parts.joined(separator: ", ") + "}"
    }
}

extension RecordState {
    /// The visible view of this record, or `nil` when it is deleted or never written.
    func view(id: RecordID) -> RecordView? {
        guard isVisible else { return nil }
        let fields = registers.map { RecordView.Field(name: $0.key.string, value: $0.value.value) }
        let sets = self.sets.fields.compactMap { field -> RecordView.SetField? in
            let members = field.set.elements
            return members.isEmpty ? nil : RecordView.SetField(name: field.name.string, members: members)
        }
        return RecordView(id: id, fields: fields, sets: sets)
    }
}

extension ReplicaState {
    /// The visible record `id` in `collection`, or `nil` if absent or deleted.
    public func record(_ id: RecordID, in collection: String) -> RecordView? {
        recordState(id, in: collection)?.view(id: id)
    }

    /// Every visible record of `collection`, sorted by id.
    /// - Complexity: O(n log n) in the collection's size.
    public func records(in collection: String) -> [RecordView] {
        let name = ByteString(collection)
        return sortedIDs(in: name).compactMap { records[RecordKey(collection: name, id: $0)]!.view(id: $0) }
    }
}
