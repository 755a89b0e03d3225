/// A record's OR-sets by field name, kept sorted by name bytes.
///
/// A record has few set fields, so a binary search over names compared as integers (a
/// ``ByteString`` keeps its length and first 16 bytes as words) finds one without hashing,
/// iteration is already in the order the encodings write, and a set is changed in place.
/// Holds only non-empty sets: ``RecordState`` never leaves a set without tags.
struct FieldSets: Hashable, Sendable {
    struct Field: Hashable, Sendable {
        let name: ByteString
        var set: ORSet
    }

    /// Sorted by name, each name once.
    private(set) var fields: [Field] = []

    init() {}

    var count: Int { fields.count }
    var isEmpty: Bool { fields.isEmpty }

    /// The position of `name`, or where it would be inserted.
    /// - Complexity: O(log n) name comparisons.
    @inline(__always)
    private func position(of name: ByteString) -> (index: Int, found: Bool) {
        var (low, high) = (0, fields.count)
        while low < high {
            let middle = (low + high) / 2
            if fields[middle].name < name { low = middle + 1 } else { high = middle }
        }
        return (low, low < fields.count && fields[low].name == name)
    }

    /// The set of field `name`, if it has one.
    subscript(name: ByteString) -> ORSet? {
        let (i, found) = position(of: name)
        return found ? fields[i].set : nil
    }

    /// Calls `body` with the set of field `name`, if it has one, without copying it.
    func read<R>(_ name: ByteString, _ body: (borrowing ORSet) -> R) -> R? {
        let (i, found) = position(of: name)
        return found ? body(fields[i].set) : nil
    }

    /// Changes the set of field `name` in place, starting from an empty set when there is
    /// none. `body` must leave the set holding a tag.
    mutating func modify<R>(_ name: ByteString, _ body: (inout ORSet) -> R) -> R {
        let (i, found) = position(of: name)
        if !found { fields.insert(Field(name: name, set: ORSet()), at: i) }
        return body(&fields[i].set)
    }

    /// Replaces (or adds) the set of field `name`.
    mutating func put(_ set: ORSet, for name: ByteString) {
        let (i, found) = position(of: name)
        if found { fields[i].set = set } else { fields.insert(Field(name: name, set: set), at: i) }
    }

    /// Applies `body` to every set and drops those it leaves empty.
    mutating func update(_ body: (inout ORSet) -> Void) {
        for i in fields.indices { body(&fields[i].set) }
        fields.removeAll { $0.set.members.isEmpty }
    }
}
