import ConcordCore
import Foundation

// One value of a record being decoded: a field, or an element of a set or list
// (split from RecordDecoder.swift; the top level and the record are there).

// MARK: - One value

/// Decodes one property (a field of the record) or one element of a set or list.
///
/// For a property, a missing or null value of a non-optional scalar reads the default,
/// else the type's zero value; asking for a keyed container opens the flattened container
/// (or throws ``RecordCodingNeedsJSON`` when an earlier version stored it as JSON).
struct RecordValueDecoder: Decoder, SingleValueDecodingContainer {
    let codingPath: [any CodingKey]
    let recordID: RecordID
    /// What a non-optional reads: the stored value, or the default.
    let value: Value?
    /// The set or list stored under the same name, if any.
    let members: [Value]?
    /// The property's record and place; `nil` for a set or list element.
    let field: (reading: RecordReading, path: FieldPath)?
    /// The type being decoded, for messages and to tell collections apart.
    let wanted: Any.Type
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(field: (RecordReading, FieldPath), wanted: Any.Type) {
        let (reading, path) = field
        self.codingPath = path.codingPath
        self.recordID = reading.record.id
        self.value = reading.value(path.name)
        self.members = reading.members(path.name)
        self.field = (reading, path)
        self.wanted = wanted
    }

    init(element: Value, codingPath: [any CodingKey], recordID: RecordID, wanted: Any.Type) {
        self.codingPath = codingPath
        self.recordID = recordID
        self.value = element
        self.members = nil
        self.field = nil
        self.wanted = wanted
    }

