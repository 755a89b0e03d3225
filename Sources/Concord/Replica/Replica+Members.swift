import ConcordCore
import ConcordCrypto
import ConcordStore
import Foundation

/// Members, roles and removal (`Specs/membership.md`): spaces in bundle format 3, where
/// admins invite with a role and an expiry, change roles, remove devices with a cut-off and
/// rotate the content key, and every device decides identically which bundles apply.
///
/// ```swift
/// let laptop = try await Replica.create(at: "School.concord", name: "Ms Dlamini's laptop")
/// let token = try await laptop.invite(role: .writer, expiresIn: 7 * 86_400_000)
/// let tablet = try await Replica.join(token, at: "Tablet.concord", name: "Amina's tablet")
/// try await tablet.import(laptop.bundles(since: await tablet.versionVector()))   // or files
/// try await laptop.removeMember(tablet.deviceID)                                 // the lost tablet
/// ```
///
/// Spaces with members sync like any other: by bundle files (``export(since:)``,
/// ``import(_:)-([UInt8])``), folders, relays (which refuse removed devices) and peer links
/// (whose handshake refuses them), `Specs/membership.md` §11.
extension Replica {
    /// Creates a new space in bundle format 3 and its first replica in `directory`; this
    /// device is its first admin. No key in the directory can invite on its own: invites are
    /// signed ops only admins make (``invite(role:expiresIn:maxUses:)``).
    /// - Parameters:
    ///   - directory: Where the replica lives (created if missing; it must not hold one).
    ///   - name: This device's name as members see it ("Ms Dlamini's laptop"), 1 to 64 bytes;
    ///     the host name by default (``defaultDeviceName``).
    ///   - encrypted: Encrypt payloads under epoch keys (the default).
    ///   - options: Tunables.
    ///   - keyStore: Where the secrets go; `0600` key files in `directory` by default.
    /// - Throws: `ConcordError` `.replicaExists`, `.malformedBundle` (a bad name), `.storage`.
    ///
    /// ```swift
    /// let laptop = try await Replica.create(at: "School.concord", name: "Ms Dlamini's laptop")
    /// ```
    public static func create(
        at directory: String, name: String = Replica.defaultDeviceName, encrypted: Bool = true, options: Options = Options(),
        keyStore: (any ReplicaKeyStore)? = nil
    ) async throws -> Replica {
        var clock = HybridLogicalClock(physicalClock: options.physicalClock, maxDrift: options.maxDrift)
        let (membership, genesis) = try Membership.createMemberSpace(name: name, encrypted: encrypted, stamp: try clock.now())
        return try await makeMember(membership, first: genesis, at: directory, options: options, keyStore: keyStore)
    }

    /// Joins a format-3 space with an invite token (`concord2-...`): a new device key, a
    /// new replica in `directory`, and this device's `join` as its first bundle. The device
    /// is admitted once the inviting admin's `invite` op reaches it (import the admin's
    /// bundles); until then it can read nothing and write nothing.
    /// - Parameters:
    ///   - token: The invite.
    ///   - directory: Where the replica lives (created if missing; it must not hold one).
    ///   - name: This device's name, 1 to 64 bytes; the host name by default.
    ///   - options: Tunables.
    ///   - keyStore: Where the secrets go; key files in `directory` by default.
    /// - Throws: `ConcordError` `.notAllowed` (the invite expired), `.replicaExists`, `.storage`.
    public static func join(
        _ token: MemberInviteToken, at directory: String, name: String = Replica.defaultDeviceName, options: Options = Options(),
        keyStore: (any ReplicaKeyStore)? = nil
    ) async throws -> Replica {
        var clock = HybridLogicalClock(physicalClock: options.physicalClock, maxDrift: options.maxDrift)
        try clock.observe(HLCTimestamp(rawValue: token.inviteStamp))
        let (membership, join) = try Membership.joinMember(token, name: name, stamp: try clock.now())
        return try await makeMember(membership, first: join, at: directory, options: options, keyStore: keyStore)
    }

