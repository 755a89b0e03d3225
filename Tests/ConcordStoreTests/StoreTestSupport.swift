import ConcordCore
import ConcordCrypto
import Foundation
import Testing

@testable import ConcordStore

/// The stores every conformance test runs against.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case memory
    case sqlite

    var testDescription: String { rawValue }

    /// A fresh, empty store of this kind (SQLite on a new temporary file).
    func make() throws -> StoreFixture { try StoreFixture(self) }
}

/// A store under test, and for SQLite the temporary directory holding its file (removed
/// when the fixture goes away).
final class StoreFixture {
    let kind: StoreKind
    private(set) var store: any Store
    let directory: TemporaryDirectory?

    init(_ kind: StoreKind) throws {
        self.kind = kind
        switch kind {
        case .memory:
            directory = nil
            store = MemoryStore()
        case .sqlite:
            let directory = try TemporaryDirectory()
            self.directory = directory
            store = try SQLiteStore(path: directory.path + "/replica.sqlite")
        }
    }

    /// The database file (SQLite only).
    var path: String? { directory.map { $0.path + "/replica.sqlite" } }

    /// Closes the SQLite store (by dropping the only reference) and opens the same file again.
    func reopen() throws {
        guard let path else { return }
        store = MemoryStore()
        store = try SQLiteStore(path: path)
    }
}

