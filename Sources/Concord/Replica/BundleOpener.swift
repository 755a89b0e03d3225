import ConcordCore
import ConcordCrypto
import ConcordStore

/// Opens the data bundles of a replica's space for reading their operations (history,
/// conflicts, log, rebuilds): format 2 with the space's content key, format 3 with the
/// epoch key its header names, found in the membership ops the store holds
/// (`Specs/membership.md` §7) and cached, and the scope sections it holds the keys of
/// (their ops in `BundleContents.placedOperations`, with their section numbers: readers
/// use those, not `operations`, which holds the general section's alone).
struct BundleOpener {
    let membership: Membership
    private var context: (records: [MembershipOpRecord], state: MembershipState)?
    private var keys: [EpochKeyID: EpochKey] = [:]
    private var scopeKeys: [EpochKeyID: EpochKey?] = [:]

    /// An opener for the store `tx` reads (format 3 reads its membership ledger once).
    init(membership: Membership, in tx: any StoreReader) throws {
        self.membership = membership
        if membership.isMemberFormat {
            let ledger = try MemberLedger.load(from: tx, encrypted: membership.isEncrypted)
            context = (Array(ledger.records.values), ledger.state(spaceID: membership.spaceID, encrypted: membership.isEncrypted))
        }
    }

    /// The bundle's contents, or why they cannot be used: void for every member, or (format
    /// 3) an epoch key this device does not hold (`notARecipient`). A control bundle has none.
    mutating func contentsOrVoid(of bundle: ChangeBundle) throws -> Result<BundleContents, ConcordError> {
        guard let context else { return try membership.contentsOrVoid(of: bundle) }
        guard !bundle.isControl else {
            return .failure(ConcordError(.malformedBundle, "\(bundle) is a control bundle: it carries a membership op, no records"))
        }
        var key: SymmetricKey?
        if let id = bundle.keyID {
            if keys[id] == nil, let found = membership.epochKey(id, records: context.records, state: context.state) { keys[id] = found }
            guard let epoch = keys[id] else {
                return .failure(
                    ConcordError(.notARecipient, "\(bundle) is sealed under epoch key \(id.hex), which this device does not hold"))
            }
            key = epoch.key
        }
        do {
            let general = try ChangeBundle.openData(bundle, key: key)
            guard bundle.isSectioned else { return .success(general) }
            // Scope sections this device can open (`Specs/permissions.md` §7.3): their ops
            // are in `placedOperations`, as the importer's rebuild reads them.
            return .success(bundle.withSections(general, state: context.state) { id in scopeKey(id, context: context) })
        } catch let error as ConcordError where Membership.voids(error) {
            return .failure(error)
        }
    }

    private mutating func scopeKey(_ id: EpochKeyID, context: (records: [MembershipOpRecord], state: MembershipState)) -> EpochKey? {
        if scopeKeys[id] == nil { scopeKeys[id] = .some(membership.scopeKey(id, records: context.records, state: context.state)) }
        return scopeKeys[id] ?? nil
    }

    /// ``contentsOrVoid(of:)`` for a chain bundle whose chain mark before it is `mark`: a
    /// data bundle that breaks chain monotonicity is void (`chainNotMonotone`,
    /// `Specs/crdt-semantics.md` §11.2), as the importer decided when it entered its chain.
    mutating func contentsOrVoid(of bundle: ChangeBundle, after mark: HLCTimestamp?) throws -> Result<BundleContents, ConcordError> {
        BundleImporter.checkingMonotonicity(try contentsOrVoid(of: bundle), of: bundle, after: mark)
    }

    /// The bundle's contents; throws what ``contentsOrVoid(of:)`` reports.
    mutating func contents(of bundle: ChangeBundle) throws -> BundleContents {
        try contentsOrVoid(of: bundle).get()
    }
}

extension Replica {
    /// An opener for this replica's bundles.
    func bundleOpener() throws -> BundleOpener {
        try ConcordError.storage { try store.read { tx in try BundleOpener(membership: membership, in: tx) } }
    }

    /// The operations and causal context of one of this space's data bundles, opened as this
    /// device can (`notARecipient` for an epoch key it does not hold).
    /// - Throws: `ConcordError`: why the bundle cannot be read here.
    package func contents(of bundle: ChangeBundle) throws -> BundleContents {
        var opener = try bundleOpener()
        return try opener.contents(of: bundle)
    }
}
