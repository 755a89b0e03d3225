/// One replica's editing session over a ``ReplicaState``: it stamps local writes with its
/// hybrid logical clock, applies them, and receives remote operations (checking clock
/// drift before applying anything).
///
/// This is the in-memory core that `Concord.Replica` persists; use it directly for
/// simulations, benchmarks and tests.
///
/// ```swift
/// var alice = LocalReplica(id: aliceID)
/// let todo = RecordID.random()
/// let op1 = try alice.set("title", to: "Buy milk", record: todo, in: "todos")
/// let op2 = try alice.add("errand", to: "tags", record: todo, in: "todos")
///
/// var bob = LocalReplica(id: bobID)
/// try bob.receive([op1, op2])
/// assert(bob.state == alice.state)
/// ```
public struct LocalReplica: Sendable {
    /// This replica's id.
    public let id: ReplicaID
    /// The replica's clock; its `last` reading is what to persist across restarts.
    public private(set) var clock: HybridLogicalClock
    /// The merged state.
    public private(set) var state: ReplicaState

    /// A replica with an empty state.
    /// - Parameters:
    ///   - id: the replica id (the device's public key).
    ///   - clock: its clock; a fresh system clock by default.
    ///   - state: a state to resume from.
    public init(id: ReplicaID, clock: HybridLogicalClock = HybridLogicalClock(), state: ReplicaState = ReplicaState()) {
        self.id = id
        self.clock = clock
        self.state = state
    }

    /// Writes `value` to the LWW field `field` of a record.
    /// - Returns: the operation to send to other replicas.
    /// - Throws: clock errors (see ``HybridLogicalClock/now()``); the state is then unchanged.
    @discardableResult
    public mutating func set(_ field: String, to value: Value, record: RecordID, in collection: String) throws -> RecordOperation {
        try perform(.set(field: field, value: value), record: record, in: collection)
    }

    /// Adds `value` to the OR-set `field` of a record.
    @discardableResult
    public mutating func add(_ value: Value, to field: String, record: RecordID, in collection: String) throws -> RecordOperation {
        try perform(.add(field: field, value: value), record: record, in: collection)
    }

    /// Removes `value` from the OR-set `field`: the operation carries every tag of `value`
    /// this replica has observed, so concurrent adds elsewhere survive (add wins).
    @discardableResult
    public mutating func remove(_ value: Value, from field: String, record: RecordID, in collection: String) throws -> RecordOperation {
        let observed = state.tags(of: value, in: field, of: record, in: collection)
        return try perform(.remove(field: field, value: value, observed: observed), record: record, in: collection)
    }

    /// Deletes a record.
    @discardableResult
    public mutating func delete(record: RecordID, in collection: String) throws -> RecordOperation {
        try perform(.delete, record: record, in: collection)
    }

    /// Stamps and applies an action.
    public mutating func perform(_ action: RecordOperation.Action, record: RecordID, in collection: String) throws -> RecordOperation {
        let op = RecordOperation(stamp: Stamp(hlc: try clock.now(), replica: id), collection: collection, record: record, action: action)
        state.apply(op)
        return op
    }

    /// A new reading of this replica's clock with no operation: the stamp of something
    /// else this device signs (a membership op of `Specs/membership.md`).
    ///
    /// ```swift
    /// let stamp = try replica.tick()
    /// ```
    /// - Throws: ``ConcordCoreError/Code/clockDriftExceeded`` as ``HybridLogicalClock/now()``.
    public mutating func tick() throws -> HLCTimestamp { try clock.now() }

    /// Merges a remote clock reading that came with no operation (a membership op's stamp)
    /// into the clock, after the drift check.
    /// - Throws: ``ConcordCoreError/Code/clockDriftExceeded``; the clock is then unchanged.
    public mutating func observe(_ reading: HLCTimestamp) throws { try clock.observe(reading) }

    /// Receives remote operations: checks the greatest clock reading against the drift
    /// bound, merges it into the clock, then applies every operation. All or nothing: if
    /// the check fails, neither the clock nor the state changes.
    /// - Returns: how many operations changed the state.
    /// - Throws: ``ConcordCoreError/Code/clockDriftExceeded``.
    @discardableResult
    public mutating func receive(_ ops: [RecordOperation]) throws -> Int {
        guard var newest = ops.first?.stamp.hlc else { return 0 }
        for op in ops where op.stamp.hlc > newest { newest = op.stamp.hlc }
        try clock.observe(newest)
        return state.apply(contentsOf: ops)
    }

    /// Merges another replica's whole state (state-based sync). Checks the newest clock
    /// reading in `other` against the drift bound first, like ``receive(_:)``: all or nothing.
    /// - Throws: ``ConcordCoreError/Code/clockDriftExceeded``; the replica is then unchanged.
    /// - Complexity: O(size of `other`).
    public mutating func merge(_ other: ReplicaState) throws {
        if let newest = other.newestStamp { try clock.observe(newest.hlc) }
        state.merge(other)
    }
}
