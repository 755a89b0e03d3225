import ConcordCore
import ConcordStore
import Foundation

extension Replica {
    /// Saves an app model as a record: its id is the record id, and each property becomes
    /// fields by its type (``RecordEncoder``; how each merges: `Specs/model-mapping.md`).
    ///
    /// Only what changed is written, so concurrent edits of other properties on other
    /// devices merge instead of being overwritten. Fields the record has but the model
    /// does not know (added by a newer version of the app) are kept: an older app version
    /// saving a model never erases what a newer one wrote.
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
    ///   - collection: Its collection; ``RecordModel/collection`` or the type's name by default.
    /// - Throws: `ConcordError` `.invalidModel` when the model cannot be mapped,
    ///   `.valueTooLarge`, or a write error.
    public func save<T: Encodable & Identifiable>(_ value: T, in collection: String? = nil) throws where T.ID == UUID {
        try write { try $0.save(value, in: collection) }
    }

    /// Saves an app model whose id is a `RecordID`. See `save(_:in:)`.
    /// - Parameters:
    ///   - value: The model.
    ///   - collection: Its collection; ``RecordModel/collection`` or the type's name by default.
    /// - Throws: As `save(_:in:)`.
    public func save<T: Encodable & Identifiable>(_ value: T, in collection: String? = nil) throws where T.ID == RecordID {
        try write { try $0.save(value, in: collection) }
    }

    /// Saves many models in one transaction: all of them, durably, or none.
    ///
    /// ```swift
    /// try await replica.save(imported, in: "todos")
    /// ```
    /// - Parameters:
    ///   - values: The models.
    ///   - collection: Their collection; ``RecordModel/collection`` or the type's name by default.
    /// - Throws: As `save(_:in:)`; nothing is saved then.
    public func save<T: Encodable & Identifiable>(_ values: [T], in collection: String? = nil) throws where T.ID == UUID {
        try write { tx in
            for value in values { try tx.save(value, in: collection) }
        }
    }

    /// Fetches a model by id; `nil` when absent or deleted.
    /// - Parameters:
    ///   - type: The model type.
    ///   - id: The record id.
    ///   - collection: Its collection; ``RecordModel/collection`` or the type's name by default.
    /// - Returns: The model, or `nil`.
    /// - Throws: `ConcordError` `.invalidModel` when the record does not fit the model.
    public func fetch<T: Decodable>(_ type: T.Type, id: UUID, in collection: String? = nil) throws -> T? {
        try fetch(type, id: RecordID(id), in: collection)
    }

    /// Fetches a model by record id; `nil` when absent or deleted.
    /// - Parameters:
    ///   - type: The model type.
    ///   - id: The record id.
    ///   - collection: Its collection; ``RecordModel/collection`` or the type's name by default.
    /// - Returns: The model, or `nil`.
    /// - Throws: `ConcordError` `.invalidModel` when the record does not fit the model.
    public func fetch<T: Decodable>(_ type: T.Type, id: RecordID, in collection: String? = nil) throws -> T? {
        let name = collection ?? Self.collectionName(T.self)
        guard let record = try record(id, in: name) else { return nil }
        return try Self.decode(type, from: record, in: name)
    }

    /// Every model of a collection, by id. Records that do not decode as `T` are left
    /// out: ``models(_:matching:)`` lists them.
    ///
    /// ```swift
    /// let todos = try await replica.all(Todo.self, in: "todos")
    /// ```
    /// - Parameters:
    ///   - type: The model type.
    ///   - collection: The collection; ``RecordModel/collection`` or the type's name by default.
    /// - Returns: The models.
    /// - Throws: `ConcordError` `.storage`.
    public func all<T: Decodable>(_ type: T.Type, in collection: String? = nil) throws -> [T] {
        try all(type, matching: RecordQuery(collection ?? Self.collectionName(T.self)))
    }

    /// The models matching a query, in its order. Records that do not decode as `T` are
    /// left out: one damaged or partial record never hides the others
    /// (``models(_:matching:)`` lists them).
    ///
    /// ```swift
    /// let open = try await replica.all(Todo.self, matching: RecordQuery("todos").where("done", .equals(false)))
    /// ```
    /// - Parameters:
    ///   - type: The model type.
    ///   - query: The query.
    /// - Returns: The models that decode.
    /// - Throws: `ConcordError` `.storage`.
    public func all<T: Decodable>(_ type: T.Type, matching query: RecordQuery) throws -> [T] {
        try models(type, matching: query).models
    }

