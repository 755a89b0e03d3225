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
///     var priority: Int         // LWW "priority": .int
///     var tags: Set<String>     // OR-set "tags" (absent: empty)
///     var due: Date?            // LWW "due": .double, .null or absent gives nil
///     var note: Note            // LWW "note": .string holding JSON
/// }
///
/// if let record = state.record(id, in: "todos") {
///     let todo = try RecordDecoder().decode(Todo.self, from: record)
/// }
/// ```
///
/// Reading rules:
/// - `id` is the record's id: a `UUID` or ``RecordID`` property gets `record.id`; so does
///   any type that decodes from a single `String`, `UUID` or `RecordID` value, unless the
///   record has an LWW field named `id` (written for an `id` of another type).
/// - A `.null` or missing field decodes as `nil` into an optional; missing into a
///   non-optional throws `DecodingError.keyNotFound`.
/// - An array or set of scalars reads the OR-set's members; an absent set is empty. An
///   *optional* array or set is `nil` when the set is empty (a set cannot tell the two apart).
/// - Numbers convert where nothing is lost: an `.int` reads into any integer type it fits
///   and into `Double`/`Float`/`Date`; a `.double` reads into `Double`, `Float` and `Date`
///   only.
/// - A stored value of the wrong kind (the field holds `.string` but the model wants
///   `Int`) throws `DecodingError.typeMismatch` naming the field and both types.
public struct RecordDecoder: Sendable {
    public init() {}

    /// Decodes a `T` from `record`'s id, fields and sets.
    /// - Throws: `DecodingError` when `T` is not keyed, a required field is missing, a
    ///   stored value does not fit the property's type, or a JSON field does not decode.
    public func decode<T: Decodable>(_ type: T.Type, from record: RecordView) throws -> T {
        if T.self is any RecordCodingDictionary.Type {
            throw RecordTopDecoder.notKeyed(T.self, "a dictionary")
        }
        return try T(from: RecordTopDecoder(record: record, model: T.self))
    }
}

// MARK: - Top level

/// The decoder handed to the model: only a keyed container is offered.
struct RecordTopDecoder: Decoder {
    let record: RecordView
    let model: Any.Type
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(RecordFieldsDecoder<Key>(decoder: self))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw Self.notKeyed(model, "an array (an unkeyed container)")
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        throw Self.notKeyed(model, "a single value")
    }

    static func notKeyed(_ model: Any.Type, _ what: String) -> DecodingError {
        DecodingError.typeMismatch(model, DecodingError.Context(
            codingPath: [],
            debugDescription: "\(RecordCoding.name(model)) decodes from \(what), but a Concord record is keyed: decode a struct or class whose properties are the record's fields"))
    }
}

/// The record's keyed container: one field per key.
struct RecordFieldsDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: RecordTopDecoder
    var record: RecordView { decoder.record }
    var codingPath: [any CodingKey] { [] }

    /// `id`, then every LWW field and non-empty set the key type knows.
    var allKeys: [Key] {
        var seen = Set<String>()
        let names = ["id"] + record.fields.map(\.name) + record.sets.filter { !$0.members.isEmpty }.map(\.name)
        return names.compactMap { seen.insert($0).inserted ? Key(stringValue: $0) : nil }
    }

    /// The members of OR-set `name`, or `nil` when the record has no such set.
    private func members(_ name: String) -> [Value]? {
        record.sets.first { $0.name.utf8.elementsEqual(name.utf8) }?.members
    }

    func contains(_ key: Key) -> Bool {
        let name = key.stringValue
        return name == "id" || record[name] != nil || !(members(name) ?? []).isEmpty
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        let name = key.stringValue
        if let value = record[name] { return value == .null }
        return name != "id" && (members(name) ?? []).isEmpty
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
        if key.stringValue == "id",
           T.self == UUID.self || T.self == RecordID.self || record["id"] == nil {
            return try T(from: RecordIDDecoder(id: record.id, codingPath: [key], model: T.self))
        }
        return try field(type, key)
    }

    /// Reads field `key` as a `T`: as a scalar or set, else as JSON when the model asks
    /// for a nested container and the field holds a string.
    private func field<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T {
        let value = record[key.stringValue]
        let decoder = RecordValueDecoder(
            codingPath: [key], recordID: record.id, value: value, members: members(key.stringValue),
            allowsJSON: true, wanted: T.self)
        do {
            return try decoder.decode(T.self)
        } catch is RecordCodingNeedsJSON {
            guard case .string(let json)? = value else { throw decoder.mismatch(T.self) }
            do {
                return try JSONDecoder().decode(T.self, from: Data(json.utf8))
            } catch let error as DecodingError {
                throw RecordDecoding.inJSON(error, field: [key], type: T.self)
            }
        }
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        throw DecodingError.typeMismatch([String: Any].self, DecodingError.Context(
            codingPath: [key],
            debugDescription: "\(RecordCoding.label([key])): a record field cannot be a nested keyed container; decode a Codable value with decode(_:forKey:) instead (it is stored as JSON)"))
    }

    /// An explicit unkeyed container for a key reads the OR-set's members.
    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        RecordMembersDecoder(codingPath: [key], recordID: record.id, members: members(key.stringValue) ?? [])
    }

    /// Superclass properties are read from the same record.
    func superDecoder() throws -> any Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> any Decoder { decoder }
}

