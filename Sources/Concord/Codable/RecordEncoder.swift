import ConcordCore
import Foundation

/// Encodes an `Encodable` app model into a record's fields.
///
/// The model is a struct or class with keyed properties (synthesized `CodingKeys` are
/// fine); each property becomes one field of the record:
///
/// | Property type | Stored as |
/// |---|---|
/// | `id: UUID` or `id: RecordID` | nothing: the record's id *is* the identity |
/// | `Bool` | LWW `.bool` |
/// | `Int`, `Int8`…`Int128`, `UInt`…`UInt128` | LWW `.int` (throws above `Int64.max`) |
/// | `Double`, `Float` | LWW `.double` |
/// | `String` | LWW `.string` |
/// | `Data` | LWW `.bytes` |
/// | `UUID`, `RecordID` | LWW `.string(uuidString)` |
/// | `URL` | LWW `.string(absoluteString)` |
/// | `Date` | LWW `.double(timeIntervalSince1970)` |
/// | `enum` with a scalar raw value, single-value wrappers | as the raw / wrapped value |
/// | `nil` optional | LWW `.null` (an optional array or set: an empty set) |
/// | array or set of the above | OR-set: members deduplicated, sorted by ``Value``'s order |
/// | anything else: nested struct, dictionary, array of structs | LWW `.string` of its JSON (`JSONEncoder`, `.sortedKeys`) |
///
/// ```swift
/// struct Todo: Codable {
///     struct Note: Codable { var text: String; var pinned: Bool }
///     var id: UUID              // the record id, not a field
///     var title: String         // "title": .string("Buy milk")
///     var done: Bool            // "done": .bool(false)
///     var priority: Int         // "priority": .int(2)
///     var tags: Set<String>     // OR-set "tags": ["errand", "home"]
///     var due: Date?            // "due": .double(1767225600) or .null
///     var attachment: Data?     // "attachment": .bytes([...]) or .null
///     var note: Note            // "note": .string(#"{"pinned":true,"text":"2%"}"#)
/// }
///
/// let encoded = try RecordEncoder().encode(todo)
/// // encoded.fields["title"] == "Buy milk"; encoded.sets["tags"] == ["errand", "home"]
/// ```
///
/// Rules worth knowing:
/// - Whether an array is an OR-set depends on its element *type*: arrays and sets of
///   scalar types (including enums with a scalar raw value) are OR-sets, so order and
///   duplicates are not kept; arrays of anything else are one JSON string, replaced as a
///   whole by the last writer.
/// - An empty array or set gives an empty member list in ``EncodedRecord/sets``: to
///   apply it, remove every current member.
/// - A nested value is a single LWW field: concurrent edits to different properties of a
///   nested struct do not merge. Flatten properties that are edited concurrently.
/// - A class's superclass properties (`superEncoder()`) are flattened into the same record.
/// - The top level must be keyed: encoding an `Int`, an array, an optional or a
///   dictionary throws `EncodingError.invalidValue`.
///
/// Errors are `EncodingError`s whose `codingPath` names the field and whose
/// `debugDescription` says what to change, e.g. `field 'count': UInt64
/// 18446744073709551615 does not fit a Concord int (Int64); ...`.
public struct RecordEncoder: Sendable {
    public init() {}

    /// Encodes `value` into LWW field values and OR-set members.
    /// - Returns: LWW field values and OR-set field members.
    /// - Throws: `EncodingError.invalidValue` when the top level is not keyed, an integer
    ///   does not fit `Int64`, or a nested value cannot be encoded as JSON.
    public func encode<T: Encodable>(_ value: T) throws -> EncodedRecord {
        if T.self is any RecordCodingDictionary.Type {
            throw Self.notKeyed(value, "a dictionary")
        }
        let storage = RecordEncodingStorage(value: value)
        try value.encode(to: RecordTopEncoder(storage: storage))
        if let error = storage.error { throw error }
        return storage.result()
    }

    static func notKeyed(_ value: Any, _ what: String) -> EncodingError {
        EncodingError.invalidValue(value, EncodingError.Context(
            codingPath: [],
            debugDescription: "\(RecordCoding.name(type(of: value))) encodes as \(what), but a Concord record is keyed: encode a struct or class whose properties become the record's fields (for example wrap the value: struct Item: Codable { var value: ... })"))
    }
}

