import ConcordCore

/// Re-stamps a device's writes that the space has not acknowledged, for a recovery
/// (`Specs/sync-protocol.md` §5, `Specs/hlc.md` §9). Pure: no store, no I/O.
///
/// Each operation keeps its place in time where it can: its new reading is its old reading
/// plus one, so it still follows everything its author had seen when writing, and it
/// *shadows* its old copy (a replica that holds both resolves every register, delete and
/// last-write alike, because the new stamp is greater). An operation whose old reading is
/// beyond `horizon` (written with a clock far ahead: no peer accepts it) gets a fresh
/// reading after `floor` instead. Removes name the new tags of re-issued adds; and one
/// extra remove per re-issued add names its old tag, so a replica that applied the old
/// add and one that never saw it hold the same set.
///
/// ```swift
/// let plan = try Reissue.plan(oldOps, as: newDevice, floor: newestSeen, horizon: now + maxDrift, clock: clock)
/// try seal(plan.operations)
/// ```
struct Reissue {
    /// The re-stamped operations, in order, followed by the shadowing removes.
    var operations: [RecordOperation] = []
    /// The greatest reading issued: where the new identity's clock continues.
    var last: HLCTimestamp = .zero
    /// How many operations got a fresh reading because their old one was beyond the horizon.
    var moved = 0
    /// How many removes of old tags were added at the end.
    var shadows = 0

    /// Plans the re-issue of `ops` (in their original order) under `replica`.
    /// - Parameters:
    ///   - ops: The old operations, oldest first (bundles in sequence order, then pending).
    ///   - replica: The new identity.
    ///   - floor: The newest reading the device holds from anyone (not counting `ops`):
    ///     fresh readings come after it.
    ///   - horizon: The latest millisecond peers accept now (physical time + drift).
    ///   - clock: Supplies fresh readings (its physical clock and drift bound are used).
    /// - Throws: ``ConcordCoreError`` clock errors.
    static func plan(_ ops: [RecordOperation], as replica: ReplicaID, floor: HLCTimestamp, horizon: UInt64, clock: HybridLogicalClock)
        throws -> Reissue
    {
        var plan = Reissue()
        var fresh = HybridLogicalClock(physicalClock: clock.physicalClock, maxDrift: clock.maxDrift, last: floor)
        var newTags: [Stamp: Stamp] = [:]
        struct Place: Hashable {
            var collection: ByteString
            var record: RecordID
            var field: ByteString
            var value: Value
        }
        var shadowed: [Place: (op: RecordOperation, field: String, value: Value, tags: [Stamp])] = [:]
        var shadowOrder: [Place] = []
        for op in ops {
            let kept = HLCTimestamp(rawValue: op.stamp.hlc.rawValue &+ 1)
            let hlc: HLCTimestamp
            if kept.rawValue > op.stamp.hlc.rawValue, kept.milliseconds <= horizon, kept > plan.last {
                hlc = kept
            } else {
                fresh.resume(from: plan.last)
                hlc = try fresh.now()
                plan.moved += 1
            }
            plan.last = hlc
            let stamp = Stamp(hlc: hlc, replica: replica)
            var action = op.action
            switch op.action {
            case let .remove(field, value, observed):
                action = .remove(field: field, value: value, observed: observed.map { newTags[$0] ?? $0 })
            case let .add(field, value):
                newTags[op.stamp] = stamp
                let place = Place(collection: ByteString(op.collection), record: op.record, field: ByteString(field), value: value)
                if shadowed[place] == nil {
                    shadowed[place] = (op, field, value, [])
                    shadowOrder.append(place)
                }
                shadowed[place]!.tags.append(op.stamp)
            case .set, .delete:
                break
            }
            plan.operations.append(RecordOperation(stamp: stamp, collection: op.collection, record: op.record, action: action))
        }
        // The old tags of re-issued adds, removed after everything above. A tag beyond the
        // horizon cannot be removed by an acceptable reading; no peer accepted it either.
        for place in shadowOrder {
            let entry = shadowed[place]!
            fresh.resume(from: plan.last)
            let hlc = try fresh.now()
            let tags = entry.tags.filter { $0.hlc < hlc }
            guard !tags.isEmpty else { continue }
            plan.last = hlc
            plan.shadows += 1
            plan.operations.append(
                RecordOperation(
                    stamp: Stamp(hlc: hlc, replica: replica), collection: entry.op.collection, record: entry.op.record,
                    action: .remove(field: entry.field, value: entry.value, observed: tags)))
        }
        return plan
    }
}