// MARK: - One value

/// Decodes one field (or one set member) of the record.
///
/// A field is an LWW `value`, the `members` of an OR-set, both or neither. Asking it for
/// a keyed container when it holds a string (and `allowsJSON`) throws
/// ``RecordCodingNeedsJSON`` so the field is decoded again from its JSON.
struct RecordValueDecoder: Decoder, SingleValueDecodingContainer {
    let codingPath: [any CodingKey]
    let recordID: RecordID
    let value: Value?
    let members: [Value]?
    let allowsJSON: Bool
    /// The type being decoded, for messages and to tell OR-set types from others.
    let wanted: Any.Type
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        if allowsJSON, case .string? = value { throw RecordCodingNeedsJSON() }
        if value == nil, members == nil { throw missing() }
        throw mismatch(wanted)
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let isCollection = wanted is any RecordCodingCollection.Type
        if RecordCoding.isSetType(wanted) || (isCollection && value == nil) {
            return RecordMembersDecoder(codingPath: codingPath, recordID: recordID, members: members ?? [])
        }
        if allowsJSON, case .string? = value { throw RecordCodingNeedsJSON() }
        if value == nil, members == nil { throw missing() }
        throw mismatch(wanted)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func decodeNil() -> Bool {
        guard let value else { return (members ?? []).isEmpty }
        return value == .null
    }

    func decode(_ type: Bool.Type) throws -> Bool {
        try scalar(type) { if case .bool(let b) = $0 { b } else { nil } }
    }

    func decode(_ type: String.Type) throws -> String {
        try scalar(type) { if case .string(let s) = $0 { s } else { nil } }
    }

    func decode(_ type: Double.Type) throws -> Double {
        try scalar(type) {
            switch $0 {
            case .double(let d): d
            case .int(let i): Double(i)
            default: nil
            }
        }
    }

    func decode(_ type: Float.Type) throws -> Float {
        let double = try decode(Double.self)
        let float = Float(double)
        if double.isFinite, !float.isFinite {
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: codingPath,
                debugDescription: "\(RecordCoding.label(codingPath)): double \(double) does not fit Float; declare the property as Double"))
        }
        return float
    }

    func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: Int128.Type) throws -> Int128 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }
    func decode(_ type: UInt128.Type) throws -> UInt128 { try integer(type) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if T.self == UUID.self {
            let text = try decode(String.self)
            guard let uuid = UUID(uuidString: text) else { throw corrupted("string \"\(text)\" is not a UUID") }
            return uuid as! T
        }
        if T.self == Date.self {
            return Date(timeIntervalSince1970: try decode(Double.self)) as! T
        }
        if T.self == Data.self {
            return Data(try scalar(Data.self) { if case .bytes(let b) = $0 { b } else { nil } }) as! T
        }
        if T.self == URL.self {
            let text = try decode(String.self)
            guard let url = URL(string: text) else { throw corrupted("string \"\(text)\" is not a URL") }
            return url as! T
        }
        return try T(from: with(wanted: T.self))
    }

    private func with(wanted: Any.Type) -> RecordValueDecoder {
        RecordValueDecoder(codingPath: codingPath, recordID: recordID, value: value, members: members,
                           allowsJSON: allowsJSON, wanted: wanted)
    }

    private func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        let int = try scalar(type) { if case .int(let i) = $0 { i } else { nil } }
        guard let result = I(exactly: int) else {
            throw corrupted("int \(int) does not fit \(I.self); declare the property with a wider type such as Int")
        }
        return result
    }

    /// The stored value converted by `convert`, or the error saying why not.
    private func scalar<T, R>(_ type: T.Type, _ convert: (Value) -> R?) throws -> R {
        guard let value else {
            if let members, !members.isEmpty {
                throw DecodingError.typeMismatch(type, DecodingError.Context(
                    codingPath: codingPath,
                    debugDescription: "\(RecordCoding.label(codingPath)) is an OR-set but the model wants \(RecordCoding.name(type)); declare the property as an array or set"))
            }
            throw missing(type)
        }
        if let result = convert(value) { return result }
        if case .null = value {
            throw DecodingError.valueNotFound(type, DecodingError.Context(
                codingPath: codingPath,
                debugDescription: "\(RecordCoding.label(codingPath)) is null but the model wants \(RecordCoding.name(type)); make the property optional"))
        }
        throw mismatch(type)
    }

    /// The stored value's kind does not match `type`.
    func mismatch(_ type: Any.Type) -> DecodingError {
        let stored = value.map(RecordCoding.describe) ?? "an OR-set"
        return DecodingError.typeMismatch(type, DecodingError.Context(
            codingPath: codingPath,
            debugDescription: "\(RecordCoding.label(codingPath)) holds \(stored) but the model wants \(RecordCoding.name(type)); change the property's type to match the stored value, or migrate the field"))
    }

    private func missing(_ type: Any.Type? = nil) -> DecodingError {
        let wantedName = RecordCoding.name(type ?? wanted)
        let context = DecodingError.Context(
            codingPath: Array(codingPath.dropLast()),
            debugDescription: "record \(recordID) has no field '\(codingPath.last?.stringValue ?? "")' (model wants \(wantedName)); make the property optional to read records without it")
        guard let key = codingPath.last else { return DecodingError.valueNotFound(type ?? wanted, context) }
        return DecodingError.keyNotFound(key, context)
    }

    private func corrupted(_ what: String) -> DecodingError {
        DecodingError.dataCorrupted(DecodingError.Context(
            codingPath: codingPath, debugDescription: "\(RecordCoding.label(codingPath)): \(what)"))
    }
}

