import ConcordCore
import Foundation

/// Decodes an app model from a record.
///
/// The inverse of ``RecordEncoder``, with the same mapping (see there for the table):
///
/// ```swift
/// struct Todo: Codable {
///     var id: UUID              // filled from record.id
///     var title: String         // LWW "title": .string
///     var priority: Int         // LWW "priority": .int (missing: 0)
///     var tags: Set<String>     // OR-set "tags" (absent: empty)
///     var steps: [String]       // list "steps", in order (absent: empty)
///     var place: Place          // "place.city", "place.room"
///     var due: Date?            // LWW "due": .double, .null or absent gives nil
/// }
///
/// if let record = state.record(id, in: "todos") {
///     let todo = try RecordDecoder().decode(Todo.self, from: record)
/// }
/// ```
///
/// Reading rules:
/// - `id` is the record's id: a `UUID` or `RecordID` property gets `record.id`; so does
///   any type that decodes from a single `String`, `UUID` or `RecordID` value, unless the
///   record has an LWW field named `id` (written for an `id` of another type).
/// - **Missing fields** (a record written by an older app version, or revived by an edit
///   concurrent with its deletion, `Specs/model-mapping.md`): an optional reads `nil`; a
///   non-optional reads the model's default when the model is a ``RecordModel`` (its
///   ``RecordModel/recordDefaults``), else its type's zero value: `false`, `0`, `""`,
///   empty `Data`, an empty set, list or dictionary, a nested struct of zero values. A
///   type without a zero value (`Date`, `UUID`, `URL`, enums) throws
///   `DecodingError.keyNotFound`. A `.null` field reads the same way into a non-optional.
/// - An array reads the list's values in order (a set written by an older version reads
///   in `Value` order); a set reads the members; absent is empty. An *optional* array
///   or set is `nil` when empty (a set cannot tell the two apart).
/// - Numbers convert where nothing is lost: an `.int` reads into any integer type it fits
///   and into `Double`/`Float`/`Date`; a `.double` reads into `Double`, `Float` and `Date`
///   only.
/// - A stored value of the wrong kind (the field holds `.string` but the model wants
///   `Int`) throws `DecodingError.typeMismatch` naming the field and both types.
/// - A nested struct stored as one JSON string by an earlier version of Concord still
///   reads; saving the model again flattens it.
public struct RecordDecoder: Sendable {
    /// Creates a decoder.
    public init() {}

    /// Decodes a `T` from `record`'s id, fields, sets and lists.
    ///
    /// A ``RecordModel`` reads its ``RecordModel/recordDefaults`` for fields the record lacks.
    /// - Parameters:
    ///   - type: The model type.
    ///   - record: The record.
    /// - Returns: The model.
    /// - Throws: `DecodingError` when `T` is not keyed, a required field is missing and
    ///   has no default, a stored value does not fit the property's type, or a JSON field
    ///   does not decode.
    public func decode<T: Decodable>(_ type: T.Type, from record: RecordView) throws -> T {
        try decode(type, from: record, defaults: RecordModelDefaults.encoded(T.self))
    }

    /// Decodes a `T`, reading `defaults` for LWW fields the record lacks.
    /// - Parameters:
    ///   - type: The model type.
    ///   - record: The record.
    ///   - defaults: Values for missing fields (an encoded default instance), or `nil`.
    /// - Returns: The model.
    /// - Throws: As ``decode(_:from:)``.
    public func decode<T: Decodable>(_ type: T.Type, from record: RecordView, defaults: EncodedRecord?) throws -> T {
        if T.self is any RecordCodingDictionary.Type {
            throw RecordTopDecoder.notKeyed(T.self, "a dictionary")
        }
        return try T(from: RecordTopDecoder(reading: RecordReading(record, defaults: defaults), model: T.self))
    }
}

// MARK: - The record's fields

/// A record indexed for decoding: registers and members by stored name, and which
/// containers have content.
final class RecordReading {
    let record: RecordView
    private let registers: [ByteString: Value]
    private let members: [ByteString: [Value]]
    private let defaults: [ByteString: Value]
    /// `a.` and `a.b.` for every stored name `a.b.c` with content (a non-null register or
    /// a non-empty set).
    private let containersWithContent: Set<ByteString>

    init(_ record: RecordView, defaults: EncodedRecord?) {
        self.record = record
        var registers: [ByteString: Value] = [:]
        var containers = Set<ByteString>()
        func addContainers(_ name: String) {
            var prefix = ""
            for component in name.split(separator: ".", omittingEmptySubsequences: false).dropLast() {
                prefix += component + "."
                containers.insert(ByteString(prefix))
            }
        }
        for field in record.fields {
            registers[ByteString(field.name)] = field.value
            if field.value != .null { addContainers(field.name) }
        }
        var members: [ByteString: [Value]] = [:]
        for set in record.sets where !set.members.isEmpty {
            members[ByteString(set.name)] = set.members
            addContainers(set.name)
        }
        self.registers = registers
        self.members = members
        self.containersWithContent = containers
        var defaultValues: [ByteString: Value] = [:]
        for (name, value) in defaults?.fields ?? [:] where value != .null { defaultValues[ByteString(name)] = value }
        self.defaults = defaultValues
    }

