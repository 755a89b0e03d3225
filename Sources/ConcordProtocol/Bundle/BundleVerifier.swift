import ConcordCore
import ConcordCrypto

/// Checks everything about a bundle that needs no secret: size, structure, space,
/// signature, certificate chain, writer role, author, clock drift.
///
/// This is what a relay runs before storing a bundle: it needs only the space id, never
/// the content key, and it never decrypts the payload. ``BundleImporter`` runs it first.
///
/// ```swift
/// let verifier = BundleVerifier(spaceID: spaceID)
/// let bundle = try verifier.verify(uploadedBytes)   // throws ConcordError
/// store(bundle)
/// ```
public struct BundleVerifier: Sendable {
    /// The space bundles must belong to.
    public let spaceID: SpaceID
    /// Size and queue bounds.
    public var limits: BundleLimits
    /// How far ahead of ``physicalClock`` (ms) a clock reading or issue time may be.
    public var maxDrift: UInt64
    /// The local time source.
    public var physicalClock: any PhysicalClock
    /// The bundle format of the space: 2 (certificate chains, the default) or 3
    /// (membership by control bundles, `Specs/membership.md`). A bundle of the other format
    /// is refused (`unsupportedVersion`): a format-3 bundle carries no proof a format-2
    /// space could check, and the reverse.
    public var format: UInt8 = ChangeBundle.formatVersion

    /// Creates a verifier.
    /// - Parameters:
    ///   - spaceID: The space bundles must belong to.
    ///   - limits: Bounds; 64 MiB per bundle by default.
    ///   - maxDrift: Allowed clock drift in ms; 5 minutes by default.
    ///   - physicalClock: The local time source; the system clock by default.
    ///   - format: The space's bundle format; 2 by default.
    public init(
        spaceID: SpaceID, limits: BundleLimits = .default, maxDrift: UInt64 = HybridLogicalClock.defaultMaxDrift,
        physicalClock: any PhysicalClock = SystemClock(), format: UInt8 = ChangeBundle.formatVersion
    ) {
        self.spaceID = spaceID
        self.format = format
        self.limits = limits
        self.maxDrift = maxDrift
        self.physicalClock = physicalClock
    }

    /// Decodes and verifies a bundle, in this order: size limit, magic and version,
    /// structure, space id, the space's format, signature, (format 2) certificate chain,
    /// writer role, author is the certificate's subject, clock drift of the newest reading.
    ///
    /// - Parameters:
    ///   - bytes: The bundle as received.
    ///   - trustedChains: Digests of certificate chains already verified; skips their signatures.
    /// - Returns: The verified bundle; its payload is not opened.
    /// - Throws: ``ConcordError`` with code `.bundleTooLarge`, `.malformedBundle`,
    ///   `.unsupportedVersion`, `.wrongSpace`, `.invalidSignature`, `.invalidCertificate`,
    ///   `.notAWriter`, `.authorMismatch` or `.clockDriftExceeded`.
    ///   - trustedChains: Digests of certificate chains already verified (see
    ///     ``BundleLog/verifiedCertificateChains``); their signatures are not checked again.
    public func verify(_ bytes: [UInt8], trustedChains: Set<Digest32> = []) throws -> ChangeBundle {
        let bundle = try ChangeBundle(bytes: bytes, limits: limits, format: format)
        try verify(bundle, trustedChains: trustedChains)
        return bundle
    }

    /// Verifies an already decoded bundle (everything ``verify(_:trustedChains:)-([UInt8],_)`` checks after decoding).
    /// - Parameters:
    ///   - bundle: A decoded bundle.
    ///   - trustedChains: Digests of certificate chains already verified; skips their signatures.
    /// - Throws: See ``verify(_:trustedChains:)-([UInt8],_)``.
    public func verify(_ bundle: ChangeBundle, trustedChains: Set<Digest32> = []) throws {
        guard bundle.spaceID == spaceID else {
            throw ConcordError(.wrongSpace, "this bundle belongs to space \(bundle.spaceID.shortDescription), not to \(spaceID.shortDescription); import it into the space it was made in")
        }
        guard bundle.format == format else {
            throw ConcordError(
                .unsupportedVersion,
                "\(bundle) is in bundle format \(bundle.format) but space \(spaceID.shortDescription) uses format \(format)\(format == ChangeBundle.memberFormatVersion ? " (members and roles by control bundles)" : " (certificate chains)"); a space never mixes formats, so the bundle was made for another copy of the space or by a faulty client")
        }
        try bundle.verifySignature()
        let now = physicalClock.nowMilliseconds()
        // Format 3: who may write is the membership state's decision (admission), not the header's.
        if let certificates = bundle.certificates {
            if !trustedChains.contains(certificates.digest) {
                try certificates.verify(spaceID: spaceID, now: now, maxDrift: maxDrift)
            }
            guard certificates.role == .writer else {
                throw ConcordError(.notAWriter, "this bundle was signed by a device that is a \(certificates.role) of this space, not a writer; its changes are ignored. If that device should write, ask a writer to send it a writer invite")
            }
            guard bundle.author == certificates.subject else {
                throw ConcordError(.authorMismatch, "this bundle was signed by a device that is not a member of this space (its certificate names \(certificates.subject.hex.prefix(8)), the author is \(bundle.author.hex.prefix(8))); ask a member for a new invite")
            }
        }
        try checkDrift(bundle.hlcRange.upperBound, now: now)
    }

    /// Rejects a reading more than ``maxDrift`` ahead of `now`.
    func checkDrift(_ reading: HLCTimestamp, now: UInt64) throws {
        try ConcordError.mapping("bundle clock") {
            try HybridLogicalClock(physicalClock: FixedClock(milliseconds: now), maxDrift: maxDrift).checkDrift(reading, physical: now)
        }
    }
}
