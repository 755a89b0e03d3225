extension ChangeBundle {
    /// The device that sealed and signed the bundle: ``author`` as a ``DeviceID``.
    ///
    /// ```swift
    /// if bundle.authorID == membership.deviceID { print("my own bundle \(bundle.sequence)") }
    /// ```
    public var authorID: DeviceID { DeviceID(author) }
}

extension VoidedBundle {
    /// The device that sealed the void bundle: ``author`` as a ``DeviceID``.
    public var authorID: DeviceID { DeviceID(author) }
}
