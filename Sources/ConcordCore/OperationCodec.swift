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
    /// - Complexity: O(n) expected.
    public static func encode(_ ops: [Operation]) -> [UInt8] {
        var replicas = Table<ReplicaID>()
        var names = Table<ByteString>()
        var records = Table<RecordID>()
        for op in ops {
            replicas.intern(op.stamp.replica)
            names.intern(ByteString(op.collection))
            records.intern(op.record)
            if let field = op.field { names.intern(ByteString(field)) }
            if case .remove(_, _, let observed) = op.action {
                for tag in observed { replicas.intern(tag.replica) }
            }
        }

        var w = ByteWriter(capacity: 64 + ops.count * 12)
        w.write(version)
        w.writeVarint(UInt64(replicas.items.count))
        for id in replicas.items { w.write(contentsOf: id.bytes) }
        w.writeVarint(UInt64(names.items.count))
        for name in names.items { w.writeString(name.string) }
        w.writeVarint(UInt64(records.items.count))
        for id in records.items { w.write(contentsOf: id.bytes) }
        w.writeVarint(UInt64(ops.count))

        var previous: UInt64 = 0
        for op in ops {
            let hlc = op.stamp.hlc.rawValue
            switch op.action {
            case .set: w.write(Kind.set.rawValue)
            case .add: w.write(Kind.add.rawValue)
            case .remove: w.write(Kind.remove.rawValue)
            case .delete: w.write(Kind.delete.rawValue)
            }
            w.writeVarint(UInt64(replicas.index[op.stamp.replica]!))
            w.writeZigzag(Int64(bitPattern: hlc &- previous))
            previous = hlc
            w.writeVarint(UInt64(names.index[ByteString(op.collection)]!))
            w.writeVarint(UInt64(records.index[op.record]!))
            switch op.action {
            case let .set(field, value), let .add(field, value):
                w.writeVarint(UInt64(names.index[ByteString(field)]!))
                value.encode(into: &w)
            case let .remove(field, value, observed):
                w.writeVarint(UInt64(names.index[ByteString(field)]!))
                value.encode(into: &w)
                w.writeVarint(UInt64(observed.count))
                for tag in observed {
                    w.writeVarint(UInt64(replicas.index[tag.replica]!))
                    w.writeZigzag(Int64(bitPattern: tag.hlc.rawValue &- hlc))
                }
            case .delete:
                break
            }
        }
        return w.bytes
    }

    /// Decodes a batch, checking every bound before allocating.
    /// - Throws: ``ConcordCoreError/Code/unsupportedVersion`` for an unknown format byte;
    ///   ``ConcordCoreError/Code/malformedEncoding`` for truncation, out-of-range indexes,
    ///   invalid UTF-8, non-minimal varints, or trailing bytes.
    public static func decode(_ bytes: [UInt8]) throws -> [Operation] {
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
        var ops = [Operation]()
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
            let action: Operation.Action
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
            ops.append(Operation(stamp: stamp, collection: collection, record: record, action: action))
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

/// An insertion-ordered interning table.
struct Table<Key: Hashable> {
    var items: [Key] = []
    var index: [Key: Int] = [:]

    mutating func intern(_ key: Key) {
        if index[key] == nil {
            index[key] = items.count
            items.append(key)
        }
    }
}
