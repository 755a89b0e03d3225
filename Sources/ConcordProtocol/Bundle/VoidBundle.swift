import ConcordCrypto

/// A bundle that verified (signature, membership, chain position) and extends its author's
/// chain, but whose payload no member can use: it enters the chain **void**, with no
/// operation applied, so the author's later bundles are not stalled behind it
/// (`Specs/wire-format.md` §7.7, step 11).
///
/// Every member holds the same content key and runs the same decoder, so every replica
/// decides alike: the bundle is void everywhere or nowhere, and replicas that hold the
/// same bundles still hold the same state.
///
/// ```swift
/// let summary = try await replica.import(received)
/// for void in summary.voided {
///     print("bundle \(void.sequence) of \(void.author.hex.prefix(8)) is unreadable: \(void.reason.message)")
/// }
/// ```
public struct VoidedBundle: Hashable, Sendable, CustomStringConvertible {
    /// Its author.
    public let author: PublicKey
    /// Its place in the author's chain.
    public let sequence: UInt64
    /// Its id.
    public let id: BundleID
    /// Why its payload could not be used: `decryptionFailed`, `encryptionMismatch`,
    /// `malformedBundle`, `emptyBundle` or `authorMismatch`.
    public let reason: ConcordError

    /// Creates the report of a void bundle.
    package init(_ bundle: ChangeBundle, reason: ConcordError) {
        author = bundle.author
        sequence = bundle.sequence
        id = bundle.id
        self.reason = reason
    }

    /// `bundle 3 of 1a2b3c4d is void (decryptionFailed): …`.
    public var description: String {
        "bundle \(sequence) of device \(author.hex.prefix(8)) could not be read and was skipped (\(reason.code)): \(reason.message)"
    }
}

extension Membership {
    /// Whether a failure to open a verified bundle makes it void rather than rejected.
    ///
    /// A payload that fails authentication under the space's content key, or that does
    /// not decode, or whose operations break the header's promises, is the same failure
    /// on every member: void. An operation batch of an unknown format version is not: a
    /// newer Concord wrote it, and an upgraded replica can read it, so it stays rejected.
    /// - Parameters:
    ///   - error: What ``contents(of:)`` threw.
    package static func voids(_ error: ConcordError) -> Bool {
        [.decryptionFailed, .encryptionMismatch, .malformedBundle, .emptyBundle, .authorMismatch].contains(error.code)
    }

    /// ``contents(of:)``, or `nil` with the reason when the bundle is void.
    /// - Parameters:
    ///   - bundle: A verified bundle of this space.
    /// - Throws: The errors of ``contents(of:)`` that do not void a bundle
    ///   (`unsupportedVersion`).
    package func contentsOrVoid(of bundle: ChangeBundle) throws -> Result<BundleContents, ConcordError> {
        do {
            return .success(try contents(of: bundle))
        } catch let error as ConcordError where Self.voids(error) {
            return .failure(error)
        }
    }
}
