/// The one error type of the `Concord` module.
///
/// Match on ``code`` to handle a specific case; ``message`` says what happened and what
/// the user can do about it. Errors of the lower layers (`ConcordCoreError`,
/// `ConcordCryptoError`) are mapped into this type at the module boundary, so callers
/// of `Concord` catch one type, and no libsodium code ever reaches them.
///
/// ```swift
/// switch importer.importBundle(bytes, into: &replica, log: &log) {
/// case .rejected(let error) where error.code == .notAWriter:
///     print(error.message)   // "... ask a member for a new invite"
/// default:
///     break
/// }
/// ```
public struct ConcordError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is. A struct rather than an enum, so new codes can be
    /// added in later versions without breaking callers that compare against them.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Hashable, Sendable {
            case bundleTooLarge
            case malformedBundle
            case unsupportedVersion
            case wrongSpace
            case invalidSignature
            case invalidCertificate
            case notAWriter
            case authorMismatch
            case clockDriftExceeded
            case clockFailure
            case decryptionFailed
            case encryptionMismatch
            case emptyBundle
            case chainNotMonotone
            case chainMismatch
            case tooManyHeldBundles
            case invalidInvite
            case inviteChecksumMismatch
            case invalidKey
            case invalidIdentifier
            case storage
            case replicaExists
            case noReplica
            case storeDamaged
            case invalidModel
            case identityChanged
            case needsRecovery
            case valueTooLarge
            case notARecipient
            case removed
            case notAllowed
            case invalidPolicy
            case policyDenied
            case malformedSnapshot
            case snapshotMismatch
            case snapshotRefused
            case noVerifiedSnapshot
        }

        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// A bundle is larger than the configured size limit; nothing of it was read.
        public static let bundleTooLarge = Code(.bundleTooLarge)
        /// Bytes that should hold a bundle or certificate are truncated, oversized, have
        /// the wrong magic, reserved bits set, or trailing bytes.
        public static let malformedBundle = Code(.malformedBundle)
        /// A bundle, certificate, payload or invite declares a format version this build
        /// does not understand.
        public static let unsupportedVersion = Code(.unsupportedVersion)
        /// A bundle belongs to another space than the one it is imported into.
        public static let wrongSpace = Code(.wrongSpace)
        /// A bundle's signature does not verify against its author's key.
        public static let invalidSignature = Code(.invalidSignature)
        /// A membership certificate (or its chain) does not verify, names another space,
        /// breaks the chain rules, or is issued in the future.
        public static let invalidCertificate = Code(.invalidCertificate)
        /// A bundle was signed by a member without the writer role, or a read-only member
        /// tried to seal a bundle or issue an invite only writers may issue.
        public static let notAWriter = Code(.notAWriter)
        /// The author of a bundle is not the subject of its certificate, or an operation
        /// in it is stamped by another replica.
        public static let authorMismatch = Code(.authorMismatch)
        /// A bundle's newest clock reading is further ahead of local physical time than
        /// the allowed drift.
        public static let clockDriftExceeded = Code(.clockDriftExceeded)
        /// The local hybrid logical clock cannot produce or accept a reading (counter
        /// exhausted, physical clock out of range).
        public static let clockFailure = Code(.clockFailure)
        /// An encrypted payload could not be authenticated with this space's content key.
        public static let decryptionFailed = Code(.decryptionFailed)
        /// A bundle is encrypted in an unencrypted space, or the other way round.
        public static let encryptionMismatch = Code(.encryptionMismatch)
        /// A bundle would carry (or carries) no operations.
        public static let emptyBundle = Code(.emptyBundle)
        /// A data bundle's first clock reading is not after the newest reading of its
        /// author's earlier data bundles (chain monotonicity, `Specs/crdt-semantics.md`
        /// §11.2): its author's Concord is faulty. Such a bundle enters its chain void.
        public static let chainNotMonotone = Code(.chainNotMonotone)
        /// A bundle does not extend its author's chain where the caller said it would
        /// (wrong sequence number or previous hash when sealing or appending).
        public static let chainMismatch = Code(.chainMismatch)
        /// Too many bundles are already waiting for a missing predecessor.
        public static let tooManyHeldBundles = Code(.tooManyHeldBundles)
        /// An invite token is not well formed: wrong prefix, a character outside the
        /// alphabet, a wrong length, or inconsistent contents.
        public static let invalidInvite = Code(.invalidInvite)
        /// An epoch key was not sealed to this device or invite: it is not among the epoch's
        /// recipients (it was removed before the epoch began, or joined after it and waits
        /// for a `grant`; `Specs/membership.md` §7).
        public static let notARecipient = Code(.notARecipient)
        /// A bundle is past its author's cut-off: an admin removed the author (or a
        /// successor device continues its chain) and no member applies it
        /// (`Specs/membership.md` §6).
        public static let removed = Code(.removed)
        /// This device may not do that under the space's membership: a reader writing, a
        /// non-admin managing members, a removed device, an expired or revoked invite
        /// (`Specs/membership.md` §9; CLI exit status 4).
        public static let notAllowed = Code(.notAllowed)
        /// A permission policy breaks a rule of `Specs/permissions.md` §3.3 or §3.4: its
        /// JSON has an unknown or duplicate key, a wrong type, a bad name or pattern, a
        /// grant to a reader, or its body is not the one canonical encoding. The message
        /// names the JSON path or the byte offset (CLI exit status 2).
        public static let invalidPolicy = Code(.invalidPolicy)
        /// A write the space's permission policy forbids (`Specs/permissions.md` §6.5):
        /// nothing was written; ``ConcordError/denial`` says which op and why, and the
        /// message is the denial's ("learners may not write field `grade` of collection
        /// `results`"; CLI exit status 4).
        public static let policyDenied = Code(.policyDenied)
        /// Bytes that should hold a snapshot manifest or chunk (`Specs/snapshots.md` §4.2) are
        /// truncated or oversized, have the wrong magic, reserved bits, trailing bytes, records
        /// out of order, or a chunk whose id or length is not the manifest's. Fetch it again.
        public static let malformedSnapshot = Code(.malformedSnapshot)
        /// A snapshot's contents differ from what its manifest states (record counts, state
        /// or visible digest), or from what this device recomputes from its log
        /// (`snapshot-mismatch`, `Specs/snapshots.md` §4.6): it is refused and its signer named.
        public static let snapshotMismatch = Code(.snapshotMismatch)
        /// A well-formed snapshot this replica does not accept: its signer is not trusted
        /// (`snapshotTrust`) or not a member, its checkpoint is not held or its `V` is not that
        /// checkpoint's `S_C`, its membership digest differs, or the replica is not empty.
        public static let snapshotRefused = Code(.snapshotRefused)
        /// Compaction (`Specs/snapshots.md` §5.1) needs a snapshot this device sealed or
        /// verified, and it holds none (or only a provisional one): seal one with `concord
        /// snapshot seal` (admins) or verify the relay's with `concord snapshot verify`.
        public static let noVerifiedSnapshot = Code(.noVerifiedSnapshot)
        /// An invite token's checksum does not match: it was mistyped or truncated.
        public static let inviteChecksumMismatch = Code(.inviteChecksumMismatch)
        /// A key, seed or signature has the wrong length or encoding.
        public static let invalidKey = Code(.invalidKey)
        /// A textual identifier (a space id in hex) could not be parsed.
        public static let invalidIdentifier = Code(.invalidIdentifier)
        /// The replica's store failed (disk full, damaged file, locked by another
        /// process); the message carries the store's own explanation.
        public static let storage = Code(.storage)
        /// A replica already exists where a new one was to be created.
        public static let replicaExists = Code(.replicaExists)
        /// No replica exists where one was to be opened: the directory holds none of its
        /// files.
        public static let noReplica = Code(.noReplica)
        /// The replica's directory or store is damaged: a file is missing, is not a
        /// regular file or does not decode, or a bundle stored in its log does not
        /// decode. The message names the file and the next step (usually restoring it
        /// from a backup). Never a problem with input from elsewhere.
        public static let storeDamaged = Code(.storeDamaged)
        /// An app model cannot be mapped to or from a record (Codable mapping).
        public static let invalidModel = Code(.invalidModel)
        /// The store now belongs to another device identity than this `Replica` instance
        /// (it was recovered by another process, `Specs/hlc.md` §9): open it again.
        public static let identityChanged = Code(.identityChanged)
        /// This device cannot go on under its identity: its bundle chain forked (a copied
        /// or restored store wrote too) or it wrote with a clock far ahead. The message
        /// says what happened; `Replica.recover()` (`concord recover`) continues under a
        /// new identity without losing a write (`Specs/sync-protocol.md` §5).
        public static let needsRecovery = Code(.needsRecovery)
        /// A local write holds a value larger than the replica accepts
        /// (`Replica.Options.maxValueBytes`): it would make a bundle too large to push.
        public static let valueTooLarge = Code(.valueTooLarge)

        /// The code's name, for example `notAWriter`.
        public var description: String { kind.rawValue }
    }

    /// The kind of failure; compare against the static members of ``Code``.
    public let code: Code
    /// What went wrong and what the user can do about it.
    public let message: String
    /// For ``Code/policyDenied``: the denial (reason code, role, collection, field, message).
    public private(set) var denial: PolicyDenial?

    /// Creates an error.
    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - message: An explanation that ends with what the user should do.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// A ``Code/policyDenied`` error carrying `denial`, whose message is the denial's.
    /// - Parameters:
    ///   - denial: Why the write is refused.
    public init(denied denial: PolicyDenial) {
        self.init(.policyDenied, denial.message)
        self.denial = denial
    }

    /// The code followed by the message, for example
    /// `notAWriter: this bundle was signed by ...`.
    public var description: String { "\(code): \(message)" }
}
