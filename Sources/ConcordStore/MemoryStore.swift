import ConcordCore
import ConcordCrypto
import ConcordProtocol
import Synchronization

/// A ``Store`` that keeps everything in memory: for tests, previews and short-lived
/// replicas. Passes the same conformance suite as ``SQLiteStore``.
///
/// Transactions work on a copy of the contents that replaces the original only when the
/// body returns, so a throwing body leaves nothing behind. Writers are serialized.
///
/// ```swift
/// let store = MemoryStore()
/// try store.write { try $0.setMetadata([1], for: "k") }
/// ```
public final class MemoryStore: Store {
    private let contents = Mutex(Contents())

    /// An empty store.
    public init() {}

    public func read<T>(_ body: (any StoreReader) throws -> T) throws -> T {
        let snapshot = contents.withLock { $0 }
        return try body(MemoryTransaction(snapshot))
    }

    public func write<T>(_ body: (any StoreWriter) throws -> T) throws -> T {
        try contents.withLock { current in
            let transaction = MemoryTransaction(current)
            let result = try body(transaction)
            current = transaction.contents
            return result
        }
    }
}

/// The whole contents of a ``MemoryStore``. Names are ``ByteString``s: compared by bytes
/// like SQLite's text, not by Swift's canonical equivalence.
struct Contents: Sendable {
    struct Key: Hashable, Sendable {
        var collection: ByteString
        var id: RecordID

        init(collection: String, id: RecordID) {
            self.collection = ByteString(collection)
            self.id = id
        }
    }

    struct AuthorPlace: Hashable, Sendable {
        var author: PublicKey
        var sequence: UInt64
    }

    var metadata: [ByteString: [UInt8]] = [:]
    var records: [Key: StoredRecord] = [:]
    var collectionIDs: [ByteString: Set<RecordID>] = [:]
    /// Chain bundles by position − 1; a slot is `nil` once a recovery removed its bundle
    /// (positions are never reused).
    var bundles: [StoredBundle?] = []
    var bundleCount = 0
    var chains: [PublicKey: [Int]] = [:]
    /// Floor links of chains loaded from a snapshot: `chains[author]` starts after them.
    var floors: [PublicKey: ChainHead] = [:]
    var held: [AuthorPlace: StoredBundle] = [:]
    var quarantined: [StoredBundle] = []
    /// Ids of the chain, held and quarantined bundles.
    var chainIDs: Set<Digest32> = []
    var heldIDs: Set<Digest32> = []
    var quarantinedIDs: Set<Digest32> = []
    var pending: [RecordOperation] = []
    var unsealedRecords: Set<Key> = []
    /// The history index: record to the positions of the bundles touching it.
    var recordBundles: [Key: Set<Int64>] = [:]
    var denials: [Digest32: [StoredDenial]] = [:]
    /// Base records (copy-on-write, `Specs/storage-schema.md` §3.12): a record's state at
    /// the base when it changed since (`nil` inside: it had none); absent: as in `records`.
    var baseRows: [Key: BaseRow] = [:]
    /// Whether the store keeps a base.
    var hasBase = false
    /// Ids of dropped bundles per author: runs starting at a sequence.
    var droppedIDs: [PublicKey: [(first: UInt64, ids: [Digest32])]] = [:]

    struct BaseRow: Hashable, Sendable {
        var state: RecordState?
    }
}

/// One transaction of a ``MemoryStore`` (a copy of its contents).
final class MemoryTransaction: StoreWriter {
    var contents: Contents

    init(_ contents: Contents) { self.contents = contents }

    func metadata(_ key: String) throws -> [UInt8]? { contents.metadata[ByteString(key)] }

    func record(_ id: RecordID, in collection: String) throws -> StoredRecord? {
        contents.records[.init(collection: collection, id: id)]
    }

    func records(matching query: RecordQuery) throws -> [StoredRecordRow] {
        evaluate(query).rows
    }

    func count(matching query: RecordQuery) throws -> Int {
        evaluate(query).total
    }