/// The members of an OR-set, in ``Value`` order, each decoded as a single value.
struct RecordMembersDecoder: UnkeyedDecodingContainer {
    let codingPath: [any CodingKey]
    let recordID: RecordID
    let members: [Value]
    private(set) var currentIndex = 0

    init(codingPath: [any CodingKey], recordID: RecordID, members: [Value]) {
        self.codingPath = codingPath
        self.recordID = recordID
        self.members = members
    }

    var count: Int? { members.count }
    var isAtEnd: Bool { currentIndex >= members.count }

    private func element(_ wanted: Any.Type) throws -> RecordValueDecoder {
        let path = codingPath + [RecordCodingKey(intValue: currentIndex)]
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(wanted, DecodingError.Context(
                codingPath: path,
                debugDescription: "\(RecordCoding.label(codingPath)) has only \(members.count) members, the model wants more"))
        }
        return RecordValueDecoder(codingPath: path, recordID: recordID, value: members[currentIndex], members: nil,
                                  allowsJSON: false, wanted: wanted)
    }

    private mutating func next<T>(_ type: T.Type, _ read: (RecordValueDecoder) throws -> T) throws -> T {
        let result = try read(try element(type))
        currentIndex += 1
        return result
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, members[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try next(type) { try $0.decode(type) } }
    mutating func decode(_ type: String.Type) throws -> String { try next(type) { try $0.decode(type) } }
    mutating func decode(_ type: Double.Type) throws -> Double { try next(type) { try $0.decode(type) } }
    mutating func decode(_ type: Float.Type) throws -> Float { try next(type) { try $0.decode(type) } }
    mutating func decode(_ type: Int.Type) throws -> Int { try next(type) { try $0.decode(type) } }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next(type) { try $0.decode(type) } }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next(type) { try $0.decode(type) } }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next(type) { try $0.decode(type) } }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next(type) { try $0.decode(type) } }
    mutating func decode(_ type: Int128.Type) throws -> Int128 { try next(type) { try $0.decode(type) } }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next(type) { try $0.decode(type) } }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next(type) { try $0.decode(type) } }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next(type) { try $0.decode(type) } }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next(type) { try $0.decode(type) } }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next(type) { try $0.decode(type) } }
    mutating func decode(_ type: UInt128.Type) throws -> UInt128 { try next(type) { try $0.decode(type) } }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next(type) { try $0.decode(type) } }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next(KeyedDecodingContainer<NestedKey>.self) { try $0.container(keyedBy: type) }
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try next((any UnkeyedDecodingContainer).self) { try $0.unkeyedContainer() }
    }

    mutating func superDecoder() throws -> any Decoder {
        try next((any Decoder).self) { $0 }
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
        DecodingError.typeMismatch(type, DecodingError.Context(
            codingPath: codingPath,
            debugDescription: "'id' is the record's id, a UUID, but the model wants \(RecordCoding.name(model)); declare id as UUID or RecordID, or store your own identifier under another key"))
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

// MARK: - JSON fields

enum RecordDecoding {
    /// `error` from decoding a JSON field, with the field prepended to its path and message.
    static func inJSON(_ error: DecodingError, field: [any CodingKey], type: Any.Type) -> DecodingError {
        let prefix = "\(RecordCoding.label(field)) holds JSON that does not decode as \(RecordCoding.name(type))"
        func context(_ c: DecodingError.Context) -> DecodingError.Context {
            DecodingError.Context(codingPath: field + c.codingPath, debugDescription: "\(prefix): \(c.debugDescription)",
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
