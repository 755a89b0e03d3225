/// Storage support: a compact, lossless binary form of one record's full CRDT state
/// (registers with their stamps, OR-set tags and tombstones, delete and last-write stamps),
/// and access to the parts a store indexes.
///
/// Unlike ``ReplicaState/canonicalEncoding()`` this keeps everything needed to go on
/// merging, so a store can hold one row per record and load only the records an import
/// touches. Layout (`Specs/storage-schema.md`, "Record state"): version `01` (`02` when
/// the delete's bundle position is known: then a varint sequence follows `deletedAt`,
/// `Specs/crdt-semantics.md` §11.4); the distinct
/// replica ids the stamps use (varint count, 32 bytes each, ascending); `deletedAt` and
/// `lastWrite` as optional stamps; registers sorted by name; sets sorted by name, each
/// entry sorted by value with its tags in stamp order. A stamp is `fixed64` HLC plus a
/// varint index into the replica table.
extension RecordState {
    /// Version byte of ``storageEncoding()`` for a record without a known delete bundle.
    package static let storageEncodingVersion: UInt8 = 1
    /// Version byte of ``storageEncoding()`` for a record whose delete bundle is known
    /// (``deleteBundle``): version 1 plus the bundle's sequence after `deletedAt`.
    package static let stubEncodingVersion: UInt8 = 2

    /// The full state in the storage layout.
    /// - Complexity: O(n log n) in fields, set members and tags.
    package func storageEncoding() -> [UInt8] {
        // The distinct replicas of all stamps, ascending. A record has few (often one), so
        // sorting the list and dropping repeats is cheaper than hashing each stamp.
        var table: [ReplicaID] = []
        table.reserveCapacity(registers.count + 2)
        if let deletedAt { table.append(deletedAt.replica) }
        if let lastWrite { table.append(lastWrite.replica) }
        for register in registers.values { table.append(register.stamp.replica) }
        // A set's own table holds exactly the replicas its tags use.
        for field in sets.fields { table.append(contentsOf: field.set.replicas.ids) }
        table.sort()
        var unique = 0
        for i in table.indices where unique == 0 || table[unique - 1] != table[i] {
            table[unique] = table[i]
            unique += 1
        }
        table.removeSubrange(unique...)
        /// The position of `id` in the sorted table (binary search).
        func index(of id: ReplicaID) -> UInt64 {
            var (low, high) = (0, table.count - 1)
            while low < high {
                let middle = (low + high) / 2
                if table[middle] < id { low = middle + 1 } else { high = middle }
            }
            return UInt64(low)
        }

        var writer = ByteWriter(capacity: 2 + 32 * table.count + 24 + 40 * registers.count)
        let bundle = deletedAt == nil ? nil : deleteBundle
        writer.write(bundle == nil ? Self.storageEncodingVersion : Self.stubEncodingVersion)
        writer.writeVarint(UInt64(table.count))
        for id in table { id.withUnsafeBytes { writer.write(contentsOf: $0) } }
        func stamp(_ s: Stamp) {
            writer.writeFixed64(s.hlc.rawValue)
            writer.writeVarint(table.count == 1 ? 0 : index(of: s.replica))
        }
        func optionalStamp(_ s: Stamp?) {
            guard let s else { return writer.write(0) }
            writer.write(1)
            stamp(s)
        }
        optionalStamp(deletedAt)
        if let bundle { writer.writeVarint(bundle) }
        optionalStamp(lastWrite)
        writer.writeVarint(UInt64(registers.count))
        for (name, register) in registers.sorted(by: { $0.key < $1.key }) {
            writer.writeString(name.string)
            stamp(register.stamp)
            register.value.encode(into: &writer)
        }
        writer.writeVarint(UInt64(sets.count))
        for field in sets.fields {
            let (name, set) = (field.name, field.set)
            let order = set.members.indices.sorted { set.members[$0].key.precedes(set.members[$1].key) }
            // The set's replica numbers, as indexes into the record's table.
            let replicaIndex = set.replicas.ids.map { table.count == 1 ? 0 : index(of: $0) }
            writer.writeString(name.string)
            writer.writeVarint(UInt64(order.count))
            for m in order {
                set.members[m].key.value.encode(into: &writer)
                writer.writeVarint(UInt64(set.members[m].tags.count))
                for tag in set.members[m].tags {
                    writer.writeFixed64(tag.hlc)
                    writer.writeVarint(replicaIndex[tag.replica])
                    writer.write(tag.removed ? 1 : 0)
                }
            }
        }
        return writer.bytes
    }