    private func evaluate(_ query: RecordQuery) -> (rows: [StoredRecordRow], total: Int) {
        let ids = contents.collectionIDs[ByteString(query.collection)] ?? []
        let rows = ids.map { StoredRecordRow(id: $0, record: contents.records[.init(collection: query.collection, id: $0)]!) }
        return query.evaluate(rows)
    }

    func collections() throws -> [String] {
        contents.collectionIDs.keys.sorted().map(\.string)
    }

    func chainHeads() throws -> [PublicKey: ChainHead] {
        var heads = contents.floors
        for (author, chain) in contents.chains {
            let last = contents.bundles[chain.last!]!
            heads[author] = ChainHead(sequence: last.sequence, id: last.id, mark: last.mark)
        }
        return heads
    }

    func chainHead(of author: PublicKey) throws -> ChainHead? {
        guard let index = contents.chains[author]?.last, let head = contents.bundles[index] else { return contents.floors[author] }
        return ChainHead(sequence: head.sequence, id: head.id, mark: head.mark)
    }

    func chainFloor(of author: PublicKey) throws -> ChainHead? { contents.floors[author] }

    /// The sequence below `author`'s first chain bundle (its floor; 0 without one).
    private func floor(of author: PublicKey) -> UInt64 { contents.floors[author]?.sequence ?? 0 }

    func setChainFloor(_ head: ChainHead, of author: PublicKey) throws {
        guard contents.chains[author] == nil else {
            throw StoreError(.constraint, "the chain of \(author.hex.prefix(8)) already holds bundles; a floor goes under an empty chain")
        }
        contents.floors[author] = head
    }

    func containsBundle(_ id: Digest32) throws -> Bool {
        contents.chainIDs.contains(id) || contents.heldIDs.contains(id) || contents.quarantinedIDs.contains(id)
    }

    func bundle(of author: PublicKey, sequence: UInt64) throws -> StoredBundle? {
        let floor = floor(of: author)
        guard let chain = contents.chains[author], sequence > floor, sequence - floor <= UInt64(chain.count) else { return nil }
        return contents.bundles[chain[Int(sequence - floor - 1)]]
    }

    func bundles(after position: Int64, limit: Int) throws -> [StoredBundle] {
        let start = Int(clamping: max(0, position))
        guard start < contents.bundles.count else { return [] }
        return Array(contents.bundles[start...].lazy.compactMap { $0 }.prefix(max(0, limit)))
    }

    func bundleCount() throws -> Int { contents.bundleCount }

    func bundle(at position: Int64) throws -> StoredBundle? {
        guard position >= 1, position <= Int64(contents.bundles.count) else { return nil }
        return contents.bundles[Int(position - 1)]
    }

    func permissionDenials(ofBundle bundle: Digest32?) throws -> [StoredDenial] {
        let rows = bundle.map { contents.denials[$0] ?? [] } ?? contents.denials.values.flatMap { $0 }
        return rows.sorted { ($0.author, $0.sequence, $0.section, $0.index) < ($1.author, $1.sequence, $1.section, $1.index) }
    }

    func replacePermissionDenials(ofBundle bundle: Digest32, with denials: [StoredDenial]) throws {
        contents.denials[bundle] = denials.isEmpty ? nil : denials
    }

    func indexedBundlePositions(touching id: RecordID, in collection: String) throws -> [Int64] {
        (contents.recordBundles[.init(collection: collection, id: id)] ?? []).sorted()
    }

    func indexBundle(at position: Int64, touching records: [StoredRecordKey]) throws {
        for record in records {
            contents.recordBundles[.init(collection: record.collection, id: record.id), default: []].insert(position)
        }
    }

    func heldBundle(of author: PublicKey, sequence: UInt64) throws -> StoredBundle? {
        contents.held[.init(author: author, sequence: sequence)]
    }

    func heldBundles() throws -> [StoredBundle] {
        contents.held.values.sorted { ($0.author, $0.sequence) < ($1.author, $1.sequence) }
    }

    func quarantinedBundles() throws -> [StoredBundle] { contents.quarantined }

