import ConcordCore
import ConcordCrypto
import ConcordStore
import Foundation

/// One device's replica of a space: the object apps embed.
///
/// A `Replica` owns a `Store` (a SQLite file for ``create(at:name:encrypted:options:keyStore:)``,
/// ``join(_:at:options:keyStore:)`` and ``open(at:options:keyStore:)``; any store through
/// ``init(store:membership:options:)``), takes writes at once while offline, answers
/// queries from indexed tables, tells observers what changed, and exchanges signed
/// change bundles with other replicas.
///
/// ```swift
/// let replica = try await Replica.createWithoutMembers(at: "Notes.concord")
/// let id = RecordID.random()
/// try await replica.write { tx in
///     try tx.set("title", to: "Buy milk", record: id, in: "todos")
///     try tx.add("errand", to: "tags", record: id, in: "todos")
/// }
/// let todo = try await replica.record(id, in: "todos")   // RecordView
/// let invite = try await replica.invite()                 // give it to another device
/// ```
///
/// Local writes are durable when ``write(_:)`` returns. They are sealed into a signed
/// bundle by ``seal()`` (also before every import and export, and automatically after
/// ``Options/autoSealOperationCount`` pending operations).
public actor Replica {
    /// Tunables.
    public struct Options: Sendable {
        /// The default ``maxValueBytes``: 1 MiB.
        public static let defaultMaxValueBytes = 1 << 20
        /// The default ``maxSealedBundleBytes``: 4 MiB.
        public static let defaultMaxSealedBundleBytes = 4 << 20

        /// Seal pending local operations once this many are waiting (`nil`: only on
        /// demand, import and export).
        public var autoSealOperationCount: Int?
        /// Bundle size and queue limits for imports and sealing.
        public var limits: BundleLimits
        /// The physical clock (tests pass a `ManualClock`).
        public var physicalClock: any PhysicalClock
        /// Largest accepted lead of a remote clock reading over the local clock, in ms.
        public var maxDrift: UInt64
        /// Bundles applied per store transaction in bulk imports (each bundle is always
        /// applied entirely or not at all).
        public var importBatchOperationCount: Int
        /// The largest value one local write may hold, in bytes (a string's UTF-8, a
        /// byte string, with the field and collection names): a larger write throws
        /// `ConcordError/Code/valueTooLarge` and writes nothing. Keeps every operation
        /// small enough to fit a bundle a relay accepts; store larger files elsewhere and
        /// keep their name or hash in the record. At most ``maxSealedBundleBytes`` minus
        /// 64 KiB is enforced whatever this says.
        public var maxValueBytes: Int
        /// The largest bundle sealing makes, in bytes: pending operations are split into
        /// bundles of at most this size, so each fits a push request (a relay accepts
        /// 16 MiB requests by default; the client pushes at most 4 MiB per request).
        public var maxSealedBundleBytes: Int
        /// Batches an observer of ``Replica/changes(in:)`` may fall behind before the
        /// oldest are dropped (a query observer keeps only the latest results).
        public var observerBufferLimit: Int
        /// Spaces with members: when this device drops its log below a snapshot
        /// (`Specs/snapshots.md` §5.1). `.off` (the default) compacts only when asked
        /// (``Replica/compact(historyHorizon:dryRun:)``, `concord compact`); `.auto` compacts
        /// after a sync round that sealed or verified a newer snapshot (``Replica/compactIfDue()``).
        public var compaction: Compaction = .off
        /// Spaces with members: a device whose latest `ack` is this old seals another at its
        /// next sync if its held vector moved since, whatever it sealed meanwhile (relays
        /// read only `ack` ops; `Specs/snapshots.md` §2), in ms; 1 day by default
        /// (``defaultAckInterval``). 0: at every sync where it moved.
        public var ackInterval: UInt64 = defaultAckInterval
        /// Spaces with members, admin devices: seal a `checkpoint` at a sync when the stable
        /// cut moved and the latest checkpoint is this old (`Specs/snapshots.md` §2), in ms;
        /// 1 day by default (``defaultCheckpointEvery``). 0: whenever the cut moved (still
        /// at most once per sync round).
        public var checkpointEvery: UInt64 = defaultCheckpointEvery
        /// Spaces with members, admin devices: mark stale (reason `02`) at a sync every admin
        /// or writer with no bundle held for this long (`Specs/snapshots.md` §3), in ms;
        /// 30 days by default (``defaultStaleAfter``). 0 disables the policy.
        public var staleAfter: UInt64 = defaultStaleAfter
        /// Spaces with members, admin devices: seal a snapshot at a sync, after a checkpoint, when it
        /// would stand for more than this many bundles beyond the latest one (`Specs/snapshots.md`
        /// §4.3); 10,000 by default (``defaultSnapshotMinBundles``). 0: after every checkpoint.
        public var snapshotMinBundles: Int = defaultSnapshotMinBundles
        /// Whose snapshots ``Replica/loadSnapshot(_:controlBundles:)`` accepts (`Specs/snapshots.md`
        /// §4.6): admins' by default.
        public var snapshotTrust: SnapshotTrust = .admins
        /// The default ``snapshotMinBundles``: 10,000.
        public static let defaultSnapshotMinBundles = 10_000
        /// Spaces with members, admin devices: seal a snapshot at a sync, after a checkpoint
        /// that covers any bundle beyond the latest snapshot, once that snapshot is this old
        /// (ms, by its `made at`; `Specs/snapshots.md` §4.3), so a quiet space still gets a
        /// recent one; 30 days by default (``defaultSnapshotMaxAge``). 0 disables the age rule
        /// (``snapshotMinBundles`` alone decides). A device that never sealed or loaded a
        /// snapshot waits for ``snapshotMinBundles``.
        public var snapshotMaxAge: UInt64 = defaultSnapshotMaxAge
        /// The default ``snapshotMaxAge``: 30 days.
        public static let defaultSnapshotMaxAge: UInt64 = 30 * 24 * 60 * 60 * 1000
        /// Whether imports and seals write the records they touch in pruned form at the held
        /// frontier (`Specs/crdt-semantics.md` §11.3), dropping set tombstones and overwritten
        /// values no later bundle can need; `true` by default. `false` keeps every record
        /// state whole, as before collection existed: the visible state is the same, only
        /// the store is larger. For measuring what collection saves (the school-year
        /// benchmark, `Specs/snapshots.md` §7); not for apps.
        ///
        /// ```swift
        /// var options = Replica.Options()
        /// options.prunesAsWritten = false   // collection off: keep every tombstone
        /// ```
        @_spi(Benchmarks) public var prunesAsWritten = true
        /// The default ``ackInterval``: 1 day.
        public static let defaultAckInterval: UInt64 = 86_400_000
        /// The default ``checkpointEvery``: 1 day.
        public static let defaultCheckpointEvery: UInt64 = 86_400_000
        /// The default ``staleAfter``: 30 days.
        public static let defaultStaleAfter: UInt64 = 30 * 86_400_000

        /// The defaults: auto-seal at 10,000 operations, default limits, system clock,
        /// 5 minutes of drift, 1 MiB values, 4 MiB sealed bundles, 1,024 buffered batches;
        /// acks after a day, checkpoints daily, stale after 30 days silent.
        /// - Parameters:
        ///   - autoSealOperationCount: Seal once this many operations wait (`nil`: never automatically).
        ///   - limits: Bundle size and queue limits.
        ///   - physicalClock: The physical clock.
        ///   - maxDrift: Largest accepted lead of a remote clock, in ms.
        ///   - importBatchOperationCount: Operations applied per import transaction.
        ///   - maxValueBytes: The largest value a local write may hold.
        ///   - maxSealedBundleBytes: The largest bundle sealing makes.
        ///   - observerBufferLimit: Change batches an observer may fall behind.
        public init(
            autoSealOperationCount: Int? = 10_000, limits: BundleLimits = .default,
            physicalClock: any PhysicalClock = SystemClock(), maxDrift: UInt64 = HybridLogicalClock.defaultMaxDrift,
            importBatchOperationCount: Int = 10_000, maxValueBytes: Int = defaultMaxValueBytes,
            maxSealedBundleBytes: Int = defaultMaxSealedBundleBytes, observerBufferLimit: Int = 1024
        ) {
            self.autoSealOperationCount = autoSealOperationCount
            self.limits = limits
            self.physicalClock = physicalClock
            self.maxDrift = maxDrift
            self.importBatchOperationCount = importBatchOperationCount
            self.maxValueBytes = maxValueBytes
            self.maxSealedBundleBytes = maxSealedBundleBytes
            self.observerBufferLimit = observerBufferLimit
        }

        /// The value limit in force: ``maxValueBytes``, and room for a bundle's header in
        /// the smaller of ``maxSealedBundleBytes`` and `limits.maxBundleBytes`.
        var effectiveMaxValueBytes: Int {
            max(0, min(maxValueBytes, min(maxSealedBundleBytes, limits.maxBundleBytes) - (64 << 10)))
        }

        /// The limits sealing uses: bundles no larger than ``maxSealedBundleBytes``.
        var sealingLimits: BundleLimits {
            var sealing = limits
            sealing.maxBundleBytes = min(limits.maxBundleBytes, maxSealedBundleBytes)
            return sealing
        }
    }

    /// The store holding everything.
    public nonisolated let store: any Store
    /// The replica directory, for replicas opened, created or joined there (a recovery
    /// rotates its `device.key`).
    nonisolated let directory: String?
    /// This device's membership of the space.
    public nonisolated let membership: Membership
    /// The space.
    public nonisolated var spaceID: SpaceID { membership.spaceID }
    /// This device's replica id (its public key).
    public nonisolated var replicaID: ReplicaID { membership.replicaID }
    /// This device's id (the same key as ``replicaID``), the type that names a device.
    public nonisolated var deviceID: DeviceID { membership.deviceID }
    /// This device's role under certificate chains (format 2); in a space with members it is
    /// `.writer` and the membership decides: ask ``mayWrite()``.
    public nonisolated var role: Role { membership.role }
    /// The options it was opened with.
    public nonisolated let options: Options
    /// Runs this actor's work (SQLite calls that block on disk) on a serial dispatch
    /// queue of its own, off Swift's cooperative thread pool.
    nonisolated let executor: ReplicaExecutor

    /// The executor of this actor: a serial dispatch queue, so blocking SQLite calls
    /// never occupy the cooperative thread pool that the app's other tasks run on.
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// This instance's clock. Every write transaction merges the stored `clock.last` into
    /// it first (``currentClock(_:)``): other processes share the store.
    var clock: HybridLogicalClock
    /// The `clock.generation` this instance's clock belongs to.
    var clockGeneration: UInt64 = 0
    /// Spaces with members: the membership ledger and its state as of a ledger generation,
    /// reused by imports while no other transaction changed it.
    var memberCache: (ledger: MemberLedger, state: MembershipState)?
    var verifiedCertificateChains: Set<Digest32> = []
    var observers: [UUID: Observer] = [:]
    /// Listeners of ``localWrites()``.
    var localWriteListeners: [UUID: AsyncStream<Int>.Continuation] = [:]
    /// Listeners of ``deniedOperationUpdates()``.
    var denialListeners: [UUID: AsyncStream<[DeniedOperation]>.Continuation] = [:]
    /// Local operations this instance wrote since it last sealed: only decides when to
    /// auto-seal (sealing itself reads the store, where other processes' writes wait too).
    var pendingOperationCount = 0
    let importer: BundleImporter

    /// Opens a replica on any store.
    ///
    /// The store's space (if it already holds one) must be `membership`'s. The local
    /// clock resumes from the store.
    /// - Throws: `ConcordError` `.wrongSpace` when the store belongs to another space;
    ///   storage failures as `.storage`.
    public init(store: any Store, membership: Membership, options: Options = Options()) throws {
        try self.init(store: store, membership: membership, options: options, directory: nil)
    }

    /// Opens a replica on a store, in `directory` if it lives in one.
    ///
    /// A writer whose certificate is dated more than the drift bound in the future (it
    /// joined while its clock was ahead) certifies its key again with the current time, so
    /// peers and relays accept it (`Specs/hlc.md` §9).
    init(store: any Store, membership: Membership, options: Options, directory: String?) throws {
        let now = options.physicalClock.nowMilliseconds()
        var membership = membership
        var renewed = false
        if membership.latestIssueTime > HybridLogicalClock.saturatingAdd(now, options.maxDrift), membership.canInvite {
            membership = try membership.renewed(issuedAt: now)
            renewed = true
        }
        self.store = store
        self.directory = directory
        self.membership = membership
        self.options = options
        self.executor = ReplicaExecutor(label: "concord.replica.\(membership.replicaID.shortDescription)")
        self.importer = BundleImporter(membership: membership, limits: options.limits)
        let (progress, pending) = try ConcordError.storage {
            try store.write { tx -> (StoredProgress, Int) in
                if let stored = try tx.metadata(MetaKey.spaceID) {
                    guard stored == membership.spaceID.publicKey.bytes else {
                        throw ConcordError(
                            .wrongSpace,
                            "this store holds space \((try? SpaceID(bytes: stored))?.shortDescription ?? "?"), not \(membership.spaceID.shortDescription); open the store of that space or use a new directory"
                        )
                    }
                } else {
                    try tx.setMetadata(membership.spaceID.publicKey.bytes, for: MetaKey.spaceID)
                    try tx.setMetadata([membership.isEncrypted ? 1 : 0], for: MetaKey.encrypted)
                    try tx.setMetadata((membership.certificates?.bytes ?? []), for: MetaKey.certificates)
                    try tx.setMetadata(membership.device.publicKey.bytes, for: MetaKey.device)
                    try tx.setMetadata([membership.format], for: MetaKey.format)
                }
                if renewed, try tx.metadata(MetaKey.device) == membership.device.publicKey.bytes {
                    try tx.setMetadata((membership.certificates?.bytes ?? []), for: MetaKey.certificates)
                }
                return (try StoredProgress.read(from: tx), try tx.pendingOperationCount())
            }
        }
        pendingOperationCount = pending
        clockGeneration = progress.generation
        clock = HybridLogicalClock(physicalClock: options.physicalClock, maxDrift: options.maxDrift, last: progress.clock)
    }

    /// Creates a new space **without members** (bundle format 2, the kind of space Concord
    /// made before members existed) and its first replica in `directory` (created if
    /// missing; it must not already hold a replica).
    ///
    /// Prefer ``create(at:name:encrypted:options:keyStore:)``: a space with members has
    /// admins, roles, expiring invites and removal. In a space without members every writer
    /// holds the space seed, so every writer can invite and nobody can be removed; move its
    /// data into a space with members with ``migrate(to:name:options:keyStore:progress:)``
    /// (`concord migrate`).
    ///
    /// The directory receives `replica.sqlite` and the key files `device.key` and
    /// `space.key` (mode 0600). Whoever holds `space.key` can invite writers: back it up
    /// and keep it private.
    /// - Parameters:
    ///   - directory: Where the replica lives.
    ///   - encrypted: Encrypt bundle payloads (the default; a relay then cannot read them).
    ///   - options: Tunables.
    ///   - keyStore: Where the secrets go; `0600` key files in `directory` by default
    ///     (``FileKeyStore``), or the Keychain (see ``ReplicaKeyStore``).
    /// - Throws: `ConcordError` `.replicaExists`, `.storage`, `.invalidKey`.
    public static func createWithoutMembers(
        at directory: String, encrypted: Bool = true, options: Options = Options(), keyStore: (any ReplicaKeyStore)? = nil
    ) throws -> Replica {
        let layout = try ReplicaDirectory(creating: directory, keys: keyStore)
        let membership = Membership.createSpace(encrypted: encrypted, issuedAt: options.physicalClock.nowMilliseconds())
        try layout.writeKeys(of: membership)
        return try Replica(store: layout.createStore(), membership: membership, options: options, directory: directory)
    }

    /// Joins a space with an invite: a new device identity and a new replica in
    /// `directory` (created if missing; it must not already hold a replica).
    ///
    /// ```swift
    /// let token = try InviteToken(pasted)
    /// let replica = try Replica.join(token, at: "Notes.concord")
    /// ```
    /// - Parameters:
    ///   - invite: The invite.
    ///   - directory: Where the replica lives.
    ///   - options: Tunables.
    ///   - keyStore: Where the secrets go; key files in `directory` by default.
    /// - Throws: `ConcordError` `.replicaExists`, `.storage`, `.invalidKey`.
    public static func join(
        _ invite: InviteToken, at directory: String, options: Options = Options(), keyStore: (any ReplicaKeyStore)? = nil
    ) throws -> Replica {
        let layout = try ReplicaDirectory(creating: directory, keys: keyStore)
        let membership = try Membership.join(invite, issuedAt: options.physicalClock.nowMilliseconds())
        try layout.writeKeys(of: membership)
        return try Replica(store: layout.createStore(), membership: membership, options: options, directory: directory)
    }

    /// Opens the replica in `directory`, resuming exactly where it stopped. Group and
    /// other access to the directory and its database files is removed.
    ///
    /// Several `Replica` instances may open one directory at once (an app and its
    /// extension or widget): each one's writes are sealed and pushed by whichever
    /// syncs, and their clocks never stamp a later write before an earlier one.
    /// - Parameters:
    ///   - directory: Where the replica lives.
    ///   - options: Tunables.
    ///   - keyStore: Where its secrets are; key files in `directory` by default.
    /// - Throws: `ConcordError` `.noReplica` (no replica file there), `.storeDamaged`
    ///   (some files missing, not regular files or damaged: the message names the file
    ///   and how to restore it), `.invalidKey`, `.storage`.
    public static func open(at directory: String, options: Options = Options(), keyStore: (any ReplicaKeyStore)? = nil) throws -> Replica {
        let layout = try ReplicaDirectory(existing: directory, keys: keyStore)
        let store = try layout.openStore()
        let membership = try layout.readMembership(from: store)
        return try Replica(store: store, membership: membership, options: options, directory: directory)
    }

    /// An invite token for another person's device.
    /// - Parameters:
    ///   - readOnly: Issue a reader invite (can read, cannot write).
    /// - Throws: `ConcordError` `.notAWriter` when this device cannot invite (a reader).
    public func invite(readOnly: Bool = false) throws -> InviteToken {
        readOnly ? try membership.readerInvite(issuedAt: options.physicalClock.nowMilliseconds()) : try membership.writerInvite()
    }

    /// The local clock's latest reading (this instance's; every write transaction first
    /// moves it past the reading stored by any process sharing the store).
    public var lastClockReading: HLCTimestamp { clock.last }
}

/// Metadata keys (`Specs/storage-schema.md`).
enum MetaKey {
    static let spaceID = "space.id"
    static let encrypted = "space.encrypted"
    static let certificates = "membership.certificates"
    /// The space's bundle format (`[3]` for format 3; absent: format 2).
    static let format = "membership.format"
    static let device = "device.public-key"
    static let clock = "clock.last"
    static let acknowledged = "sync.acknowledged-sequence"
    static let clockGeneration = "clock.generation"
    static let relayConfirmed = "sync.relay-confirmed-sequence"
    static let forkedAt = "sync.forked-at"
    static let predecessor = "recovery.predecessor"
    static let unconfirmedAuthors = "sync.unconfirmed-authors"
    /// The last log position the history index covers.
    static let historyIndexed = "index.history-position"

    static func encodeUInt64(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
    }

    static func decodeUInt64(_ bytes: [UInt8]) -> UInt64 {
        bytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
}
