import ConcordCrypto

/// What importing one bundle did.
///
/// ```swift
/// switch importer.importBundle(bytes, into: &replica, log: &log) {
/// case .applied(let ids): print("applied \(ids.count) bundles")
/// case .duplicate: break                              // already had it
/// case .held(let seq): print("waiting for bundle \(seq)")
/// case .fork(let author, let seq): alert("device \(author) forked at \(seq)")
/// case .rejected(let error): print(error.message)
/// }
/// ```
public enum ImportOutcome: Hashable, Sendable {
    /// The bundle was applied, followed by any held bundles it released, in chain order.
    case applied([BundleID])
    /// The bundle is already known (applied, held or quarantined); nothing changed.
    case duplicate(BundleID)
    /// The bundle is valid but a predecessor is missing; it is kept and applied
    /// automatically once the author's chain reaches it. `waitingFor` is the first
    /// missing sequence number.
    case held(waitingFor: UInt64)
    /// The author signed two different bundles for the same place in its chain. The new
    /// one is quarantined (``BundleLog/quarantined``) and never merged.
    case fork(author: PublicKey, sequence: UInt64)
    /// The bundle failed a check; replica and log are unchanged.
    case rejected(ConcordError)

    /// The error of a rejection, else `nil`.
    public var error: ConcordError? {
        if case .rejected(let error) = self { return error }
        return nil
    }

    /// The bundles applied, oldest first; empty unless ``applied(_:)``.
    public var appliedIDs: [BundleID] {
        if case .applied(let ids) = self { return ids }
        return []
    }
}
