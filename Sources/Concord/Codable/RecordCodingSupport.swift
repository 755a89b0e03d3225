import ConcordCore
import Foundation

// Shared by `RecordEncoder` and `RecordDecoder`: which Swift types are scalars, which
// collections become OR-sets, coding keys for set members, and the wording of errors.
//
// The shape of a property (LWW scalar, OR-set, or LWW JSON string) is decided by its
// *type* wherever a wrong guess would leave stale data in a replica: an array is an
// OR-set because its element type is a scalar type, never because the particular array
// happened to hold scalars (an empty `[Note]` must not become an empty set while a full
// one is JSON, or the old JSON would survive the update).

/// A coding key for a member of a set (`intValue`) or a field named at run time.
struct RecordCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?

    init(stringValue: String) {
        self.stringValue = stringValue
        self.intValue = nil
    }

    init(intValue: Int) {
        self.stringValue = "Index \(intValue)"
        self.intValue = intValue
    }
}

/// Types stored as one scalar ``Value`` without asking how they encode themselves.
protocol RecordCodingScalar {}
extension Bool: RecordCodingScalar {}
extension String: RecordCodingScalar {}
extension Double: RecordCodingScalar {}
extension Float: RecordCodingScalar {}
extension Int: RecordCodingScalar {}
extension Int8: RecordCodingScalar {}
extension Int16: RecordCodingScalar {}
extension Int32: RecordCodingScalar {}
extension Int64: RecordCodingScalar {}
extension Int128: RecordCodingScalar {}
extension UInt: RecordCodingScalar {}
extension UInt8: RecordCodingScalar {}
extension UInt16: RecordCodingScalar {}
extension UInt32: RecordCodingScalar {}
extension UInt64: RecordCodingScalar {}
extension UInt128: RecordCodingScalar {}
extension UUID: RecordCodingScalar {}
extension Date: RecordCodingScalar {}
extension Data: RecordCodingScalar {}
extension URL: RecordCodingScalar {}
extension RecordID: RecordCodingScalar {}

/// `Optional`, so its wrapped type can be inspected.
protocol RecordCodingOptional {
    static var wrappedType: Any.Type { get }
}
extension Optional: RecordCodingOptional {
    static var wrappedType: Any.Type { Wrapped.self }
}

/// The collections that become OR-sets when their element type is a scalar type.
protocol RecordCodingCollection {
    static var elementType: Any.Type { get }
}
extension Array: RecordCodingCollection {
    static var elementType: Any.Type { Element.self }
}
extension ContiguousArray: RecordCodingCollection {
    static var elementType: Any.Type { Element.self }
}
extension Set: RecordCodingCollection {
    static var elementType: Any.Type { Element.self }
}

/// `Dictionary`: never a record (its keys are data, not a schema) and never an OR-set
/// (non-`String`/`Int` keys encode as an unkeyed `[key, value, ...]` list).
protocol RecordCodingDictionary {}
extension Dictionary: RecordCodingDictionary {}

/// Thrown inside the encoder's probe when a value is not a scalar; never escapes.
struct RecordCodingNotScalar: Error {}

/// Thrown inside the decoder when a field must be read as JSON; never escapes.
struct RecordCodingNeedsJSON: Error {}

enum RecordCoding {
    /// Whether values of `type` are stored as one scalar: the ``RecordCodingScalar``
    /// types, optionals of them, and `RawRepresentable` types (enums) with a scalar raw value.
    static func isScalarType(_ type: Any.Type) -> Bool {
        if type is any RecordCodingScalar.Type { return true }
        if let optional = type as? any RecordCodingOptional.Type { return isScalarType(optional.wrappedType) }
        if let raw = type as? any RawRepresentable.Type { return isScalarType(rawValueType(raw)) }
        return false
    }

    private static func rawValueType<R: RawRepresentable>(_: R.Type) -> Any.Type { R.RawValue.self }

    /// Whether `type` is an array or set of scalars: an OR-set field.
    static func isSetType(_ type: Any.Type) -> Bool {
        guard let collection = type as? any RecordCodingCollection.Type else { return false }
        return isScalarType(collection.elementType)
    }

    /// Whether `type` is an optional array or set of scalars (`nil` is stored as an empty set).
    static func isOptionalSetType(_ type: Any.Type) -> Bool {
        guard let optional = type as? any RecordCodingOptional.Type else { return false }
        return isSetType(optional.wrappedType) || isOptionalSetType(optional.wrappedType)
    }

    /// `field 'tags'`, `field 'tags' [2]`, or `the record` for the empty path.
    static func label(_ path: [any CodingKey]) -> String {
        guard let first = path.first else { return "the record" }
        let rest = path.dropFirst().map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }
        return "field '\(first.stringValue)'" + (rest.isEmpty ? "" : " " + rest.joined())
    }

    /// `string "high"`, `int 3`, `null`: a stored value for messages, long text shortened.
    static func describe(_ value: Value) -> String {
        if case .null = value { return "null" }
        var text = value.description
        if text.count > 60 { text = text.prefix(57) + "..." }
        return "\(value.typeName) \(text)"
    }

    /// The Swift type name for messages (`Int`, `Optional<String>`, `Todo.Note`).
    static func name(_ type: Any.Type) -> String { String(describing: type) }

    static func sortedMembers(_ members: [Value]) -> [Value] { Set(members).sorted() }
}
