import ConcordCore

/// A random multi-replica history: replicas edit concurrently and now and then pull
/// everything another replica has seen, so removes observe remote tags and clocks are
/// causally related. The union of all operations is what every replica must converge on.
///
/// ```swift
/// var rng = SeededGenerator(seed: 7)
/// let history = History.generate(replicas: 3, steps: 40, using: &rng)
/// var state = ReplicaState()
/// state.apply(contentsOf: history.operations.shuffled(using: &rng))
/// ```
public struct History: Sendable {
    /// The replicas' ids.
    public var replicas: [ReplicaID]
    /// Every operation, in the order generated.
    public var operations: [RecordOperation]
    /// Each replica's final state after the history (it may not have seen everything).
    public var finalStates: [ReplicaState]

    /// Generates a history.
    /// - Parameters:
    ///   - count: how many replicas edit (1 or more).
    ///   - steps: how many steps; each is a local edit (75%) or a pull from a peer (25%).
    ///   - domain: what edits may touch; a small random domain by default.
    ///   - maxClockSkew: each replica's physical clock is off by up to this many ms.
    ///   - rng: the seeded generator driving every choice; the same seed gives the same history.
    /// - Returns: the operations, the replica ids and each replica's final state.
    public static func generate(
        replicas count: Int, steps: Int, domain: Generators.Domain? = nil, maxClockSkew: UInt64 = 500,
        using rng: inout SeededGenerator
    ) -> History {
        let domain = domain ?? .small(using: &rng)
        let start: UInt64 = 1_700_000_000_000
        let ids = (0..<count).map { _ in ReplicaID.random(using: &rng) }
        let clocks = ids.map { _ in ManualClock(milliseconds: start) }
        let skews = ids.map { _ in Int64.random(in: -Int64(maxClockSkew)...Int64(maxClockSkew), using: &rng) }
        var replicas = zip(ids, clocks).map { LocalReplica(id: $0, clock: HybridLogicalClock(physicalClock: $1)) }
        var seen = Array(repeating: [Int](), count: count)  // indexes into operations
        var operations = [RecordOperation]()
        var now = start

        for _ in 0..<steps {
            now += UInt64.random(in: 0...3, using: &rng)  // often the same millisecond
            let r = Int.random(in: 0..<count, using: &rng)
            clocks[r].set(milliseconds: UInt64(Int64(now) + skews[r]))
            if count > 1 && rng.chance(0.25) {
                var s = Int.random(in: 0..<(count - 1), using: &rng)
                if s >= r { s += 1 }
                let known = Set(seen[r])
                let new = seen[s].filter { !known.contains($0) }
                // Skew is far below the drift bound, so receiving cannot fail.
                try! replicas[r].receive(new.map { operations[$0] })
                seen[r].append(contentsOf: new)
            } else {
                let (collection, record, action) = Generators.action(in: domain, state: replicas[r].state, using: &rng)
                let op = try! replicas[r].perform(action, record: record, in: collection)
                seen[r].append(operations.count)
                operations.append(op)
            }
        }
        return History(replicas: ids, operations: operations, finalStates: replicas.map(\.state))
    }
}
