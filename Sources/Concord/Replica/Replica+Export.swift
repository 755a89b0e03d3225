import ConcordCore
import ConcordCrypto
import ConcordStore

extension Replica {
    /// The version vector: for each author, the highest sequence held contiguously.
    /// Send it to a peer; it answers with ``bundles(since:pageSize:)``.
    public func versionVector() throws -> VersionVector {
        try ConcordError.storage { try store.read { VersionVector(try $0.chainHeads().mapValues(\.sequence)) } }
    }

    /// Every bundle of the log above `vector`, oldest first (each author's in sequence
    /// order), as a stream that reads the store a page at a time: memory stays bounded
    /// whatever the size of the log. Pending local writes are sealed first.
    ///
    /// ```swift
    /// for try await bundle in try await alice.bundles(since: bobsVector) {
    ///     try send(bundle.bytes)
    /// }
    /// ```
    /// - Parameters:
    ///   - vector: What the receiver already holds (empty for everything).
    ///   - pageSize: Bundles read per store query.
    public func bundles(since vector: VersionVector = VersionVector(), pageSize: Int = 64) throws -> BundleStream {
        if role == .writer { try seal() }
        return BundleStream(replica: self, vector: vector, pageSize: max(1, pageSize))
    }

    /// One page of the log after `position`: the bundles above `vector`, and the position
    /// to continue from (`nil` at the end).
    func bundlePage(after position: Int64, vector: VersionVector, pageSize: Int) throws -> ([ChangeBundle], Int64?) {
        try ConcordError.storage {
            try store.read { tx in
                let page = try tx.bundles(after: position, limit: pageSize)
                let wanted = try page.filter { $0.sequence > vector[$0.author] }.map(StoreDestination.decode)
                return (wanted, page.count < pageSize ? nil : page.last!.position)
            }
        }
    }

    /// Where a scan of the log for the bundles above `vector` starts: just before the
    /// earliest first-wanted bundle of any author (`nil`: no chain goes above `vector`).
    /// Each chain is appended in sequence order, so nothing wanted lies before it, and a
    /// device pushing its latest writes reads the tail of its log, not the whole log.
    func scanStart(above vector: VersionVector) throws -> Int64? {
        try ConcordError.storage {
            try store.read { tx in
                var start: Int64?
                for (author, head) in try tx.chainHeads() where head.sequence > vector[author] {
                    // Below a snapshot's floor there is no bundle: the chain starts above it.
                    guard let first = try tx.bundle(of: author, sequence: vector[author] + 1) else { return 0 }
                    start = min(start ?? first.position, first.position)
                }
                return start.map { $0 - 1 }
            }
        }
    }

    /// How many bundles the log holds.
    public func bundleCount() throws -> Int {
        try ConcordError.storage { try store.read { try $0.bundleCount() } }
    }
}

/// The bundles of a replica's log above a version vector, read a page at a time.
/// See ``Replica/bundles(since:pageSize:)``.
public struct BundleStream: AsyncSequence, Sendable {
    public typealias Element = ChangeBundle
    let replica: Replica
    let vector: VersionVector
    let pageSize: Int

    /// Iterates the stream.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let replica: Replica
        let vector: VersionVector
        let pageSize: Int
        var position: Int64? = 0
        var buffer: [ChangeBundle] = []
        var index = 0
        var evidenceSent = false
        var started = false

        /// The next bundle; `nil` at the end of the log.
        public mutating func next() async throws -> ChangeBundle? {
            if !started {
                started = true
                position = try await replica.scanStart(above: vector)
            }
            while index == buffer.count {
                guard let position else {
                    // Spaces with members: after the chains, the control bundles this store
                    // keeps as evidence (`Specs/membership.md` §8), so whoever receives this
                    // stream (a file, a relay, a peer) evaluates them too.
                    guard !evidenceSent else { return nil }
                    evidenceSent = true
                    buffer = try await replica.evidenceBundles().filter { $0.sequence > vector[$0.author] }
                    index = 0
                    continue
                }
                (buffer, self.position) = try await replica.bundlePage(after: position, vector: vector, pageSize: pageSize)
                index = 0
            }
            defer { index += 1 }
            return buffer[index]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(replica: replica, vector: vector, pageSize: pageSize)
    }
}
