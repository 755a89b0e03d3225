import ConcordCore
import ConcordCrypto
import ConcordProtocol

/// The per-author hash-chain check of a push (`Specs/relay-api.md` §4): ``ChainRule`` over
/// a whole push, shared by the storage backends so that they decide alike.
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
    package typealias Link = ChainRule.Link

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
        // The author's link at or below the bundle's place: this push's, else the store's.
        let link: Link?
        if let first = chain.first, let last = chain.last, bundle.sequence >= first.sequence {
            link = bundle.sequence <= last.sequence ? chain[Int(bundle.sequence - first.sequence)] : last
        } else {
            link = try storedLink(author, bundle.sequence)
        }
        switch ChainRule.verdict(for: bundle, against: link) {
        case .extends:
            pending[author, default: []].append(Link(sequence: bundle.sequence, id: bundle.id))
            return true
        case .duplicate:
            duplicates += 1
            return false
        case .fork(let sequence, let stored, let pushed) where sequence > 0:
            // A place already held, or the next place after another bundle than the head:
            // the author's history forked there (a copied or restored store).
            throw RelayError.fork(author: author, sequence: sequence, stored: stored, pushed: pushed)
        case .fork:
            // A first bundle naming a predecessor: refused as a gap before sequence 1.
            throw RelayError.missingPredecessor(author: author, needed: 1, got: bundle.sequence)
        case .gap(let needed):
            throw RelayError.missingPredecessor(author: author, needed: needed, got: bundle.sequence)
        }
    }
}
