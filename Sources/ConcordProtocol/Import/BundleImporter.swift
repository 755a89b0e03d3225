import ConcordCore
import ConcordCrypto

/// Imports change bundles into a replica: verifies everything, then applies, all or
/// nothing, in each author's chain order.
///
/// Pipeline (`Specs/wire-format.md`, section 7.7): size limit; magic, version and
/// structure; space id; signature; certificate chain; writer role; author is the
/// certificate's subject; clock drift of the header's newest reading; duplicate
/// (→ ``ImportOutcome/duplicate(_:)``); chain position (a second bundle for a place
/// already taken → ``ImportOutcome/fork(author:sequence:)``); decrypt; decode;
/// every operation by the author and inside the header's clock range (a payload that fails
/// here the same way on every member makes a bundle that extends its chain void: it takes
/// its place with no operation applied, reported as a ``VoidedBundle``); then either hold
/// it (a predecessor is missing → ``ImportOutcome/held(waitingFor:)``) or apply it,
/// advance the chain and apply every held bundle it releases
/// (→ ``ImportOutcome/applied(_:)``). A rejected bundle changes neither the replica
/// (state and clock) nor the log. Importing is idempotent.
///
/// ```swift
/// let importer = BundleImporter(membership: bob)
/// var replica = bob.makeReplica()
/// var log = BundleLog()
/// for bytes in received {
///     if case .rejected(let error) = importer.importBundle(bytes, into: &replica, log: &log) {
///         print(error.message)
///     }
/// }
/// ```
public struct BundleImporter: Sendable {
    /// The importing device's membership: space id and content key.
    public let membership: Membership
    /// Size and queue bounds.
    public var limits: BundleLimits

    /// Creates an importer.
    /// - Parameters:
    ///   - membership: This device's membership of the space.
    ///   - limits: Bounds; 64 MiB per bundle, 1,024 held bundles by default.
    public init(membership: Membership, limits: BundleLimits = .default) {
        self.membership = membership
        self.limits = limits
    }

    /// Imports one bundle. The drift bound and the physical time are those of
    /// `replica.clock`.
    /// - Parameters:
    ///   - bytes: The bundle as received.
    ///   - replica: The replica to apply operations to.
    ///   - log: The device's bundle log.
    /// - Returns: What happened; a rejection leaves `replica` and `log` unchanged.
    public func importBundle(_ bytes: [UInt8], into replica: inout LocalReplica, log: inout BundleLog) -> ImportOutcome {
        // Move the replica and log into the destination (leaving cheap placeholders), so
        // they stay uniquely referenced and are changed in place, not copied.
        var destination = InMemoryDestination(replica: replica, log: log)
        replica = LocalReplica(id: replica.id)
        log = BundleLog()
        defer {
            replica = destination.replica
            log = destination.log
        }
        do {
            return try run(bytes, into: &destination)
        } catch let error as ConcordError {
            return .rejected(error)
        } catch {
            return .rejected(ConcordError(.malformedBundle, "unexpected failure while importing: \(error)"))
        }
    }

    /// Imports bundles in the given order.
    /// - Returns: One outcome per bundle.
    public func importBundles(_ list: [[UInt8]], into replica: inout LocalReplica, log: inout BundleLog) -> [ImportOutcome] {
        list.map { importBundle($0, into: &replica, log: &log) }
    }

    /// The import pipeline over any destination.
    /// - Throws: ``ConcordError`` when the bundle is rejected (the destination is then
    ///   unchanged); any other error is the destination's own failure.
    package func run<D: ImportDestination>(_ bytes: [UInt8], into destination: inout D) throws -> ImportOutcome {
        let verifier = BundleVerifier(
            spaceID: membership.spaceID, limits: limits, maxDrift: destination.clock.maxDrift,
            physicalClock: destination.clock.physicalClock, format: membership.format)
        let bundle = try verifier.verify(bytes, trustedChains: destination.verifiedCertificateChains)
        if bundle.format == ChangeBundle.memberFormatVersion, try destination.contains(bundle.id) {
            // Held and now extending its chain (it came again): the membership path decides again.
            let head = try destination.head(of: bundle.author)
            let next = (head?.sequence ?? 0) + 1
            guard bundle.sequence == next, try destination.heldBundle(of: bundle.author, sequence: next)?.id == bundle.id,
                ChainRule.extends(sequence: bundle.sequence, previous: bundle.previous, after: head?.link)
            else { return .duplicate(bundle.id) }
            _ = try destination.takeHeld(of: bundle.author, sequence: next)
            return try runMember(bundle, verdict: .extends, into: &destination)
        }
        if try destination.contains(bundle.id) {
            // A held bundle that now extends its chain was not applied when its predecessor
            // arrived (its clock was then too far ahead): the verifier accepted it now, so
            // apply it instead of reporting a duplicate that would stall the chain forever.
            let head = try destination.head(of: bundle.author)
            let next = (head?.sequence ?? 0) + 1
            guard ChainRule.extends(sequence: bundle.sequence, previous: bundle.previous, after: head?.link),
                try destination.heldBundle(of: bundle.author, sequence: next)?.id == bundle.id
            else {
                return .duplicate(bundle.id)
            }
            try apply(bundle, try opened(bundle, after: head?.mark), into: &destination)
            _ = try destination.takeHeld(of: bundle.author, sequence: next)
            return .applied([bundle.id] + (try extend(with: bundle, into: &destination)))
        }

        // The chain rule (`ChainRule`), against the chain's link at the bundle's place, or
        // its head. A place the chain holds is another bundle's (this id is not known).
        let head = try destination.head(of: bundle.author)
        let headSequence = head?.sequence ?? 0
        var link = head?.link
        if bundle.sequence <= headSequence {
            let there = try destination.chainBundleID(of: bundle.author, sequence: bundle.sequence)
            link = ChainRule.Link(sequence: bundle.sequence, id: there ?? .zero)
        }
        let verdict = ChainRule.verdict(for: bundle, against: link)
        switch verdict {
        case .duplicate:
            return .duplicate(bundle.id)
        case .fork:
            try destination.quarantine(bundle, limit: limits.maxQuarantinedBundles)
            return .fork(author: bundle.author, sequence: bundle.sequence)
        case .extends, .gap:
            // A held bundle at the same place (waiting, or stalled by its clock) also forks.
            guard try destination.heldBundle(of: bundle.author, sequence: bundle.sequence) == nil else {
                try destination.quarantine(bundle, limit: limits.maxQuarantinedBundles)
                return .fork(author: bundle.author, sequence: bundle.sequence)
            }
        }

        if bundle.format == ChangeBundle.memberFormatVersion {
            return try runMember(bundle, verdict: verdict, into: &destination)
        }

        // A payload every member fails to open the same way makes a bundle that extends its
        // chain void, not rejected: it takes its place, so the author's later bundles are not
        // stalled behind it forever. One that would wait for a predecessor is rejected as
        // before and becomes void when it arrives in order (wire-format §7.7, step 11).
        if case .gap(let needed) = verdict {
            _ = try membership.contents(of: bundle)
            try holdChecked(bundle, into: &destination)
            if let chain = bundle.certificates { destination.trust(chain) }
            return .held(waitingFor: needed)
        }

        // In place: `receive` checks the clock before changing anything. (Copying the
        // replica and log first would duplicate the whole state on every import.)
        try apply(bundle, try opened(bundle, after: head?.mark), into: &destination)
        if let chain = bundle.certificates { destination.trust(chain) }
        return .applied([bundle.id] + (try extend(with: bundle, into: &destination)))
    }

