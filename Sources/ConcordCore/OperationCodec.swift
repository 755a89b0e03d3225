/// The compact binary encoding of a batch of operations: the payload of a change bundle.
///
/// Tables de-duplicate replica ids, names and record ids; each operation refers to them
/// by varint index; clocks are delta-coded against the previous operation. Layout and
/// decoder rules: `Specs/wire-format.md`, "Operation batch".
///
/// ```swift
/// let bytes = OperationCodec.encode(ops)
/// let back = try OperationCodec.decode(bytes)   // == ops
/// ```
public enum OperationCodec {
    /// The format byte that starts an encoded batch.
    public static let version: UInt8 = 1

    enum Kind: UInt8 {
        case set = 0, add = 1, remove = 2, delete = 3
    }

    /// Encodes `ops` in order.
    ///
    /// One pass: operations are written to a body buffer while the tables are interned
    /// (consecutive operations usually share author, collection and record, so the last
    /// index is reused without hashing); the tables are then written in front.
    /// - Complexity: O(n) expected.
    public static func encode(_ ops: [RecordOperation]) -> [UInt8] {
        var replicas = Table<ReplicaID>()
        var names = Table<ByteString>()
        var records = Table<RecordID>()
        var body = ByteWriter(capacity: ops.count * 12)
        var previous: UInt64 = 0
        for op in ops {
            let hlc = op.stamp.hlc.rawValue
            switch op.action {
            case .set: body.write(Kind.set.rawValue)
            case .add: body.write(Kind.add.rawValue)
            case .remove: body.write(Kind.remove.rawValue)
            case .delete: body.write(Kind.delete.rawValue)
            }
            body.writeVarint(UInt64(replicas.intern(op.stamp.replica)))
            body.writeZigzag(Int64(bitPattern: hlc &- previous))
            previous = hlc
            body.writeVarint(UInt64(names.intern(op.collection)))
            body.writeVarint(UInt64(records.intern(op.record)))
            switch op.action {
            case let .set(field, value), let .add(field, value):
                body.writeVarint(UInt64(names.intern(field)))
                value.encode(into: &body)
            case let .remove(field, value, observed):
                body.writeVarint(UInt64(names.intern(field)))
                value.encode(into: &body)
                body.writeVarint(UInt64(observed.count))
                for tag in observed {
                    body.writeVarint(UInt64(replicas.intern(tag.replica)))
                    body.writeZigzag(Int64(bitPattern: tag.hlc.rawValue &- hlc))
                }
            case .delete:
                break
            }
        }

        var w = ByteWriter(capacity: body.bytes.count + 64 + replicas.items.count * 32 + records.items.count * 16 + names.items.count * 8)
        w.write(version)
        w.writeVarint(UInt64(replicas.items.count))
        for id in replicas.items { w.write(contentsOf: id.bytes) }
        w.writeVarint(UInt64(names.items.count))
        for name in names.items { w.writeString(name.string) }
        w.writeVarint(UInt64(records.items.count))
        for id in records.items { w.write(contentsOf: id.bytes) }
        w.writeVarint(UInt64(ops.count))
        w.write(contentsOf: body.bytes)
        return w.bytes
    }

    /// Decodes a batch, checking every bound before allocating.
    /// - Throws: ``ConcordCoreError/Code/unsupportedVersion`` for an unknown format byte;
    ///   ``ConcordCoreError/Code/malformedEncoding`` for truncation, out-of-range indexes,
    ///   invalid UTF-8, non-minimal varints, or trailing bytes.
    public static func decode(_ bytes: [UInt8]) throws -> [RecordOperation] {
        var r = ByteReader(bytes)
        let format = try r.readByte()
        guard format == version else {
            throw ConcordCoreError(.unsupportedVersion, "operation batch format \(format) is not supported by this version of Concord (it reads format \(version)); update Concord on this device")
        }
        let replicaCount = try r.readCount(minimumItemSize: 32, what: "replica table")
        var replicas = [ReplicaID]()
        replicas.reserveCapacity(replicaCount)
        for _ in 0..<replicaCount { replicas.append(ReplicaID(bytes: try r.readBytes(32))!) }
        let nameCount = try r.readCount(what: "name table")
        var names = [String]()
        names.reserveCapacity(nameCount)
        for _ in 0..<nameCount { names.append(try r.readString()) }
        let recordCount = try r.readCount(minimumItemSize: 16, what: "record table")
        var records = [RecordID]()
        records.reserveCapacity(recordCount)
        for _ in 0..<recordCount { records.append(RecordID(bytes: try r.readBytes(16))!) }

        let opCount = try r.readCount(minimumItemSize: 5, what: "operation")
        var ops = [RecordOperation]()
        ops.reserveCapacity(opCount)
        var previous: UInt64 = 0
        for _ in 0..<opCount {
            let kindByte = try r.readByte()
            guard let kind = Kind(rawValue: kindByte) else { throw r.error("unknown operation kind \(kindByte)") }
            let replica = try index(&r, replicas, "replica")
            let hlc = previous &+ UInt64(bitPattern: try r.readZigzag())
            previous = hlc
            let stamp = Stamp(hlc: HLCTimestamp(rawValue: hlc), replica: replica)
            let collection = try index(&r, names, "collection name")
            let record = try index(&r, records, "record id")
            let action: RecordOperation.Action
            switch kind {
            case .set, .add, .remove:
                let field = try index(&r, names, "field name")
                let value = try Value.decode(from: &r)
                if kind == .set {
                    action = .set(field: field, value: value)
                } else if kind == .add {
                    action = .add(field: field, value: value)
                } else {
                    let tagCount = try r.readCount(minimumItemSize: 2, what: "observed tag")
                    var observed = [Stamp]()
                    observed.reserveCapacity(tagCount)
                    for _ in 0..<tagCount {
                        let tagReplica = try index(&r, replicas, "replica")
                        let tagHLC = hlc &+ UInt64(bitPattern: try r.readZigzag())
                        observed.append(Stamp(hlc: HLCTimestamp(rawValue: tagHLC), replica: tagReplica))
                    }
                    action = .remove(field: field, value: value, observed: observed)
                }
            case .delete:
                action = .delete
            }
            ops.append(RecordOperation(stamp: stamp, collection: collection, record: record, action: action))
        }
        guard r.isAtEnd else { throw r.error("\(r.remaining) unexpected trailing bytes after the last operation") }
        return ops
    }

    private static func index<T>(_ r: inout ByteReader, _ table: [T], _ what: String) throws -> T {
        let i = try r.readVarint()
        guard i < UInt64(table.count) else { throw r.error("\(what) index \(i) is outside the table of \(table.count)") }
        return table[Int(i)]
    }
}

/// An insertion-ordered interning table that remembers the last key interned.
struct Table<Key: Hashable> {
    var items: [Key] = []
    var index: [Key: Int] = [:]
    private var last: (key: Key, index: Int)?

    /// The index of `key`, adding it if new.
    mutating func intern(_ key: Key) -> Int {
        if let last, last.key == key { return last.index }
        let i: Int
        if let existing = index[key] {
            i = existing
        } else {
            i = items.count
            index[key] = i
            items.append(key)
        }
        last = (key, i)
        return i
    }
}

extension Table where Key == ByteString {
    mutating func intern(_ string: String) -> Int { intern(ByteString(string)) }
}
