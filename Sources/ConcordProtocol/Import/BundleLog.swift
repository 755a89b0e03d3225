import ConcordCore
import ConcordCrypto

/// Which bundles a device holds: every author's hash chain, the bundles waiting for a
/// missing predecessor, and quarantined forks.
///
/// A value type with no I/O (a later issue persists it). Bundles enter through
/// ``BundleImporter`` (from others) or ``appendSealed(_:)`` (this device's own), and
/// leave through ``bundles(since:)`` for export.
///
/// ```swift
/// var log = BundleLog()
/// try membership.seal(ops, appendingTo: &log)
/// let toSend = log.bundles(since: peerVector)
/// ```
public struct BundleLog: Hashable, Sendable {
    /// The newest bundle of an author's contiguous chain.
    public struct ChainHead: Hashable, Sendable {
        /// Its sequence number.
        public let sequence: UInt64
        /// Its id (the next bundle's `previous`).
        public let id: BundleID
        /// The chain mark through it: the greatest `hlc max` of the chain's data bundles,
        /// `nil` when it has none (``ChainRule/mark(_:through:)``). The author's held
        /// frontier (`Specs/crdt-semantics.md` §11.2); the next data bundle must start after it.
        public let mark: HLCTimestamp?
        /// Creates a chain head.
        package init(sequence: UInt64, id: BundleID, mark: HLCTimestamp? = nil) {
            self.sequence = sequence
            self.id = id
            self.mark = mark
        }
        /// The head as a link of its chain, for ``ChainRule``.
        public var link: ChainRule.Link { ChainRule.Link(sequence: sequence, id: id) }
    }

    /// Every bundle in the chains, in the order they were appended (each author's in
    /// sequence order).
    public private(set) var bundles: [ChangeBundle] = []
    /// Author → indexes into ``bundles``; element `k` holds sequence `k + 1`.
    private var chains: [PublicKey: [Int]] = [:]
    /// Chain bundle id → the chain mark through it (absent: no data bundle up to it).
    private var marks: [BundleID: HLCTimestamp] = [:]
    /// Ids of every bundle in the chains, held, quarantined or kept as evidence.
    public private(set) var knownIDs: Set<BundleID> = []
    /// Format 3: the membership ops of the control bundles in the chains and of the
    /// evidence, by bundle id (the evaluation input, `Specs/membership.md` §5).
    public private(set) var membershipRecords: [BundleID: MembershipOpRecord] = [:]
    /// Format 3: control bundles past their author's cut-off, kept outside the chains
    /// (`Specs/membership.md` §8); never counted in ``versionVector``.
    public private(set) var evidence: [ChangeBundle] = []
    /// Author → sequence → bundle waiting for its predecessor.
    private var held: [PublicKey: [UInt64: ChangeBundle]] = [:]
    /// How many bundles are held, all authors together.
    public private(set) var heldCount = 0
    /// Bundles that fork their author's chain, as evidence; never applied.
    public private(set) var quarantined: [ChangeBundle] = []
    /// Chain bundles that entered void: verified, but their payload could not be used, so
    /// none of their operations were applied (`Specs/wire-format.md` §7.7, step 11).
    public private(set) var voided: [VoidedBundle] = []
    /// Denied ops by data bundle (``denials``).
    private var deniedOperations: [BundleID: [DeniedOperation]] = [:]
    /// The `set` and `add` ops of chain bundles the resurrection guard drops
    /// (`Specs/crdt-semantics.md` §11.4), as last decided, by author, sequence and stamp.
    public private(set) var guarded: [GuardedOperation] = []

    /// Digests of the certificate chains of bundles this log applied or holds: they were
    /// fully verified once, so later bundles with the same chain skip that work.
    public private(set) var verifiedCertificateChains: Set<Digest32> = []

    /// An empty log.
    public init() {}

    /// Records that `chain` passed full verification.
    mutating func trust(_ chain: CertificateChain) {
        verifiedCertificateChains.insert(chain.digest)
    }

    /// The newest bundle of `author`'s chain; `nil` if none is held.
    public func head(of author: PublicKey) -> ChainHead? {
        latestBundle(of: author).map { ChainHead(sequence: $0.sequence, id: $0.id, mark: marks[$0.id]) }
    }

    /// The chain mark of `author` through its bundle `sequence` (0: before the first): the
    /// greatest `hlc max` of its data bundles up to there; `nil` when there is none.
    public func mark(of author: PublicKey, through sequence: UInt64) -> HLCTimestamp? {
        bundle(of: author, sequence: sequence).flatMap { marks[$0.id] }
    }

    /// The newest bundle of `author`'s chain.
    public func latestBundle(of author: PublicKey) -> ChangeBundle? {
        chains[author]?.last.map { bundles[$0] }
    }

    /// The bundle `sequence` of `author`'s chain, if held.
    public func bundle(of author: PublicKey, sequence: UInt64) -> ChangeBundle? {
        guard let chain = chains[author], sequence >= 1, sequence <= UInt64(chain.count) else { return nil }
        return bundles[chain[Int(sequence - 1)]]
    }

