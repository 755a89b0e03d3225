/// Bounds that protect a device from oversized or abusive input.
///
/// ```swift
/// var limits = BundleLimits()
/// limits.maxBundleBytes = 8 << 20      // 8 MiB on a constrained device
/// let importer = BundleImporter(membership: membership, limits: limits)
/// ```
public struct BundleLimits: Hashable, Sendable {
    /// The default bundle size limit: 64 MiB.
    public static let defaultMaxBundleBytes = 64 << 20

    /// The largest bundle accepted, in bytes; checked before anything else is read.
    public var maxBundleBytes: Int
    /// How many bundles may wait for a missing predecessor at once (all authors together).
    public var maxHeldBundles: Int
    /// How many forked bundles are kept as evidence; later forks are still reported.
    public var maxQuarantinedBundles: Int

    /// Creates limits.
    /// - Parameters:
    ///   - maxBundleBytes: 64 MiB by default.
    ///   - maxHeldBundles: 1,024 by default.
    ///   - maxQuarantinedBundles: 64 by default.
    public init(maxBundleBytes: Int = defaultMaxBundleBytes, maxHeldBundles: Int = 1024, maxQuarantinedBundles: Int = 64) {
        self.maxBundleBytes = maxBundleBytes
        self.maxHeldBundles = maxHeldBundles
        self.maxQuarantinedBundles = maxQuarantinedBundles
    }

    /// The defaults.
    public static let `default` = BundleLimits()
}
