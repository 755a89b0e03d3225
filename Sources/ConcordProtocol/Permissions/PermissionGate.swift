import ConcordCore
import ConcordCrypto

/// Where ``PermissionGate`` reads the log: chain bundles and control bundles. A snapshot
/// that does not need exclusive access to the import destination, so the gate can run
/// inside a destination's rebuild.
package protocol PermissionSource {
    /// Bundle `sequence` of `author`'s chain, if the chain holds it.
    func chainBundle(of author: PublicKey, sequence: UInt64) throws -> ChangeBundle?
    /// The control bundle `id` (in a chain, held or evidence), to open a sealed policy.
    func controlBundle(_ id: BundleID) throws -> ChangeBundle?
}

/// The merge-time permission decision of `Specs/permissions.md` §6.1–6.2 for whole data
/// bundles: every op of an admitted bundle `(A, k)` is decided with `role(A, k)`, `G(A, k)`
/// (opened with this device's keys), whether it is a create (§5.2) and whether its record
/// is bound to `A`'s family (§5.1). Denied ops are left out of the contents; the bundle
/// keeps its chain place.
///
/// A pure function of the membership state and the log (no arrival order): the importer
/// uses it for a bundle entering its chain and again, for every bundle, when the policy
/// list or a role changes (§6.4, first cut), in the in-memory importer and the store alike.
package struct PermissionGate {
    /// What the gate says of a bundle.
    package enum Verdict {
        /// The allowed ops (the bundle's contents without the denied ones) and the denials.
        case decided(BundleContents, [DeniedOperation])
        /// `G(A, k)` is unreadable here, or a create/update answer needs an earlier bundle of
        /// the family that cannot be opened yet: the bundle waits like an unreadable one.
        case waiting
    }

    /// A record of a collection.
    private struct Key: Hashable {
        let collection: String
        let record: RecordID
    }

    private enum Opened {
        case contents(BundleContents)
        case nothing
        case unreadable
    }

    let membership: Membership
    let state: MembershipState
    let records: [MembershipOpRecord]
    let source: any PermissionSource
    private var keys: [EpochKeyID: EpochKey?] = [:]
    private var scopeKeys: [EpochKeyID: EpochKey?] = [:]
    private var policies: [BundleID: MembershipState.PolicyContent] = [:]
    /// Per device: the records its chain bundles `1...through` hold allowed ops on.
    private var written: [PublicKey: (through: UInt64, keys: Set<Key>)] = [:]

    /// A gate over `state` and the log `source` reads.
    /// - Parameters:
    ///   - membership: This device's membership (keys, space).
    ///   - state: The membership state.
    ///   - records: Its ops (for epoch keys).
    ///   - source: The log.
    package init(membership: Membership, state: MembershipState, records: [MembershipOpRecord], source: any PermissionSource) {
        self.membership = membership
        self.state = state
        self.records = records
        self.source = source
    }

    /// Whether any op of `author`'s bundle at `sequence` can be denied: a policy was ever
    /// applied, or the author holds a policy role there. When not, the gate is skipped.
    package static func mayDeny(author: PublicKey, sequence: UInt64, state: MembershipState) -> Bool {
        if !state.policies.isEmpty { return true }
        if case .member(let role) = state.standing(of: author, at: sequence), role.name != nil { return true }
        return false
    }

    /// The content of an applied policy, with this device's keys.
    package mutating func content(of policy: MembershipState.AppliedPolicy) throws -> MembershipState.PolicyContent {
        if let known = policies[policy.by.bundleID] { return known }
        var content: MembershipState.PolicyContent
        if case .sealed(let keyID, _) = policy.form {
            guard let bundle = try source.controlBundle(policy.by.bundleID) else { return .unreadable(keyID) }
            content = policy.open(header: bundle.header, key: key(keyID), encrypted: membership.isEncrypted)
        } else {
            content = policy.open(header: [], key: nil, encrypted: membership.isEncrypted)
        }
        policies[policy.by.bundleID] = content
        return content
    }

    private mutating func key(_ id: EpochKeyID) -> EpochKey? {
        if let known = keys[id] { return known }
        let key = membership.epochKey(id, records: records, state: state)
        keys[id] = .some(key)
        return key
    }

    /// The scope key `id`, when this device holds it (`Specs/permissions.md` §7.2).
    package mutating func scopeKey(_ id: EpochKeyID) -> EpochKey? {
        if let known = scopeKeys[id] { return known }
        let key = membership.scopeKey(id, records: records, state: state)
        scopeKeys[id] = .some(key)
        return key
    }

    /// `contents` with the bundle's scope sections opened where this device holds their
    /// keys (``ChangeBundle/withSections(_:state:key:)``); unchanged for other bundles.
    package mutating func withSections(_ bundle: ChangeBundle, _ contents: BundleContents) -> BundleContents {
        guard bundle.isSectioned, contents.sections.isEmpty else { return contents }
        var gate = self
        let opened = bundle.withSections(contents, state: state) { gate.scopeKey($0) }
        self = gate
        return opened
    }

    /// Decides every op of an admitted data bundle whose contents are `contents`: the
    /// general section's and, in a sectioned bundle, those of every scope section this device
    /// can open (§6.2: placed or not; a broken section's ops are denied `bad-section`).
    /// Unread sections are left undecided (§7.4: they never hold the chain back).
    /// - Parameters:
    ///   - bundle: The data bundle `(A, k)`.
    ///   - contents: Its opened general section (its sections are opened here if needed).
    /// - Returns: The allowed ops of every section (general first) and the denials, or `.waiting`.
    package mutating func decide(_ bundle: ChangeBundle, _ contents: BundleContents) throws -> Verdict {
        let contents = withSections(bundle, contents)
        return try decide(
            contents, bundleID: bundle.id, author: bundle.author, sequence: bundle.sequence, earliest: bundle.hlcRange.lowerBound)
    }

    /// The write-time check (`Specs/permissions.md` §6.5): decides `ops` as if sealed in
    /// `author`'s next bundle `sequence` (its pending ops and these counting as one bundle).
    /// - Returns: `nil` when every op is allowed, the first denial otherwise.
    /// - Throws: ``ConcordError`` `.notAllowed` when the policy that would govern cannot be
    ///   read here yet (the write is refused rather than guessed).
    package mutating func checkWrite(_ ops: [RecordOperation], author: PublicKey, sequence: UInt64) throws -> PolicyDenial? {
        try checkWrite(ops, sections: [], author: author, sequence: sequence)
    }

    /// ``checkWrite(_:author:sequence:)`` for a write whose ops of scoped collections go in
    /// scope sections: `sections` pairs each scope's read roles with its ops.
    package mutating func checkWrite(
        _ ops: [RecordOperation], sections: [(readers: [String], operations: [RecordOperation])], author: PublicKey, sequence: UInt64
    ) throws -> PolicyDenial? {
        let opened = sections.enumerated().map { number, section in
            OpenedSection(
                number: number + 1, keyID: try! EpochKeyID(bytes: [UInt8](repeating: 0, count: EpochKeyID.byteCount)), length: 0,
                readers: section.readers, content: .operations(section.operations))
        }
        let contents = BundleContents(context: VersionVector(), operations: ops, sections: opened)
        switch try decide(contents, bundleID: .zero, author: author, sequence: sequence, earliest: HLCTimestamp(rawValue: 0)) {
        case .waiting:
            throw ConcordError(.notAllowed, "this device cannot read the space's policy yet; sync with an admin")
        case .decided(_, let denied):
            return denied.first?.denial
        }
    }

    private mutating func decide(
        _ contents: BundleContents, bundleID: BundleID, author: PublicKey, sequence k: UInt64, earliest: HLCTimestamp
    ) throws -> Verdict {
        let general = BundleContents(context: contents.context, operations: contents.operations)
        guard Self.mayDeny(author: author, sequence: k, state: state) || !contents.sections.isEmpty,
            case .member(let assignment) = state.standing(of: author, at: k), let role = assignment.permissionRole
        else { return .decided(general, []) }
        let applied = state.governingPolicy(author: author, sequence: k)
        var governing = PolicyDecision.Governing.none
        if let applied {
            guard let opened = try content(of: applied).governing else { return .waiting }
            governing = opened
        }
        let family = self.family(of: author)
        let tags = family.map { OwnerTag(device: DeviceID($0), space: membership.spaceID) }
        // Built at the first denial: most bundles have none and keep their contents as they
        // are. A sectioned bundle's allowed ops are always gathered (they leave their sections).
        var kept: [RecordOperation]? = contents.sections.isEmpty ? nil : []
        var denied: [DeniedOperation] = []
        var creates: [Key: Bool] = [:]
        var readers: [Int: [String]] = [:]
        for section in contents.sections {
            readers[section.number] = section.readers
            guard case .broken = section.content else { continue }
            // §6.2: every op of a broken section is denied, index 0 standing for the section.
            let names = (section.readers ?? []).sorted(by: PolicyText.less).map { "`\($0)`" }.joined(separator: ", ")
            denied.append(
                DeniedOperation(
                    bundleID: bundleID, author: author, sequence: k, section: section.number, index: 0,
                    stamp: Stamp(hlc: earliest, replica: ReplicaID(bytes: author.bytes)!), record: RecordID(high: 0, low: 0), kind: .set,
                    denial: PolicyDenial(
                        reason: .badSection, role: role.name, collection: "", field: nil,
                        message: "a section of this bundle sealed for \(names) is damaged"),
                    policy: applied?.by.bundleID))
        }
        // Per collection: whether the role's grant gives create and update different rights.
        // Only then can create vs update change a decision (§5.2), so only then is the op
        // decided twice (merge cost, `make bench` permissions section).
        // The answer for the last collection asked (bundles mostly hold one collection).
        var createMatters: (collection: String, answer: Bool)?
        func matters(_ collection: String) -> Bool {
            if let known = createMatters, PolicyText.same(known.collection, collection) { return known.answer }
            var answer = false
            if case .policy(let policy) = governing, role != .admin, let grant = policy.entry(for: collection)?.grant(for: role.name) {
                answer = grant.create != grant.update
            }
            createMatters = (collection, answer)
            return answer
        }
        // The role's grant in the last collection asked, when §6.2 reaches the grant's rights
        // there without a denial (a readable policy defining the role, an unscoped entry, a
        // grant): for the ops it plainly allows, the decision is the grant's rights alone.
        var plain: (collection: String, grant: Policy.Grant?)?
        func plainGrant(_ collection: String) -> Policy.Grant? {
            if let known = plain, PolicyText.same(known.collection, collection) { return known.grant }
            var grant: Policy.Grant?
            if case .policy(let policy) = governing, let entry = policy.entry(for: collection), entry.read == nil {
                switch role {
                case .admin: grant = nil
                case .writer: grant = entry.grant(for: "writer")
                case .named(let name, let base): grant = policy.role(named: name)?.base == base ? entry.grant(for: name) : nil
                }
            }
            plain = (collection, grant)
            return grant
        }
        for (number, index, op) in contents.placedOperations {
            let asked = PolicyDecision.Operation(op)
            // Fast path, exact: an op its grant plainly allows (create and update alike, so
            // §5.2 does not matter) is allowed; anything else goes through the full decision,
            // which also words the denial.
            if number == 0, let grant = plainGrant(op.collection), !matters(op.collection) {
                let right = asked.kind == .delete ? grant.delete : (grant.fields.allows(asked.field ?? "") ? grant.create : .none)
                if right == .any || (right == .own && op.record.isOwned(byFamily: tags)) {
                    kept?.append(op)
                    continue
                }
            }
            let own = op.record.isOwned(byFamily: tags)
            let section: PolicyDecision.Section = number == 0 ? .general : .sealed(readers: readers[number] ?? [])
            var decision = PolicyDecision.decide(asked, role: role, policy: governing, section: section, isCreate: true, isOwn: own)
            if asked.kind != .delete, matters(op.collection) {
                let asUpdate = PolicyDecision.decide(asked, role: role, policy: governing, section: section, isCreate: false, isOwn: own)
                if asUpdate != decision {
                    let key = Key(collection: op.collection, record: op.record)
                    if creates[key] == nil {
                        guard let before = try writtenBefore(author: author, sequence: k, family: family) else { return .waiting }
                        creates[key] = !before.contains(key)
                    }
                    if creates[key] == false { decision = asUpdate }
                }
            }
            switch decision {
            case .allowed: kept?.append(op)
            case .denied(let denial):
                if kept == nil { kept = Array(contents.operations[..<index]) }
                denied.append(
                    DeniedOperation(
                        bundleID: bundleID, author: author, sequence: k, section: number, index: index, stamp: op.stamp,
                        record: op.record, kind: asked.kind, denial: denial, policy: applied?.by.bundleID))
            }
        }
        guard let kept else { return .decided(general, []) }
        return .decided(BundleContents(context: contents.context, operations: kept), denied)
    }

    /// The device and its predecessors, transitively (§5.1).
    private func family(of device: PublicKey) -> [PublicKey] {
        var family = [device]
        var next = state.member(device)?.predecessor
        while let p = next, !family.contains(p) {
            family.append(p)
            next = state.member(p)?.predecessor
        }
        return family
    }

    /// The records the family of `author` holds allowed ops on before bundle `sequence`
    /// (§5.2): every chain bundle of a predecessor, and `author`'s own bundles below
    /// `sequence`; `nil` when one of them cannot be decided yet.
    private mutating func writtenBefore(author: PublicKey, sequence: UInt64, family: [PublicKey]) throws -> Set<Key>? {
        guard var keys = try written(by: author, through: sequence - 1) else { return nil }
        for predecessor in family.dropFirst() {
            guard let more = try written(by: predecessor, through: .max) else { return nil }
            keys.formUnion(more)
        }
        return keys
    }

    /// The records `device`'s chain bundles `1...through` (at most its head) hold allowed
    /// ops on; `nil` when one of them cannot be decided here yet.
    private mutating func written(by device: PublicKey, through limit: UInt64) throws -> Set<Key>? {
        var (through, keys) = written[device] ?? (0, [])
        if through > limit { (through, keys) = (0, []) }
        while through < limit {
            let sequence = through + 1
            written[device] = (through, keys)
            guard let bundle = try source.chainBundle(of: device, sequence: sequence) else { break }
            through = sequence
            guard !bundle.isControl, state.admission(author: device, sequence: sequence, isControl: false) == .applied else { continue }
            switch open(bundle) {
            case .nothing: continue
            case .unreadable: return nil
            case .contents(let contents):
                guard case .decided(let allowed, _) = try decide(bundle, contents) else { return nil }
                for op in allowed.operations { keys.insert(Key(collection: op.collection, record: op.record)) }
            }
        }
        written[device] = (through, keys)
        return keys
    }

    private mutating func open(_ bundle: ChangeBundle) -> Opened {
        guard bundle.isEncrypted == membership.isEncrypted else { return .nothing }
        var payloadKey: SymmetricKey?
        if let id = bundle.keyID {
            guard let epoch = key(id) else { return .unreadable }
            payloadKey = epoch.key
        }
        do {
            return .contents(try ChangeBundle.openData(bundle, key: payloadKey))
        } catch {
            return .nothing
        }
    }
}
