extension Value {
    /// Whether this is ``null``.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The bool, when this is a ``bool(_:)``.
    ///
    /// ```swift
    /// if record["done"]?.boolValue == true { strikeThrough() }
    /// ```
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The integer, when this is an ``int(_:)``.
    public var intValue: Int64? {
        if case .int(let value) = self { return value }
        return nil
    }

    /// The number as a `Double`, when this is a ``double(_:)`` or an ``int(_:)`` (an int
    /// beyond 2^53 is rounded).
    public var doubleValue: Double? {
        switch self {
        case .double(let value): value
        case .int(let value): Double(value)
        default: nil
        }
    }

    /// The text, when this is a ``string(_:)``.
    ///
    /// ```swift
    /// let title = record["title"]?.stringValue ?? "Untitled"
    /// ```
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The bytes, when this is a ``bytes(_:)``.
    public var bytesValue: [UInt8]? {
        if case .bytes(let value) = self { return value }
        return nil
    }

    /// The reference, when this is a ``reference(_:)``.
    public var referenceValue: RecordReference? {
        if case .reference(let value) = self { return value }
        return nil
    }

    /// A value from an enum (or any type) with a `String` raw value: `.string(rawValue)`,
    /// as a model stores it.
    ///
    /// ```swift
    /// let query = RecordQuery("todos").where("status", .equals(Value(Status.open)))
    /// ```
    /// - Parameters:
    ///   - value: The raw-representable value.
    public init<R: RawRepresentable>(_ value: R) where R.RawValue == String {
        self = .string(value.rawValue)
    }

    /// A value from an enum (or any type) with an integer raw value: `.int(rawValue)`.
    /// - Parameters:
    ///   - value: The raw-representable value; its raw value must fit `Int64`.
    public init<R: RawRepresentable>(_ value: R) where R.RawValue: BinaryInteger {
        self = .int(Int64(value.rawValue))
    }
}