    /// Whether the bundle is in a chain, held or quarantined.
    public func contains(_ id: BundleID) -> Bool { knownIDs.contains(id) }

    /// Author → highest contiguous sequence.
    public var versionVector: VersionVector {
        VersionVector(chains.mapValues { UInt64($0.count) })
    }

    /// Every chain bundle above `vector`, in the order they were appended, so each
    /// author's come in sequence order and the whole list in the order this device saw
    /// them.
    /// - Parameters:
    ///   - vector: What the receiver already holds.
    /// - Returns: The bundles to send.
    /// - Complexity: O(n) in the bundles held.
    public func bundles(since vector: VersionVector) -> [ChangeBundle] {
        bundles.filter { $0.sequence > vector[$0.author] }
    }

    /// The bundles waiting for a predecessor, by author and sequence.
    public var heldBundles: [ChangeBundle] {
        held.sorted { $0.key < $1.key }.flatMap { $0.value.sorted { $0.key < $1.key }.map(\.value) }
    }

    /// Appends a bundle this device sealed. No signature is checked: use
    /// ``BundleImporter`` for bundles from elsewhere.
    ///
    /// ```swift
    /// let bundle = try membership.seal(ops, previous: log.latestBundle(of: me))
    /// try log.appendSealed(bundle)
    /// ```
    /// - Parameters:
    ///   - bundle: The next bundle of its author's chain.
    /// - Throws: ``ConcordError`` with code `.chainMismatch` when it does not extend the
    ///   author's chain (wrong sequence or previous id, or already known).
    public mutating func appendSealed(_ bundle: ChangeBundle) throws {
        let head = head(of: bundle.author)
        guard !contains(bundle.id), ChainRule.extends(sequence: bundle.sequence, previous: bundle.previous, after: head?.link) else {
            throw ConcordError(
                .chainMismatch,
                "\(bundle) does not extend its author's chain (held up to \(head?.sequence ?? 0)); seal it after the latest bundle in this log"
            )
        }
        append(bundle)
    }

    /// Appends the next bundle of its author's chain.
    /// - Precondition: It extends the chain.
    mutating func append(_ bundle: ChangeBundle) {
        precondition(bundle.sequence == UInt64(chains[bundle.author]?.count ?? 0) + 1, "bundle does not extend its chain")
        let before = latestBundle(of: bundle.author).flatMap { marks[$0.id] }
        if let mark = ChainRule.mark(before, through: bundle) { marks[bundle.id] = mark }
        chains[bundle.author, default: []].append(bundles.count)
        bundles.append(bundle)
        knownIDs.insert(bundle.id)
    }

    /// Remembers a void chain bundle.
    mutating func recordVoid(_ voided: VoidedBundle) {
        self.voided.append(voided)
    }

    /// The held bundle at `sequence` of `author`, if any.
    func heldBundle(of author: PublicKey, sequence: UInt64) -> ChangeBundle? {
        held[author]?[sequence]
    }

    /// Keeps a bundle until its predecessor arrives.
    mutating func hold(_ bundle: ChangeBundle) {
        precondition(held[bundle.author]?[bundle.sequence] == nil, "a bundle is already held at this place")
        held[bundle.author, default: [:]][bundle.sequence] = bundle
        heldCount += 1
        knownIDs.insert(bundle.id)
    }

    /// Removes and returns the held bundle at `sequence` of `author`. Its id stays known.
    mutating func takeHeld(of author: PublicKey, sequence: UInt64) -> ChangeBundle? {
        guard let bundle = held[author]?.removeValue(forKey: sequence) else { return nil }
        if held[author]!.isEmpty { held[author] = nil }
        heldCount -= 1
        return bundle
    }

    /// Removes and returns a quarantined bundle of `author` that extends the chain whose head
    /// is `head` (by ``ChainRule``): it arrived while a fork held its place.
    mutating func takeQuarantined(of author: PublicKey, extending head: ChainRule.Link) -> ChangeBundle? {
        let extends = { (bundle: ChangeBundle) in
            bundle.author == author && ChainRule.extends(sequence: bundle.sequence, previous: bundle.previous, after: head)
        }
        guard let index = quarantined.firstIndex(where: extends) else { return nil }
        return quarantined.remove(at: index)
    }

    /// Keeps a forked bundle as evidence, up to `limit` of them.
    mutating func quarantine(_ bundle: ChangeBundle, limit: Int) {
        guard quarantined.count < limit else { return }
        quarantined.append(bundle)
        knownIDs.insert(bundle.id)
    }
}

extension BundleLog: PermissionSource {
    /// The ops the permission decision denied (`Specs/permissions.md` §6.3), by author,
    /// sequence and index.
    public var denials: [DeniedOperation] {
        deniedOperations.values.flatMap { $0 }.sorted { ($0.author, $0.sequence, $0.index) < ($1.author, $1.sequence, $1.index) }
    }

