import ConcordCore

/// A query over one collection's visible records: field conditions, ordering and limit.
///
/// Conditions apply to LWW fields, answered from the field index; a membership condition
/// (``where(_:contains:)``) applies to an OR-set field and is checked on the records the
/// other conditions select (set members are not indexed). Stores never scan the bundle
/// log. Semantics (`Specs/storage-schema.md`, "Queries"):
/// - ``Condition/equals(_:)`` matches the exact value, type included (`.int(1)` is not
///   `.double(1)` nor `.bool(true)`; strings by UTF-8 bytes, no Unicode normalization).
///   Doubles compare as IEEE numbers: `-0.0` equals `0.0`, and NaN equals nothing.
/// - Range conditions compare within one class: numbers (`int` and `double` by exact
///   numeric value), `bool`, `string` (UTF-8 bytes), `bytes`, references (id bytes, then
///   collection bytes); a record whose field holds another class does not match. `null`
///   and NaN are in no class: no range condition matches them or with them as operand.
///   A record without the field never matches a condition.
/// - ``order(by:descending:)`` sorts by the field: `null` and NaN < `bool` and numbers (as
///   numbers, `false` = 0, `true` = 1) < strings < bytes and references (by bytes, a
///   reference as its 16 id bytes then its collection's UTF-8 bytes); descending reverses
///   this. Ties, and records without the field (always last), are sorted by id (ascending,
///   byte order). Without an order, results are sorted by id.
/// - ``limit(_:offset:)`` applies after ordering; ``StoreReader/count(matching:)`` ignores it.
///
/// ```swift
/// let urgent = RecordQuery("todos")
///     .where("done", .equals(false))
///     .where("priority", .greaterThanOrEqual(2))
///     .order(by: "priority", descending: true)
///     .limit(10)
/// ```
public struct RecordQuery: Hashable, Sendable, CustomStringConvertible {
    /// A condition on one field's value.
    public enum Condition: Hashable, Sendable {
        /// The field holds exactly this value.
        case equals(Value)
        /// The field's value is below this one (same class).
        case lessThan(Value)
        /// The field's value is at most this one (same class).
        case lessThanOrEqual(Value)
        /// The field's value is above this one (same class).
        case greaterThan(Value)
        /// The field's value is at least this one (same class).
        case greaterThanOrEqual(Value)

        /// The operand.
        public var operand: Value {
            switch self {
            case .equals(let v), .lessThan(let v), .lessThanOrEqual(let v), .greaterThan(let v), .greaterThanOrEqual(let v): v
            }
        }
    }

    /// One field condition.
    public struct Filter: Hashable, Sendable {
        /// The field name.
        public var field: String
        /// The condition its value must meet.
        public var condition: Condition
    }

    /// One membership condition: an OR-set field holds a member.
    public struct MemberFilter: Hashable, Sendable {
        /// The set field's name.
        public var field: String
        /// The member it must hold (exact value, type included).
        public var member: Value
    }

    /// The collection queried.
    public var collection: String
    /// Conditions, all of which must hold.
    public var filters: [Filter] = []
    /// Membership conditions on OR-set fields, all of which must hold.
    public var memberFilters: [MemberFilter] = []
    /// The field to sort by; `nil` sorts by id.
    public var orderField: String?
    /// Whether ``orderField`` sorts from the greatest value.
    public var descending = false
    /// At most this many results; `nil` for all.
    public var limitCount: Int?
    /// Results to skip first.
    public var offsetCount = 0

    /// Every visible record of `collection`, by id.
    public init(_ collection: String) {
        self.collection = collection
    }

    /// Adds a condition on `field`.
    public func `where`(_ field: String, _ condition: Condition) -> RecordQuery {
        var copy = self
        copy.filters.append(Filter(field: field, condition: condition))
        return copy
    }

    /// Adds a condition: the OR-set field `field` holds `member` (exact value, type
    /// included, as ``Condition/equals(_:)``).
    ///
    /// ```swift
    /// let home = RecordQuery("todos").where("tags", contains: "home")
    /// ```
    /// - Complexity: O(n) in the records the other conditions select (or the collection's
    ///   visible records without other conditions): set members are not indexed.
    /// - Parameters:
    ///   - field: The set field.
    ///   - member: The member.
    /// - Returns: The query with the condition.
    public func `where`(_ field: String, contains member: Value) -> RecordQuery {
        var copy = self
        copy.memberFilters.append(MemberFilter(field: field, member: member))
        return copy
    }

    /// Whether `row` meets every membership condition.
    package func meetsMemberFilters(_ row: StoredRecordRow) -> Bool {
        memberFilters.allSatisfy { row.record.state.set($0.field)?.contains($0.member) ?? false }
    }

    /// Sorts by `field`.
    public func order(by field: String, descending: Bool = false) -> RecordQuery {
        var copy = self
        copy.orderField = field
        copy.descending = descending
        return copy
    }

    /// Keeps at most `count` results, after skipping `offset`.
    public func limit(_ count: Int, offset: Int = 0) -> RecordQuery {
        var copy = self
        copy.limitCount = max(0, count)
        copy.offsetCount = max(0, offset)
        return copy
    }

    /// `todos where done == false order by priority desc limit 10`.
    public var description: String {
        var text = collection
        let conditions = filters.map { "\($0.field) \($0.condition.symbol) \($0.condition.operand)" }
            + memberFilters.map { "\($0.field) contains \($0.member)" }
        if !conditions.isEmpty { text += " where " + conditions.joined(separator: " and ") }
        if let orderField { text += " order by \(orderField)\(descending ? " desc" : "")" }
        if let limitCount { text += " limit \(limitCount)" }
        if offsetCount > 0 { text += " offset \(offsetCount)" }
        return text
    }
}

extension RecordQuery.Condition {
    var symbol: String {
        switch self {
        case .equals: "=="
        case .lessThan: "<"
        case .lessThanOrEqual: "<="
        case .greaterThan: ">"
        case .greaterThanOrEqual: ">="
        }
    }
}
