import ConcordCore
import Foundation
import Synchronization

/// An app model that names its collection and its default values.
///
/// Conforming is optional (any `Codable` type can be saved), and gives three things:
/// - Records that lack a field (written by an older app version, or revived by an edit
///   concurrent with a delete) read the field from ``recordDefaults`` instead of the type's
///   zero value, so `var priority = 3` added in version 2 reads 3 from version-1 records.
/// - Key paths name fields: ``ModelQuery`` (`Todo.query.where(\.done, .equals(false))`),
///   ``fieldName(_:)``, `conflicts(of: \.title, in: todo)`.
/// - ``collection`` names the collection, so `save(todo)` and `all(Todo.self)` need no
///   collection argument.
///
/// ```swift
/// struct Todo: RecordModel, Identifiable {
///     static let collection = "todos"
///     static let recordDefaults = Todo(title: "")
///     var id = UUID()
///     var title: String
///     var done = false
///     var priority = 3
/// }
/// ```
public protocol RecordModel: Codable {
    /// The collection its records live in; the type's name unless declared.
    static var collection: String { get }
    /// The value each field takes in a record that lacks it: usually a plain instance
    /// such as `Self()` or `Self(title: "")`. Its `id` is ignored.
    static var recordDefaults: Self { get }
}

extension RecordModel {
    /// The type's name.
    public static var collection: String { String(describing: Self.self) }

    /// The stored name of the field `keyPath` leads to (`"title"`, `"place.city"`).
    ///
    /// Found by changing the property in ``recordDefaults`` and seeing which field's
    /// encoding changes, so it works for any property stored as an LWW field: scalars,
    /// raw-value enums that are `CaseIterable`, optionals that are not `nil` in the
    /// defaults, properties of nested structs. Results are cached.
    ///
    /// ```swift
    /// let name = try Todo.fieldName(\.title)   // "title"
    /// ```
    /// - Parameters:
    ///   - keyPath: A writable key path to the property.
    /// - Returns: The field's stored name.
    /// - Throws: `ConcordError` `.invalidModel` when no single LWW field changes with the
    ///   property (a set, a list, a computed property, or a `nil` optional in the defaults);
    ///   use the field's name or coding key then.
    public static func fieldName<V>(_ keyPath: WritableKeyPath<Self, V>) throws -> String {
        try RecordFieldNames.name(of: keyPath)
    }
}

/// The encoded ``RecordModel/recordDefaults`` of each model type, computed once.
enum RecordModelDefaults {
    private static let cache = Mutex<[ObjectIdentifier: EncodedRecord]>([:])

    /// The defaults of `type` when it is a ``RecordModel``; `nil` otherwise (or when they
    /// cannot be encoded).
    static func encoded<T>(_ type: T.Type) -> EncodedRecord? {
        guard let model = type as? any RecordModel.Type else { return nil }
        let key = ObjectIdentifier(type)
        if let cached = cache.withLock({ $0[key] }) { return cached }
        guard let encoded = try? encode(model) else { return nil }
        cache.withLock { $0[key] = encoded }
        return encoded
    }

    private static func encode<M: RecordModel>(_ model: M.Type) throws -> EncodedRecord {
        try RecordEncoder().encode(M.recordDefaults)
    }
}

/// Key paths to stored field names (``RecordModel/fieldName(_:)``).
enum RecordFieldNames {
    /// A key path as a dictionary key. Key paths are immutable once made, so sharing one
    /// between threads is safe (they are not declared `Sendable`).
    private struct Key: Hashable, @unchecked Sendable {
        let keyPath: AnyKeyPath
    }

    private static let cache = Mutex<[Key: String]>([:])

    static func name<M: RecordModel, V>(of keyPath: WritableKeyPath<M, V>) throws -> String {
        if let cached = cache.withLock({ $0[Key(keyPath: keyPath)] }) { return cached }
        let defaults = M.recordDefaults
        let base = try encoded(defaults)
        for candidate in candidates(differentFrom: defaults[keyPath: keyPath]) {
            var changed = defaults
            changed[keyPath: keyPath] = candidate
            let names = differences(base, try encoded(changed))
            guard !names.isEmpty else { continue }
            guard names.count == 1, let name = names.first else {
                throw unknown(keyPath, "it changes \(names.count) fields (\(names.sorted().joined(separator: ", ")))")
            }
            cache.withLock { $0[Key(keyPath: keyPath)] = name }
            return name
        }
        throw unknown(keyPath, "no field of \(M.self).recordDefaults changes when it does")
    }