    /// The name a device gets when none is given: the host name up to its first dot, cut to
    /// the 64 bytes a member name may have, or "this device" without one.
    public static var defaultDeviceName: String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? ""
        var name = host.isEmpty || host == "localhost" ? "this device" : host
        while name.utf8.count > 64 { name.removeLast() }
        return name
    }

    private static func makeMember(
        _ membership: Membership, first: ChangeBundle, at directory: String, options: Options, keyStore: (any ReplicaKeyStore)?
    ) async throws -> Replica {
        let layout = try ReplicaDirectory(creating: directory, keys: keyStore)
        try layout.writeKeys(of: membership)
        let replica = try Replica(store: layout.createStore(), membership: membership, options: options, directory: directory)
        guard case .applied = try await replica.import(first.bytes) else {
            throw ConcordError(
                .storeDamaged, "the new replica in \(directory) did not take its own first bundle; remove the directory and try again")
        }
        return replica
    }

    /// The membership state and what this device holds of the chains (format 3).
    /// - Throws: `ConcordError` `.unsupportedVersion` for a format-2 space, `.storage`.
    public func memberContext() throws -> MemberContext {
        guard membership.isMemberFormat else {
            throw ConcordError(
                .unsupportedVersion,
                "space \(spaceID.shortDescription) uses certificate chains (bundle format 2): it has no member list; create a new space to use members and roles"
            )
        }
        let cached = memberCache
        let (context, current) = try ConcordError.storage {
            try store.read { tx in try Self.memberContext(in: tx, reusing: cached, spaceID: spaceID, encrypted: membership.isEncrypted) }
        }
        memberCache = current
        return context
    }

    /// The membership context as `tx` sees it, with the ledger and state it came from. They are
    /// reused while the store's ledger generation is the cached one: every write checks the
    /// device's standing, and evaluating a big space's ops each time would cost O(members).
    static func memberContext(
        in tx: any StoreReader, reusing cached: (ledger: MemberLedger, state: MembershipState)?, spaceID: SpaceID, encrypted: Bool
    ) throws -> (MemberContext, (ledger: MemberLedger, state: MembershipState)) {
        let current = try MemberLedger.current(reusing: cached, from: tx, spaceID: spaceID, encrypted: encrypted)
        let context = MemberContext(
            state: current.state, records: Array(current.ledger.records.values), heads: try tx.chainHeads().mapValues(\.sequence))
        return (context, current)
    }

    /// Every device ever admitted to the space (removed ones included), sorted by device id.
    public func members() throws -> [MembershipState.Member] { try memberContext().state.members }

    /// The invites the space knows, sorted by id.
    public func invites() throws -> [MembershipState.Invite] { try memberContext().state.invites }

    /// This device as the membership sees it: `nil` while its join waits for the invite op.
    public func whoami() throws -> MembershipState.Member? { try memberContext().state.member(deviceID.publicKey) }

    /// Whether this device may write its next bundle: in a space with members, whether the
    /// membership admits it as an admin or writer (or a policy role based on them) at its
    /// next position, not a reader, a removed device, a device continued by a recovered
    /// copy, or one whose join still waits for its invite; in a space with certificate
    /// chains (format 2), whether its certificate's role is writer.
    ///
    /// Sync pushes only while this holds: a relay refuses every push of a reader's session
    /// (`403 read-only`), so a reader never pushes, not even other authors' bundles it holds.
    ///
    /// ```swift
    /// if try await replica.mayWrite() {
    ///     try await replica.write { try $0.set("title", to: "Field notes", record: id, in: "notes") }
    /// }
    /// ```
    /// - Throws: `ConcordError` `.storage`.
    public func mayWrite() throws -> Bool {
        guard membership.isMemberFormat else { return role == .writer }
        do {
            try checkMayWrite()
            return true
        } catch let error as ConcordError where error.code == .notAllowed {
            return false
        }
    }

    /// Throws `notAllowed` unless this device may write its next bundle.
    func checkMayWrite() throws {
        try membership.checkMayWrite(try memberContext())
    }

    /// Invites a device with a role: signs an `invite` op (into this device's chain) and
    /// returns the token to hand over. Only admins may.
    /// - Parameters:
    ///   - role: What the invitee may do: a built-in role or a policy role with its base
    ///     (`Specs/permissions.md` §3.1).
    ///   - expiresIn: Milliseconds until the invite expires (7 days by default).
    ///   - maxUses: How many devices may join with it; 0 for unlimited (1 by default).
    /// - Returns: The token; its `text` is what the invitee pastes.
    /// - Throws: `ConcordError` `.notAllowed` (not an admin), `.storage`.
    public func invite(role: RoleAssignment, expiresIn: UInt64 = 7 * 86_400_000, maxUses: UInt64 = 1) throws -> MemberInviteToken {
        var token: MemberInviteToken?
        try submitControl { context, stamp in
            let (op, made) = try membership.invite(
                role: role, expires: HybridLogicalClock.saturatingAdd(stamp.milliseconds, expiresIn), maxUses: maxUses,
                stamp: stamp,
                context: context)
            token = made
            return op
        }
        try issueScopeKeys()
        return token!
    }

    /// Removes a device: its bundles up to what this device holds of its chain stay, every
    /// later one is refused by every member; in an encrypted space a new key epoch starts
    /// that the removed device cannot open. Only admins may.
    /// - Throws: `ConcordError` `.notAllowed`, `.storage`.
    public func removeMember(_ device: DeviceID) throws {
        try submitControl { context, stamp in try membership.removal(of: device.publicKey, context: context, stamp: stamp) }
        try issueScopeKeys()
    }

    /// Gives a member another role, from its next bundle after what this device holds. Only admins may.
    /// - Parameters:
    ///   - device: The member.
    ///   - role: A built-in role or a policy role with its base (`Specs/permissions.md` §3.1).
    /// - Throws: `ConcordError` `.notAllowed`, `.storage`.
    public func setRole(_ device: DeviceID, _ role: RoleAssignment) throws {
        try submitControl { context, _ in try membership.roleChange(of: device.publicKey, to: role, context: context) }
        try issueScopeKeys()
    }

    /// Revokes an invite: joins through it that this device has not seen are void. Only admins may.
    /// - Throws: `ConcordError` `.notAllowed`, `.storage`.
    public func revokeInvite(_ id: PublicKey) throws {
        try submitControl { context, _ in try membership.revocation(of: id, context: context) }
    }

    /// Starts a new content-key epoch sealed to every member and pending invite. Only admins
    /// of an encrypted space may.
    /// - Throws: `ConcordError` `.notAllowed`, `.storage`.
    public func rotateKey() throws {
        try submitControl { context, stamp in try membership.rotation(context: context, stamp: stamp) }
        try issueScopeKeys()
    }

    /// As an admin, seals the epoch keys members are missing to them (`grant` ops,
    /// `Specs/membership.md` §7); does nothing on other devices. Sync calls it.
    /// - Returns: How many grants were issued.
    @discardableResult
    public func grantMissingKeys() throws -> Int {
        guard membership.isMemberFormat, membership.isEncrypted else { return 0 }
        let ops = try membership.pendingGrants(try memberContext())
        for op in ops { try submitControl { _, _ in op } }
        return ops.count + (try issueScopeKeys())
    }

    /// Sets (or, with `nil`, clears) the space's permission policy (`Specs/permissions.md`
    /// §3.2): a `set-policy` op into this device's chain, its body sealed under the current
    /// epoch key in an encrypted space. Only admins may. It governs every bundle this
    /// device has not seen (§4): every member denies the ops it forbids (§6).
    ///
    /// ```swift
    /// let classroom = try Policy(json: String(contentsOfFile: "classroom.json"), encrypted: true)
    /// try await replica.setPolicy(classroom)
    /// ```
    /// - Parameters:
    ///   - policy: The policy, or `nil` to clear it (everyone writes as without a policy).
    /// - Throws: `ConcordError` `.notAllowed` (not an admin), `.notARecipient`, `.storage`;
    ///   `.invalidPolicy` when the policy has read lists and the space is not encrypted (a
    ///   policy built or read for another kind of space), leaving the store unchanged.
    public func setPolicy(_ policy: Policy?) throws {
        // The policy was checked for the space its maker assumed; check it for this one.
        if let policy { _ = try Policy(body: policy.body, encrypted: membership.isEncrypted) }
        try submitControlAfterPrevious { context, stamp, previous in
            try membership.setPolicy(policy, context: context, previous: previous, stamp: stamp)
        }
        try issueScopeKeys()
    }

    /// The policy in force: the latest applied `set-policy` op in membership order, opened
    /// with this device's keys (`Specs/permissions.md` §4); `nil` when none was ever set.
    ///
    /// ```swift
    /// if case .policy(let policy)? = try await replica.policy() { print(policy.normalizedJSON) }
    /// ```
    /// - Returns: Cleared, the policy, unreadable (its key has not arrived) or broken; `nil`
    ///   when no policy was ever set.
    /// - Throws: `ConcordError` `.storage`.
    public func policy() throws -> MembershipState.PolicyContent? {
        guard let latest = try memberContext().state.policies.last else { return nil }
        return try openPolicy(latest)
    }

    /// What the applied `policy` (of ``memberContext()``'s state) says, with the epoch keys
    /// this device holds: cleared, the policy, unreadable or broken.
    /// - Throws: `ConcordError` `.storage`, or `.chainMismatch` when this store does not
    ///   hold the policy's control bundle.
    package func openPolicy(_ policy: MembershipState.AppliedPolicy) throws -> MembershipState.PolicyContent {
        let by = policy.by
        let bundle = try ConcordError.storage {
            try store.read { tx -> ChangeBundle? in try tx.bundle(of: by.author, sequence: by.position).map(StoreDestination.decode) }
        }
        guard let bundle else {
            throw ConcordError(
                .chainMismatch,
                "this store does not hold the control bundle of the policy set at \(by.position) by \(by.author.hex.prefix(8))")
        }
        return try membership.openPolicy(policy, bundle: bundle, context: try memberContext())
    }

    /// Seals the op `make` builds as this device's next control bundle and imports it.
    func submitControl(_ make: (MemberContext, HLCTimestamp) throws -> MembershipOp) throws {
        try submitControlAfterPrevious { context, stamp, _ in try make(context, stamp) }
    }

    /// ``submitControl(_:)`` for ops whose bytes depend on the control bundle's header
    /// (a sealed `set-policy`): `make` also gets this device's latest bundle.
    private func submitControlAfterPrevious(_ make: (MemberContext, HLCTimestamp, ChangeBundle?) throws -> MembershipOp) throws {
        try seal()
        let context = try memberContext()
        let stamp = try ConcordError.mapping("membership op clock") { try clock.now() }
        let me = membership.device.publicKey
        let previous = try ConcordError.storage {
            try store.read { tx -> ChangeBundle? in
                guard let head = try tx.chainHead(of: me), let stored = try tx.bundle(of: me, sequence: head.sequence) else { return nil }
                return try StoreDestination.decode(stored)
            }
        }
        let op = try make(context, stamp, previous)
        let bundle = try ChangeBundle.sealControl(op, author: membership.device, spaceID: spaceID, previous: previous, stamp: stamp)
        let outcome = try self.import(bundle.bytes)
        guard case .applied = outcome else {
            throw ConcordError(.storage, "this device's own \(op.kind) op was not applied (\(outcome)); try again")
        }
    }

    /// The control bundles this store keeps as evidence: past their author's cut-off, outside
    /// any chain (`Specs/membership.md` §8), sorted by author and sequence. Sync sends them
    /// after the chains, so members that only meet through a relay learn them too.
    package func evidenceBundles() throws -> [ChangeBundle] {
        guard membership.isMemberFormat else { return [] }
        return try ConcordError.storage {
            try store.read { tx in
                let ledger = try MemberLedger.load(from: tx, encrypted: membership.isEncrypted)
                return ledger.evidence.compactMap { ledger.controls[$0] }.sorted { ($0.author, $0.sequence) < ($1.author, $1.sequence) }
            }
        }
    }

    /// This device's bundle 1 (its `genesis` or `join` in a space with members), if stored.
    package nonisolated func ownFirstBundle() throws -> ChangeBundle? {
        let me = membership.device.publicKey
        return try ConcordError.storage {
            try store.read { tx in try tx.bundle(of: me, sequence: 1).map(StoreDestination.decode) }
        }
    }

    /// The key this device seals with now (`.some(nil)` in an unencrypted space), or `nil`
    /// when it may not write (not admitted yet, a reader, removed) or holds no key of the
    /// current epoch yet: its operations then stay pending.
    func memberSealingKey(in tx: any StoreReader, as author: Membership? = nil) throws -> EpochKey?? {
        let membership = author ?? self.membership
        let (context, _) = try Self.memberContext(in: tx, reusing: memberCache, spaceID: spaceID, encrypted: membership.isEncrypted)
        do {
            try membership.checkMayWrite(context)
            return .some(try membership.sealingKey(context))
        } catch is ConcordError {
            return nil
        }
    }
}