    func pendingOperations() throws -> [RecordOperation] { contents.pending }

    func pendingOperationCount() throws -> Int { contents.pending.count }

    func setMetadata(_ value: [UInt8]?, for key: String) throws { contents.metadata[ByteString(key)] = value }

    func putRecord(_ record: StoredRecord, id: RecordID, in collection: String, previous: StoredRecord?) throws {
        let key = Contents.Key(collection: collection, id: id)
        if contents.hasBase, contents.baseRows[key] == nil { contents.baseRows[key] = .init(state: contents.records[key]?.state) }
        contents.records[key] = record
        contents.collectionIDs[key.collection, default: []].insert(id)
        if record.localSequence == StoredRecord.unsealed {
            contents.unsealedRecords.insert(key)
        } else {
            contents.unsealedRecords.remove(key)
        }
    }

    func appendBundle(_ bundle: StoredBundle) throws {
        let head = try chainHead(of: bundle.author)
        guard ChainRule.extends(sequence: bundle.sequence, previous: BundleID(digest: bundle.previous), after: head.map(\.link)) else {
            throw StoreError(
                .constraint,
                "bundle \(bundle.sequence) of \(bundle.author.hex.prefix(8)) does not extend its chain (head \(head?.sequence ?? 0))")
        }
        guard !contents.chainIDs.contains(bundle.id) else {
            throw StoreError(
                .constraint, "bundle \(bundle.sequence) of \(bundle.author.hex.prefix(8)) has the id of a bundle already in a chain")
        }
        var stored = bundle
        stored.position = Int64(contents.bundles.count + 1)
        stored.mark = bundle.mark(after: head?.mark)
        contents.chains[bundle.author, default: []].append(contents.bundles.count)
        contents.bundles.append(stored)
        contents.bundleCount += 1
        contents.chainIDs.insert(bundle.id)
    }

    func holdBundle(_ bundle: StoredBundle) throws {
        let place = Contents.AuthorPlace(author: bundle.author, sequence: bundle.sequence)
        guard contents.held[place] == nil, !contents.heldIDs.contains(bundle.id) else {
            throw StoreError(.constraint, "a bundle is already held at sequence \(bundle.sequence) of \(bundle.author.hex.prefix(8))")
        }
        var stored = bundle
        stored.position = 0
        contents.held[place] = stored
        contents.heldIDs.insert(bundle.id)
    }

    func removeHeldBundle(of author: PublicKey, sequence: UInt64) throws {
        if let bundle = contents.held.removeValue(forKey: .init(author: author, sequence: sequence)) {
            contents.heldIDs.remove(bundle.id)
        }
    }

    func quarantineBundle(_ bundle: StoredBundle) throws {
        guard !contents.quarantinedIDs.contains(bundle.id) else { return }
        var stored = bundle
        stored.position = 0
        contents.quarantined.append(stored)
        contents.quarantinedIDs.insert(bundle.id)
    }

    func removeQuarantinedBundle(_ id: Digest32) throws {
        guard contents.quarantinedIDs.remove(id) != nil else { return }
        contents.quarantined.removeAll { $0.id == id }
    }

    func appendPendingOperations(_ ops: [RecordOperation]) throws { contents.pending.append(contentsOf: ops) }

    func markPendingSealed(sequence: UInt64) throws {
        contents.pending.removeAll()
        for key in contents.unsealedRecords { contents.records[key]?.localSequence = sequence }
        contents.unsealedRecords.removeAll()
    }

    func removeChainBundles(of author: PublicKey, after sequence: UInt64) throws -> [StoredBundle] {
        let floor = floor(of: author)
        guard let chain = contents.chains[author], UInt64(chain.count) + floor > sequence else { return [] }
        guard sequence >= floor else {
            throw StoreError(
                .constraint, "the chain of \(author.hex.prefix(8)) starts above \(floor) (a snapshot's floor): it cannot end at \(sequence)"
            )
        }
        let kept = Int(sequence > floor ? sequence - floor : 0)
        var removed: [StoredBundle] = []
        for index in chain[kept...] {
            guard let bundle = contents.bundles[index] else { continue }
            removed.append(bundle)
            contents.bundles[index] = nil
            contents.bundleCount -= 1
            contents.chainIDs.remove(bundle.id)
        }
        contents.chains[author] = kept == 0 ? nil : Array(chain[..<kept])
        return removed
    }

