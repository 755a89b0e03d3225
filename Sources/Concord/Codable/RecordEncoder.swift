import ConcordCore
import Foundation

/// Encodes an `Encodable` app model into a record's fields.
///
/// The model is a struct or class with keyed properties (synthesized `CodingKeys` are
/// fine). Each property becomes fields of the record, by its *type*:
///
/// | Property type | Stored as | Merges |
/// |---|---|---|
/// | `id: UUID` or `id: RecordID` | nothing: the record's id *is* the identity | — |
/// | `Bool` | LWW `.bool` | last writer wins |
/// | `Int`, `Int8`…`Int128`, `UInt`…`UInt128` | LWW `.int` (throws above `Int64.max`) | last writer wins |
/// | `Double`, `Float` | LWW `.double` | last writer wins |
/// | `String` | LWW `.string` | last writer wins |
/// | `Data` | LWW `.bytes` | last writer wins |
/// | `UUID`, `RecordID` | LWW `.string(uuidString)` | last writer wins |
/// | `URL` | LWW `.string(absoluteString)` | last writer wins |
/// | `Date` | LWW `.double(timeIntervalSince1970)` | last writer wins |
/// | `enum` with a scalar raw value, single-value wrappers | as the raw / wrapped value | last writer wins |
/// | `nil` optional | LWW `.null` (an optional set or array: empty) | last writer wins |
/// | `Set` of the above | OR-set | add wins over a concurrent remove |
/// | `Array` of the above | ordered list (``EncodedRecord/lists``) | order and duplicates kept; concurrent inserts and removes all apply |
/// | nested struct or class | one field per property: `address.city` | per field |
/// | `[String: V]`, `[Int: V]` dictionary | one field per key: `scores.alice` | per key; a removed key is cleared |
/// | `enum` with associated values | one field per case and payload: `state.done.at` | per field; the other cases are cleared |
/// | array of non-scalars, dictionary with other keys | LWW `.string` of its JSON (`JSONEncoder`, `.sortedKeys`) | whole value, last writer wins |
///
/// ```swift
/// struct Todo: Codable {
///     struct Place: Codable { var city: String; var room: Int? }
///     var id: UUID              // the record id, not a field
///     var title: String         // "title": .string("Buy milk")
///     var done: Bool            // "done": .bool(false)
///     var tags: Set<String>     // OR-set "tags": ["errand", "home"]
///     var steps: [String]       // list "steps": ["Walk", "Pay"] (order and duplicates kept)
///     var place: Place          // "place.city": .string("Oslo"), "place.room": .null
///     var due: Date?            // "due": .double(1767225600) or .null
/// }
///
/// let encoded = try RecordEncoder().encode(todo)
/// // encoded.fields["place.city"] == "Oslo"; encoded.sets["tags"] == ["errand", "home"]
/// ```
///
/// Rules worth knowing:
/// - Whether an array is a list depends on its element *type*: arrays of scalar types
///   (including enums with a scalar raw value) are lists, sets of them are OR-sets;
///   arrays of anything else are one JSON string, replaced as a whole by the last writer.
/// - Names of nested fields join the property names with `.`; a `.` or `%` inside a name
///   is escaped (`%2E`, `%25`), so `["a.b": 1]` in `scores` is the field `scores.a%2Eb`.
/// - A class's superclass properties (`superEncoder()`) are flattened into the same record.
/// - The top level must be keyed: encoding an `Int`, an array, an optional or a
///   dictionary throws `EncodingError.invalidValue`.
///
/// Errors are `EncodingError`s whose `codingPath` names the field and whose
/// `debugDescription` says what to change, e.g. `field 'count': UInt64
/// 18446744073709551615 does not fit a Concord int (Int64); ...`.
public struct RecordEncoder: Sendable {
    /// Creates an encoder.
    public init() {}

    /// Encodes `value` into LWW field values, OR-set members and list values.
    /// - Parameters:
    ///   - value: The model: a struct or class encoding a keyed container.
    /// - Returns: The record's fields, sets and lists, by stored name.
    /// - Throws: `EncodingError.invalidValue` when the top level is not keyed, an integer
    ///   does not fit `Int64`, or a value stored as JSON cannot be encoded.
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
        EncodingError.invalidValue(
            value,
            EncodingError.Context(
                codingPath: [],
                debugDescription:
                    "\(RecordCoding.name(type(of: value))) encodes as \(what), but a Concord record is keyed: encode a struct or class whose properties become the record's fields (for example wrap the value: struct Item: Codable { var value: ... })"
            ))
    }
}