/// A new empty directory under the system temporary directory, removed on deinit.
final class TemporaryDirectory: Sendable {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "concord-store-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

// MARK: Records and operations

/// A replica id whose 32 bytes are all `byte`.
func replica(_ byte: UInt8) -> ReplicaID { ReplicaID(bytes: [UInt8](repeating: byte, count: 32))! }

/// A stamp at HLC `time` of replica `byte`.
func stamp(_ time: UInt64, _ byte: UInt8 = 1) -> Stamp { Stamp(hlc: HLCTimestamp(rawValue: time), replica: replica(byte)) }

/// A record id with a small, readable value.
func rid(_ n: UInt64) -> RecordID { RecordID(high: 0x1000, low: n) }

/// A record state made by applying `actions`, stamped 1, 2, 3, ...
func state(_ actions: [RecordOperation.Action], from time: UInt64 = 1) -> RecordState {
    var state = RecordState()
    for (i, action) in actions.enumerated() {
        state.apply(RecordOperation(stamp: stamp(time + UInt64(i)), collection: "c", record: rid(0), action: action))
    }
    return state
}

extension RecordState {
    /// This state after `action` at `stamp`.
    func applying(_ action: RecordOperation.Action, at stamp: Stamp) -> RecordState {
        var copy = self
        copy.apply(RecordOperation(stamp: stamp, collection: "c", record: rid(0), action: action))
        return copy
    }
}

/// Writes `state` over whatever the store holds for the record, passing the stored record
/// as `previous` (as `Concord.Replica` does).
func put(_ state: RecordState, _ id: RecordID, in collection: String, localSequence: UInt64? = nil, into tx: any StoreWriter) throws {
    let previous = try tx.record(id, in: collection)
    try tx.putRecord(StoredRecord(state: state, localSequence: localSequence), id: id, in: collection, previous: previous)
}

func put(_ state: RecordState, _ id: RecordID, in collection: String, localSequence: UInt64? = nil, into store: any Store) throws {
    try store.write { try put(state, id, in: collection, localSequence: localSequence, into: $0) }
}

/// The ids `query` returns.
func ids(_ query: RecordQuery, in store: any Store) throws -> [RecordID] {
    try store.read { try $0.records(matching: query).map(\.id) }
}

// MARK: Bundles

/// An author key whose 32 bytes are all `byte`.
func author(_ byte: UInt8) -> PublicKey { try! PublicKey(bytes: [UInt8](repeating: byte, count: 32)) }

/// A digest made from a label (distinct labels give distinct digests).
func digest(_ label: String) -> Digest32 {
    var bytes = Array(label.utf8.prefix(32))
    bytes += [UInt8](repeating: 0xA5, count: 32 - bytes.count)
    return try! Digest32(bytes: bytes)
}

/// Bundle `sequence` of `author`'s chain, linked to `previous` (all zero for the first).
func bundle(_ author: PublicKey, _ sequence: UInt64, previous: Digest32? = nil, tag: String = "") -> StoredBundle {
    let id = digest("\(author.bytes[0])/\(sequence)\(tag)")
    let previous = previous ?? (sequence == 1 ? .zero : digest("\(author.bytes[0])/\(sequence - 1)"))
    return StoredBundle(id: id, author: author, sequence: sequence, previous: previous, bytes: Array("bundle \(author.bytes[0]) \(sequence)\(tag)".utf8))
}

/// `count` consecutive bundles of `author`, from sequence `from`.
func chain(_ author: PublicKey, _ sequences: ClosedRange<UInt64>) -> [StoredBundle] {
    sequences.map { bundle(author, $0) }
}

/// Bundles compared without the store-assigned position.
func unpositioned(_ bundles: [StoredBundle]) -> [StoredBundle] {
    bundles.map { var b = $0; b.position = 0; return b }
}

// MARK: Errors

/// The ``StoreError`` `body` throws; records an issue when it throws something else or nothing.
func storeError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> StoreError? {
    do {
        try body()
        Issue.record("expected a StoreError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as StoreError {
        return error
    } catch {
        Issue.record("expected a StoreError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// An error a test throws on purpose from a write body.
struct Abort: Error {}

extension RecordID {
    /// The low 64 bits: `rid(n).n == n`.
    var n: UInt64 { bytes.suffix(8).reduce(0) { $0 << 8 | UInt64($1) } }
}

// MARK: Contents of every kind (transaction and reopening tests)

/// Operations with every action and value kind.
func sampleOperations() -> [RecordOperation] {
    let values: [Value] = [
        .null, .bool(true), .int(-5), .double(-0.0), .double(.nan), .string("日本"), .bytes([]), .bytes([0, 255]),
        .reference(RecordReference(collection: "people", id: rid(3))),
    ]
    var ops = values.enumerated().map { i, value in
        RecordOperation(stamp: stamp(100 + UInt64(i)), collection: "todos", record: rid(1), action: .set(field: "f\(i)", value: value))
    }
    ops.append(RecordOperation(stamp: stamp(200), collection: "todos", record: rid(2), action: .add(field: "tags", value: "x")))
    ops.append(RecordOperation(stamp: stamp(201, 2), collection: "todos", record: rid(2), action: .remove(field: "tags", value: "x", observed: [stamp(200)])))
    ops.append(RecordOperation(stamp: stamp(202), collection: "notes", record: rid(3), action: .delete))
    return ops
}

/// Some contents of every kind.
func seed(_ store: any Store) throws {
    let a = author(0x0A)
    try store.write { tx throws in
        try tx.setMetadata([1, 2], for: "kept")
        try tx.setMetadata([3], for: "removed")
        try tx.setMetadata([4], for: "replaced")
        try put(state([.set(field: "title", value: "one"), .set(field: "rank", value: 1)]), rid(1), in: "todos", localSequence: StoredRecord.unsealed, into: tx)
        try put(state([.set(field: "title", value: "two")]), rid(2), in: "todos", localSequence: 1, into: tx)
        try tx.appendBundle(bundle(a, 1))
        try tx.holdBundle(bundle(a, 4))
        try tx.holdBundle(bundle(a, 5))
        try tx.quarantineBundle(bundle(a, 1, tag: "fork"))
        try tx.appendPendingOperations(Array(sampleOperations().prefix(3)))
    }
}

/// One change of every kind on top of ``seed(_:)``.
func changeEverything(_ tx: any StoreWriter) throws {
    let a = author(0x0A)
    try tx.setMetadata([1], for: "new")
    try tx.setMetadata(nil, for: "removed")
    try tx.setMetadata([5, 5], for: "replaced")
    let one = try #require(try tx.record(rid(1), in: "todos")).state
    try put(one.applying(.set(field: "title", value: "uno"), at: stamp(50)), rid(1), in: "todos", localSequence: StoredRecord.unsealed, into: tx)
    let two = try #require(try tx.record(rid(2), in: "todos")).state
    try put(two.applying(.delete, at: stamp(51)), rid(2), in: "todos", localSequence: StoredRecord.unsealed, into: tx)
    try put(state([.set(field: "title", value: "three")]), rid(3), in: "new collection", localSequence: StoredRecord.unsealed, into: tx)
    try tx.appendBundle(bundle(a, 2))
    try tx.appendBundle(bundle(author(0x0B), 1))
    try tx.holdBundle(bundle(author(0x0B), 3))
    try tx.removeHeldBundle(of: a, sequence: 4)
    try tx.quarantineBundle(bundle(a, 3, tag: "fork"))
    try tx.removeQuarantinedBundle(bundle(a, 1, tag: "fork").id)
    try tx.appendPendingOperations(Array(sampleOperations().suffix(3)))
    try tx.markPendingSealed(sequence: 2)
    try tx.appendPendingOperations(Array(sampleOperations().prefix(1)))
}

/// Everything a reader can observe of the stores the transaction tests use.
struct Snapshot: Equatable {
    var metadata: [String: [UInt8]?] = [:]
    var records: [String: StoredRecord?] = [:]
    var queries: [String: [StoredRecordRow]] = [:]
    var counts: [String: Int] = [:]
    var collections: [String] = []
    var heads: [PublicKey: ChainHead] = [:]
    var bundles: [StoredBundle] = []
    var bundleCount = 0
    var held: [StoredBundle] = []
    var quarantined: [StoredBundle] = []
    var known: [Bool] = []
    var pending: [RecordOperation] = []
    var pendingCount = 0

    init(_ store: any Store) throws {
        self = try store.read { tx throws in
            var s = Snapshot()
            for key in ["kept", "removed", "replaced", "new"] { s.metadata[key] = try tx.metadata(key) }
            for (id, collection) in [(1, "todos"), (2, "todos"), (3, "new collection")] {
                s.records["\(collection)/\(id)"] = try tx.record(rid(UInt64(id)), in: collection)
            }
            let queries = [
                RecordQuery("todos"), RecordQuery("todos").where("title", .equals("one")),
                RecordQuery("todos").where("title", .equals("uno")), RecordQuery("todos").order(by: "title", descending: true),
                RecordQuery("new collection").where("title", .greaterThan("")),
            ]
            for query in queries {
                s.queries[query.description] = try tx.records(matching: query)
                s.counts[query.description] = try tx.count(matching: query)
            }
            s.collections = try tx.collections()
            s.heads = try tx.chainHeads()
            s.bundles = try tx.bundles(after: 0, limit: 1000)
            s.bundleCount = try tx.bundleCount()
            s.held = try tx.heldBundles()
            s.quarantined = try tx.quarantinedBundles()
            let a = author(0x0A)
            let ids = [bundle(a, 1), bundle(a, 2), bundle(a, 4), bundle(a, 5), bundle(a, 1, tag: "fork"), bundle(a, 3, tag: "fork"), bundle(author(0x0B), 1), bundle(author(0x0B), 3)].map(\.id)
            s.known = try ids.map { try tx.containsBundle($0) }
            s.pending = try tx.pendingOperations()
            s.pendingCount = try tx.pendingOperationCount()
            return s
        }
    }

    private init() {}
}
