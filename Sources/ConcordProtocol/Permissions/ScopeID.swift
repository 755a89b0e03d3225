import ConcordCore
import ConcordCrypto

/// The id of a read scope (`Specs/permissions.md` §7.1): the first 16 bytes of
/// `BLAKE2b-256("concord-scope-v1" ‖ varint n ‖ n × string role-ref)` over the read set's
/// role-refs sorted by their UTF-8 bytes. Entries with the same read set share a scope,
/// across policies.
///
/// ```swift
/// let notes = ScopeID(readers: ["teacher"])
/// assert(ScopeID(readers: ["reader", "teacher"]) == ScopeID(readers: ["teacher", "reader"]))
/// ```
public struct ScopeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The length of a scope id in bytes (16).
    public static let byteCount = 16
    static let domain = Array("concord-scope-v1".utf8)

    /// The 16 bytes.
    public let bytes: [UInt8]

    /// The scope of a read set.
    /// - Parameters:
    ///   - readers: The role-refs of the read list (`writer`, `reader` or policy role
    ///     names), in any order; a repeated one counts once.
    public init(readers: some Sequence<String>) {
        var refs: [String] = []
        for ref in readers.sorted(by: PolicyText.less) where !(refs.last?.utf8.elementsEqual(ref.utf8) ?? false) { refs.append(ref) }
        var w = ByteWriter(capacity: 64)
        w.write(contentsOf: Self.domain)
        w.writeVarint(UInt64(refs.count))
        for ref in refs { w.writeString(ref) }
        bytes = Array(Blake2b.hash(w.bytes).bytes.prefix(Self.byteCount))
    }

    /// The id as 32 lowercase hexadecimal digits.
    public var hex: String { Hex.encode(bytes) }

    /// The same as ``hex``.
    public var description: String { hex }

    /// Orders ids by their bytes.
    public static func < (lhs: ScopeID, rhs: ScopeID) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }
}