    /// The stored name of the set field `keyPath` leads to, found by inserting or removing
    /// `element` in the defaults.
    static func setName<M: RecordModel, E: Hashable>(of keyPath: WritableKeyPath<M, Set<E>>, probing element: E) throws -> String {
        if let cached = cache.withLock({ $0[Key(keyPath: keyPath)] }) { return cached }
        var changed = M.recordDefaults
        if changed[keyPath: keyPath].remove(element) == nil { changed[keyPath: keyPath].insert(element) }
        let names = differences(try encoded(M.recordDefaults), try encoded(changed))
        guard names.count == 1, let name = names.first else {
            throw unknown(keyPath, "it is not one set field of \(M.self)")
        }
        cache.withLock { $0[Key(keyPath: keyPath)] = name }
        return name
    }

    private static func encoded<M: Encodable>(_ model: M) throws -> EncodedRecord {
        do {
            return try RecordEncoder().encode(model)
        } catch {
            throw ConcordError(.invalidModel, "\(M.self).recordDefaults cannot be encoded: \(error)")
        }
    }

    /// Names whose field, set or list differs between two encodings.
    private static func differences(_ a: EncodedRecord, _ b: EncodedRecord) -> Set<String> {
        var names = Set<String>()
        for name in Set(a.fields.keys).union(b.fields.keys) where a.fields[name] != b.fields[name] { names.insert(name) }
        for name in Set(a.sets.keys).union(b.sets.keys) where a.sets[name] != b.sets[name] { names.insert(name) }
        for name in Set(a.lists.keys).union(b.lists.keys) where a.lists[name] != b.lists[name] { names.insert(name) }
        return names
    }

    private static func unknown(_ keyPath: AnyKeyPath, _ why: String) -> ConcordError {
        ConcordError(.invalidModel, "cannot tell which field \(keyPath) is: \(why); name the field with a String or a CodingKey instead")
    }

    /// Values of `V` that differ from `value`, to try one after the other.
    static func candidates<V>(differentFrom value: V) -> [V] {
        func cast(_ values: [Any]) -> [V] { values.compactMap { $0 as? V } }
        switch value {
        case let b as Bool: return cast([!b])
        case let s as String: return cast([s + "\u{1}"])
        case let d as Double: return cast([d == 0 ? 1.0 : -d, d + 1])
        case let f as Float: return cast([f == 0 ? Float(1) : -f, f + 1])
        case let date as Date: return cast([date.addingTimeInterval(1)])
        case let uuid as UUID:
            return cast([
                UUID(
                    uuid: (
                        uuid.uuid.0 ^ 1, uuid.uuid.1, uuid.uuid.2, uuid.uuid.3, uuid.uuid.4, uuid.uuid.5, uuid.uuid.6, uuid.uuid.7,
                        uuid.uuid.8, uuid.uuid.9, uuid.uuid.10, uuid.uuid.11, uuid.uuid.12, uuid.uuid.13, uuid.uuid.14, uuid.uuid.15
                    ))
            ])
        case let data as Data: return cast([data + [1]])
        case let url as URL: return cast([URL(string: url.absoluteString + "x") as Any])
        default: break
        }
        if let integer = value as? any FixedWidthInteger { return cast([bump(integer)]) }
        if let optional = value as? any RecordCodingOptional {
            guard !optional.recordIsNil, let nilType = V.self as? any ExpressibleByNilLiteral.Type else { return [] }
            return cast([nilType.init(nilLiteral: ())])
        }
        if let cases = V.self as? any CaseIterable.Type { return cast(allCases(cases)) }
        return []
    }

    private static func bump<I: FixedWidthInteger>(_ value: I) -> I { value == .max ? value - 1 : value + 1 }
    private static func allCases<C: CaseIterable>(_ type: C.Type) -> [Any] { type.allCases.map { $0 } }
}