    /// The contents of a format-2 bundle that extends its chain whose mark is `mark`, or the
    /// reason it is void: its payload (step 11), then chain monotonicity.
    private func opened(_ bundle: ChangeBundle, after mark: HLCTimestamp?) throws -> Result<BundleContents, ConcordError> {
        Self.checkingMonotonicity(try membership.contentsOrVoid(of: bundle), of: bundle, after: mark)
    }

    /// `opened`, or the monotonicity failure when the payload opened but the bundle breaks
    /// chain monotonicity (checked last in step 11, `Specs/wire-format.md` §7.7).
    package static func checkingMonotonicity<T>(_ opened: Result<T, ConcordError>, of bundle: ChangeBundle, after mark: HLCTimestamp?)
        -> Result<T, ConcordError>
    {
        guard case .success = opened, let failure = ChainRule.monotonicityFailure(of: bundle, after: mark) else { return opened }
        return .failure(failure)
    }

    /// Applies the operations of a bundle that extends its chain, or, for a void bundle,
    /// reports it and applies nothing.
    private func apply<D: ImportDestination>(
        _ bundle: ChangeBundle, _ opened: Result<BundleContents, ConcordError>, into destination: inout D
    ) throws {
        switch opened {
        case .success(let contents): try destination.receive(contents, of: bundle)
        case .failure(let reason): destination.void(VoidedBundle(bundle, reason: reason))
        }
    }

    /// Appends an applied bundle to its chain and releases what now follows it.
    private func extend<D: ImportDestination>(with bundle: ChangeBundle, into destination: inout D) throws -> [BundleID] {
        try destination.append(bundle)
        return try release(after: bundle, into: &destination)
    }

    /// Applies the held bundles that now extend `bundle`'s chain, in order.
    ///
    /// Each was fully verified when it was held. One whose previous link does not match
    /// is a fork: it is quarantined and the release stops. One whose clock reading is
    /// now out of bounds (the local clock stepped back) stays held.
    private func release<D: ImportDestination>(after bundle: ChangeBundle, into destination: inout D) throws -> [BundleID] {
        var released: [BundleID] = []
        var last = bundle
        while last.sequence < .max {
            let place = last.sequence + 1
            guard
                var next = try destination.takeHeld(of: last.author, sequence: place)
                    ?? destination.takeQuarantined(of: last.author, extending: ChainRule.Link(last))
            else { break }
            if !ChainRule.extends(sequence: next.sequence, previous: next.previous, after: ChainRule.Link(last)) {
                // The held bundle forks the chain. A quarantined bundle for the same place
                // that does extend the chain (it arrived while the slot was taken) wins.
                try destination.quarantine(next, limit: limits.maxQuarantinedBundles)
                guard let linked = try destination.takeQuarantined(of: last.author, extending: ChainRule.Link(last)) else { break }
                next = linked
            }
            do {
                try apply(next, try opened(next, after: try destination.head(of: last.author)?.mark), into: &destination)
            } catch is ConcordError {
                try destination.hold(next)
                break
            }
            try destination.append(next)
            released.append(next.id)
            last = next
        }
        return released
    }

    /// Holds a bundle until what it waits for arrives, within ``BundleLimits/maxHeldBundles``.
    /// - Throws: ``ConcordError`` `.tooManyHeldBundles` at the limit (nothing is held then).
    func holdChecked<D: ImportDestination>(_ bundle: ChangeBundle, into destination: inout D) throws {
        let heldCount = try destination.heldCount()
        guard heldCount < limits.maxHeldBundles else {
            throw ConcordError(
                .tooManyHeldBundles,
                "\(heldCount) bundles are already waiting for earlier ones (or for their author's admission), the limit; "
                    + "import the missing bundles first (for example a full export from another member)")
        }
        try destination.hold(bundle)
    }
}
