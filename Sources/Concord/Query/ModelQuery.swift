import ConcordCore
import ConcordStore

/// A query over a ``RecordModel``'s records whose fields are named by key paths, so a
/// misspelt field does not compile instead of silently matching nothing.
///
/// ```swift
/// let open = try await replica.all(
///     Todo.query.where(\.done, .equals(false)).where(\.tags, contains: "home").order(by: \.title).limit(20))
/// ```
///
/// Key paths are turned into stored field names with ``RecordModel/fieldName(_:)``; a key
/// path that names no single LWW field makes the query throw when it runs.
public struct ModelQuery<Model: RecordModel>: Sendable {
    /// The query with field names.
    var query: RecordQuery
    /// The first key path that could not be resolved.
    var problem: ConcordError?

    /// Every record of ``RecordModel/collection``, by id.
    public init() {
        query = RecordQuery(Model.collection)
    }

    /// Adds a condition on the field `keyPath` leads to.
    /// - Parameters:
    ///   - keyPath: The property.
    ///   - condition: What its stored value must meet (see `RecordQuery`).
    /// - Returns: The query with the condition.
    public func `where`<V>(_ keyPath: WritableKeyPath<Model, V>, _ condition: RecordQuery.Condition) -> Self {
        resolving { query in query.where(try Model.fieldName(keyPath), condition) }
    }

    /// Adds a condition: the set field `keyPath` leads to contains `element`.
    /// - Parameters:
    ///   - keyPath: A `Set` property.
    ///   - element: The member.
    /// - Returns: The query with the condition.
    public func `where`<E: Hashable & Encodable>(_ keyPath: WritableKeyPath<Model, Set<E>>, contains element: E) -> Self {
        resolving { query in
            let name = try RecordFieldNames.setName(of: keyPath, probing: element)
            guard let member = try RecordEncoding.scalar(element, path: []) else {
                throw ConcordError(.invalidModel, "\(E.self) is not stored as a single value, so it cannot be a set member")
            }
            return query.where(name, contains: member)
        }
    }

    /// Sorts by the field `keyPath` leads to.
    /// - Parameters:
    ///   - keyPath: The property.
    ///   - descending: Greatest first.
    /// - Returns: The sorted query.
    public func order<V>(by keyPath: WritableKeyPath<Model, V>, descending: Bool = false) -> Self {
        resolving { query in query.order(by: try Model.fieldName(keyPath), descending: descending) }
    }

    /// Keeps at most `count` results after skipping `offset`.
    /// - Parameters:
    ///   - count: The most results.
    ///   - offset: Results to skip first.
    /// - Returns: The limited query.
    public func limit(_ count: Int, offset: Int = 0) -> Self {
        resolving { $0.limit(count, offset: offset) }
    }

    /// The query with stored field names.
    /// - Returns: The `RecordQuery` to run.
    /// - Throws: `ConcordError` `.invalidModel` when a key path names no single field.
    public func recordQuery() throws -> RecordQuery {
        if let problem { throw problem }
        return query
    }

    private func resolving(_ change: (RecordQuery) throws -> RecordQuery) -> Self {
        var copy = self
        guard problem == nil else { return copy }
        do {
            copy.query = try change(query)
        } catch let error as ConcordError {
            copy.problem = error
        } catch {
            copy.problem = ConcordError(.invalidModel, "\(error)")
        }
        return copy
    }
}

extension RecordModel {
    /// A query over every record of this model's collection.
    ///
    /// ```swift
    /// let done = try await replica.all(Todo.query.where(\.done, .equals(true)))
    /// ```
    public static var query: ModelQuery<Self> { ModelQuery() }
}

extension RecordQuery {
    /// Adds a condition on a field named by a coding key (`Todo.CodingKeys.done`), so a
    /// misspelt name does not compile.
    /// - Parameters:
    ///   - key: The property's coding key (a top-level property).
    ///   - condition: What its value must meet.
    /// - Returns: The query with the condition.
    public func `where`(_ key: some CodingKey, _ condition: Condition) -> RecordQuery {
        self.where(FieldPath.escape(key.stringValue), condition)
    }

    /// Adds a condition: the set field named by a coding key contains `member`.
    /// - Parameters:
    ///   - key: The set property's coding key.
    ///   - member: The member.
    /// - Returns: The query with the condition.
    public func `where`(_ key: some CodingKey, contains member: Value) -> RecordQuery {
        self.where(FieldPath.escape(key.stringValue), contains: member)
    }

    /// Sorts by a field named by a coding key.
    /// - Parameters:
    ///   - key: The property's coding key.
    ///   - descending: Greatest first.
    /// - Returns: The sorted query.
    public func order(by key: some CodingKey, descending: Bool = false) -> RecordQuery {
        order(by: FieldPath.escape(key.stringValue), descending: descending)
    }
}