    /// The register `name` as stored (`nil` when absent).
    func stored(_ name: String) -> Value? { registers[ByteString(name)] }

    /// The value a non-optional property reads: the stored value unless absent or null,
    /// else the default.
    func value(_ name: String) -> Value? {
        let key = ByteString(name)
        if let stored = registers[key], stored != .null { return stored }
        return defaults[key]
    }

    /// The non-empty OR-set (or list) `name`.
    func members(_ name: String) -> [Value]? { members[ByteString(name)] }

    /// Whether anything is stored under the container `name`.
    func hasContent(under name: String) -> Bool { containersWithContent.contains(ByteString(name + ".")) }

    /// Whether the property at `name` is there at all (for `contains`).
    func contains(_ name: String) -> Bool {
        let key = ByteString(name)
        return registers[key] != nil || members[key] != nil || defaults[key] != nil || hasContent(under: name)
    }

    /// Whether the property at `name` reads as `nil`.
    func isNil(_ name: String) -> Bool {
        if hasContent(under: name) || members(name) != nil { return false }
        let key = ByteString(name)
        guard let value = registers[key] ?? defaults[key] else { return true }
        return value == .null
    }

    /// The keys of the container at `parent` (the record for `nil`): the first name
    /// component, unescaped, of everything stored under it. In a nested container, null
    /// registers do not count (a dictionary's removed key).
    func keys(under parent: String?) -> [String] {
        var seen = Set<String>()
        var keys: [String] = []
        func add(_ name: String, content: Bool) {
            let rest: Substring
            if let parent {
                guard content, name.hasPrefix(parent + ".") else { return }
                rest = name.dropFirst(parent.count + 1)
            } else {
                rest = Substring(name)
            }
            let component = FieldPath.unescape(String(rest.prefix { $0 != "." }))
            if seen.insert(component).inserted { keys.append(component) }
        }
        for field in record.fields { add(field.name, content: field.value != .null) }
        for set in record.sets where !set.members.isEmpty { add(set.name, content: true) }
        return keys
    }
}

// MARK: - Top level

/// The decoder handed to the model: only a keyed container is offered.
struct RecordTopDecoder: Decoder {
    let reading: RecordReading
    let model: Any.Type
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(RecordKeyedDecoder<Key>(reading: reading, parent: nil, model: model))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw Self.notKeyed(model, "an array (an unkeyed container)")
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        throw Self.notKeyed(model, "a single value")
    }

    static func notKeyed(_ model: Any.Type, _ what: String) -> DecodingError {
        DecodingError.typeMismatch(
            model,
            DecodingError.Context(
                codingPath: [],
                debugDescription:
                    "\(RecordCoding.name(model)) decodes from \(what), but a Concord record is keyed: decode a struct or class whose properties are the record's fields"
            ))
    }
}

