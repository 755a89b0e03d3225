import ConcordCore
import ConcordStore
import Foundation

extension Replica {
    /// Saves an app model as a record: its id is the record id, scalar properties become
    /// LWW fields, arrays and sets of scalars become OR-set fields (mapping rules:
    /// ``RecordEncoder``). Only what changed is written, so concurrent edits of other
    /// properties on other devices merge instead of being overwritten. Fields the record
    /// has but the model no longer encodes (a `nil` optional) are set to `null`.
    ///
    /// ```swift
    /// struct Todo: Codable, Identifiable {
    ///     var id = UUID()
    ///     var title: String
    ///     var done = false
    ///     var tags: Set<String> = []
    /// }
    /// try await replica.save(Todo(title: "Buy milk"), in: "todos")
    /// let todos = try await replica.all(Todo.self, in: "todos")
    /// ```
    /// - Parameters:
    ///   - value: The model.
    ///   - collection: Its collection; the type's name by default.
    /// - Throws: ``ConcordError`` `.invalidModel` when the model cannot be mapped, or a write error.
    public func save<T: Encodable & Identifiable>(_ value: T, in collection: String? = nil) throws where T.ID == UUID {
        try save(value, id: RecordID(value.id), in: collection ?? Self.collectionName(T.self))
    }

    /// Saves an app model whose id is a ``RecordID``. See ``save(_:in:)``.
    public func save<T: Encodable & Identifiable>(_ value: T, in collection: String? = nil) throws where T.ID == RecordID {
        try save(value, id: value.id, in: collection ?? Self.collectionName(T.self))
    }

    /// Fetches a model by id; `nil` when absent or deleted.
    /// - Throws: ``ConcordError`` `.invalidModel` when the record does not fit the model.
    public func fetch<T: Decodable>(_ type: T.Type, id: UUID, in collection: String? = nil) throws -> T? {
        try fetch(type, id: RecordID(id), in: collection)
    }

    /// Fetches a model by record id; `nil` when absent or deleted.
    public func fetch<T: Decodable>(_ type: T.Type, id: RecordID, in collection: String? = nil) throws -> T? {
        guard let record = try record(id, in: collection ?? Self.collectionName(T.self)) else { return nil }
        return try Self.decode(type, from: record)
    }

    /// Every model of a collection (or those matching `query`), in the query's order.
    ///
    /// ```swift
    /// let open = try await replica.all(Todo.self, matching: RecordQuery("todos").where("done", .equals(false)))
    /// ```
    public func all<T: Decodable>(_ type: T.Type, in collection: String? = nil) throws -> [T] {
        try all(type, matching: RecordQuery(collection ?? Self.collectionName(T.self)))
    }

    /// The models matching a query, in its order.
    public func all<T: Decodable>(_ type: T.Type, matching query: RecordQuery) throws -> [T] {
        try records(matching: query).map { try Self.decode(type, from: $0) }
    }

    /// Deletes a model's record.
    public func delete<T: Identifiable>(_ value: T, in collection: String? = nil) throws where T.ID == UUID {
        let id = RecordID(value.id)
        let name = collection ?? Self.collectionName(T.self)
        try write { try $0.delete(record: id, in: name) }
    }

    static func collectionName<T>(_ type: T.Type) -> String { String(describing: type) }

    static func decode<T: Decodable>(_ type: T.Type, from record: RecordView) throws -> T {
        do {
            return try RecordDecoder().decode(type, from: record)
        } catch {
            throw ConcordError(.invalidModel, "record \(record.id) does not fit \(T.self): \(error); change the model (for example make the property optional) or fix the record")
        }
    }

    private func save<T: Encodable>(_ value: T, id: RecordID, in collection: String) throws {
        let encoded: EncodedRecord
        do {
            encoded = try RecordEncoder().encode(value)
        } catch {
            throw ConcordError(.invalidModel, "\(T.self) cannot be saved as a record: \(error)")
        }
        try write { tx in
            let current = try tx.record(id, in: collection)
            for (name, value) in encoded.fields.sorted(by: { $0.key < $1.key }) where current?[name] != value {
                try tx.set(name, to: value, record: id, in: collection)
            }
            for field in current?.fields ?? [] where encoded.fields[field.name] == nil && encoded.sets[field.name] == nil && field.value != .null {
                try tx.set(field.name, to: .null, record: id, in: collection)
            }
            for (name, members) in encoded.sets.sorted(by: { $0.key < $1.key }) {
                let present = Set(current?.members(of: name) ?? [])
                for member in members where !present.contains(member) { try tx.add(member, to: name, record: id, in: collection) }
                for member in present.subtracting(members).sorted() { try tx.remove(member, from: name, record: id, in: collection) }
            }
            for set in current?.sets ?? [] where encoded.sets[set.name] == nil && encoded.fields[set.name] == nil {
                for member in set.members { try tx.remove(member, from: set.name, record: id, in: collection) }
            }
            if current == nil && encoded.fields.isEmpty && encoded.sets.isEmpty {
                try tx.set("id", to: .string(id.uuidString), record: id, in: collection)  // an empty model still exists
            }
        }
    }
}

extension RecordID {
    /// The record id of a UUID (same 16 bytes).
    public init(_ uuid: UUID) {
        let u = uuid.uuid
        let bytes = [u.0, u.1, u.2, u.3, u.4, u.5, u.6, u.7, u.8, u.9, u.10, u.11, u.12, u.13, u.14, u.15]
        self = RecordID(bytes: bytes)!
    }

    /// The UUID with the same 16 bytes.
    public var uuid: UUID { UUID(uuidString: uuidString)! }
}
