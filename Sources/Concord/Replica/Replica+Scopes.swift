import ConcordCore
import ConcordCrypto
import ConcordProtocol
import ConcordStore

extension Replica {
    /// As an admin, issues the scope keys the policy in force needs (`Specs/permissions.md`
    /// §7.2): a `scope-key` for each scope without a key this device holds or whose key was
    /// sealed to someone who has left the scope, and `grant`s of the current key to members
    /// and pending invites that entered it. Does nothing on other devices, in unencrypted
    /// spaces, or without a readable policy. Setting a policy, inviting, changing a role,
    /// removing a member and ``grantMissingKeys()`` call it.
    ///
    /// ```swift
    /// try await replica.setPolicy(classroom)     // issues the `teacher_notes` scope key too
    /// try await replica.issueScopeKeys()         // after members joined: grants it to teachers
    /// ```
    /// - Returns: How many ops were issued.
    /// - Throws: `ConcordError` `.storage`.
    @discardableResult
    public func issueScopeKeys() throws -> Int {
        guard membership.isMemberFormat, membership.isEncrypted else { return 0 }
        guard case .policy(let policy)? = try self.policy() else { return 0 }
        let stamp = try ConcordError.mapping("membership op clock") { try clock.now() }
        let ops = try membership.pendingScopeOps(try memberContext(), policy: policy, stamp: stamp)
        for op in ops { try submitControl { _, _ in op } }
        return ops.count
    }

    /// The scope sections this device stores but cannot read (`Specs/permissions.md` §7.4):
    /// sections of chain bundles sealed under scope keys it does not hold (it is outside
    /// the scope, or the key has not reached it yet). They never hold the chain back; a key
    /// of their scope arriving opens them (the next import decides them).
    ///
    /// ```swift
    /// for unread in try await replica.unreadSections() {
    ///     print("bundle \(unread.bundle): section \(unread.section.number), \(unread.section.length) bytes")
    /// }
    /// ```
    /// - Returns: Each unread section with its bundle's id, in store order.
    /// - Throws: `ConcordError` `.storage`.
    public func unreadSections() throws -> [(bundle: BundleID, section: ChangeBundle.Section)] {
        guard membership.isMemberFormat, membership.isEncrypted else { return [] }
        let context = try memberContext()
        var known: [EpochKeyID: Bool] = [:]
        return try ConcordError.storage {
            try store.read { tx in
                var unread: [(bundle: BundleID, section: ChangeBundle.Section)] = []
                var position: Int64 = 0
                while true {
                    let page = try tx.bundles(after: position, limit: 256)
                    for stored in page {
                        let bundle = try StoreDestination.decode(stored)
                        for section in bundle.sections {
                            if known[section.keyID] == nil {
                                known[section.keyID] =
                                    membership.scopeKey(section.keyID, records: context.records, state: context.state) != nil
                            }
                            if known[section.keyID] == false { unread.append((bundle.id, section)) }
                        }
                    }
                    guard let last = page.last, page.count == 256 else { break }
                    position = last.position
                }
                return unread
            }
        }
    }

    /// Where this device's next bundle puts each op (`Specs/permissions.md` §7.3): the
    /// general section, or the scope section of its collection's read list under the
    /// current scope key. `nil` when no readable policy governs the next bundle with read
    /// lists (every op goes in the general section).
    func scopePlacement(in tx: any StoreWriter, as author: Membership? = nil) throws -> ScopePlacement? {
        let membership = author ?? self.membership
        guard membership.isMemberFormat, membership.isEncrypted else { return nil }
        let me = membership.device.publicKey
        let current = try MemberLedger.current(reusing: memberCache, from: tx, spaceID: spaceID, encrypted: membership.isEncrypted)
        let sequence = (try tx.chainHead(of: me)?.sequence ?? 0) + 1
        guard let applied = current.state.governingPolicy(author: me, sequence: sequence) else { return nil }
        var gate = PermissionGate(
            membership: membership, state: current.state, records: Array(current.ledger.records.values),
            source: StorePermissionSource(tx: tx, controls: current.ledger.controls))
        guard case .policy(let policy)? = try gate.content(of: applied).governing,
            policy.entries.contains(where: { $0.read != nil })
        else { return nil }
        return ScopePlacement(policy: policy, membership: membership, state: current.state, records: Array(current.ledger.records.values))
    }
}

/// The read lists of the policy governing a device's next bundle, and the scope keys it
/// holds: which section each op goes in (`Specs/permissions.md` §7.3).
struct ScopePlacement {
    let policy: Policy
    let membership: Membership
    let state: MembershipState
    let records: [MembershipOpRecord]

    /// The read roles of `collection`'s entry, sorted; `nil` when it is not scoped.
    func readers(of collection: String) -> [String]? {
        policy.entry(for: collection)?.read.map { $0.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } }
    }

    /// The current key of the scope of `readers`, when this device holds one.
    func key(for readers: [String]) -> EpochKey? {
        membership.currentScopeKey(readers: readers, records: records, state: state)
    }

    /// Splits `ops` into the general section's and one group per scope key.
    /// - Returns: `nil` when an op's scope has no key here (the device is outside the scope,
    ///   or no admin issued one yet): such ops cannot be sealed.
    func split(_ ops: [RecordOperation]) -> (general: [RecordOperation], scoped: [ChangeBundle.ScopedOperations])? {
        var general: [RecordOperation] = []
        var groups: [[String]: [RecordOperation]] = [:]
        for op in ops {
            if let readers = readers(of: op.collection) { groups[readers, default: []].append(op) } else { general.append(op) }
        }
        var scoped: [ChangeBundle.ScopedOperations] = []
        for (readers, group) in groups {
            guard let key = key(for: readers) else { return nil }
            scoped.append(ChangeBundle.ScopedOperations(key: key, operations: group))
        }
        return (general, scoped)
    }

    /// The message of a write to a scoped collection without its key (§7.4): "`teacher_notes`
    /// can only be read and written by teachers and admins".
    static func outsideMessage(_ collection: String, readers: [String]) -> String {
        let names = readers.map(PolicyDenial.plural)
        let list = names.count <= 1 ? names.joined() : names.dropLast().joined(separator: ", ") + " and " + names.last!
        return "`\(collection)` can only be read and written by \(list.isEmpty ? "" : list + " and ")admins"
    }
}
