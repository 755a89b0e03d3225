import ConcordCore
import ConcordCrypto

/// The `vector` field of `set-policy`, `ack` and `checkpoint` (`Specs/snapshots.md` §2):
/// `varint n (0..65536) | n × (author bytes[32] | seq varint ≥ 1)`, authors strictly
/// increasing.
extension MembershipOp {
    static func write(_ vector: VersionVector, to w: inout ByteWriter) {
        let entries = vector.entries.filter { $0.value > 0 }.sorted { $0.key < $1.key }
        w.writeVarint(UInt64(entries.count))
        for (author, sequence) in entries {
            w.write(contentsOf: author.bytes)
            w.writeVarint(sequence)
        }
    }

    static func readVector(_ r: inout ByteReader, _ what: String) throws -> VersionVector {
        let start = r.offset
        let count = try r.readCount(minimumItemSize: PublicKey.byteCount + 1, what: "\(what) vector entry")
        guard count <= maxVectorEntries else {
            throw ConcordError(
                .malformedBundle, "membership op: a \(what) vector of \(count) entries at byte \(start) (at most \(maxVectorEntries))")
        }
        var entries: [PublicKey: UInt64] = [:]
        var previous: PublicKey?
        for _ in 0..<count {
            let author = try PublicKey(bytes: r.readBytes(PublicKey.byteCount))
            guard previous.map({ $0 < author }) ?? true else {
                throw r.error("the \(what) vector's authors are not strictly increasing (unsorted or repeated)")
            }
            previous = author
            let sequence = try r.readVarint()
            guard sequence >= 1 else { throw r.error("a \(what) vector entry of 0 (chain positions start at 1; leave the author out)") }
            entries[author] = sequence
        }
        return VersionVector(entries)
    }
}
