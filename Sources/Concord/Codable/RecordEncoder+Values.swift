import ConcordCore
import Foundation

// One value of a record being encoded: a field, or an element of a set or list
// (split from RecordEncoder.swift; the top level and the record are there).

// MARK: - One value

enum RecordEncoding {
    static func integer<I: BinaryInteger>(_ value: I, path: [any CodingKey]) throws -> Value {
        guard let int = Int64(exactly: value) else {
            throw EncodingError.invalidValue(
                value,
                EncodingError.Context(
                    codingPath: path,
                    debugDescription:
                        "\(RecordCoding.label(path)): \(I.self) \(value) does not fit a Concord int (Int64); use Int or Int64, or store the number as a String"
                ))
        }
        return .int(int)
    }

    /// The scalar value of the types stored without asking how they encode.
    static func knownScalar<T: Encodable>(_ value: T, path: [any CodingKey]) throws -> Value? {
        switch value {
        case let string as String: return .string(string)
        case let bool as Bool: return .bool(bool)
        case let double as Double: return .double(double)
        case let float as Float: return .double(Double(float))
        case let number as any BinaryInteger: return try integer(number, path: path)
        case let uuid as UUID: return .string(uuid.uuidString)
        case let id as RecordID: return .string(id.uuidString)
        case let date as Date: return .double(date.timeIntervalSince1970)
        case let data as Data: return .bytes([UInt8](data))
        case let url as URL: return .string(url.absoluteString)
        default: return nil
        }
    }

    /// Stores `value` at `path`, by its type: a scalar, a set or list, a flattened
    /// container, or JSON.
    static func encode<T: Encodable>(_ value: T, at path: FieldPath, into storage: RecordEncodingStorage) throws {
        if let optional = value as? any RecordCodingOptional, optional.recordIsNil {
            return encodeNil(T.self, at: path, into: storage)
        }
        if let scalar = try knownScalar(value, path: path.codingPath) {
            return storage.setField(path, scalar)
        }
        if RecordCoding.isJSONCollection(T.self) {
            storage.clearTree(path.name)
            return storage.setField(path, .string(try json(value, path: path.codingPath)))
        }
        if let shape = RecordCoding.collectionShape(T.self) {
            let collector = RecordCollector(shape: shape)
            try value.encode(to: RecordCollectionEncoder(collector: collector, codingPath: path.codingPath))
            return storage.setMembers(path, collector.values, shape: shape)
        }
        // Anything else chooses its container. Dictionaries and enums with associated
        // values are replaced as a whole (their keys are data, or name the case); a
        // struct keeps the fields it does not know.
        let closed = T.self is any RecordCodingDictionary.Type || Mirror(reflecting: value).displayStyle == .enum
        do {
            try value.encode(to: RecordFieldEncoder(storage: storage, path: path, closed: closed))
        } catch is RecordCodingNeedsJSON {
            storage.clearTree(path.name)
            storage.setField(path, .string(try json(value, path: path.codingPath)))
        }
    }

    /// Stores a `nil` of type `T` at `path`: `.null`, an empty set or list, or (for a
    /// container) the whole container cleared.
    static func encodeNil<T>(_ type: T.Type, at path: FieldPath, into storage: RecordEncodingStorage) {
        if let shape = RecordCoding.collectionShape(T.self) ?? RecordCoding.optionalCollectionShape(T.self) {
            return storage.setMembers(path, [], shape: shape)
        }
        storage.setField(path, .null)
        if !RecordCoding.isScalarType(T.self) && !RecordCoding.isJSONCollection(RecordCoding.unwrapped(T.self)) {
            storage.replaced.insert(path.name)
        }
    }

    /// `value` as a single scalar (for set and list members): a known scalar type, or a
    /// type encoding one single value (a raw-value enum, a wrapper).
    static func scalar<T: Encodable>(_ value: T, path: [any CodingKey]) throws -> Value? {
        if let known = try knownScalar(value, path: path) { return known }
        let probe = RecordScalarProbe(codingPath: path)
        do {
            try value.encode(to: probe)
        } catch is RecordCodingNeedsJSON {
            return nil
        }
        return probe.state.value
    }

    /// `value` as sorted-key JSON text.
    static func json<T: Encodable>(_ value: T, path: [any CodingKey]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch let error as EncodingError {
            guard case .invalidValue(let bad, let context) = error else { throw error }
            throw EncodingError.invalidValue(
                bad,
                EncodingError.Context(
                    codingPath: path + context.codingPath,
                    debugDescription: "\(RecordCoding.label(path)) is stored as JSON, which failed: \(context.debugDescription)",
                    underlyingError: error))
        }
    }
}