    /// Replaces the denials of one data bundle.
    mutating func setDenials(_ denials: [DeniedOperation], of bundle: BundleID) {
        deniedOperations[bundle] = denials.isEmpty ? nil : denials
    }

    /// Forgets every denial (a rebuild decides every bundle again).
    mutating func clearDenials() { deniedOperations = [:] }

    package func chainBundle(of author: PublicKey, sequence: UInt64) -> ChangeBundle? { bundle(of: author, sequence: sequence) }

    package func controlBundle(_ id: BundleID) -> ChangeBundle? {
        bundles.first { $0.id == id } ?? evidence.first { $0.id == id } ?? heldBundles.first { $0.id == id }
    }
}

extension BundleLog {
    /// Records the membership op of a control bundle that entered its chain or the evidence.
    mutating func recordMembership(_ record: MembershipOpRecord) {
        membershipRecords[record.bundleID] = record
    }

    /// Keeps a control bundle past its author's cut-off as evidence (outside the chain).
    mutating func keepAsEvidence(_ bundle: ChangeBundle) {
        guard !evidence.contains(where: { $0.id == bundle.id }) else { return }
        evidence.append(bundle)
        knownIDs.insert(bundle.id)
    }

    /// Takes a bundle out of the evidence (its author's cut-off moved past it: a removal
    /// became void); the caller holds it so it re-enters the chain in order.
    mutating func takeEvidence(_ id: BundleID) -> ChangeBundle? {
        guard let index = evidence.firstIndex(where: { $0.id == id }) else { return nil }
        return evidence.remove(at: index)
    }

    /// Authors with a chain, sorted.
    var chainAuthors: [PublicKey] { chains.keys.sorted() }

    /// Authors with held bundles, sorted.
    var heldAuthors: [PublicKey] { held.keys.sorted() }

    /// The held bundles of `author`, in sequence order.
    func heldBundles(of author: PublicKey) -> [ChangeBundle] {
        (held[author] ?? [:]).sorted { $0.key < $1.key }.map(\.value)
    }

    /// Removes `author`'s chain bundles after `cutoff` (a removal or retirement cut it
    /// there) and returns them in sequence order. Their ids are forgotten unless a caller
    /// keeps them (control bundles become evidence).
    mutating func truncateChain(of author: PublicKey, after cutoff: UInt64) -> [ChangeBundle] {
        guard let chain = chains[author], UInt64(chain.count) > cutoff else { return [] }
        let dropped = chain[Int(cutoff)...].map { bundles[$0] }
        let droppedIndexes = Set(chain[Int(cutoff)...])
        var remap: [Int: Int] = [:]
        var kept: [ChangeBundle] = []
        kept.reserveCapacity(bundles.count - droppedIndexes.count)
        for (index, bundle) in bundles.enumerated() where !droppedIndexes.contains(index) {
            remap[index] = kept.count
            kept.append(bundle)
        }
        bundles = kept
        chains = chains.compactMapValues { indexes in
            let moved = indexes.compactMap { remap[$0] }
            return moved.isEmpty ? nil : moved
        }
        for bundle in dropped {
            knownIDs.remove(bundle.id)
            marks[bundle.id] = nil
        }
        return dropped
    }
}

extension BundleLog {
    /// Records an op the resurrection guard dropped on its way in.
    mutating func recordGuarded(_ operation: GuardedOperation) {
        guard !guarded.contains(operation) else { return }
        guarded.append(operation)
        guarded.sort { ($0.author, $0.sequence, $0.operation.stamp) < ($1.author, $1.sequence, $1.operation.stamp) }
    }

    /// Replaces the dropped ops (a rebuild decided every op again).
    mutating func replaceGuarded(_ operations: [GuardedOperation]) {
        guarded = operations.sorted { ($0.author, $0.sequence, $0.operation.stamp) < ($1.author, $1.sequence, $1.operation.stamp) }
    }

    /// The bundle of a record's greatest delete, found in the log: `Q` is the delete stamp's
    /// replica, `q` the data bundle of `Q`'s chain whose clock range holds the stamp (data
    /// bundles of a chain have disjoint ranges, by chain monotonicity; the lowest wins).
    /// `nil` when the record has no delete or the log holds no such bundle (a delete not
    /// sealed yet).
    /// - Parameters:
    ///   - state: The record's state.
    func deleteBundle(of state: RecordState?) -> ResurrectionGuard.DeleteBundle? {
        guard let deletedAt = state?.deletedAt, let author = try? PublicKey(bytes: deletedAt.replica.bytes),
            let chain = chains[author]
        else { return nil }
        for index in chain {
            let bundle = bundles[index]
            if !bundle.isControl, bundle.hlcRange.contains(deletedAt.hlc) {
                return ResurrectionGuard.DeleteBundle(author: author, sequence: bundle.sequence)
            }
        }
        return nil
    }
}
