import ConcordCore
import ConcordCrypto
import ConcordStore

extension Replica {
    /// Makes local writes in one transaction, durable when this returns.
    ///
    /// ```swift
    /// try await replica.write { tx in
    ///     try tx.set("done", to: true, record: id, in: "todos")
    /// }
    /// ```
    /// - Parameters:
    ///   - body: Makes the writes; throwing discards all of them.
    /// - Returns: What `body` returns.
    /// - Throws: `ConcordError` `.notAWriter` (a read-only member), `.policyDenied` (the
    ///   space's permission policy forbids one of the writes: nothing is written),
    ///   `.clockFailure`, `.storage`; or what `body` throws.
    @discardableResult
    public func write<T: Sendable>(_ body: (WriteTransaction) throws -> T) throws -> T {
        try write(checkingPolicy: true, body)
    }

    /// ``write(_:)`` without the write-time permission check: what a tampered client does
    /// (tests only; every other member denies the forbidden ops at merge, §6.1).
    @discardableResult
    package func writeBypassingPolicy<T: Sendable>(_ body: (WriteTransaction) throws -> T) throws -> T {
        try write(checkingPolicy: false, body)
    }

    private func write<T: Sendable>(checkingPolicy: Bool, _ body: (WriteTransaction) throws -> T) throws -> T {
        guard role == .writer else {
            throw ConcordError(
                .notAWriter,
                "this device is a \(role) of space \(spaceID.shortDescription) and cannot write; ask a writer for a writer invite")
        }
        if membership.isMemberFormat { try checkMayWrite() }
        let tracking = !observers.isEmpty
        let (result, changes, count): (T, [RecordChange], Int)
        do {
            (result, changes, count) = try writeTransaction(body, tracking: tracking, checkingPolicy: checkingPolicy)
        } catch let error as ConcordError where error.code == .clockFailure {
            // Say what happened to the clock in dates, and the one thing that fixes it.
            guard let problem = try? problems().first(where: { $0.kind != .forked }) else { throw error }
            throw ConcordError(.clockFailure, problem.message)
        }
        pendingOperationCount += count
        notify(changes)
        if count > 0 { for listener in localWriteListeners.values { listener.yield(count) } }
        if let threshold = options.autoSealOperationCount, pendingOperationCount >= threshold {
            try seal()
        }
        return result
    }

    /// The store transaction of ``write(_:)``.
    private func writeTransaction<T: Sendable>(_ body: (WriteTransaction) throws -> T, tracking: Bool, checkingPolicy: Bool) throws -> (
        T, [RecordChange], Int
    ) {
        try ConcordError.storage {
            try store.write { tx in
                // Stamp after the newest reading any process stored (issue 12.1): a write
                // made after seeing a value must win over it, whoever imported the value.
                let transaction = WriteTransaction(
                    reader: tx, replicaID: replicaID, clock: try currentClock(StoredProgress.read(from: tx)),
                    maxValueBytes: options.effectiveMaxValueBytes)
                let result = try body(transaction)
                let ops = transaction.operations
                guard !ops.isEmpty else { return (result, [RecordChange](), 0) }
                if membership.isMemberFormat && checkingPolicy { try checkPolicy(ops, in: tx) }
                try tx.appendPendingOperations(ops)
                let changes = try transaction.batch.commit(to: tx, origin: .local, tracking: tracking)
                try StoredProgress.raiseClock(to: transaction.clock.last, in: tx)
                clock.resume(from: transaction.clock.last)
                return (result, changes, ops.count)
            }
        }
    }

    /// The write-time check (`Specs/permissions.md` §6.5): each op decided as if sealed in
    /// this device's next bundle, under the policy that would govern it.
    /// - Throws: `ConcordError` `.policyDenied` for the first forbidden op, `.notAllowed`
    ///   when that policy cannot be read here yet.
    private func checkPolicy(_ ops: [RecordOperation], in tx: any StoreWriter) throws {
        let me = membership.device.publicKey
        let current = try MemberLedger.current(reusing: memberCache, from: tx, spaceID: spaceID, encrypted: membership.isEncrypted)
        let sequence = (try tx.chainHead(of: me)?.sequence ?? 0) + 1
        guard PermissionGate.mayDeny(author: me, sequence: sequence, state: current.state) else { return }
        var gate = PermissionGate(
            membership: membership, state: current.state, records: Array(current.ledger.records.values),
            source: StorePermissionSource(tx: tx, controls: current.ledger.controls))
        // Ops of scoped collections go in their scope's section (§7.3); without the scope's
        // key this device cannot seal them, so it refuses the write (§7.4).
        var general: [RecordOperation] = []
        var sections: [(readers: [String], operations: [RecordOperation])] = []
        let placement = try scopePlacement(in: tx)
        for op in ops {
            guard let placement, let readers = placement.readers(of: op.collection) else {
                general.append(op)
                continue
            }
            guard placement.key(for: readers) != nil else {
                let role = current.state.member(me)?.role.description ?? "writer"
                throw ConcordError(
                    denied: PolicyDenial(
                        reason: .wrongSection, role: role, collection: op.collection, field: PolicyDecision.Operation(op).field,
                        message: ScopePlacement.outsideMessage(op.collection, readers: readers)))
            }
            if let i = sections.firstIndex(where: { $0.readers == readers }) {
                sections[i].operations.append(op)
            } else {
                sections.append((readers, [op]))
            }
        }
        if let denial = try gate.checkWrite(general, sections: sections, author: me, sequence: sequence) {
            throw ConcordError(denied: denial)
        }
    }