/// The encoder for one value at one path: a keyed container is flattened under the
/// path, a single value is stored at it, an unkeyed container of single values is a list.
struct RecordFieldEncoder: Encoder {
    let storage: RecordEncodingStorage
    let path: FieldPath
    /// Whether the container is replaced as a whole (see ``EncodedRecord/replaced``).
    let closed: Bool
    var codingPath: [any CodingKey] { path.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        storage.openContainer(path)
        if closed { storage.replaced.insert(path.name) }
        return KeyedEncodingContainer(RecordKeyedEncoder<Key>(storage: storage, parent: path))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        storage.clear(path.name)
        let collector = RecordCollector(shape: .list)
        storage.collectors[path.name] = collector
        return RecordCollectingEncoder(collector: collector, codingPath: path.codingPath, explicit: false)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        RecordSingleEncoder(storage: storage, path: path)
    }
}

/// A single value at a path: a scalar, or a wrapped value stored at the same path.
struct RecordSingleEncoder: SingleValueEncodingContainer, RecordScalarPutting {
    let storage: RecordEncodingStorage
    let path: FieldPath
    var codingPath: [any CodingKey] { path.codingPath }
    var scalarPath: [any CodingKey] { codingPath }

    func put(_ value: Value) { storage.setField(path, value) }
    mutating func encode(_ value: Int128) throws { try integer(value) }
    mutating func encode(_ value: UInt128) throws { try integer(value) }

    /// A wrapper is stored as what it wraps.
    mutating func encode<T: Encodable>(_ value: T) throws {
        try RecordEncoding.encode(value, at: path, into: storage)
    }
}

/// The encoder handed to an array or set of scalars: its elements are collected.
struct RecordCollectionEncoder: Encoder {
    let collector: RecordCollector
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(RecordFailingKeyedEncodingContainer<Key>(codingPath: codingPath, error: RecordCodingNeedsJSON()))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        RecordCollectingEncoder(collector: collector, codingPath: codingPath, explicit: false)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        RecordFailingEncodingContainer(codingPath: codingPath, error: RecordCodingNeedsJSON())
    }
}

/// The values of a set or list: each must be a single value. A non-scalar element makes
/// the whole value JSON (``RecordCodingNeedsJSON``), except in a container the model
/// asked for explicitly (`nestedUnkeyedContainer(forKey:)`), where it is an error.
struct RecordCollectingEncoder: UnkeyedEncodingContainer, RecordScalarPutting {
    let collector: RecordCollector
    let codingPath: [any CodingKey]
    let explicit: Bool
    var count: Int { collector.values.count }

    private var elementPath: [any CodingKey] { codingPath + [RecordCodingKey(intValue: count)] }
    var scalarPath: [any CodingKey] { elementPath }
    func put(_ value: Value) { collector.values.append(value) }
    mutating func encode(_ value: Int128) throws { try integer(value) }
    mutating func encode(_ value: UInt128) throws { try integer(value) }

    private func notScalar() -> any Error {
        guard explicit else { return RecordCodingNeedsJSON() }
        return EncodingError.invalidValue(
            collector.values,
            EncodingError.Context(
                codingPath: elementPath,
                debugDescription:
                    "\(RecordCoding.label(elementPath)): an unkeyed container for a record key is a list and holds single values only; encode the whole array with encode(_:forKey:) to store it as JSON"
            ))
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        guard let scalar = try RecordEncoding.scalar(value, path: elementPath) else { throw notScalar() }
        put(scalar)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(RecordFailingKeyedEncodingContainer<NestedKey>(codingPath: elementPath, error: notScalar()))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        RecordFailingEncodingContainer(codingPath: elementPath, error: notScalar())
    }

    mutating func superEncoder() -> any Encoder {
        RecordFailingEncoder(codingPath: elementPath, error: notScalar())
    }
}

/// Watches whether a value encodes as one single value (for set and list members).
struct RecordScalarProbe: Encoder {
    final class State {
        var value: Value?
    }
    let state = State()
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(RecordFailingKeyedEncodingContainer<Key>(codingPath: codingPath, error: RecordCodingNeedsJSON()))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        RecordFailingEncodingContainer(codingPath: codingPath, error: RecordCodingNeedsJSON())
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        RecordScalarProbeContainer(state: state, codingPath: codingPath)
    }
}

struct RecordScalarProbeContainer: SingleValueEncodingContainer, RecordScalarPutting {
    let state: RecordScalarProbe.State
    let codingPath: [any CodingKey]
    var scalarPath: [any CodingKey] { codingPath }

    func put(_ value: Value) { state.value = value }
    mutating func encode(_ value: Int128) throws { try integer(value) }
    mutating func encode(_ value: UInt128) throws { try integer(value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        guard let scalar = try RecordEncoding.scalar(value, path: codingPath) else { throw RecordCodingNeedsJSON() }
        put(scalar)
    }
}
