import ConcordCore
import Foundation

// Shared by `RecordEncoder` and `RecordDecoder`: which Swift types are scalars, which
// collections become OR-sets or lists, field paths, and the wording of errors.
//
// The shape of a property (LWW scalar, OR-set, ordered list, flattened container, or LWW
// JSON string) is decided by its *type* wherever a wrong guess would leave stale data in
// a replica: an array is a list because its element type is a scalar type, never because
// the particular array happened to hold scalars (an empty `[Note]` must not become an
// empty list while a full one is JSON, or the old JSON would survive the update).

/// Where a value lives in a record: the stored field name (components escaped and joined
/// with `.`) and the coding path that leads there, for messages.
struct FieldPath {
    /// The stored name: `title`, `address.city`, `scores.a%2Eb`.
    var name: String
    var codingPath: [any CodingKey]

    /// A property of the container at `self` (or of the record, for `parent == nil`).
    static func child(of parent: FieldPath?, _ key: any CodingKey) -> FieldPath {
        let component = escape(key.stringValue)
        guard let parent else { return FieldPath(name: component, codingPath: [key]) }
        return FieldPath(name: parent.name + "." + component, codingPath: parent.codingPath + [key])
    }

    /// `name + "."`: what the stored names of everything inside this container start with.
    var prefix: String { name + "." }

    /// A name component with `%` and `.` escaped (`%25`, `%2E`), so that `.` only ever
    /// separates components.
    static func escape(_ component: String) -> String {
        guard component.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "%") }) else { return component }
        var out = ""
        for scalar in component.unicodeScalars {
            switch scalar {
            case "%": out += "%25"
            case ".": out += "%2E"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// The inverse of ``escape(_:)``.
    static func unescape(_ component: String) -> String {
        guard component.utf8.contains(UInt8(ascii: "%")) else { return component }
        return component.replacingOccurrences(of: "%2E", with: ".").replacingOccurrences(of: "%25", with: "%")
    }
}

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
    /// Whether this optional (or an optional it wraps) is `nil`.
    var recordIsNil: Bool { get }
}
extension Optional: RecordCodingOptional {
    static var wrappedType: Any.Type { Wrapped.self }
    var recordIsNil: Bool {
        switch self {
        case .none: true
        case .some(let wrapped): (wrapped as? any RecordCodingOptional)?.recordIsNil ?? false
        }
    }
}

/// The collections stored as a field of their own when their element type is a scalar
/// type: sets as OR-sets, arrays as ordered lists.
protocol RecordCodingCollection {
    static var elementType: Any.Type { get }
    /// Arrays keep order and duplicates (a list); sets do not (an OR-set).
    static var isOrdered: Bool { get }
}
extension Array: RecordCodingCollection {
    static var elementType: Any.Type { Element.self }
    static var isOrdered: Bool { true }
}
extension ContiguousArray: RecordCodingCollection {
    static var elementType: Any.Type { Element.self }
    static var isOrdered: Bool { true }
}
extension Set: RecordCodingCollection {
    static var elementType: Any.Type { Element.self }
    static var isOrdered: Bool { false }
}

/// `Dictionary`: never a record itself (its keys are data, not a schema). With `String`,
/// `Int` or `CodingKeyRepresentable` keys it encodes keyed and is flattened like a nested
/// struct, one field per key; other keys encode as an unkeyed `[key, value, ...]` list,
/// stored as JSON.
protocol RecordCodingDictionary {
    static var keyType: Any.Type { get }
}
extension Dictionary: RecordCodingDictionary {
    static var keyType: Any.Type { Key.self }
}

/// Thrown inside the encoder when a value must be stored as JSON; never escapes.
struct RecordCodingNeedsJSON: Error {}

/// How a collection property is stored.
enum RecordCollectionShape {
    /// An OR-set: members deduplicated, no order.
    case set
    /// An ordered list (``ListElement``): order and duplicates kept.
    case list
}

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

    /// `.set` for a set of scalars, `.list` for an array of scalars, `nil` otherwise.
    static func collectionShape(_ type: Any.Type) -> RecordCollectionShape? {
        guard let collection = type as? any RecordCodingCollection.Type, isScalarType(collection.elementType) else { return nil }
        return collection.isOrdered ? .list : .set
    }

    /// The shape of an optional collection of scalars (`nil` is stored as empty).
    static func optionalCollectionShape(_ type: Any.Type) -> RecordCollectionShape? {
        guard let optional = type as? any RecordCodingOptional.Type else { return nil }
        return collectionShape(optional.wrappedType) ?? optionalCollectionShape(optional.wrappedType)
    }

    /// Whether `type` is an array or set whose elements are not scalars (stored as JSON).
    static func isJSONCollection(_ type: Any.Type) -> Bool {
        if let dictionary = type as? any RecordCodingDictionary.Type { return !isKeyedDictionaryKey(dictionary.keyType) }
        return type is any RecordCodingCollection.Type && collectionShape(type) == nil
    }

    /// Whether a dictionary with keys of `type` encodes keyed (and is flattened).
    static func isKeyedDictionaryKey(_ type: Any.Type) -> Bool {
        type == String.self || type == Int.self || type is any CodingKeyRepresentable.Type
    }

    /// `field 'tags'`, `field 'address.city'`, `field 'tags' [2]`, or `the record` for
    /// the empty path.
    static func label(_ path: [any CodingKey]) -> String {
        guard !path.isEmpty else { return "the record" }
        var name: [String] = []
        var indexes = ""
        for key in path {
            if let index = key.intValue, key is RecordCodingKey || key.stringValue.hasPrefix("Index ") {
                indexes += " [\(index)]"
            } else if indexes.isEmpty {
                name.append(key.stringValue)
            } else {
                indexes += ".\(key.stringValue)"
            }
        }
        return "field '\(name.joined(separator: "."))'" + indexes
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

    /// The type with every `Optional` removed.
    static func unwrapped(_ type: Any.Type) -> Any.Type {
        guard let optional = type as? any RecordCodingOptional.Type else { return type }
        return unwrapped(optional.wrappedType)
    }
}
