/// The full CRDT state of one record: its LWW registers, its OR-sets and its deletion.
///
/// Deletion is a record-level tombstone stamp `D` (the greatest delete seen). Every
/// register write and set tag stamped at or before `D` is dropped and ignored if it
/// arrives later; anything stamped after `D` survives. The record is visible when its
/// latest set or add is after `D` (a remove alone never revives a deleted record). The state is kept in this normal form, so two
/// replicas that saw the same operations hold equal states, unless one of them pruned
/// (``ReplicaState/prune(frontier:)``), which changes only hidden state.
public struct RecordState: Hashable, Sendable {
    /// The greatest delete stamp seen, if any.
    public internal(set) var deletedAt: Stamp?
    /// The greatest stamp of any set or add seen: the record's latest constructive write.
    /// A pruned hidden record drops it (`Specs/crdt-semantics.md` §11.3).
    public internal(set) var lastWrite: Stamp?
    /// The sequence, in its author's chain, of the bundle that carried ``deletedAt``, when
    /// the delete was applied with its bundle position (part of the delete stub,
    /// `Specs/crdt-semantics.md` §11.4); `nil` when unknown or never deleted.
    public internal(set) var deleteBundle: UInt64?
    var registers: [ByteString: LWWRegister] = [:]
    /// The OR-sets, by field name (sorted, each non-empty).
    var sets = FieldSets()

    /// An empty record state.
    public init() {}

    /// Whether the record exists for readers: written, and written after its last delete.
    public var isVisible: Bool {
        guard let lastWrite else { return false }
        guard let deletedAt else { return true }
        return lastWrite > deletedAt
    }

    /// Applies one action stamped `stamp`.
    ///
    /// A remove's observed tags must be older than the remove itself (a replica can only
    /// observe adds it has already seen, and its clock is ahead of them); tags at or after
    /// the remove's stamp are ignored. Without that rule a malformed remove stamped before a
    /// delete but naming tags after it would leave replicas in different states depending
    /// on arrival order.
    /// - Parameter bundle: The sequence of the bundle carrying the action in its author's
    ///   chain, if known; a delete keeps it as ``deleteBundle``.
    /// - Returns: `true` when the state changed.
    @discardableResult
    mutating func apply(_ action: RecordOperation.Action, stamp: Stamp, bundle: UInt64? = nil) -> Bool {
        var changed = false
        switch action {
        case .delete:
            return delete(at: stamp, bundle: bundle)
        case .set, .add:
            // Only constructive writes make a record visible (see Specs/crdt-semantics.md).
            if lastWrite.map({ stamp > $0 }) ?? true {
                lastWrite = stamp
                changed = true
            }
        case .remove:
            break
        }
        if let deletedAt, stamp <= deletedAt { return changed }
        switch action {
        case let .set(field, value):
            let key = ByteString(field)
            // One hash lookup: update in place through the index when the field exists.
            if let index = registers.index(forKey: key) {
                if registers.values[index].write(value, stamp: stamp) { changed = true }
            } else {
                registers[key] = LWWRegister(value: value, stamp: stamp)
                changed = true
            }
        case let .add(field, value):
            if sets.modify(ByteString(field), { $0.add(value, tag: stamp) }) { changed = true }
        case let .remove(field, value, observed):
            // Only observed tags older than the remove and after the record's delete count.
            let window = ORSet.TagWindow(before: stamp, after: deletedAt)
            guard observed.contains(where: { window.contains($0) }) else { return changed }
            if sets.modify(ByteString(field), { $0.remove(value, observed: observed, in: window) }) { changed = true }
        case .delete:
            break
        }
        return changed
    }

    /// Records a delete at `stamp` (carried by bundle `bundle`, if known) and prunes
    /// everything at or before it. The same delete again fills in a missing bundle position.
    @discardableResult
    mutating func delete(at stamp: Stamp, bundle: UInt64? = nil) -> Bool {
        if let deletedAt, deletedAt >= stamp {
            guard deletedAt == stamp, let bundle, deleteBundle.map({ bundle > $0 }) ?? true else { return false }
            deleteBundle = bundle
            return true
        }
        deletedAt = stamp
        deleteBundle = bundle
        prune()
        return true
    }

    private mutating func prune() {
        guard let cutoff = deletedAt else { return }
        registers = registers.filter { $0.value.stamp > cutoff }
        sets.update { $0.prune(atOrBefore: cutoff) }
    }

    /// Merges another replica's state of the same record.
    mutating func merge(_ other: RecordState) {
        if let theirs = other.lastWrite, lastWrite.map({ theirs > $0 }) ?? true { lastWrite = theirs }
        if let theirs = other.deletedAt {
            if deletedAt.map({ theirs > $0 }) ?? true {
                deletedAt = theirs
                deleteBundle = other.deleteBundle
            } else if theirs == deletedAt, let bundle = other.deleteBundle, deleteBundle.map({ bundle > $0 }) ?? true {
                deleteBundle = bundle
            }
        }
        for (key, register) in other.registers {
            if registers[key] != nil { registers[key]!.merge(register) } else { registers[key] = register }
        }
        for field in other.sets.fields {
            sets.modify(field.name) { $0.merge(field.set) }
        }
        prune()
    }

    /// The LWW register of `field`, if it holds a surviving write.
    public func register(_ field: String) -> LWWRegister? { registers[ByteString(field)] }

    /// The OR-set of `field`, if it holds any surviving tag or tombstone.
    public func set(_ field: String) -> ORSet? { sets[ByteString(field)] }

    /// Tombstones held by the record's OR-sets: removed tags kept so that the same add
    /// arriving late stays removed (``ORSet/tombstoneCount``, summed over the fields).
    ///
    /// ```swift
    /// let tombstones = states.reduce(0) { $0 + $1.setTombstoneCount }
    /// ```
    public var setTombstoneCount: Int { sets.fields.reduce(0) { $0 + $1.set.tombstoneCount } }

    /// The live tags of `value` in the OR-set `field` (see ``ORSet/tags(of:)``), read in place.
    func tags(of value: Value, in field: String) -> [Stamp] {
        sets.read(ByteString(field)) { $0.tags(of: value) } ?? []
    }
}