/// What ``RecordEncoder`` makes of a model: the record's fields, ready to be written.
///
/// Names are stored field names: a top-level property's name, or a nested one's path
/// (`address.city`).
public struct EncodedRecord: Hashable, Sendable {
    /// LWW registers: field name to value. A `nil` optional is `.null`.
    public var fields: [String: Value]
    /// OR-set fields: field name to members, deduplicated and sorted by `Value`'s order.
    /// An empty list means "the set should be empty".
    public var sets: [String: [Value]]
    /// Ordered list fields: field name to values, in order, duplicates kept. An empty
    /// array means "the list should be empty".
    public var lists: [String: [Value]]
    /// Containers the model replaces as a whole (dictionaries, enums with associated
    /// values, `nil` optionals of container types): whatever the record stores at or
    /// under these names that the encoding does not contain is cleared when saving.
    /// Fields under a nested struct are not in here: a field an older or newer version of
    /// the struct has is kept.
    public var replaced: Set<String>
    /// Names of the flattened containers (nested structs, dictionaries, enums): a
    /// register of that exact name, written as JSON by an earlier version of Concord, is
    /// cleared when saving.
    public var containers: Set<String>

    /// Creates an encoded record.
    /// - Parameters:
    ///   - fields: LWW registers by name.
    ///   - sets: OR-set members by name.
    ///   - lists: List values by name, in order.
    ///   - replaced: Containers replaced as a whole.
    ///   - containers: Flattened containers.
    public init(
        fields: [String: Value] = [:], sets: [String: [Value]] = [:], lists: [String: [Value]] = [:],
        replaced: Set<String> = [], containers: Set<String> = []
    ) {
        self.fields = fields
        self.sets = sets
        self.lists = lists
        self.replaced = replaced
        self.containers = containers
    }

    /// Whether `name` is a field, set or list of this encoding, or lies inside one of its
    /// replaced containers.
    func covers(_ name: String) -> Bool {
        if fields[name] != nil || sets[name] != nil || lists[name] != nil { return true }
        return replaced.contains { name == $0 || name.hasPrefix($0 + ".") }
    }
}

// MARK: - Storage

/// What the containers have written so far.
final class RecordEncodingStorage {
    let value: Any
    var fields: [String: Value] = [:]
    var sets: [String: [Value]] = [:]
    var lists: [String: [Value]] = [:]
    var replaced: Set<String> = []
    var containers: Set<String> = []
    /// Unkeyed containers handed out, read when encoding ends.
    var collectors: [String: RecordCollector] = [:]
    /// The first misuse seen by a container method that cannot throw.
    var error: EncodingError?

    init(value: Any) { self.value = value }

    func setField(_ path: FieldPath, _ value: Value) {
        clear(path.name)
        fields[path.name] = value
    }

    func setMembers(_ path: FieldPath, _ members: [Value], shape: RecordCollectionShape) {
        clear(path.name)
        switch shape {
        case .set: sets[path.name] = RecordCoding.sortedMembers(members)
        case .list: lists[path.name] = members
        }
    }

    /// Starts a flattened container at `path`: its marker field `path = true` says the
    /// container is there even when it holds nothing (an empty struct or dictionary, an
    /// enum case without payload), so that it is not read back as `nil`.
    func openContainer(_ path: FieldPath) {
        setField(path, .bool(true))
        containers.insert(path.name)
    }

    /// Forgets what was written at `name` (a property encoded twice keeps the last).
    func clear(_ name: String) {
        fields[name] = nil
        sets[name] = nil
        lists[name] = nil
        collectors[name] = nil
    }

    /// Forgets everything written at or under `name` (before storing it as JSON).
    func clearTree(_ name: String) {
        clear(name)
        let prefix = name + "."
        for key in fields.keys where key.hasPrefix(prefix) { fields[key] = nil }
        for key in sets.keys where key.hasPrefix(prefix) { sets[key] = nil }
        for key in lists.keys where key.hasPrefix(prefix) { lists[key] = nil }
        for key in collectors.keys where key.hasPrefix(prefix) { collectors[key] = nil }
        replaced = replaced.filter { $0 != name && !$0.hasPrefix(prefix) }
        containers = containers.filter { $0 != name && !$0.hasPrefix(prefix) }
    }

    func fail(_ error: EncodingError) {
        if self.error == nil { self.error = error }
    }

