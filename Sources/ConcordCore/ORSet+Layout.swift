// The in-memory layout of ``ORSet``: interned members found through an open-addressing
// index, compact tags, and the set's table of replica ids.
//
// Why: an OR-set operation used to cost three SipHash lookups (record, field, value) plus
// one per observed tag, and 48-byte tags (a full `Stamp` and a flag) moved in and out of
// per-value arrays. Here a value is hashed once per operation with a cheap seeded hash,
// a remove finds its value once for all its observed tags, and a tag is 16 bytes.

extension ORSet {
    /// One tag of a member: an add's stamp, live or removed. The stamp's replica is an index
    /// into the set's ``ReplicaTable``; order is by clock reading, then replica id bytes.
    struct Tag: Hashable, Sendable {
        /// The stamp's HLC raw value.
        var hlc: UInt64
        /// `replica index << 1 | removed`.
        private var bits: UInt32

        init(hlc: UInt64, replica: Int, removed: Bool) {
            self.hlc = hlc
            bits = UInt32(truncatingIfNeeded: replica) << 1 | (removed ? 1 : 0)
        }

        /// The index of the stamp's replica in the set's ``ReplicaTable``.
        var replica: Int { Int(bits >> 1) }

        /// Whether the tag is a tombstone.
        var removed: Bool {
            get { bits & 1 != 0 }
            set { bits = newValue ? bits | 1 : bits & ~1 }
        }

        /// Whether the same stamp (live or removed).
        @inline(__always)
        func hasStamp(of other: Tag) -> Bool { hlc == other.hlc && replica == other.replica }
    }

    /// A value ever seen by the set, with every tag seen for it.
    struct Member: Sendable {
        let key: ValueKey
        /// Ascending by stamp, no stamp twice.
        var tags: [Tag]
        /// How many of `tags` are live: the value is a member of the set iff this is > 0.
        var liveCount: Int

        init(key: ValueKey) {
            self.key = key
            tags = []
            liveCount = 0
        }

        /// Records `tag` (live or removed). A removed tag stays removed.
        /// - Returns: `true` when the member changed.
        /// - Complexity: O(1) when `tag` is newer than every tag held (appended), else O(k).
        @inline(__always)
        mutating func insert(_ tag: Tag, _ replicas: ReplicaTable) -> Bool {
            var i = tags.endIndex
            if i == 0 || replicas.precedes(tags[i - 1], tag) {
                if i == 0 { tags.reserveCapacity(4) }  // values are typically added and removed a few times
                tags.append(tag)
                if !tag.removed { liveCount += 1 }
                return true
            }
            while i > 0, replicas.precedes(tag, tags[i - 1]) { i -= 1 }
            if i > 0, tags[i - 1].hasStamp(of: tag) {
                guard tag.removed, !tags[i - 1].removed else { return false }
                tags[i - 1].removed = true
                liveCount -= 1
                return true
            }
            // Insert at i: append, then shift the newer tags up by one (Array.insert goes
            // through the generic replaceSubrange, several times slower for a few tags).
            tags.append(tag)
            tags.withUnsafeMutableBufferPointer { buffer in
                var j = buffer.count - 1
                while j > i {
                    buffer[j] = buffer[j - 1]
                    j -= 1
                }
                buffer[i] = tag
            }
            if !tag.removed { liveCount += 1 }
            return true
        }
    }

    /// Records `tag` for the member in `slot`.
    /// - Returns: `true` when the set changed.
    @inline(__always)
    mutating func insert(_ tag: Tag, into slot: Int) -> Bool {
        members[slot].insert(tag, replicas)
    }

    /// Calls `body` with the member in `slot` and the set's table of replica ids, both in
    /// place: for a caller that records several tags for one value.
    @inline(__always)
    mutating func withMember<R>(_ slot: Int, _ body: (inout Member, inout ReplicaTable) -> R) -> R {
        body(&members[slot], &replicas)
    }

    /// The full stamp of a tag.
    func stamp(of tag: Tag) -> Stamp {
        Stamp(hlc: HLCTimestamp(rawValue: tag.hlc), replica: replicas.ids[tag.replica])
    }

    /// Whether `tag`'s stamp is after `cutoff`.
    func isAfter(_ tag: Tag, _ cutoff: Stamp) -> Bool {
        tag.hlc != cutoff.hlc.rawValue ? tag.hlc > cutoff.hlc.rawValue : replicas.ids[tag.replica] > cutoff.replica
    }

