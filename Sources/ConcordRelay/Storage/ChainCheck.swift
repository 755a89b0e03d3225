import ConcordCore
import ConcordProtocol
import ConcordCrypto

/// The per-author hash-chain check of a push (`Specs/relay-api.md` §4), shared by the
/// storage backends so that they decide alike.
///
/// A backend runs it inside its write transaction, giving it one lookup: the stored
/// bundle of an author with the highest sequence at or below a given one. The check adds
/// the earlier bundles of the same push on top of what is stored.
///
/// ```swift
/// var check = ChainCheck { author, sequence in try lookUp(author, atMost: sequence) }
/// let toInsert = try check.run(bundles)    // throws RelayError .fork / .missingPredecessor
/// let duplicates = check.duplicates
/// ```
package struct ChainCheck {
    /// A chain position: sequence and bundle id.
    package struct Link: Sendable, Hashable {
        /// The sequence.
        package var sequence: UInt64
        /// The bundle id.
        package var id: BundleID
        /// Creates a link.
        package init(sequence: UInt64, id: BundleID) {
            self.sequence = sequence
            self.id = id
        }
    }

    /// The stored link of `author` with the highest sequence ≤ `sequence`, or nil.
    let storedLink: (PublicKey, UInt64) throws -> Link?
    /// Bundles of this push accepted so far, per author, contiguous after the stored head.
    private var pending: [PublicKey: [Link]] = [:]
    /// Bundles found already stored (or repeated in the push) with the same id.
    package private(set) var duplicates = 0

    /// Creates a check over a storage lookup.
    /// - Parameters:
    ///   - storedLink: The stored link of an author with the highest sequence at or below
    ///     the given one (by contiguity, the head when there is none at that sequence).
    package init(storedLink: @escaping (PublicKey, UInt64) throws -> Link?) {
        self.storedLink = storedLink
    }

    /// Checks every bundle in push order.
    /// - Parameters:
    ///   - bundles: The push.
    /// - Returns: The bundles to insert, in push order (duplicates left out).
    /// - Throws: ``RelayError`` ``RelayError/Code/fork`` or ``RelayError/Code/missingPredecessor`` for the first bundle
    ///   that fails; the caller then stores nothing.
    package mutating func run(_ bundles: [ChangeBundle]) throws -> [ChangeBundle] {
        var accepted: [ChangeBundle] = []
        for bundle in bundles where try accept(bundle) {
            accepted.append(bundle)
        }
        return accepted
    }

    /// Whether `bundle` is new and extends its author's chain; false for a duplicate.
    private mutating func accept(_ bundle: ChangeBundle) throws -> Bool {
        let author = bundle.author
        let chain = pending[author] ?? []
        let head: Link?
        if let first = chain.first, let last = chain.last, bundle.sequence >= first.sequence {
            if bundle.sequence <= last.sequence {
                return try compare(bundle, with: chain[Int(bundle.sequence - first.sequence)])
            }
            head = last
        } else if let stored = try storedLink(author, bundle.sequence) {
            if stored.sequence == bundle.sequence {
                return try compare(bundle, with: stored)
            }
            head = stored
        } else {
            head = nil
        }
        let needed = (head?.sequence ?? 0) + 1
        if let head, bundle.sequence == needed, bundle.previous != head.id {
            // The next place, but after another bundle than the stored head: the author's
            // history forked at the head's place (a copied or restored store), not a gap.
            throw RelayError.fork(author: author, sequence: head.sequence, stored: head.id, pushed: bundle.previous)
        }
        guard bundle.sequence == needed, bundle.previous == (head?.id ?? .zero) else {
            throw RelayError.missingPredecessor(author: author, needed: needed, got: bundle.sequence)
        }
        pending[author, default: []].append(Link(sequence: bundle.sequence, id: bundle.id))
        return true
    }

    /// Same author and sequence as `existing`: a duplicate (false) or a fork (throws).
    private mutating func compare(_ bundle: ChangeBundle, with existing: Link) throws -> Bool {
        guard existing.id == bundle.id else {
            throw RelayError.fork(author: bundle.author, sequence: bundle.sequence, stored: existing.id, pushed: bundle.id)
        }
        duplicates += 1
        return false
    }
}
