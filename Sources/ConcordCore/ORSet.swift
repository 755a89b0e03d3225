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
    /// Every tag seen for one value, sorted ascending, each live or removed (a tombstone).
    /// One array per value keeps allocations and scans to one.
    struct Entry: Hashable, Sendable {
        struct Tag: Hashable, Sendable {
            var stamp: Stamp
            var removed: Bool
        }

        var tags: [Tag]

        init() {
            tags = []
            tags.reserveCapacity(4)  // values are typically added and removed a few times
        }

        var isEmpty: Bool { tags.isEmpty }
        var hasLiveTag: Bool { tags.contains { !$0.removed } }
        var liveTags: [Stamp] { tags.compactMap { $0.removed ? nil : $0.stamp } }
        var tombstoneCount: Int { tags.reduce(0) { $0 + ($1.removed ? 1 : 0) } }
    }

    var entries: [ValueKey: Entry] = [:]

    /// An empty set.
    public init() {}

    /// Adds `value` under a fresh unique `tag`. A tag already removed is ignored.
    /// - Returns: `true` when the set's state changed.
    /// - Complexity: O(k) where k is the number of tags seen for `value` (usually small).
    @discardableResult
    public mutating func add(_ value: Value, tag: Stamp) -> Bool {
        entries[ValueKey(value), default: Entry()].insert(tag, removed: false)
    }

    /// Removes the (value, tag) pairs for every tag in `observed`, keeping tombstones.
    /// - Returns: `true` when the set's state changed.
    /// - Complexity: O(k · m) for k observed tags and m tags seen for `value`.
    @discardableResult
    public mutating func remove(_ value: Value, observed: some Sequence<Stamp>) -> Bool {
        let key = ValueKey(value)
        var changed = false
        for tag in observed where entries[key, default: Entry()].insert(tag, removed: true) { changed = true }
        return changed
    }

    /// The live tags of `value`: what a remove issued now must carry.
    public func tags(of value: Value) -> [Stamp] { entries[ValueKey(value)]?.liveTags ?? [] }

    /// Whether `value` is in the set.
    public func contains(_ value: Value) -> Bool { entries[ValueKey(value)]?.hasLiveTag ?? false }

    /// The members, sorted by ``Value``'s total order.
    /// - Complexity: O(n log n).
    public var elements: [Value] {
        entries.compactMap { $0.value.hasLiveTag ? $0.key.value : nil }.sorted()
    }

    /// Whether the set has no members (tombstones may remain).
    public var isEmpty: Bool { !entries.values.contains { $0.hasLiveTag } }

    /// Number of tombstones held; tombstones are kept until record deletion prunes them.
    public var tombstoneCount: Int { entries.values.reduce(0) { $0 + $1.tombstoneCount } }

    /// Merges another replica's set state (commutative, associative, idempotent).
    /// - Complexity: O(n) in the size of `other`.
    public mutating func merge(_ other: ORSet) {
        for (value, theirs) in other.entries {
            if let index = entries.index(forKey: value) {
                for tag in theirs.tags { _ = entries.values[index].insert(tag.stamp, removed: tag.removed) }
            } else {
                entries[value] = theirs
            }
        }
    }

    /// Drops every add and tombstone whose tag is at or before `cutoff` (a record delete):
    /// such adds can never become visible again, so their tombstones are no longer needed.
    mutating func prune(atOrBefore cutoff: Stamp) {
        for (value, var entry) in entries {
            entry.tags.removeAll { $0.stamp <= cutoff }
            entries[value] = entry.isEmpty ? nil : entry
        }
    }
}

extension ORSet.Entry {
    /// Records `stamp` as live (an add) or removed (a remove). A removed tag stays removed.
    /// - Returns: `true` when the entry changed.
    mutating func insert(_ stamp: Stamp, removed: Bool) -> Bool {
        // Tags are usually appended in increasing order: scan from the end.
        var i = tags.endIndex
        while i > tags.startIndex, tags[i - 1].stamp > stamp { i -= 1 }
        if i > tags.startIndex, tags[i - 1].stamp == stamp {
            guard removed, !tags[i - 1].removed else { return false }
            tags[i - 1].removed = true
            return true
        }
        tags.insert(Tag(stamp: stamp, removed: removed), at: i)
        return true
    }
}