/// What ``RecordEncoder`` makes of a model: the record's fields, ready to be written.
public struct EncodedRecord: Hashable, Sendable {
    /// LWW registers: field name to value. A `nil` optional is `.null`.
    public var fields: [String: Value]
    /// OR-set fields: field name to members, deduplicated and sorted by ``Value``'s order.
    /// An empty list means "the set should be empty".
    public var sets: [String: [Value]]

    public init(fields: [String: Value] = [:], sets: [String: [Value]] = [:]) {
        self.fields = fields
        self.sets = sets
    }
}

// MARK: - Top level

/// What the top-level containers have written so far.
final class RecordEncodingStorage {
    let value: Any
    var fields: [String: Value] = [:]
    var sets: [String: [Value]] = [:]
    /// Members written through `nestedUnkeyedContainer(forKey:)`, read when encoding ends.
    var pendingSets: [String: RecordProbeState] = [:]
    /// The first misuse seen by a container method that cannot throw.
    var error: EncodingError?

    init(value: Any) { self.value = value }

    func setField(_ name: String, _ value: Value) {
        fields[name] = value
        sets[name] = nil
        pendingSets[name] = nil
    }

    func setMembers(_ name: String, _ members: [Value]) {
        sets[name] = RecordCoding.sortedMembers(members)
        fields[name] = nil
        pendingSets[name] = nil
    }

    func fail(_ error: EncodingError) {
        if self.error == nil { self.error = error }
    }

    func result() -> EncodedRecord {
        var sets = self.sets
        for (name, state) in pendingSets { sets[name] = RecordCoding.sortedMembers(state.members ?? []) }
        return EncodedRecord(fields: fields, sets: sets)
    }
}

/// The encoder handed to the model: only a keyed container is accepted.
struct RecordTopEncoder: Encoder {
    let storage: RecordEncodingStorage
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(RecordFieldsEncoder<Key>(storage: storage))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        reject("an array (an unkeyed container)")
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        reject("a single value")
    }

    private func reject(_ what: String) -> RecordFailingEncodingContainer {
        let error = RecordEncoder.notKeyed(storage.value, what)
        storage.fail(error)
        return RecordFailingEncodingContainer(codingPath: [], error: error)
    }
}