    /// The models a typed query selects, in its order.
    ///
    /// ```swift
    /// let open = try await replica.all(Todo.query.where(\.done, .equals(false)).order(by: \.title))
    /// ```
    /// - Parameters:
    ///   - query: The query, with fields named by key paths.
    /// - Returns: The models that decode.
    /// - Throws: `ConcordError` `.invalidModel` when a key path names no single field,
    ///   `.storage`.
    public func all<M: RecordModel>(_ query: ModelQuery<M>) throws -> [M] {
        try models(M.self, matching: query.recordQuery()).models
    }

    /// The models matching a query, with the records that do not decode reported beside
    /// them instead of failing the whole read.
    ///
    /// ```swift
    /// let result = try await replica.models(Todo.self, matching: RecordQuery("todos"))
    /// for problem in result.undecodable { log(problem) }   // "todos/1B4E…: field 'due' …"
    /// show(result.models)
    /// ```
    /// - Parameters:
    ///   - type: The model type.
    ///   - query: The query.
    /// - Returns: The models, and the records that did not decode.
    /// - Throws: `ConcordError` `.storage`.
    public func models<T: Decodable>(_ type: T.Type, matching query: RecordQuery) throws -> ModelResults<T> {
        ModelResults(decoding: try records(matching: query), as: type, in: query.collection)
    }

    /// Deletes a model's record.
    /// - Parameters:
    ///   - value: The model.
    ///   - collection: Its collection; ``RecordModel/collection`` or the type's name by default.
    /// - Throws: A write error.
    public func delete<T: Identifiable>(_ value: T, in collection: String? = nil) throws where T.ID == UUID {
        try write { try $0.delete(value, in: collection) }
    }

    /// Whether a model's local changes have reached a peer or relay. See
    /// ``syncStatus(of:in:)-(RecordID,_)``.
    /// - Parameters:
    ///   - value: The model.
    ///   - collection: Its collection; ``RecordModel/collection`` or the type's name by default.
    /// - Returns: Its status.
    /// - Throws: `ConcordError` `.storage`.
    public func syncStatus<T: Identifiable>(of value: T, in collection: String? = nil) throws -> SyncStatus where T.ID == UUID {
        try syncStatus(of: RecordID(value.id), in: collection ?? Self.collectionName(T.self))
    }

    /// The concurrent writes that lost to a model's field. See
    /// ``conflicts(of:record:in:)``.
    ///
    /// ```swift
    /// for loser in try await replica.conflicts(of: \.title, in: todo) { print(loser.value) }
    /// ```
    /// - Parameters:
    ///   - field: The property.
    ///   - value: The model.
    /// - Returns: Losing writes, newest first.
    /// - Throws: `ConcordError` `.invalidModel` when the key path names no single
    ///   field, `.storage`.
    public func conflicts<M: RecordModel & Identifiable, V>(of field: WritableKeyPath<M, V>, in value: M) throws -> [FieldWrite]
    where M.ID == UUID {
        try conflicts(of: try M.fieldName(field), record: RecordID(value.id), in: M.collection)
    }

    /// Every write of a model's field found in the log. See ``history(of:record:in:)``.
    /// - Parameters:
    ///   - field: The property.
    ///   - value: The model.
    /// - Returns: The writes, oldest first.
    /// - Throws: `ConcordError` `.invalidModel` when the key path names no single
    ///   field, `.storage`.
    public func history<M: RecordModel & Identifiable, V>(of field: WritableKeyPath<M, V>, in value: M) throws -> [FieldWrite]
    where M.ID == UUID {
        try history(of: try M.fieldName(field), record: RecordID(value.id), in: M.collection)
    }

    /// ``RecordModel/collection``, or the type's name.
    static func collectionName<T>(_ type: T.Type) -> String {
        (type as? any RecordModel.Type)?.collection ?? String(describing: type)
    }

    static func decode<T: Decodable>(_ type: T.Type, from record: RecordView, in collection: String) throws -> T {
        do {
            return try RecordDecoder().decode(type, from: record)
        } catch {
            throw ConcordError(.invalidModel, UndecodableRecord(collection: collection, record: record, error: error).description)
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
