import ConcordCore
import ConcordCrypto

/// The causal context of a change bundle: a version vector written at the start of the
/// payload plaintext (`Specs/wire-format.md`, section 7.5).
///
/// ```text
/// count (varint, ≤ 4096) | count × (author bytes[32] | seq varint ≥ 1)   authors strictly ascending by bytes
/// ```
///
/// ```swift
/// var writer = ByteWriter()
/// log.versionVector.removingEntry(of: me).encodeContext(into: &writer)
/// var reader = ByteReader(writer.bytes)
/// let context = try VersionVector.decodeContext(from: &reader, bundleAuthor: me)
/// ```
extension VersionVector {
    /// The most authors a causal context may name.
    package static let maxContextAuthors = 4096

    /// The fewest bytes one entry takes: a 32-byte author and a one-byte sequence.
    private static let minimumEntryBytes = PublicKey.byteCount + 1

    /// This vector without `author`'s entry.
    /// - Parameters:
    ///   - author: The author to drop (the bundle's own author, for a causal context).
    /// - Returns: The vector with every other author's entry.
    package func removingEntry(of author: PublicKey) -> VersionVector {
        var copy = self
        copy[author] = 0
        return copy
    }

    /// Writes the vector as a causal context: the count, then each entry in ascending byte
    /// order of its author. The caller removes the bundle author's entry and keeps the
    /// count within ``maxContextAuthors``.
    /// - Parameters:
    ///   - writer: Where the bytes go.
    package func encodeContext(into writer: inout ByteWriter) {
        writer.writeVarint(UInt64(entries.count))
        for (author, sequence) in entries.sorted(by: { $0.key < $1.key }) {
            writer.write(contentsOf: author.bytes)
            writer.writeVarint(sequence)
        }
    }

    /// Reads a causal context, enforcing every rule of section 7.5: at most
    /// ``maxContextAuthors`` entries, authors strictly ascending by bytes (so none twice),
    /// none equal to `bundleAuthor`, every sequence at least 1, minimal varints.
    ///
    /// The count is checked against the limit and the bytes left before anything is
    /// allocated. Reading stops after the last entry: the operation batch follows.
    /// - Parameters:
    ///   - reader: Positioned at the start of the payload plaintext.
    ///   - bundleAuthor: The author of the bundle, which its own context must not name.
    /// - Returns: The context.
    /// - Throws: ``ConcordCoreError`` with code `.malformedEncoding` (naming the byte offset)
    ///   for any violation or truncation; ``Membership/contents(of:)`` reports it as
    ///   `malformedBundle`.
    package static func decodeContext(from reader: inout ByteReader, bundleAuthor: PublicKey) throws -> VersionVector {
        let count = try reader.readVarint()
        guard count <= UInt64(maxContextAuthors) else {
            throw reader.error("a causal context of \(count) authors exceeds the limit of \(maxContextAuthors)")
        }
        guard count <= UInt64(reader.remaining / minimumEntryBytes) else {
            throw reader.error("a causal context of \(count) authors does not fit in the remaining \(reader.remaining) bytes")
        }
        var entries: [PublicKey: UInt64] = [:]
        entries.reserveCapacity(Int(count))
        var previous: ArraySlice<UInt8>?
        for index in 1..<(Int(count) + 1) {
            let raw = try reader.readBytes(PublicKey.byteCount)
            if let previous, !previous.lexicographicallyPrecedes(raw) {
                throw reader.error(
                    previous == raw
                        ? "causal context entry \(index) names the same author as the entry before it"
                        : "causal context entry \(index) is not in ascending byte order of authors")
            }
            guard !raw.elementsEqual(bundleAuthor.bytes) else {
                throw reader.error("causal context entry \(index) names the bundle's own author")
            }
            let sequence = try reader.readVarint()
            guard sequence >= 1 else { throw reader.error("causal context entry \(index) has sequence 0") }
            // Cannot fail: 32 bytes.
            entries[try! PublicKey(bytes: raw)] = sequence
            previous = raw
        }
        return VersionVector(entries)
    }
}
