/// Equality and hashing by contents: the same values with the same tags, each live or
/// removed alike. Slot order and replica numbering depend on arrival order and are not
/// part of the state.
extension ORSet: Hashable {
    public static func == (lhs: ORSet, rhs: ORSet) -> Bool {
        guard lhs.members.count == rhs.members.count else { return false }
        for member in lhs.members {
            guard let slot = rhs.slot(of: member.key) else { return false }
            let theirs = rhs.members[slot]
            guard member.liveCount == theirs.liveCount, member.tags.count == theirs.tags.count else { return false }
            for (a, b) in zip(member.tags, theirs.tags) {
                guard a.hlc == b.hlc, a.removed == b.removed,
                    lhs.replicas.ids[a.replica] == rhs.replicas.ids[b.replica]
                else { return false }
            }
        }
        return true
    }

    public func hash(into hasher: inout Hasher) {
        // Members in any order: combine their hashes with a commutative sum.
        var sum: UInt64 = 0
        for member in members {
            var h = Hasher()
            h.combine(member.key.value)
            for tag in member.tags {
                h.combine(tag.hlc)
                h.combine(replicas.ids[tag.replica])
                h.combine(tag.removed)
            }
            sum &+= UInt64(bitPattern: Int64(h.finalize()))
        }
        hasher.combine(members.count)
        hasher.combine(sum)
    }
}
