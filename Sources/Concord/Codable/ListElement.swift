import ConcordCore

/// One element of an ordered list field: how an `Array` of scalars is stored
/// (`Specs/crdt-semantics.md` §10).
///
/// A list is an OR-set field whose members are elements. An element is a `.bytes` value
/// holding a *position* (a fraction in (0, 1), written as base-256 digits, the last one
/// nonzero), a random id, and the scalar it carries. The list is the live elements sorted
/// by (position, id): inserting between two elements makes a position strictly between
/// theirs, removing an element removes its member, and concurrent edits merge as OR-set
/// adds and removes do. Nothing else is needed to order the list, so it is a function of
/// the visible members alone (no tombstones, no causal metadata).
///
/// Layout: `C1 01` (marker, version 1), `varint` position length, the position digits,
/// 8 id bytes, then the value in the canonical value encoding (`Specs/wire-format.md` §3).
struct ListElement: Hashable, Sendable {
    /// Base-256 digits of a fraction in (0, 1); never empty, the last digit never 0.
    var position: [UInt8]
    /// Random bytes telling apart elements made at the same position (concurrently).
    var id: [UInt8]
    /// The scalar the element carries.
    var value: Value

    static let marker: UInt8 = 0xC1
    static let version: UInt8 = 0x01
    static let idLength = 8

    /// The element as an OR-set member.
    var member: Value {
        var writer = ByteWriter(capacity: 12 + position.count + 16)
        writer.write(Self.marker)
        writer.write(Self.version)
        writer.writeVarint(UInt64(position.count))
        writer.write(contentsOf: position)
        writer.write(contentsOf: id)
        value.encode(into: &writer)
        return .bytes(writer.bytes)
    }

    /// Parses a member; `nil` when it is not a well-formed element (a plain set member).
    init?(member: Value) {
        guard case .bytes(let bytes) = member, bytes.count > 3, bytes[0] == Self.marker, bytes[1] == Self.version else { return nil }
        var reader = ByteReader(bytes, range: 2..<bytes.count)
        guard let length = try? reader.readVarint(), length > 0, length <= UInt64(reader.remaining),
            let position = try? reader.readBytes(Int(length)), position.last != 0,
            let id = try? reader.readBytes(Self.idLength),
            let value = try? Value.decode(from: &reader), reader.isAtEnd
        else { return nil }
        self.position = Array(position)
        self.id = Array(id)
        self.value = value
    }

    init(position: [UInt8], id: [UInt8], value: Value) {
        self.position = position
        self.id = id
        self.value = value
    }

    /// A new element with a random id.
    init(position: [UInt8], value: Value) {
        var generator = SystemRandomNumberGenerator()
        self.init(position: position, id: (0..<Self.idLength).map { _ in UInt8.random(in: 0...255, using: &generator) }, value: value)
    }

    /// List order: position, then id, then value (all by bytes).
    static func precedes(_ a: ListElement, _ b: ListElement) -> Bool {
        if a.position != b.position { return a.position.lexicographicallyPrecedes(b.position) }
        if a.id != b.id { return a.id.lexicographicallyPrecedes(b.id) }
        return a.value < b.value
    }

    /// The elements among `members`, in list order, and the members that are not elements
    /// (a set written before the field was a list), in ``Value`` order.
    static func split(_ members: [Value]) -> (elements: [ListElement], plain: [Value]) {
        var elements: [ListElement] = []
        var plain: [Value] = []
        for member in members {
            if let element = ListElement(member: member) { elements.append(element) } else { plain.append(member) }
        }
        return (elements.sorted(by: precedes), plain)
    }

    /// The list `members` hold, in order: plain members first (in ``Value`` order), then
    /// the elements.
    static func values(of members: [Value]) -> [Value] {
        let (elements, plain) = split(members)
        return plain + elements.map(\.value)
    }

    /// A position strictly between `lower` and `upper` (`nil`: the start or the end of the
    /// list). Total for any input: positions from a buggy or hostile peer that are out of
    /// order give some position above `lower`, never a trap.
    ///
    /// Appending (no upper bound) steps the first free digit up by one, so a run of n
    /// appends grows positions by about one byte per 255 elements; inserting between two
    /// elements takes the midpoint, about one byte per 8 insertions at the same place.
    /// - Complexity: O(length of the positions).
    static func position(between lower: [UInt8]?, and upper: [UInt8]?) -> [UInt8] {
        let a = lower ?? []
        let b = upper ?? []
        var bounded = upper != nil
        var out: [UInt8] = []
        var i = 0
        while true {
            let da = i < a.count ? Int(a[i]) : 0
            let db = bounded ? (i < b.count ? Int(b[i]) : 0) : 256
            if bounded && da >= db {
                if da == db && (i < a.count || i < b.count) {
                    out.append(UInt8(da))  // common prefix
                    i += 1
                } else {
                    bounded = false  // equal or out-of-order bounds: ignore the upper one
                }
                continue
            }
            if db - da >= 2 {
                out.append(UInt8(bounded ? (da + db) / 2 : da + 1))
                return out
            }
            // No digit fits between: keep `da` and go one digit deeper, now below `upper`.
            out.append(UInt8(da))
            i += 1
            bounded = false
        }
    }
}