    /// Decodes ``storageEncoding()``.
    /// - Throws: ``ConcordCoreError`` when the bytes are not a record state of this version.
    package init(storageEncoding bytes: [UInt8]) throws {
        var reader = ByteReader(bytes)
        let version = try reader.readByte()
        guard version == Self.storageEncodingVersion || version == Self.stubEncodingVersion else {
            throw ConcordCoreError(
                .unsupportedVersion,
                "stored record state has version \(version); this build reads versions \(Self.storageEncodingVersion) and \(Self.stubEncodingVersion)")
        }
        let count = try reader.readCount(minimumItemSize: 32, what: "replica ids")
        var table: [ReplicaID] = []
        table.reserveCapacity(count)
        for _ in 0..<count { table.append(ReplicaID(bytes: try reader.readBytes(32))!) }
        /// A stamp's clock reading and replica index.
        func rawStamp() throws -> (hlc: UInt64, replica: Int) {
            let hlc = try reader.readFixed64()
            let i = try reader.readVarint()
            guard i < UInt64(table.count) else { throw reader.error("replica index \(i) out of range") }
            return (hlc, Int(i))
        }
        func stamp() throws -> Stamp {
            let (hlc, i) = try rawStamp()
            return Stamp(hlc: HLCTimestamp(rawValue: hlc), replica: table[i])
        }
        func optionalStamp() throws -> Stamp? {
            switch try reader.readByte() {
            case 0: return nil
            case 1: return try stamp()
            case let other: throw reader.error("optional stamp flag \(other)")
            }
        }
        self.init()
        deletedAt = try optionalStamp()
        if version == Self.stubEncodingVersion {
            guard deletedAt != nil else { throw reader.error("a version-2 record state without a delete") }
            let bundle = try reader.readVarint()
            guard bundle >= 1 else { throw reader.error("delete bundle sequence 0") }
            deleteBundle = bundle
        }
        lastWrite = try optionalStamp()
        let registerCount = try reader.readCount(minimumItemSize: 10, what: "registers")
        registers.reserveCapacity(registerCount)
        for _ in 0..<registerCount {
            let name = try reader.readString()
            let s = try stamp()
            registers[ByteString(name)] = LWWRegister(value: try Value.decode(from: &reader), stamp: s)
        }
        let setCount = try reader.readCount(minimumItemSize: 2, what: "sets")
        for _ in 0..<setCount {
            let name = try reader.readString()
            var set = ORSet()
            // The record's replica indexes, as the set's (-1: not interned yet).
            var setReplica = [Int](repeating: -1, count: table.count)
            let entryCount = try reader.readCount(minimumItemSize: 2, what: "set entries")
            for _ in 0..<entryCount {
                let value = try Value.decode(from: &reader)
                let tagCount = try reader.readCount(minimumItemSize: 10, what: "tags")
                var slot: Int?
                for _ in 0..<tagCount {
                    let (hlc, i) = try rawStamp()
                    let removed = try reader.readByte()
                    guard removed <= 1 else { throw reader.error("tag flag \(removed)") }
                    if slot == nil { slot = set.slotInserting(ValueKey(value)) }
                    if setReplica[i] < 0 { setReplica[i] = set.replicas.intern(table[i]) }
                    // Tags are stored in stamp order, so each is appended; the insert also
                    // keeps a damaged row's state well formed (sorted, no stamp twice).
                    _ = set.insert(ORSet.Tag(hlc: hlc, replica: setReplica[i], removed: removed == 1), into: slot!)
                }
            }
            // A set is kept only while it holds a tag (as `apply` and `prune` keep it).
            if !set.members.isEmpty { sets.put(set, for: ByteString(name)) }
        }
        guard reader.isAtEnd else { throw reader.error("trailing bytes after record state") }
    }