    private func with(wanted: Any.Type) -> RecordValueDecoder {
        if let field { return RecordValueDecoder(field: field, wanted: wanted) }
        return RecordValueDecoder(element: value ?? .null, codingPath: codingPath, recordID: recordID, wanted: wanted)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard let (reading, path) = field else { throw mismatch(wanted) }
        if !reading.hasContent(under: path.name), case .string? = reading.stored(path.name) { throw RecordCodingNeedsJSON() }
        if members != nil { throw mismatch(wanted) }
        return KeyedDecodingContainer(RecordKeyedDecoder<Key>(reading: reading, parent: path, model: wanted))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard let (reading, path) = field else { throw mismatch(wanted) }
        if members == nil {
            if case .string? = reading.stored(path.name), RecordCoding.collectionShape(wanted) == nil { throw RecordCodingNeedsJSON() }
            if let stored = reading.stored(path.name), stored != .null { throw mismatch(wanted) }
        }
        return RecordMembersDecoder(codingPath: codingPath, recordID: recordID, values: ListElement.values(of: members ?? []))
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func decodeNil() -> Bool {
        guard let (reading, path) = field else { return value == .null }
        return reading.isNil(path.name)
    }

    func decode(_ type: Bool.Type) throws -> Bool {
        try scalar(type, zero: false) { if case .bool(let b) = $0 { b } else { nil } }
    }

    func decode(_ type: String.Type) throws -> String {
        try scalar(type, zero: "") { if case .string(let s) = $0 { s } else { nil } }
    }

    func decode(_ type: Double.Type) throws -> Double {
        try scalar(type, zero: 0) {
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
            throw corrupted("double \(double) does not fit Float; declare the property as Double")
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
        if T.self == UUID.self || T.self == RecordID.self {
            let text = try scalar(String.self, zero: nil) { if case .string(let s) = $0 { s } else { nil } }
            if T.self == RecordID.self, let id = try? RecordID(uuidString: text) { return id as! T }
            guard let uuid = UUID(uuidString: text) else { throw corrupted("string \"\(text)\" is not a UUID") }
            return uuid as! T
        }
        if T.self == Date.self {
            let seconds = try scalar(Double.self, zero: nil) {
                switch $0 {
                case .double(let d): d
                case .int(let i): Double(i)
                default: nil
                }
            }
            return Date(timeIntervalSince1970: seconds) as! T
        }
        if T.self == Data.self {
            return Data(try scalar(Data.self, zero: []) { if case .bytes(let b) = $0 { b } else { nil } }) as! T
        }
        if T.self == URL.self {
            let text = try scalar(URL.self, zero: nil) { if case .string(let s) = $0 { s } else { nil } }
            guard let url = URL(string: text) else { throw corrupted("string \"\(text)\" is not a URL") }
            return url as! T
        }
        if T.self is any RawRepresentable.Type, RecordCoding.isScalarType(T.self), value == nil, members == nil {
            throw missing(T.self)  // an enum has no zero value
        }
        return try T(from: with(wanted: T.self))
    }

    private func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        // A whole `double` reads as an integer: a newer app version may have widened the
        // property to `Double` (Specs/model-mapping.md §5); a fraction cannot be read.
        if case .double(let double)? = value, Int64(exactly: double) == nil {
            throw corrupted(
                "double \(double) is not a whole number that fits \(I.self); a newer app version stores a Double here: declare the property as Double"
            )
        }
        let int: Int64 = try scalar(type, zero: 0) {
            switch $0 {
            case .int(let i): i
            case .double(let d): Int64(exactly: d)
            default: nil
            }
        }
        guard let result = I(exactly: int) else {
            throw corrupted("int \(int) does not fit \(I.self); declare the property with a wider type such as Int")
        }
        return result
    }

    /// The value converted by `convert`; for a property without one, `zero` (or the error
    /// saying why there is none).
    private func scalar<T, R>(_ type: T.Type, zero: R?, _ convert: (Value) -> R?) throws -> R {
        guard let value else {
            if let members, !members.isEmpty {
                throw DecodingError.typeMismatch(
                    type,
                    DecodingError.Context(
                        codingPath: codingPath,
                        debugDescription:
                            "\(RecordCoding.label(codingPath)) is a set or list but the model wants \(RecordCoding.name(type)); declare the property as an array or set"
                    ))
            }
            if field != nil, let zero { return zero }
            throw missing(type)
        }
        if let result = convert(value) { return result }
        if case .null = value {
            throw DecodingError.valueNotFound(
                type,
                DecodingError.Context(
                    codingPath: codingPath,
                    debugDescription:
                        "\(RecordCoding.label(codingPath)) is null but the model wants \(RecordCoding.name(type)); make the element optional"
                ))
        }
        throw mismatch(type)
    }

    /// The stored value's kind does not match `type`.
    func mismatch(_ type: Any.Type) -> DecodingError {
        let stored = value.map(RecordCoding.describe) ?? (members == nil ? "nothing" : "a set or list")
        return DecodingError.typeMismatch(
            type,
            DecodingError.Context(
                codingPath: codingPath,
                debugDescription:
                    "\(RecordCoding.label(codingPath)) holds \(stored) but the model wants \(RecordCoding.name(type)); change the property's type to match the stored value, or migrate the field"
            ))
    }

    private func missing(_ type: Any.Type) -> DecodingError {
        let context = DecodingError.Context(
            codingPath: Array(codingPath.dropLast()),
            debugDescription:
                "record \(recordID) has no field '\(field?.path.name ?? codingPath.last?.stringValue ?? "")' and \(RecordCoding.name(type)) has no zero value; make the property optional, or give the model a default (RecordModel.recordDefaults)"
        )
        guard let key = codingPath.last else { return DecodingError.valueNotFound(type, context) }
        return DecodingError.keyNotFound(key, context)
    }

    private func corrupted(_ what: String) -> DecodingError {
        DecodingError.dataCorrupted(
            DecodingError.Context(
                codingPath: codingPath, debugDescription: "\(RecordCoding.label(codingPath)): \(what)"))
    }
}

/// The values of a set or list, in order, each decoded as a single value.
struct RecordMembersDecoder: UnkeyedDecodingContainer {
    let codingPath: [any CodingKey]
    let recordID: RecordID
    let values: [Value]
    private(set) var currentIndex = 0

    init(codingPath: [any CodingKey], recordID: RecordID, values: [Value]) {
        self.codingPath = codingPath
        self.recordID = recordID
        self.values = values
    }

    var count: Int? { values.count }
    var isAtEnd: Bool { currentIndex >= values.count }

    private func element(_ wanted: Any.Type) throws -> RecordValueDecoder {
        let path = codingPath + [RecordCodingKey(intValue: currentIndex)]
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                wanted,
                DecodingError.Context(
                    codingPath: path,
                    debugDescription: "\(RecordCoding.label(codingPath)) has only \(values.count) values, the model wants more"))
        }
        return RecordValueDecoder(element: values[currentIndex], codingPath: path, recordID: recordID, wanted: wanted)
    }

    private mutating func next<T>(_ type: T.Type, _ read: (RecordValueDecoder) throws -> T) throws -> T {
        let result = try read(try element(type))
        currentIndex += 1
        return result
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, values[currentIndex] == .null else { return false }
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
