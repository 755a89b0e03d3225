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
/// Layout (`ORSet+Layout.swift`): every value ever seen is interned once as a *member*
/// slot, found through an open-addressing index on a seeded hash; a member's tags are
/// 16-byte records (clock reading, index into the set's table of replica ids, removed
/// flag) kept in stamp order, with a count of the live ones. Equality and hashing are
/// by contents, never by slot order.
///
/// ```swift
/// var tags = ORSet()
/// tags.add("urgent", tag: stampA)
/// tags.remove("urgent", observed: tags.tags(of: "urgent"))
/// tags.contains("urgent")   // false
/// ```
public struct ORSet: Sendable {
    /// Every value seen, live or only tombstones, in first-seen order.
    var members: [Member] = []
    /// Open-addressing index of `members` by value (see `ORSet+Layout.swift`).
    var slots: [Int32] = []
    /// The replica ids the tags name; a tag holds an index into this table. Every id is
    /// used by at least one tag (``prune(atOrBefore:)`` drops the unused ones).
    var replicas = ReplicaTable()

    /// An empty set.
    public init() {}

    /// Adds `value` under a fresh unique `tag`. A tag already removed is ignored.
    /// - Returns: `true` when the set's state changed.
    /// - Complexity: O(1) expected when `tag` is newer than the value's other tags (a
    ///   local add, or adds arriving in order); O(k) in the value's tags otherwise.
    @discardableResult
    public mutating func add(_ value: Value, tag: Stamp) -> Bool {
        let key = ValueKey(value)
        let replica = replicas.intern(tag.replica)
        let slot = slotInserting(key)
        return insert(Tag(hlc: tag.hlc.rawValue, replica: replica, removed: false), into: slot)
    }

    /// Removes the (value, tag) pairs for every tag in `observed`, keeping tombstones.
    /// - Returns: `true` when the set's state changed.
    /// - Complexity: O(k · m) for k observed tags and m tags seen for `value`.
    @discardableResult
    public mutating func remove(_ value: Value, observed: some Sequence<Stamp>) -> Bool {
        remove(value, observed: observed, in: TagWindow(before: nil, after: nil))
    }

    /// The stamps a remove may name: before `before` and after `after` (open bounds; `nil`
    /// is unbounded). See ``RecordState`` for why a record's removes are bounded.
    struct TagWindow {
        let before: Stamp?
        let after: Stamp?

        @inline(__always)
        func contains(_ tag: Stamp) -> Bool {
            (before.map { tag < $0 } ?? true) && (after.map { tag > $0 } ?? true)
        }
    }

    /// Removes the (value, tag) pairs for the tags in `observed` inside `window`: one
    /// lookup of `value` for all of them, and no member is created when none is inside.
    /// - Returns: `true` when the set's state changed.
    @discardableResult
    mutating func remove(_ value: Value, observed: some Sequence<Stamp>, in window: TagWindow) -> Bool {
        var slot: Int?
        var changed = false
        for tag in observed where window.contains(tag) {
            if slot == nil { slot = slotInserting(ValueKey(value)) }
            let replica = replicas.intern(tag.replica)
            if insert(Tag(hlc: tag.hlc.rawValue, replica: replica, removed: true), into: slot!) { changed = true }
        }
        return changed
    }

    /// The live tags of `value`: what a remove issued now must carry.
    public func tags(of value: Value) -> [Stamp] {
        guard let slot = slot(of: ValueKey(value)) else { return [] }
        // Read in place: copying the member would retain and release its value and tags.
        return members.withUnsafeBufferPointer { members in
            members[slot].tags.withUnsafeBufferPointer { tags in
                var live: [Stamp] = []
                live.reserveCapacity(members[slot].liveCount)
                for tag in tags where !tag.removed { live.append(stamp(of: tag)) }
                return live
            }
        }
    }

    /// Whether `value` is in the set.
    public func contains(_ value: Value) -> Bool {
        guard let slot = slot(of: ValueKey(value)) else { return false }
        return members[slot].liveCount > 0
    }

    /// The members, sorted by ``Value``'s total order.
    /// - Complexity: O(n log n).
    public var elements: [Value] {
        var live = members.filter { $0.liveCount > 0 }
        live.sort { $0.key.precedes($1.key) }
        return live.map(\.key.value)
    }

    /// Whether the set has no members (tombstones may remain).
    public var isEmpty: Bool { !members.contains { $0.liveCount > 0 } }

    /// Number of tombstones held; tombstones are kept until record deletion prunes them.
    public var tombstoneCount: Int { members.reduce(0) { $0 + $1.tags.count - $1.liveCount } }

    /// Merges another replica's set state (commutative, associative, idempotent).
    /// - Complexity: O(n) in the size of `other` when tags arrive newest last.
    public mutating func merge(_ other: ORSet) {
        if members.isEmpty {
            self = other
            return
        }
        // Their replica indexes, as ours.
        let ours = other.replicas.ids.map { replicas.intern($0) }
        for theirs in other.members {
            let slot = slotInserting(theirs.key)
            for tag in theirs.tags {
                _ = insert(Tag(hlc: tag.hlc, replica: ours[tag.replica], removed: tag.removed), into: slot)
            }
        }
    }

    /// Drops every add and tombstone whose tag is at or before `cutoff` (a record delete):
    /// such adds can never become visible again, so their tombstones are no longer needed.
    /// Members left without tags and replica ids no tag uses any more are dropped too.
    mutating func prune(atOrBefore cutoff: Stamp) {
        var kept: [Member] = []
        kept.reserveCapacity(members.count)
        var used = [Bool](repeating: false, count: replicas.count)
        for var member in members {
            member.tags.removeAll { !isAfter($0, cutoff) }
            guard !member.tags.isEmpty else { continue }
            member.liveCount = member.tags.reduce(0) { $0 + ($1.removed ? 0 : 1) }
            for tag in member.tags { used[tag.replica] = true }
            kept.append(member)
        }
        members = kept
        compactReplicas(keeping: used)
        rebuildSlots()
    }
}
