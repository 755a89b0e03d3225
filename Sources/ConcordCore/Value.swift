/// A field value: what an LWW register holds and what an OR-set contains.
///
/// Equality, hashing and ordering are exact and byte-based so every replica agrees:
/// strings compare by UTF-8 bytes (no Unicode normalization), doubles by their IEEE-754
/// bit pattern (`0.0` and `-0.0` differ; a NaN equals the same NaN). The total order is:
/// null < bool < int < double < string < bytes < reference, then by payload
/// (see `Specs/crdt-semantics.md`).
///
/// ```swift
/// let title: Value = "Buy milk"          // string literal
/// let count: Value = 3                   // int64
/// let done: Value = .bool(false)
/// ```
public enum Value: Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case bytes([UInt8])
    /// A reference to a record in a collection.
    indirect case reference(RecordReference)
}

/// Where a ``Value/reference(_:)`` points: a collection name and a record id.
public struct RecordReference: Hashable, Comparable, Sendable {
    /// The collection's name.
    public var collection: String
    /// The record's id.
    public var id: RecordID

    public init(collection: String, id: RecordID) {
        self.collection = collection
        self.id = id
    }

    public static func == (lhs: RecordReference, rhs: RecordReference) -> Bool {
        lhs.id == rhs.id && ByteString(lhs.collection) == ByteString(rhs.collection)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(ByteString(collection))
        hasher.combine(id)
    }

    public static func < (lhs: RecordReference, rhs: RecordReference) -> Bool {
        let (l, r) = (ByteString(lhs.collection), ByteString(rhs.collection))
        return l != r ? l < r : lhs.id < rhs.id
    }
}

extension Value {
    /// Rank of the case in the total order; also its tag in the canonical encoding.
    var rank: UInt8 {
        switch self {
        case .null: 0
        case .bool: 1
        case .int: 2
        case .double: 3
        case .string: 4
        case .bytes: 5
        case .reference: 6
        }
    }

    /// A short type name for messages: `"null"`, `"bool"`, `"int"`, ...
    public var typeName: String {
        ["null", "bool", "int", "double", "string", "bytes", "reference"][Int(rank)]
    }
}

extension Value: Hashable, Comparable {
    public static func == (lhs: Value, rhs: Value) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case let (.bool(a), .bool(b)): a == b
        case let (.int(a), .int(b)): a == b
        case let (.double(a), .double(b)): a.bitPattern == b.bitPattern
        case let (.string(a), .string(b)): ByteString.bytesEqual(a, b)
        case let (.bytes(a), .bytes(b)): a == b
        case let (.reference(a), .reference(b)): a == b
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(rank)
        switch self {
        case .null: break
        case .bool(let b): hasher.combine(b)
        case .int(let i): hasher.combine(i)
        case .double(let d): hasher.combine(d.bitPattern)
        case .string(let s): hasher.combine(ByteString(s))
        case .bytes(let b): hasher.combine(b)
        case .reference(let r): hasher.combine(r)
        }
    }

    /// The deterministic total order used to break ties and to sort set members.
    public static func < (lhs: Value, rhs: Value) -> Bool {
        if lhs.rank != rhs.rank { return lhs.rank < rhs.rank }
        switch (lhs, rhs) {
        case let (.bool(a), .bool(b)): return !a && b
        case let (.int(a), .int(b)): return a < b
        case let (.double(a), .double(b)): return totalOrderKey(a) < totalOrderKey(b)
        case let (.string(a), .string(b)): return a.utf8.lexicographicallyPrecedes(b.utf8)
        case let (.bytes(a), .bytes(b)): return a.lexicographicallyPrecedes(b)
        case let (.reference(a), .reference(b)): return a < b
        default: return false
        }
    }

    /// Maps a double's bit pattern to an unsigned key whose order is IEEE-754 totalOrder.
    private static func totalOrderKey(_ d: Double) -> UInt64 {
        let bits = d.bitPattern
        return bits & (1 << 63) != 0 ? ~bits : bits | (1 << 63)
    }
}

// Deliberately not ExpressibleByNilLiteral: `nil` would silently become `.null` wherever
// an optional Value is expected (a bug the test suite caught in `compactMap`).
extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension Value: CustomStringConvertible {
    /// A JSON-like rendering for logs and demos: `"text"`, `42`, `1.5`, `true`, `null`,
    /// `0x0a0b` for bytes, `@collection/UUID` for references.
    public var description: String {
        switch self {
        case .null: "null"
        case .bool(let b): b ? "true" : "false"
        case .int(let i): String(i)
        case .double(let d): String(d)
        case .string(let s): "\"" + s + "\""
        case .bytes(let b): "0x" + Hex.encode(b)
        case .reference(let r): "@\(r.collection)/\(r.id)"
        }
    }
}