    func result() -> EncodedRecord {
        var record = EncodedRecord(fields: fields, sets: sets, lists: lists, replaced: replaced, containers: containers)
        for (name, collector) in collectors {
            switch collector.shape {
            case .set: record.sets[name] = RecordCoding.sortedMembers(collector.values)
            case .list: record.lists[name] = collector.values
            }
        }
        return record
    }
}

/// The values of one unkeyed container (a set or a list), filled as the model encodes.
final class RecordCollector {
    let shape: RecordCollectionShape
    var values: [Value] = []
    init(shape: RecordCollectionShape) { self.shape = shape }
}

// MARK: - Top level

/// The encoder handed to the model: only a keyed container is accepted.
struct RecordTopEncoder: Encoder {
    let storage: RecordEncodingStorage
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(RecordKeyedEncoder<Key>(storage: storage, parent: nil))
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

/// A keyed container: the record's own (`parent == nil`) or a flattened nested one.
struct RecordKeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let storage: RecordEncodingStorage
    /// The container's place; `nil` for the record.
    let parent: FieldPath?
    var codingPath: [any CodingKey] { parent?.codingPath ?? [] }

    private func path(_ key: Key) -> FieldPath { FieldPath.child(of: parent, key) }

    mutating func encodeNil(forKey key: Key) throws { storage.setField(path(key), .null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { storage.setField(path(key), .bool(value)) }
    mutating func encode(_ value: String, forKey key: Key) throws { storage.setField(path(key), .string(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws { storage.setField(path(key), .double(value)) }
    mutating func encode(_ value: Float, forKey key: Key) throws { storage.setField(path(key), .double(Double(value))) }
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
        let path = path(key)
        storage.setField(path, try RecordEncoding.integer(value, path: path.codingPath))
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        if parent == nil, key.stringValue == "id", value is UUID || value is RecordID { return }
        try RecordEncoding.encode(value, at: path(key), into: storage)
    }

    // `nil` is written rather than skipped, so that applying the result clears a value
    // this or another version had set: `.null` for a scalar, an empty set or list for a
    // collection, and for a container the whole container is cleared.
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
        RecordEncoding.encodeNil(T.self, at: path(key), into: storage)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<
        NestedKey
    > {
        let path = path(key)
        storage.openContainer(path)
        return KeyedEncodingContainer(RecordKeyedEncoder<NestedKey>(storage: storage, parent: path))
    }

    /// An explicit unkeyed container for a key is an ordered list of single values.
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let path = path(key)
        storage.clear(path.name)
        let collector = RecordCollector(shape: .list)
        storage.collectors[path.name] = collector
        return RecordCollectingEncoder(collector: collector, codingPath: path.codingPath, explicit: true)
    }

    /// Superclass properties are flattened into the same container.
    mutating func superEncoder() -> any Encoder {
        guard let parent else { return RecordTopEncoder(storage: storage) }
        return RecordFieldEncoder(storage: storage, path: parent, closed: false)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        RecordFieldEncoder(storage: storage, path: path(key), closed: false)
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

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<
        NestedKey
    > {
        KeyedEncodingContainer(RecordFailingKeyedEncodingContainer<NestedKey>(codingPath: codingPath, error: error))
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        RecordFailingEncodingContainer(codingPath: codingPath, error: error)
    }
    mutating func superEncoder() -> any Encoder { RecordFailingEncoder(codingPath: codingPath, error: error) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { RecordFailingEncoder(codingPath: codingPath, error: error) }
}

/// A container that stores each scalar as one `Value`: the scalar overloads that
/// `SingleValueEncodingContainer` and `UnkeyedEncodingContainer` both require, written once
/// for the field, collection and probe containers.
protocol RecordScalarPutting {
    /// The coding path an out-of-range integer is reported at.
    var scalarPath: [any CodingKey] { get }
    /// Stores one scalar.
    func put(_ value: Value)
}

/// (`Int128` and `UInt128` stay on each container: the standard library gives them default
/// implementations, which these would make ambiguous.)
extension RecordScalarPutting {
    func integer(_ value: some BinaryInteger) throws { put(try RecordEncoding.integer(value, path: scalarPath)) }

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
    mutating func encode(_ value: UInt) throws { try integer(value) }
    mutating func encode(_ value: UInt8) throws { try integer(value) }
    mutating func encode(_ value: UInt16) throws { try integer(value) }
    mutating func encode(_ value: UInt32) throws { try integer(value) }
    mutating func encode(_ value: UInt64) throws { try integer(value) }
}
