import ConcordCrypto

/// How far a bulk import has got, reported after each committed batch.
///
/// ```swift
/// let summary = try await replica.import(files) { progress in
///     print("\(progress.bundlesDone)/\(progress.bundlesTotal ?? 0) bundles, \(progress.fractionDone ?? 0)")
/// }
/// ```
public struct ImportProgress: Hashable, Sendable, CustomStringConvertible {
    /// Bundles processed so far (whatever their outcome).
    public var bundlesDone: Int
    /// Bundles to process, when known.
    public var bundlesTotal: Int?
    /// Bytes processed so far.
    public var bytesDone: Int
    /// Bytes to process, when known.
    public var bytesTotal: Int?

    /// Creates a progress report.
    public init(bundlesDone: Int, bundlesTotal: Int?, bytesDone: Int, bytesTotal: Int?) {
        self.bundlesDone = bundlesDone
        self.bundlesTotal = bundlesTotal
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
    }

    /// Bytes done over bytes total, when the total is known (and not zero).
    public var fractionDone: Double? {
        guard let bytesTotal, bytesTotal > 0 else { return nil }
        return Double(bytesDone) / Double(bytesTotal)
    }

    /// `12/40 bundles, 1.2 MB of 4.1 MB`.
    public var description: String {
        "\(bundlesDone)/\(bundlesTotal.map(String.init) ?? "?") bundles, \(bytesDone) of \(bytesTotal.map(String.init) ?? "?") bytes"
    }
}

/// What a bulk import did, bundle by bundle.
public struct ImportSummary: Hashable, Sendable, CustomStringConvertible {
    /// Bundles applied (including held bundles they released).
    public var applied = 0
    /// Bundles already held.
    public var duplicates = 0
    /// Bundles kept until a missing predecessor arrives.
    public var held = 0
    /// Bundles that fork their author's chain (quarantined as evidence).
    public var forks = 0
    /// Where those forks are: the author and the sequence that exists twice (or the first
    /// sequence that does not link), one entry per fork bundle.
    public var forkedPlaces: [ChainPlace] = []
    /// Rejected bundles: their index in the input and why.
    public var rejected: [Rejection] = []
    /// Bundles that entered their chain void (verified, but their payload could not be
    /// used by any member: nothing of them applied), each reported once, by the import
    /// that took it into the chain. Counted in ``applied`` too.
    public var voided: [VoidedBundle] = []
    /// Operations applied.
    public var operationsApplied = 0
    /// Operations of applied bundles that the space's permission policy denied in this
    /// import (`Specs/permissions.md` §6.3): not applied, their bundles kept in their chains.
    public var denied: [DeniedOperation] = []
    /// Writes of applied bundles that the resurrection guard dropped in this import
    /// (`Specs/crdt-semantics.md` §11.4, `Specs/snapshots.md` §3): `set`s and `add`s of a
    /// device that had been away, to records deleted in a checkpointed bundle it had not
    /// seen. Not applied anywhere; their bundles stay in their chains.
    ///
    /// ```swift
    /// let summary = try await replica.importBundles(received)
    /// for dropped in summary.guarded { print("not applied: \(dropped)") }
    /// ```
    public var guarded: [GuardedOperation] = []

    /// One rejected bundle.
    public struct Rejection: Hashable, Sendable {
        /// Its position in the input, from 0.
        public var index: Int
        /// Why it was rejected.
        public var error: ConcordError
    }

    /// An empty summary.
    public init() {}

    mutating func count(_ outcome: ImportOutcome, index: Int) {
        switch outcome {
        case .applied(let ids): applied += ids.count
        case .duplicate: duplicates += 1
        case .held: held += 1
        case .fork(let author, let sequence):
            forks += 1
            forkedPlaces.append(ChainPlace(author: author, sequence: sequence))
        case .rejected(let error): rejected.append(Rejection(index: index, error: error))
        }
    }

    /// Adds another summary's counts (for imports done in parts).
    public mutating func add(_ other: ImportSummary) {
        applied += other.applied
        duplicates += other.duplicates
        held += other.held
        forks += other.forks
        forkedPlaces += other.forkedPlaces
        rejected += other.rejected
        voided += other.voided
        operationsApplied += other.operationsApplied
        denied += other.denied
        guarded += other.guarded
    }

    /// `applied 3, duplicate 1, held 0, fork 0, rejected 0` (`, void 1` when a bundle was void).
    public var description: String {
        "applied \(applied), duplicate \(duplicates), held \(held), fork \(forks), rejected \(rejected.count)"
            + (voided.isEmpty ? "" : ", void \(voided.count)")
    }
}

/// A place in an author's chain: the author's device key and a sequence.
public struct ChainPlace: Hashable, Sendable, CustomStringConvertible {
    /// The author.
    public var author: PublicKey
    /// The sequence.
    public var sequence: UInt64

    /// Creates a place.
    public init(author: PublicKey, sequence: UInt64) {
        self.author = author
        self.sequence = sequence
    }

    /// `change 7 of device 3f2a9c01`.
    public var description: String { "change \(sequence) of device \(author.hex.prefix(8))" }
}