    // MARK: The index of members by value

    /// The member slot holding `key`, if any.
    /// - Complexity: O(1) expected (linear probing at a load of at most 1/2).
    func slot(of key: ValueKey) -> Int? {
        guard !slots.isEmpty else { return nil }
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: key.hashCode) & mask
        while true {
            let entry = Int(slots[i])
            if entry == 0 { return nil }
            if members[entry - 1].key.hashCode == key.hashCode, members[entry - 1].key == key { return entry - 1 }
            i = (i + 1) & mask
        }
    }

    /// The member slot holding `key`, adding a member without tags if there is none. The
    /// caller adds a tag to it at once (a member never stays without tags).
    mutating func slotInserting(_ key: ValueKey) -> Int {
        if (members.count + 1) * 2 > slots.count { rebuildSlots(minimumCapacity: (members.count + 1) * 2) }
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: key.hashCode) & mask
        while true {
            let entry = Int(slots[i])
            if entry == 0 { break }
            if members[entry - 1].key.hashCode == key.hashCode, members[entry - 1].key == key { return entry - 1 }
            i = (i + 1) & mask
        }
        members.append(Member(key: key))
        slots[i] = Int32(truncatingIfNeeded: members.count)
        return members.count - 1
    }

    /// Rebuilds the index of `members` with room for at least `minimumCapacity` slots
    /// (a power of two, twice the members at least).
    mutating func rebuildSlots(minimumCapacity: Int = 0) {
        let needed = max(minimumCapacity, members.count * 2)
        guard needed > 0 else {
            slots = []
            return
        }
        var capacity = 8
        while capacity < needed { capacity <<= 1 }
        var table = [Int32](repeating: 0, count: capacity)
        let mask = capacity - 1
        for (n, member) in members.enumerated() {
            var i = Int(truncatingIfNeeded: member.key.hashCode) & mask
            while table[i] != 0 { i = (i + 1) & mask }
            table[i] = Int32(truncatingIfNeeded: n + 1)
        }
        slots = table
    }

    /// Drops the replica ids no tag uses, renumbering the tags.
    mutating func compactReplicas(keeping used: [Bool]) {
        guard used.contains(false) else { return }
        var renumbered = [Int](repeating: -1, count: used.count)
        var ids: [ReplicaID] = []
        for (i, id) in replicas.ids.enumerated() where used[i] {
            renumbered[i] = ids.count
            ids.append(id)
        }
        replicas = ReplicaTable(ids)
        for m in members.indices {
            for t in members[m].tags.indices {
                let tag = members[m].tags[t]
                members[m].tags[t] = Tag(hlc: tag.hlc, replica: renumbered[tag.replica], removed: tag.removed)
            }
        }
    }
}

/// The replica ids an ``ORSet``'s tags name, each once, in first-seen order (tags hold
/// their index). A set has few (its writers), found by a scan; past
/// ``ReplicaTable/scanLimit`` a dictionary finds them.
struct ReplicaTable: Sendable {
    private(set) var ids: [ReplicaID] = []
    private var lookup: [ReplicaID: Int] = [:]
    private static let scanLimit = 8

    init() {}

    init(_ ids: [ReplicaID]) {
        for id in ids { _ = intern(id) }
    }

    var count: Int { ids.count }

    /// The index of `id`, adding it if new.
    @inline(__always)
    mutating func intern(_ id: ReplicaID) -> Int {
        if let i = index(of: id) { return i }
        ids.append(id)
        if ids.count > Self.scanLimit {
            if lookup.isEmpty {
                for (i, known) in ids.enumerated() { lookup[known] = i }
            } else {
                lookup[id] = ids.count - 1
            }
        }
        return ids.count - 1
    }

    /// The index of `id`, if the table has it.
    @inline(__always)
    func index(of id: ReplicaID) -> Int? {
        if ids.count > Self.scanLimit { return lookup[id] }
        for i in ids.indices where ids[i] == id { return i }
        return nil
    }

    /// Stamp order of two tags: clock reading, then replica id bytes.
    @inline(__always)
    func precedes(_ a: ORSet.Tag, _ b: ORSet.Tag) -> Bool {
        if a.hlc != b.hlc { return a.hlc < b.hlc }
        return a.replica != b.replica && ids[a.replica] < ids[b.replica]
    }
}