/// The record's keyed container: one field per key.
struct RecordFieldsEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let storage: RecordEncodingStorage
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil(forKey key: Key) throws { storage.setField(key.stringValue, .null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { storage.setField(key.stringValue, .bool(value)) }
    mutating func encode(_ value: String, forKey key: Key) throws { storage.setField(key.stringValue, .string(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws { storage.setField(key.stringValue, .double(value)) }
    mutating func encode(_ value: Float, forKey key: Key) throws { storage.setField(key.stringValue, .double(Double(value))) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int128, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt128, forKey key: Key) throws { try integer(value, key) }

    private func integer(_ value: some BinaryInteger, _ key: Key) throws {
        storage.setField(key.stringValue, try RecordEncoding.integer(value, path: [key]))
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        if key.stringValue == "id", value is UUID || value is RecordID { return }
        switch try RecordEncoding.shape(of: value, path: [key]) {
        case .scalar(let scalar): storage.setField(key.stringValue, scalar)
        case .set(let members): storage.setMembers(key.stringValue, members)
        case .nested: storage.setField(key.stringValue, .string(try RecordEncoding.json(value, path: [key])))
        }
    }

    // `nil` is written as `.null` (an empty set for optional arrays and sets) rather than
    // skipped, so that applying the result clears a value another version had set.
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Int128?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: UInt128?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws { try present(value, key) }

    private mutating func present<T: Encodable>(_ value: T?, _ key: Key) throws {
        if let value { return try encode(value, forKey: key) }
        if key.stringValue == "id", T.self == UUID.self || T.self == RecordID.self { return }
        if RecordCoding.isSetType(T.self) || RecordCoding.isOptionalSetType(T.self) {
            storage.setMembers(key.stringValue, [])
        } else {
            storage.setField(key.stringValue, .null)
        }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let error = EncodingError.invalidValue(storage.value, EncodingError.Context(
            codingPath: [key],
            debugDescription: "\(RecordCoding.label([key])): a nested keyed container cannot be a record field; encode a Codable value with encode(_:forKey:) instead (it is stored as JSON)"))
        storage.fail(error)
        return KeyedEncodingContainer(RecordFailingKeyedEncodingContainer<NestedKey>(codingPath: [key], error: error))
    }

    /// An explicit unkeyed container for a key is an OR-set of scalars.
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let state = RecordProbeState(allowsSet: true, explicit: true)
        state.members = []
        storage.setMembers(key.stringValue, [])
        storage.pendingSets[key.stringValue] = state
        return RecordProbeUnkeyedEncoder(state: state, codingPath: [key])
    }

    /// Superclass properties are flattened into the same record.
    mutating func superEncoder() -> any Encoder { RecordTopEncoder(storage: storage) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { RecordTopEncoder(storage: storage) }
}

// MARK: - Classifying a value

/// How one property is stored.
enum RecordValueShape {
    case scalar(Value)
    case set([Value])
    /// Anything else: stored as JSON.
    case nested
}

enum RecordEncoding {
    static func integer<I: BinaryInteger>(_ value: I, path: [any CodingKey]) throws -> Value {
        guard let int = Int64(exactly: value) else {
            throw EncodingError.invalidValue(value, EncodingError.Context(
                codingPath: path,
                debugDescription: "\(RecordCoding.label(path)): \(I.self) \(value) does not fit a Concord int (Int64); use Int or Int64, or store the number as a String"))
        }
        return .int(int)
    }

    /// The shape of `value`, from its type (arrays and sets of scalar types are OR-sets,
    /// dictionaries are JSON) and otherwise by watching how it encodes itself.
    static func shape<T: Encodable>(of value: T, path: [any CodingKey]) throws -> RecordValueShape {
        switch value {
        case let string as String: return .scalar(.string(string))
        case let bool as Bool: return .scalar(.bool(bool))
        case let double as Double: return .scalar(.double(double))
        case let float as Float: return .scalar(.double(Double(float)))
        case let number as any BinaryInteger: return .scalar(try integer(number, path: path))
        case let uuid as UUID: return .scalar(.string(uuid.uuidString))
        case let date as Date: return .scalar(.double(date.timeIntervalSince1970))
        case let data as Data: return .scalar(.bytes([UInt8](data)))
        case let url as URL: return .scalar(.string(url.absoluteString))
        default: break
        }
        if T.self is any RecordCodingDictionary.Type { return .nested }
        let isSet = RecordCoding.isSetType(T.self)
        if !isSet, T.self is any RecordCodingCollection.Type { return .nested }
        let state = RecordProbeState(allowsSet: isSet)
        do {
            try value.encode(to: RecordProbeEncoder(state: state, codingPath: path))
        } catch is RecordCodingNotScalar {
            if isSet {
                throw EncodingError.invalidValue(value, EncodingError.Context(
                    codingPath: path,
                    debugDescription: "\(RecordCoding.label(path)): \(RecordCoding.name(T.self)) is stored as an OR-set, so each element must encode as a single value; give the element type a single-value encode(to:) or wrap the array in a struct to store it as JSON"))
            }
            return .nested
        }
        if let members = state.members { return .set(members) }
        if let scalar = state.scalar {
            if case .null = scalar, RecordCoding.isOptionalSetType(T.self) { return .set([]) }
            return .scalar(scalar)
        }
        return .nested
    }

    /// `value` as sorted-key JSON text.
    static func json<T: Encodable>(_ value: T, path: [any CodingKey]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch let error as EncodingError {
            guard case .invalidValue(let bad, let context) = error else { throw error }
            throw EncodingError.invalidValue(bad, EncodingError.Context(
                codingPath: path + context.codingPath,
                debugDescription: "\(RecordCoding.label(path)) is stored as JSON, which failed: \(context.debugDescription)",
                underlyingError: error))
        }
    }
}

/// What a probed value turned out to be.
final class RecordProbeState {
    /// Whether an unkeyed container is an OR-set here (the value is an array or set of scalars).
    let allowsSet: Bool
    /// Whether this is the model's own `nestedUnkeyedContainer(forKey:)`, whose misuse
    /// is reported to the caller rather than answered with JSON.
    let explicit: Bool
    var scalar: Value?
    var members: [Value]?

    init(allowsSet: Bool, explicit: Bool = false) {
        self.allowsSet = allowsSet
        self.explicit = explicit
    }
}

/// Watches how a value encodes itself: one single value, an unkeyed list of single
/// values (for arrays and sets of scalars), or anything else (``RecordCodingNotScalar``).
struct RecordProbeEncoder: Encoder {
    let state: RecordProbeState
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(RecordFailingKeyedEncodingContainer<Key>(codingPath: codingPath, error: RecordCodingNotScalar()))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        guard state.allowsSet else { return RecordFailingEncodingContainer(codingPath: codingPath, error: RecordCodingNotScalar()) }
        if state.members == nil { state.members = [] }
        return RecordProbeUnkeyedEncoder(state: state, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        RecordProbeSingleEncoder(state: state, codingPath: codingPath)
    }
}

struct RecordProbeSingleEncoder: SingleValueEncodingContainer {
    let state: RecordProbeState
    let codingPath: [any CodingKey]

    private func put(_ value: Value) { state.scalar = value }
    private func integer(_ value: some BinaryInteger) throws { put(try RecordEncoding.integer(value, path: codingPath)) }

    mutating func encodeNil() throws { put(.null) }
    mutating func encode(_ value: Bool) throws { put(.bool(value)) }
    mutating func encode(_ value: String) throws { put(.string(value)) }
    mutating func encode(_ value: Double) throws { put(.double(value)) }
    mutating func encode(_ value: Float) throws { put(.double(Double(value))) }
    mutating func encode(_ value: Int) throws { try integer(value) }
    mutating func encode(_ value: Int8) throws { try integer(value) }
    mutating func encode(_ value: Int16) throws { try integer(value) }
    mutating func encode(_ value: Int32) throws { try integer(value) }
    mutating func encode(_ value: Int64) throws { try integer(value) }
    mutating func encode(_ value: Int128) throws { try integer(value) }
    mutating func encode(_ value: UInt) throws { try integer(value) }
    mutating func encode(_ value: UInt8) throws { try integer(value) }
    mutating func encode(_ value: UInt16) throws { try integer(value) }
    mutating func encode(_ value: UInt32) throws { try integer(value) }
    mutating func encode(_ value: UInt64) throws { try integer(value) }
    mutating func encode(_ value: UInt128) throws { try integer(value) }

    /// A wrapped value: a wrapper around a scalar is that scalar, around a set that set.
    mutating func encode<T: Encodable>(_ value: T) throws {
        switch try RecordEncoding.shape(of: value, path: codingPath) {
        case .scalar(let scalar): put(scalar)
        case .set(let members): state.members = members
        case .nested: throw RecordCodingNotScalar()
        }
    }
}

/// The members of an OR-set, each a single value.
struct RecordProbeUnkeyedEncoder: UnkeyedEncodingContainer {
    let state: RecordProbeState
    let codingPath: [any CodingKey]
    var count: Int { state.members?.count ?? 0 }

    private var elementPath: [any CodingKey] { codingPath + [RecordCodingKey(intValue: count)] }
    private func put(_ value: Value) { state.members?.append(value) }

    /// The error for a member that is not a single value.
    private func notScalar(_ what: Any) -> any Error {
        guard state.explicit else { return RecordCodingNotScalar() }
        return EncodingError.invalidValue(what, EncodingError.Context(
            codingPath: elementPath,
            debugDescription: "\(RecordCoding.label(elementPath)): an unkeyed container for a record key is an OR-set and holds single values only; encode the whole array with encode(_:forKey:) to store it as JSON"))
    }
    private func integer(_ value: some BinaryInteger) throws { put(try RecordEncoding.integer(value, path: elementPath)) }

    mutating func encodeNil() throws { put(.null) }
    mutating func encode(_ value: Bool) throws { put(.bool(value)) }
    mutating func encode(_ value: String) throws { put(.string(value)) }
    mutating func encode(_ value: Double) throws { put(.double(value)) }
    mutating func encode(_ value: Float) throws { put(.double(Double(value))) }
    mutating func encode(_ value: Int) throws { try integer(value) }
    mutating func encode(_ value: Int8) throws { try integer(value) }
    mutating func encode(_ value: Int16) throws { try integer(value) }
    mutating func encode(_ value: Int32) throws { try integer(value) }
    mutating func encode(_ value: Int64) throws { try integer(value) }
    mutating func encode(_ value: Int128) throws { try integer(value) }
    mutating func encode(_ value: UInt) throws { try integer(value) }
    mutating func encode(_ value: UInt8) throws { try integer(value) }
    mutating func encode(_ value: UInt16) throws { try integer(value) }
    mutating func encode(_ value: UInt32) throws { try integer(value) }
    mutating func encode(_ value: UInt64) throws { try integer(value) }
    mutating func encode(_ value: UInt128) throws { try integer(value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        guard case .scalar(let scalar) = try RecordEncoding.shape(of: value, path: elementPath) else {
            throw notScalar(value)
        }
        put(scalar)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(RecordFailingKeyedEncodingContainer<NestedKey>(codingPath: elementPath, error: notScalar("a nested keyed container")))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        RecordFailingEncodingContainer(codingPath: elementPath, error: notScalar("a nested unkeyed container"))
    }

    mutating func superEncoder() -> any Encoder {
        RecordFailingEncoder(codingPath: elementPath, error: notScalar("a super encoder"))
    }
}

// MARK: - Containers that refuse

/// An encoder whose every container throws `error`.
struct RecordFailingEncoder: Encoder {
    let codingPath: [any CodingKey]
    let error: any Error
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(RecordFailingKeyedEncodingContainer<Key>(codingPath: codingPath, error: error))
    }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { RecordFailingEncodingContainer(codingPath: codingPath, error: error) }
    func singleValueContainer() -> any SingleValueEncodingContainer { RecordFailingEncodingContainer(codingPath: codingPath, error: error) }
}

/// An unkeyed and single-value container that throws `error` on every write.
struct RecordFailingEncodingContainer: UnkeyedEncodingContainer, SingleValueEncodingContainer {
    let codingPath: [any CodingKey]
    let error: any Error
    var count: Int { 0 }

    mutating func encodeNil() throws { throw error }
    mutating func encode(_ value: Bool) throws { throw error }
    mutating func encode(_ value: String) throws { throw error }
    mutating func encode(_ value: Double) throws { throw error }
    mutating func encode(_ value: Float) throws { throw error }
    mutating func encode(_ value: Int) throws { throw error }
    mutating func encode(_ value: Int8) throws { throw error }
    mutating func encode(_ value: Int16) throws { throw error }
    mutating func encode(_ value: Int32) throws { throw error }
    mutating func encode(_ value: Int64) throws { throw error }
    mutating func encode(_ value: Int128) throws { throw error }
    mutating func encode(_ value: UInt) throws { throw error }
    mutating func encode(_ value: UInt8) throws { throw error }
    mutating func encode(_ value: UInt16) throws { throw error }
    mutating func encode(_ value: UInt32) throws { throw error }
    mutating func encode(_ value: UInt64) throws { throw error }
    mutating func encode(_ value: UInt128) throws { throw error }
    mutating func encode<T: Encodable>(_ value: T) throws { throw error }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(RecordFailingKeyedEncodingContainer<NestedKey>(codingPath: codingPath, error: error))
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { self }
    mutating func superEncoder() -> any Encoder { RecordFailingEncoder(codingPath: codingPath, error: error) }
}

/// A keyed container that throws `error` on every write.
struct RecordFailingKeyedEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let codingPath: [any CodingKey]
    let error: any Error

    mutating func encodeNil(forKey key: Key) throws { throw error }
    mutating func encode(_ value: Bool, forKey key: Key) throws { throw error }
    mutating func encode(_ value: String, forKey key: Key) throws { throw error }
    mutating func encode(_ value: Double, forKey key: Key) throws { throw error }
    mutating func encode(_ value: Float, forKey key: Key) throws { throw error }
    mutating func encode(_ value: Int, forKey key: Key) throws { throw error }
    mutating func encode(_ value: Int8, forKey key: Key) throws { throw error }
    mutating func encode(_ value: Int16, forKey key: Key) throws { throw error }
    mutating func encode(_ value: Int32, forKey key: Key) throws { throw error }
    mutating func encode(_ value: Int64, forKey key: Key) throws { throw error }
    mutating func encode(_ value: Int128, forKey key: Key) throws { throw error }
    mutating func encode(_ value: UInt, forKey key: Key) throws { throw error }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { throw error }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { throw error }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { throw error }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { throw error }
    mutating func encode(_ value: UInt128, forKey key: Key) throws { throw error }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { throw error }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(RecordFailingKeyedEncodingContainer<NestedKey>(codingPath: codingPath, error: error))
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        RecordFailingEncodingContainer(codingPath: codingPath, error: error)
    }
    mutating func superEncoder() -> any Encoder { RecordFailingEncoder(codingPath: codingPath, error: error) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { RecordFailingEncoder(codingPath: codingPath, error: error) }
}