    /// Seals every pending local operation into signed bundles appended to this device's
    /// chain, ready to export or push.
    ///
    /// Runs automatically before every import and export. Each bundle carries this
    /// replica's version vector as its causal context.
    /// - Returns: The bundles sealed (empty when nothing was pending).
    /// - Throws: `ConcordError` `.storage`, or a sealing error.
    ///
    /// Seals every pending operation in the store, whichever `Replica` instance wrote it:
    /// an app and its extension (or widget) may each open the store, and whichever syncs
    /// pushes the other's writes too.
    @discardableResult
    public func seal() throws -> [ChangeBundle] {
        // The store, not this instance, knows whether anything waits: other processes
        // sharing it write there too.
        guard try ConcordError.storage({ try store.read { try $0.pendingOperationCount() } }) > 0 else {
            pendingOperationCount = 0
            return []
        }
        let bundles = try ConcordError.storage {
            try store.write { tx in
                _ = try currentClock(StoredProgress.read(from: tx))
                return try sealPending(in: tx)
            }
        }
        pendingOperationCount = 0
        return bundles
    }

    /// Seals the pending operations inside a store transaction, as `author` (this
    /// replica's membership by default; a recovery seals as the new identity).
    func sealPending(in tx: any StoreWriter, as author: Membership? = nil) throws -> [ChangeBundle] {
        let membership = author ?? self.membership
        let ops = try tx.pendingOperations()
        guard !ops.isEmpty else { return [] }
        // Format 3: the current epoch's key, if this device may write now; otherwise the
        // operations stay pending (not admitted yet, a reader, removed, no key yet).
        var epochKey: EpochKey?
        var placement: ScopePlacement?
        if membership.isMemberFormat {
            guard let key = try memberSealingKey(in: tx, as: membership) else { return [] }
            epochKey = key
            placement = try scopePlacement(in: tx, as: membership)
            // Scoped ops whose scope key is not here wait (§7.4: never sealed where every
            // member could read them).
            if let placement, placement.split(ops) == nil { return [] }
        }
        let me = membership.device.publicKey
        var previous: ChangeBundle?
        if let head = try tx.chainHead(of: me), let stored = try tx.bundle(of: me, sequence: head.sequence) {
            previous = try StoreDestination.decode(stored)
        }
        let context = VersionVector(try tx.chainHeads().mapValues(\.sequence))
        var sealed: [ChangeBundle] = []
        var queue = [ops[...]]
        while let chunk = queue.popLast() {
            let bundle: ChangeBundle
            do {
                if membership.isMemberFormat, let placement, case let (general, scoped)? = placement.split(Array(chunk)) {
                    bundle = try ChangeBundle.sealMember(
                        general, scoped: scoped, author: membership.device, spaceID: membership.spaceID, previous: previous,
                        context: context, epoch: epochKey, limits: options.sealingLimits)
                } else if membership.isMemberFormat {
                    bundle = try ChangeBundle.sealMember(
                        Array(chunk), author: membership.device, spaceID: membership.spaceID, previous: previous, context: context,
                        epoch: epochKey, limits: options.sealingLimits)
                } else {
                    bundle = try membership.seal(Array(chunk), previous: previous, context: context, limits: options.sealingLimits)
                }
            } catch let error as ConcordError where error.code == .bundleTooLarge && chunk.count > 1 {
                let middle = chunk.startIndex + chunk.count / 2
                queue.append(chunk[middle...])
                queue.append(chunk[..<middle])
                continue
            }
            try tx.appendBundle(StoredBundle(bundle))
            sealed.append(bundle)
            previous = bundle
            // The stubs of this device's deletes learn their bundle now (`Specs/snapshots.md`
            // §10, "Stubs of pending deletes"), as a replica importing the bundle records it.
            for op in chunk {
                guard case .delete = op.action, let stored = try tx.record(op.record, in: op.collection) else { continue }
                var record = stored
                if record.state.apply(op, inBundle: bundle.sequence) {
                    try tx.putRecord(record, id: op.record, in: op.collection, previous: stored)
                }
            }
        }
        try tx.markPendingSealed(sequence: previous!.sequence)
        // Its own chain mark moved: the records it wrote are kept in pruned form, as an
        // import writes them (`Specs/crdt-semantics.md` §11.3).
        guard options.prunesAsWritten else { return sealed }
        let frontier = try StoreDestination.heldFrontier(in: tx)
        for key in Set(ops.map { RecordKey($0.collection, $0.record) }) {
            let collection = key.collection.string
            guard let stored = try tx.record(key.id, in: collection) else { continue }
            let state = stored.state.pruned(frontier: frontier) ?? RecordState()
            guard state != stored.state else { continue }
            try tx.putRecord(StoredRecord(state: state, localSequence: stored.localSequence), id: key.id, in: collection, previous: stored)
        }
        return sealed
    }
}

extension StoredBundle {
    /// The store's form of a verified or sealed bundle.
    init(_ bundle: ChangeBundle) {
        self.init(
            id: bundle.id.digest, author: bundle.author, sequence: bundle.sequence, previous: bundle.previous.digest, bytes: bundle.bytes)
    }
}
