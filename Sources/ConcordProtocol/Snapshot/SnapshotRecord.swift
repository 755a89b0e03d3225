import ConcordCore
import ConcordCrypto

/// One record of a snapshot: its collection, id and state in pruned form
/// (`Specs/snapshots.md` §4.2: `string collection | record_id bytes[16] | blob record state`,
/// the record state in the storage encoding of `Specs/storage-schema.md` §5).
///
/// ```swift
/// for record in try SnapshotRecord.decode(chunk.plaintext(key: nil)) {
///     print(record.collection, record.id, record.state.isVisible)
/// }
/// ```
public struct SnapshotRecord: Hashable, Sendable {
    /// The collection's name.
    public let collection: String
    /// The record's id.
    public let id: RecordID
    /// The record's state in pruned form.
    public let state: RecordState

    /// Creates an entry.
    /// - Parameters:
    ///   - collection: The collection's name.
    ///   - id: The record's id.
    ///   - state: Its state in pruned form.
    public init(collection: String, id: RecordID, state: RecordState) {
        self.collection = collection
        self.id = id
        self.state = state
    }

    /// Whether the record is a delete stub: hidden, with a delete stamp.
    public var isStub: Bool { !state.isVisible && state.deletedAt != nil }

    /// Whether `a` sorts before `b` in a snapshot: by collection bytes, then id bytes.
    static func precedes(_ a: (collection: String, id: RecordID), _ b: (collection: String, id: RecordID)) -> Bool {
        if a.collection != b.collection { return a.collection.utf8.lexicographicallyPrecedes(b.collection.utf8) }
        return a.id.bytes.lexicographicallyPrecedes(b.id.bytes)
    }

    /// Appends the entry's encoding to `writer`.
    package func encode(into writer: inout ByteWriter) {
        writer.writeString(collection)
        writer.write(contentsOf: id.bytes)
        writer.writeLengthPrefixed(state.storageEncoding())
    }

    /// Decodes the entries of one chunk's plaintext, in order.
    ///
    /// Checks that the entries are in (collection bytes, id bytes) order with no duplicate,
    /// that every record state decodes and is in its one canonical encoding, and that no
    /// byte is left over. Order across chunks is checked by
    /// ``SealedSnapshot/records(key:)``.
    /// - Parameters:
    ///   - plaintext: A chunk's plaintext (``SnapshotChunk/plaintext(key:)``).
    /// - Returns: The entries.
    /// - Throws: ``ConcordError`` `.malformedSnapshot`, naming the byte offset.
    public static func decode(_ plaintext: [UInt8]) throws(ConcordError) -> [SnapshotRecord] {
        var r = ByteReader(plaintext)
        var records: [SnapshotRecord] = []
        do {
            while !r.isAtEnd {
                let collection = try r.readString()
                guard let id = RecordID(bytes: try r.readBytes(16)) else { throw r.error("a record id that is not 16 bytes") }
                if let last = records.last, !precedes((last.collection, last.id), (collection, id)) {
                    throw r.error("record \(collection)/\(id) is out of (collection, id) order or repeated")
                }
                let encoded = try r.readLengthPrefixed()
                let state = try RecordState(storageEncoding: encoded)
                guard state.storageEncoding() == encoded else {
                    throw r.error("the state of record \(collection)/\(id) is not in its canonical encoding")
                }
                records.append(SnapshotRecord(collection: collection, id: id, state: state))
            }
        } catch let error as ConcordCoreError {
            throw ConcordError(.malformedSnapshot, "snapshot records: \(error.message)")
        } catch {
            throw ConcordError(.malformedSnapshot, "snapshot records: \(error)")
        }
        return records
    }
}
