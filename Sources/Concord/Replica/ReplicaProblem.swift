import ConcordCore

/// Something wrong with this device that only its owner can put right: its clock, its
/// history (`Specs/hlc.md` §9, `Specs/sync-protocol.md` §5), or its own changes that the
/// space's permission policy denied (`Specs/permissions.md` §6.3). ``message`` says what happened
/// in dates and words a person can act on; ``remedy`` says which action fixes it.
///
/// ```swift
/// for problem in try await replica.status().problems {
///     showBanner(problem.message)        // "This device's clock says 2000-01-01 ..."
///     if problem.remedy == .recover { offerRecoverButton() }
/// }
/// ```
public struct ReplicaProblem: Hashable, Sendable, CustomStringConvertible {
    /// What is wrong. New kinds may be added.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The device's clock is behind: it holds changes (its own or others') dated more
        /// than the drift bound after its clock, or a relay's clock says it is later. Every
        /// newer change from others looks "from the future" and is refused until it is set.
        public static let clockBehind = Kind("clock-behind")
        /// The device's clock is ahead of a relay's by more than the drift bound: what it
        /// writes would be refused.
        public static let clockAhead = Kind("clock-ahead")
        /// The device wrote while its clock was far ahead; the clock is right now (a relay
        /// agrees), so those changes are refused everywhere until that date.
        public static let wroteAhead = Kind("wrote-ahead")
        /// The device already wrote at a date far after what its clock says now, and nothing
        /// tells whether the clock is behind now or was ahead before.
        public static let clockDisagrees = Kind("clock-disagrees")
        /// The device's membership certificate is dated in the future: others refuse it.
        public static let membershipFromTheFuture = Kind("membership-from-the-future")
        /// This store and a copy of it (a restored backup, a copied folder) both wrote as
        /// this device: its chain forked.
        public static let forked = Kind("forked")
        /// The space's permission policy denied changes made on this device
        /// (`Specs/permissions.md` §6.3): made before a policy that forbids them reached it, or
        /// by a client that skipped the write-time check. They are kept in its chain but
        /// applied nowhere; the message says how many, when, why and who set the policy.
        public static let writesDeniedByPolicy = Kind("writes-denied")
        /// Changes made on this device while it was away (not counted, `Specs/snapshots.md`
        /// §3) to records that were deleted meanwhile, in a change an admin's checkpoint made
        /// final, which this device had not seen: the resurrection guard
        /// (`Specs/crdt-semantics.md` §11.4) applies them nowhere. The message names the
        /// records, the dates and the values, so they can be entered again as new records.
        public static let writesDroppedAfterAbsence = Kind("writes-dropped")

        /// `clock-behind`, `forked`, … (also the `kind` of `concord status --json`).
        public var description: String { name }
    }

    /// The one action that fixes a problem.
    public struct Remedy: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// Set the device's date and time; everything resumes by itself.
        public static let setClock = Remedy("set-clock")
        /// Run `concord recover` (`Replica.recover()`).
        public static let recover = Remedy("recover")
        /// Set the date and time if they are wrong; if they are right, recover.
        public static let setClockOrRecover = Remedy("set-clock-or-recover")
        /// Join the space again with a new invite (a reader cannot renew its membership).
        public static let joinAgain = Remedy("join-again")
        /// Review the changes listed (`concord log --denied`,
        /// `Replica.deniedOperations(by:since:)`, or the message of
        /// ``Kind/writesDroppedAfterAbsence``) and redo what is allowed or still wanted; then
        /// `Replica.dismissProblem(_:)` (`concord dismiss KIND`) stops reporting them.
        public static let review = Remedy("review")

        /// `set-clock`, `recover`, … (also the `remedy` of `concord status --json`).
        public var description: String { name }
    }

    /// What is wrong.
    public let kind: Kind
    /// What fixes it.
    public let remedy: Remedy
    /// What happened and what to do, with dates.
    public let message: String
    /// This device's physical clock when the problem was found (ms since the Unix epoch).
    public let deviceTime: UInt64
    /// The time the evidence points to (ms): the date the device already wrote or
    /// received, what a relay says, or the certificate's issue time.
    public let evidenceTime: UInt64?
    /// For ``Kind/forked``: the first sequence of this device's chain that exists twice.
    public let forkedAt: UInt64?

    /// Creates a problem report.
    public init(kind: Kind, remedy: Remedy, message: String, deviceTime: UInt64, evidenceTime: UInt64? = nil, forkedAt: UInt64? = nil) {
        self.kind = kind
        self.remedy = remedy
        self.message = message
        self.deviceTime = deviceTime
        self.evidenceTime = evidenceTime
        self.forkedAt = forkedAt
    }

    /// The message.
    public var description: String { message }
}
