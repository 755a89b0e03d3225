import ConcordCrypto

/// For each author, the highest sequence number held **contiguously** from 1.
///
/// To sync, one side sends its vector; the other answers with every bundle above it
/// (``BundleLog/bundles(since:)``). Bundles held back for a gap do not count.
///
/// ```swift
/// let mine = log.versionVector
/// let missing = theirLog.bundles(since: mine)
/// ```
public struct VersionVector: Hashable, Sendable, CustomStringConvertible {
    /// Author → highest contiguous sequence; authors with nothing held are absent.
    public private(set) var entries: [PublicKey: UInt64]

    /// Creates a vector.
    /// - Parameters:
    ///   - entries: Author → highest contiguous sequence; zero entries are dropped.
    public init(_ entries: [PublicKey: UInt64] = [:]) {
        self.entries = entries.filter { $0.value > 0 }
    }

    /// The highest contiguous sequence of `author`; 0 when nothing is held.
    public subscript(author: PublicKey) -> UInt64 {
        get { entries[author] ?? 0 }
        set { entries[author] = newValue == 0 ? nil : newValue }
    }

    /// Whether this vector is at least `other` for every author (it has seen everything
    /// `other` has).
    /// - Complexity: O(authors of `other`).
    public func includes(_ other: VersionVector) -> Bool {
        other.entries.allSatisfy { self[$0.key] >= $0.value }
    }

    /// `[1a2b3c4d: 3, 5e6f7a8b: 1]`, authors sorted.
    public var description: String {
        "[" + entries.sorted { $0.key < $1.key }.map { "\($0.key.hex.prefix(8)): \($0.value)" }.joined(separator: ", ") + "]"
    }
}
