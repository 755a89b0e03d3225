import Concord
import ConcordCrypto
import Foundation
import Synchronization

// The sync session logic every transport shares (`Specs/sync-protocol.md`): vectors say
// what each side holds, the sender sends every bundle above the receiver's vector in log
// order (each author's in sequence order), the receiver imports in pages. The relay client
// and the peer session both use these pieces; only the wire differs.

// `ImportSummary.add(_:)` (in Concord) adds counts, fork places and void bundles.

extension VersionVector {
    /// How many bundles `self` holds that `other` lacks (per author, the difference of
    /// the two contiguous heads): the receiver's expected total for progress.
    /// - Parameters:
    ///   - other: The receiver's vector.
    /// - Returns: The number of bundles above `other`.
    func bundlesAbove(_ other: VersionVector) -> Int {
        entries.reduce(0) { $0 + Int($1.value - Swift.min($1.value, other[$1.key])) }
    }

    /// Raises every entry to at least `other`'s.
    /// - Parameters:
    ///   - other: The vector to merge.
    mutating func formMax(_ other: VersionVector) {
        for (author, sequence) in other.entries where sequence > self[author] { self[author] = sequence }
    }
}

/// Groups bundles into batches of at most `maxBytes` (a single larger bundle travels
/// alone): push requests to a relay, bundle messages to a peer.
struct BundleBatcher {
    let maxBytes: Int
    private(set) var bundles: [[UInt8]] = []
    private(set) var byteCount = 0

    /// Whether adding `count` more bytes would overflow the current batch.
    func wouldOverflow(adding count: Int) -> Bool {
        !bundles.isEmpty && byteCount + count > maxBytes
    }

    mutating func append(_ bytes: [UInt8]) {
        bundles.append(bytes)
        byteCount += bytes.count
    }

    /// Takes the batch, leaving the batcher empty.
    mutating func take() -> [[UInt8]] {
        defer {
            bundles = []
            byteCount = 0
        }
        return bundles
    }
}

/// Reads a replica's bundle log in append order from a remembered position, returning
/// the bundles above what a receiver holds. Live forwarding continues from where the last
/// pass ended, so each pass reads only what was appended since: own sealed bundles and
/// bundles imported from any transport (store and forward).
struct LogCursor {
    /// The last log position read.
    private(set) var position: Int64 = 0
    let pageSize: Int

    init(pageSize: Int = 64) {
        self.pageSize = pageSize
    }

    /// The next page of bundles above `known`, advancing the position; `nil` at the end.
    mutating func nextPage(of replica: Replica, above known: VersionVector) throws -> [StoredBundle]? {
        let start = position
        let page: [StoredBundle]
        do {
            page = try replica.store.read { try $0.bundles(after: start, limit: pageSize) }
        } catch let error as StoreError {
            throw ConcordError(.storage, error.message)
        }
        guard let last = page.last else { return nil }
        position = last.position
        return page.filter { $0.sequence > known[$0.author] }
    }
}

/// Tells every live session of a replica that its log may have grown (a local write was
/// made, a transport imported bundles), so they forward at once instead of at the next
/// poll. Cheap and lossy: a listener that is busy sees one signal for many.
///
/// ```swift
/// let signal = LogSignal()
/// let wakes = signal.subscribe()
/// signal.notify()
/// ```
public final class LogSignal: Sendable {
    private let listeners = Mutex<[UUID: AsyncStream<Void>.Continuation]>([:])

    /// Creates a signal with no listeners.
    public init() {}

    /// A stream that yields after every ``notify()`` (coalesced); it ends when the
    /// iterating task is cancelled.
    public func subscribe() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        listeners.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            _ = self?.listeners.withLock { $0.removeValue(forKey: id) }
        }
        return stream
    }

    /// Wakes every listener.
    public func notify() {
        for listener in listeners.withLock({ Array($0.values) }) { listener.yield(()) }
    }
}

/// The author and sequence of a bundle, read from its header without decoding it
/// (`Specs/wire-format.md` §7.2); `nil` if the bytes are not a plausible bundle.
func bundleAuthorAndSequence(_ bytes: [UInt8]) -> (PublicKey, UInt64)? {
    guard bytes.count > 80, bytes[0..<4].elementsEqual([0x43, 0x4e, 0x43, 0x42]) else { return nil }
    var reader = ByteReader(bytes, range: 70..<bytes.count)
    guard let author = try? PublicKey(bytes: bytes[38..<70]), let sequence = try? reader.readVarint() else { return nil }
    return (author, sequence)
}
