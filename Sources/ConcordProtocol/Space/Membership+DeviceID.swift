extension Membership {
    /// This device's id: the public key of ``device``, which is also its ``replicaID`` and the
    /// author of every bundle it seals.
    ///
    /// ```swift
    /// let me = membership.deviceID
    /// let mine = log.bundles.filter { $0.authorID == me }
    /// ```
    public var deviceID: DeviceID { DeviceID(device.publicKey) }
}
