/// The full CRDT state of one record: its LWW registers, its OR-sets and its deletion.
///
/// Deletion is a record-level tombstone stamp `D` (the greatest delete seen). Every
/// register write and set tag stamped at or before `D` is dropped and ignored if it
/// arrives later; anything stamped after `D` survives. The record is visible when its
/// latest non-delete write is after `D`. The state is kept in this normal form, so two
/// replicas that saw the same operations hold equal states.
public struct RecordState: Hashable, Sendable {
    /// The greatest delete stamp seen, if any.
    public private(set) var deletedAt: Stamp?
    /// The greatest stamp of any set/add/remove operation seen (deletes excluded).
    public private(set) var lastWrite: Stamp?
    var registers: [ByteString: LWWRegister] = [:]
    var sets: [ByteString: ORSet] = [:]

    /// An empty record state.
    public init() {}

    /// Whether the record exists for readers: written, and written after its last delete.
    public var isVisible: Bool {
        guard let lastWrite else { return false }
        guard let deletedAt else { return true }
        return lastWrite > deletedAt
    }

    /// Applies one action stamped `stamp`.
    /// - Returns: `true` when the state changed.
    @discardableResult
    mutating func apply(_ action: Operation.Action, stamp: Stamp) -> Bool {
        if case .delete = action { return delete(at: stamp) }
        var changed = false
        if lastWrite.map({ stamp > $0 }) ?? true {
            lastWrite = stamp
            changed = true
        }
        if let deletedAt, stamp <= deletedAt { return changed }
        switch action {
        case let .set(field, value):
            let key = ByteString(field)
            if var register = registers[key] {
                if register.write(value, stamp: stamp) {
                    registers[key] = register
                    changed = true
                }
            } else {
                registers[key] = LWWRegister(value: value, stamp: stamp)
                changed = true
            }
        case let .add(field, value):
            if sets[ByteString(field), default: ORSet()].add(value, tag: stamp) { changed = true }
        case let .remove(field, value, observed):
            let live = observed.filter { tag in deletedAt.map { tag > $0 } ?? true }
            guard !live.isEmpty else { return changed }
            if sets[ByteString(field), default: ORSet()].remove(value, observed: live) { changed = true }
        case .delete:
            break
        }
        return changed
    }

    /// Records a delete at `stamp` and prunes everything at or before it.
    @discardableResult
    mutating func delete(at stamp: Stamp) -> Bool {
        if let deletedAt, deletedAt >= stamp { return false }
        deletedAt = stamp
        prune()
        return true
    }

    private mutating func prune() {
        guard let cutoff = deletedAt else { return }
        registers = registers.filter { $0.value.stamp > cutoff }
        for (key, var set) in sets {
            set.prune(atOrBefore: cutoff)
            sets[key] = set.entries.isEmpty ? nil : set
        }
    }

    /// Merges another replica's state of the same record.
    mutating func merge(_ other: RecordState) {
        if let theirs = other.lastWrite, lastWrite.map({ theirs > $0 }) ?? true { lastWrite = theirs }
        if let theirs = other.deletedAt, deletedAt.map({ theirs > $0 }) ?? true { deletedAt = theirs }
        for (key, register) in other.registers {
            if registers[key] != nil { registers[key]!.merge(register) } else { registers[key] = register }
        }
        for (key, set) in other.sets {
            sets[key, default: ORSet()].merge(set)
        }
        prune()
    }

    /// The LWW register of `field`, if it holds a surviving write.
    public func register(_ field: String) -> LWWRegister? { registers[ByteString(field)] }

    /// The OR-set of `field`, if it holds any surviving tag or tombstone.
    public func set(_ field: String) -> ORSet? { sets[ByteString(field)] }
}