    /// Applies one operation's action (see ``ReplicaState/apply(_:)``).
    /// - Returns: `true` when the state changed.
    @discardableResult
    package mutating func apply(_ op: RecordOperation) -> Bool {
        apply(op.action, stamp: op.stamp)
    }

    /// Applies one operation's action carried by the bundle at `sequence` of its author's
    /// chain (see ``ReplicaState/apply(_:inBundle:)``).
    /// - Returns: `true` when the state changed.
    @discardableResult
    package mutating func apply(_ op: RecordOperation, inBundle sequence: UInt64) -> Bool {
        apply(op.action, stamp: op.stamp, bundle: sequence)
    }

    /// The surviving LWW registers, by field name (unordered).
    package var registerFields: [(name: String, register: LWWRegister)] {
        registers.map { ($0.key.string, $0.value) }
    }

    /// The registers a store's field index must rewrite to go from `previous` to `self`:
    /// those new or whose value changed, each with whether `previous` had it; and the
    /// names of those gone. Both sorted by name bytes (the order of the field index's
    /// key), so a store writes them front to back. A register whose stamp changed but whose
    /// value is the same (``Value`` equality is exact: same kind, same bytes or bits) has
    /// the same index row, so it is not listed.
    package func registerChanges(since previous: RecordState?) -> (changed: [(name: ByteString, register: LWWRegister, existed: Bool)], removed: [ByteString]) {
        var changed: [(name: ByteString, register: LWWRegister, existed: Bool)] = []
        var added = 0
        if let previous {
            for (name, register) in registers {
                guard let index = previous.registers.index(forKey: name) else {
                    changed.append((name, register, false))
                    added += 1
                    continue
                }
                if previous.registers.values[index].value != register.value { changed.append((name, register, true)) }
            }
        } else {
            changed.reserveCapacity(registers.count)
            for (name, register) in registers { changed.append((name, register, false)) }
        }
        if changed.count > 1 { changed.sort { $0.name < $1.name } }
        var removed: [ByteString] = []
        if let previous, previous.registers.count + added > registers.count {
            // Some register of `previous` is gone (`registers` holds those of `previous`
            // that stayed plus the `added` ones).
            for name in previous.registers.keys where registers.index(forKey: name) == nil { removed.append(name) }
            removed.sort()
        }
        return (changed, removed)
    }

    /// Names of the fields (registers and sets with a live member) whose visible value
    /// differs between `self` and `other`, sorted.
    package func changedFieldNames(comparedTo other: RecordState) -> [String] {
        var names = Set<ByteString>()
        for key in Set(registers.keys).union(other.registers.keys) where registers[key]?.value != other.registers[key]?.value {
            names.insert(key)
        }
        let setNames = Set(sets.fields.map(\.name)).union(other.sets.fields.map(\.name))
        for key in setNames where (sets[key]?.elements ?? []) != (other.sets[key]?.elements ?? []) {
            names.insert(key)
        }
        return names.sorted().map(\.string)
    }

    /// The visible view of this record (public form of the internal `view(id:)`).
    package func visibleView(id: RecordID) -> RecordView? { view(id: id) }
}

extension ReplicaState {
    /// Puts a record's full state in place (used to rebuild a state from a store).
    package mutating func insertRecord(_ record: RecordState, id: RecordID, in collection: String) {
        let key = RecordKey(collection: ByteString(collection), id: id)
        if let index = records.index(forKey: key) {
            records.values[index] = record
        } else {
            insert(record, at: key)
        }
    }
}