/// A keyed container: the record's own (`parent == nil`) or a flattened nested one.
struct RecordKeyedDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let reading: RecordReading
    let parent: FieldPath?
    let model: Any.Type
    var codingPath: [any CodingKey] { parent?.codingPath ?? [] }

    private func path(_ key: Key) -> FieldPath { FieldPath.child(of: parent, key) }
    private func isID(_ key: Key) -> Bool { parent == nil && key.stringValue == "id" }

    /// At the top, `id`, then every field and non-empty set; in a nested container, the
    /// keys with content.
    var allKeys: [Key] {
        let names = (parent == nil ? ["id"] : []) + reading.keys(under: parent?.name)
        var seen = Set<String>()
        return names.compactMap { seen.insert($0).inserted ? Key(stringValue: $0) : nil }
    }

    func contains(_ key: Key) -> Bool { isID(key) || reading.contains(path(key).name) }

    func decodeNil(forKey key: Key) throws -> Bool {
        if isID(key), reading.stored("id") == nil { return false }
        return reading.isNil(path(key).name)
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try read(type, key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try read(type, key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try read(type, key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try read(type, key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try read(type, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try read(type, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try read(type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try read(type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try read(type, key) }
    func decode(_ type: Int128.Type, forKey key: Key) throws -> Int128 { try read(type, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try read(type, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try read(type, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try read(type, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try read(type, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try read(type, key) }
    func decode(_ type: UInt128.Type, forKey key: Key) throws -> UInt128 { try read(type, key) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try read(type, key) }

    /// Reads `key`: `id` from the record's id (unless the record has an `id` field and the
    /// model's id is not a UUID or ``RecordID``), anything else from its field.
    private func read<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T {
        if isID(key), T.self == UUID.self || T.self == RecordID.self || reading.stored("id") == nil {
            return try T(from: RecordIDDecoder(id: reading.record.id, codingPath: [key], model: T.self))
        }
        return try RecordDecoding.decode(T.self, at: path(key), from: reading)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        KeyedDecodingContainer(RecordKeyedDecoder<NestedKey>(reading: reading, parent: path(key), model: model))
    }

    /// An explicit unkeyed container for a key reads the list's values.
    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        let path = path(key)
        return RecordMembersDecoder(
            codingPath: path.codingPath, recordID: reading.record.id, values: ListElement.values(of: reading.members(path.name) ?? []))
    }

    /// Superclass properties are read from the same container.
    func superDecoder() throws -> any Decoder {
        guard let parent else { return RecordTopDecoder(reading: reading, model: model) }
        return RecordValueDecoder(field: (reading, parent), wanted: Any.self)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        RecordValueDecoder(field: (reading, path(key)), wanted: Any.self)
    }
}

enum RecordDecoding {
    /// Reads the property at `path` as a `T`: a scalar, a set or list, a flattened
    /// container, or JSON.
    static func decode<T: Decodable>(_ type: T.Type, at path: FieldPath, from reading: RecordReading) throws -> T {
        let decoder = RecordValueDecoder(field: (reading, path), wanted: T.self)
        do {
            return try decoder.decode(T.self)
        } catch is RecordCodingNeedsJSON {
            guard case .string(let json)? = reading.stored(path.name) else { throw decoder.mismatch(T.self) }
            do {
                return try JSONDecoder().decode(T.self, from: Data(json.utf8))
            } catch let error as DecodingError {
                throw inJSON(error, field: path.codingPath, type: T.self)
            }
        }
    }

    /// `error` from decoding a JSON field, with the field prepended to its path and message.
    static func inJSON(_ error: DecodingError, field: [any CodingKey], type: Any.Type) -> DecodingError {
        let prefix = "\(RecordCoding.label(field)) holds JSON that does not decode as \(RecordCoding.name(type))"
        func context(_ c: DecodingError.Context) -> DecodingError.Context {
            DecodingError.Context(
                codingPath: field + c.codingPath, debugDescription: "\(prefix): \(c.debugDescription)",
                underlyingError: error)
        }
        switch error {
        case .typeMismatch(let t, let c): return .typeMismatch(t, context(c))
        case .valueNotFound(let t, let c): return .valueNotFound(t, context(c))
        case .keyNotFound(let k, let c): return .keyNotFound(k, context(c))
        case .dataCorrupted(let c): return .dataCorrupted(context(c))
        @unknown default: return error
        }
    }
}

// MARK: - The record id

/// Decodes `id` from the record's id: a single value that reads as `String` (UUID text),
/// `UUID` or ``RecordID``.
struct RecordIDDecoder: Decoder, SingleValueDecodingContainer {
    let id: RecordID
    let codingPath: [any CodingKey]
    let model: Any.Type
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    private func mismatch(_ type: Any.Type) -> DecodingError {
        DecodingError.typeMismatch(
            type,
            DecodingError.Context(
                codingPath: codingPath,
                debugDescription:
                    "'id' is the record's id, a UUID, but the model wants \(RecordCoding.name(model)); declare id as UUID or RecordID, or store your own identifier under another key"
            ))
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> { throw mismatch(model) }
    func unkeyedContainer() throws -> any UnkeyedDecodingContainer { throw mismatch(model) }
    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func decodeNil() -> Bool { false }
    func decode(_ type: String.Type) throws -> String { id.uuidString }
    func decode(_ type: Bool.Type) throws -> Bool { throw mismatch(type) }
    func decode(_ type: Double.Type) throws -> Double { throw mismatch(type) }
    func decode(_ type: Float.Type) throws -> Float { throw mismatch(type) }
    func decode(_ type: Int.Type) throws -> Int { throw mismatch(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { throw mismatch(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { throw mismatch(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { throw mismatch(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { throw mismatch(type) }
    func decode(_ type: Int128.Type) throws -> Int128 { throw mismatch(type) }
    func decode(_ type: UInt.Type) throws -> UInt { throw mismatch(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { throw mismatch(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { throw mismatch(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { throw mismatch(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { throw mismatch(type) }
    func decode(_ type: UInt128.Type) throws -> UInt128 { throw mismatch(type) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if T.self == UUID.self, let uuid = UUID(uuidString: id.uuidString) { return uuid as! T }
        if T.self == RecordID.self { return id as! T }
        return try T(from: self)
    }
}
