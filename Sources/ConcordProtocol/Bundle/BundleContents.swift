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
    /// The operations, in the order the author sealed them: the general section's (scope
    /// sections are in ``sections`` until the permission gate has decided them; then the
    /// allowed ones of every section are here, general ones first).
    public let operations: [RecordOperation]
    /// The scope sections of a sectioned bundle (`Specs/permissions.md` §7.3) as this
    /// device sees them: opened, broken or unread; empty for other bundles.
    public let sections: [OpenedSection]

    /// Creates contents; bundles are opened with ``Membership/contents(of:)``.
    /// - Parameters:
    ///   - context: The author's causal context.
    ///   - operations: The bundle's operations.
    ///   - sections: Its scope sections.
    package init(context: VersionVector, operations: [RecordOperation], sections: [OpenedSection] = []) {
        self.context = context
        self.operations = operations
        self.sections = sections
    }

    /// Every op this device can read with its place: section 0 (general) and index for the
    /// general ops, then the ops of each opened scope section with its number.
    package var placedOperations: [(section: Int, index: Int, operation: RecordOperation)] {
        var placed = operations.enumerated().map { (section: 0, index: $0.offset, operation: $0.element) }
        for section in sections {
            guard case .operations(let ops) = section.content else { continue }
            placed += ops.enumerated().map { (section: section.number, index: $0.offset, operation: $0.element) }
        }
        return placed
    }
}

/// A scope section of a bundle as one device sees it (`Specs/permissions.md` §7.3–7.4).
///
/// ```swift
/// for section in contents.sections where section.content == .unread {
///     print("section \(section.number): \(section.length) bytes under scope key \(section.keyID)")
/// }
/// ```
public struct OpenedSection: Hashable, Sendable {
    /// What this device could make of the section.
    public enum Content: Hashable, Sendable {
        /// Opened under a scope key this device holds: its ops, not yet decided.
        case operations([RecordOperation])
        /// Opened but damaged (§6.2 `bad-section`): it does not authenticate or decode, is
        /// empty, holds an op not stamped by the author or outside the clock range, or
        /// shares its scope with another section of the bundle.
        case broken(String)
        /// This device holds no key for it (it is outside the scope, or no `scope-key` op
        /// naming the key id has arrived): kept whole, opened when a key arrives (§7.4).
        case unread
    }

    /// The section's number (1 for the first, in key id order).
    public let number: Int
    /// The scope key id it is sealed under.
    public let keyID: EpochKeyID
    /// The sealed blob's length in bytes.
    public let length: Int
    /// The scope's read roles, when a `scope-key` op names the key id; `nil` otherwise.
    public let readers: [String]?
    /// Opened, broken or unread.
    public let content: Content
}
