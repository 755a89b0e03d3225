/// An add-wins observed-remove set (OR-set) of ``Value``s.
///
/// Every add carries a unique tag (the add operation's ``Stamp``). A remove carries the
/// tags of the element it *observed*; it removes exactly those (value, tag) pairs. An add
/// concurrent with a remove has a tag the remove did not observe, so the element stays:
/// add wins. Removed tags are kept as tombstones, including tags whose add has not
/// arrived yet, so the outcome does not depend on delivery order or duplicates.
///
/// Shapiro et al., "A comprehensive study of Convergent and Commutative Replicated Data
/// Types" (INRIA RR-7506, 2011), §3.3.5.
///
/// ```swift
/// var tags = ORSet()
/// tags.add("urgent", tag: stampA)
/// tags.remove("urgent", observed: tags.tags(of: "urgent"))
/// tags.contains("urgent")   // false
/// ```
public struct ORSet: Hashable, Sendable {
    /// Live and removed tags of one value, each sorted ascending.
    struct Entry: Hashable, Sendable {
        var adds: [Stamp] = []
        var removes: [Stamp] = []
        var isEmpty: Bool { adds.isEmpty && removes.isEmpty }
    }

    var entries: [Value: Entry] = [:]

    /// An empty set.
    public init() {}

    /// Adds `value` under a fresh unique `tag`. A tag already removed is ignored.
    /// - Complexity: O(k) where k is the number of tags of `value` (usually 1).
    /// - Returns: `true` when the set's state changed.
    @discardableResult
    public mutating func add(_ value: Value, tag: Stamp) -> Bool {
        entries[value, default: Entry()].insertAdd(tag)
    }

    /// Removes the (value, tag) pairs for every tag in `observed`, keeping tombstones.
    /// - Complexity: O(k · m) for k observed tags and m tags held for `value`.
    /// - Returns: `true` when the set's state changed.
    @discardableResult
    public mutating func remove(_ value: Value, observed: some Sequence<Stamp>) -> Bool {
        var entry = entries.removeValue(forKey: value) ?? Entry()
        var changed = false
        for tag in observed where entry.insertRemove(tag) { changed = true }
        if !entry.isEmpty { entries[value] = entry }
        return changed
    }

    /// The live tags of `value`: what a remove issued now must carry.
    public func tags(of value: Value) -> [Stamp] { entries[value]?.adds ?? [] }

    /// Whether `value` is in the set.
    public func contains(_ value: Value) -> Bool { !(entries[value]?.adds.isEmpty ?? true) }

    /// The members, sorted by ``Value``'s total order.
    /// - Complexity: O(n log n).
    public var elements: [Value] {
        entries.compactMap { $0.value.adds.isEmpty ? nil : $0.key }.sorted()
    }

    /// Whether the set has no members (tombstones may remain).
    public var isEmpty: Bool { !entries.values.contains { !$0.adds.isEmpty } }

    /// Number of tombstones held; tombstones are kept until record deletion prunes them.
    public var tombstoneCount: Int { entries.values.reduce(0) { $0 + $1.removes.count } }

    /// Merges another replica's set state (commutative, associative, idempotent).
    /// - Complexity: O(n) in the size of `other`.
    public mutating func merge(_ other: ORSet) {
        for (value, theirs) in other.entries {
            var entry = entries.removeValue(forKey: value) ?? Entry()
            for tag in theirs.removes { entry.insertRemove(tag) }
            for tag in theirs.adds { entry.insertAdd(tag) }
            entries[value] = entry
        }
    }

    /// Drops every add and tombstone whose tag is at or before `cutoff` (a record delete):
    /// such adds can never become visible again, so their tombstones are no longer needed.
    mutating func prune(atOrBefore cutoff: Stamp) {
        for (value, var entry) in entries {
            entry.adds.removeAll { $0 <= cutoff }
            entry.removes.removeAll { $0 <= cutoff }
            entries[value] = entry.isEmpty ? nil : entry
        }
    }
}

extension ORSet.Entry {
    /// - Returns: `true` when the tag was new.
    @discardableResult
    mutating func insertAdd(_ tag: Stamp) -> Bool {
        if removes.contains(tag) { return false }
        return insertSorted(tag, into: &adds)
    }

    /// - Returns: `true` when the tombstone was new.
    @discardableResult
    mutating func insertRemove(_ tag: Stamp) -> Bool {
        if let i = adds.firstIndex(of: tag) { adds.remove(at: i) }
        return insertSorted(tag, into: &removes)
    }

    private func insertSorted(_ tag: Stamp, into array: inout [Stamp]) -> Bool {
        var i = array.endIndex
        while i > array.startIndex, array[i - 1] > tag { i -= 1 }
        if i > array.startIndex, array[i - 1] == tag { return false }
        array.insert(tag, at: i)
        return true
    }
}