    func replacePendingOperations(_ ops: [RecordOperation]) throws { contents.pending = ops }

    // MARK: Compaction

    func hasBase() throws -> Bool { contents.hasBase }

    func baseRecord(_ id: RecordID, in collection: String) throws -> RecordState? {
        guard contents.hasBase else { return nil }
        let key = Contents.Key(collection: collection, id: id)
        if let row = contents.baseRows[key] { return row.state }
        return contents.records[key]?.state
    }

    func baseRecords() throws -> [BaseRecord] {
        guard contents.hasBase else { return [] }
        var records: [BaseRecord] = []
        for (key, record) in contents.records where contents.baseRows[key] == nil {
            records.append(BaseRecord(collection: key.collection.string, id: key.id, state: record.state))
        }
        for (key, row) in contents.baseRows {
            if let state = row.state { records.append(BaseRecord(collection: key.collection.string, id: key.id, state: state)) }
        }
        return records
    }

    func replaceBase(with records: [BaseRecord]) throws {
        var rows: [Contents.Key: Contents.BaseRow] = [:]
        for record in records {
            let key = Contents.Key(collection: record.collection, id: record.id)
            if contents.records[key]?.state.storageEncoding() != record.state.storageEncoding() { rows[key] = .init(state: record.state) }
        }
        let wanted = Set(records.map { Contents.Key(collection: $0.collection, id: $0.id) })
        for key in contents.records.keys where !wanted.contains(key) { rows[key] = .init(state: nil) }
        contents.baseRows = rows
        contents.hasBase = true
    }

    func droppedBundleID(of author: PublicKey, sequence: UInt64) throws -> Digest32? {
        guard let run = contents.droppedIDs[author]?.last(where: { $0.first <= sequence }) else { return nil }
        let index = Int(sequence - run.first)
        return index < run.ids.count ? run.ids[index] : nil
    }

    func dropChainBundles(of author: PublicKey, through sequence: UInt64) throws -> DroppedBundles {
        let below = floor(of: author)
        guard sequence > below else { return DroppedBundles() }
        guard let chain = contents.chains[author], UInt64(chain.count) >= sequence - below else {
            throw StoreError(
                .constraint, "the chain of \(author.hex.prefix(8)) does not hold every bundle from \(below + 1) to \(sequence) to drop")
        }
        let count = Int(sequence - below)
        var dropped = DroppedBundles()
        var ids: [Digest32] = []
        var positions: Set<Int64> = []
        var last: StoredBundle?
        for index in chain[..<count] {
            guard let bundle = contents.bundles[index] else { continue }
            ids.append(bundle.id)
            positions.insert(bundle.position)
            dropped.count += 1
            dropped.bytes += bundle.bytes.count
            contents.bundles[index] = nil
            contents.bundleCount -= 1
            contents.chainIDs.remove(bundle.id)
            last = bundle
        }
        contents.droppedIDs[author, default: []].append((below + 1, ids))
        for key in contents.recordBundles.keys {
            contents.recordBundles[key]?.subtract(positions)
        }
        contents.chains[author] = count == chain.count ? nil : Array(chain[count...])
        if let last { contents.floors[author] = ChainHead(sequence: last.sequence, id: last.id, mark: last.mark) }
        return dropped
    }

    func rebaseLocalSequences(acknowledged: UInt64) throws {
        for (key, record) in contents.records {
            guard let sequence = record.localSequence, sequence != StoredRecord.unsealed else { continue }
            if sequence <= acknowledged {
                contents.records[key]?.localSequence = nil
            } else {
                contents.records[key]?.localSequence = StoredRecord.unsealed
                contents.unsealedRecords.insert(key)
            }
        }
    }
}
