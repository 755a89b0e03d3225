// Pruning an OR-set at a held frontier (`Specs/crdt-semantics.md` §11.2–§11.3).

extension ORSet {
    /// Drops every removed tag whose stamp `frontier` delivers, then the values left
    /// without tags. Live tags are never dropped.
    /// - Returns: How many tombstones were dropped.
    /// - Complexity: O(n) in the tags held.
    @discardableResult
    mutating func pruneTombstones(deliveredBy frontier: Frontier) -> Int {
        // The set's replicas whose chains are delivered past some tag, as clock readings
        // (nil: nothing of that replica is delivered).
        let heads = replicas.ids.map { frontier.head(of: $0)?.rawValue }
        guard heads.contains(where: { $0 != nil }) else { return 0 }
        var dropped = 0
        var kept: [Member] = []
        kept.reserveCapacity(members.count)
        var used = [Bool](repeating: false, count: replicas.count)
        for var member in members {
            let before = member.tags.count
            member.tags.removeAll { tag in tag.removed && heads[tag.replica].map { tag.hlc <= $0 } ?? false }
            dropped += before - member.tags.count
            guard !member.tags.isEmpty else { continue }
            for tag in member.tags { used[tag.replica] = true }
            kept.append(member)
        }
        guard dropped > 0 else { return 0 }
        members = kept
        compactReplicas(keeping: used)
        rebuildSlots()
        return dropped
    }

    /// A copy without the tags that `frontier` delivers and `held` does not hold: for a
    /// merge into a state pruned at `frontier`, which applied those adds and has since
    /// dropped them with their tombstones (`Specs/crdt-semantics.md` §11.3).
    func withoutTags(deliveredBy frontier: Frontier, missingFrom held: ORSet?) -> ORSet {
        var result = ORSet()
        for member in members {
            for tag in member.tags {
                let stamp = stamp(of: tag)
                if frontier.delivers(stamp), !(held?.holds(stamp, of: member.key) ?? false) { continue }
                let slot = result.slotInserting(member.key)
                let replica = result.replicas.intern(stamp.replica)
                _ = result.insert(Tag(hlc: tag.hlc, replica: replica, removed: tag.removed), into: slot)
            }
        }
        return result
    }

    /// Whether the set holds `stamp` (live or removed) for the value `key`.
    func holds(_ stamp: Stamp, of key: ValueKey) -> Bool {
        guard let slot = slot(of: key), let replica = replicas.index(of: stamp.replica) else { return false }
        return members[slot].tags.contains { $0.hlc == stamp.hlc.rawValue && $0.replica == replica }
    }
}
