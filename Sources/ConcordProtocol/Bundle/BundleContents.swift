import ConcordCore

/// What a change bundle carries once opened: its author's causal context and its
/// operations (`Specs/wire-format.md`, section 7.5).
///
/// The **causal context** is the version vector of the author's bundle log when it sealed
/// the bundle, without the author's own entry: for every other author, the highest
/// sequence the author held contiguously. It tells whether two writes were concurrent
/// (the later-sealed bundle's context does not include the other bundle), and it
/// acknowledges: a peer's bundle whose context names this device at sequence `n` proves
/// the peer had this device's bundles 1 through `n`. In an encrypted space it is
/// encrypted with the operations, so a relay does not learn it.
///
/// ```swift
/// let contents = try membership.contents(of: bundle)
/// let sawMine = contents.context[membership.device.publicKey]   // 0: none of my bundles
/// try replica.receive(contents.operations)
/// ```
public struct BundleContents: Sendable, Hashable {
    /// The author's version vector at sealing time, without the author's own entry.
    public let context: VersionVector
    /// The operations, in the order the author sealed them.
    public let operations: [RecordOperation]

    /// Creates contents; bundles are opened with ``Membership/contents(of:)``.
    /// - Parameters:
    ///   - context: The author's causal context.
    ///   - operations: The bundle's operations.
    package init(context: VersionVector, operations: [RecordOperation]) {
        self.context = context
        self.operations = operations
    }
}
