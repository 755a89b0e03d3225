extension Identity {
    /// Loads an identity from a key file written by ``writeKeyFile(to:)``.
    ///
    /// ```swift
    /// let device = try Identity(keyFile: "/home/me/.concord/device.key")
    /// ```
    ///
    /// - Parameters:
    ///   - path: The key file's path.
    /// - Throws: ``ConcordCryptoError`` with code `.keyFileNotFound`,
    ///   `.insecureKeyFilePermissions` (the message gives the `chmod 600` command),
    ///   `.invalidKeyFile` (also when the file holds another kind of key) or
    ///   `.keyFileIOFailed`; see ``KeyFile/read(from:)``.
    public convenience init(keyFile path: String) throws {
        let file = try KeyFile.read(from: path)
        guard file.kind == .ed25519Seed else {
            throw ConcordCryptoError(
                .invalidKeyFile,
                "\(path) holds a \(file.kind), not an identity (Ed25519 seed); check that the path points to the identity key file."
            )
        }
        try self.init(seed: file.secret)
    }

    /// Saves this identity's seed to a key file with permissions `0600`, atomically.
    ///
    /// ```swift
    /// try Identity().writeKeyFile(to: "/home/me/.concord/device.key")
    /// ```
    ///
    /// - Parameters:
    ///   - path: Where to write; an existing file is replaced.
    /// - Throws: ``ConcordCryptoError`` with code `.keyFileIOFailed` when the file cannot be
    ///   written; see ``KeyFile/write(to:)``.
    public func writeKeyFile(to path: String) throws {
        try KeyFile(identity: self).write(to: path)
    }
}
