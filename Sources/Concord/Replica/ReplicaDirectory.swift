import ConcordCore
import ConcordCrypto
import ConcordStore
import Foundation

/// The files of a replica on disk (`Specs/storage-schema.md`, "Directory layout"):
///
/// | file | holds |
/// |---|---|
/// | `replica.sqlite` (+ `-wal`, `-shm`) | the ``SQLiteStore`` (0600) |
/// | `device.key` | this device's Ed25519 seed (0600) |
/// | `space.key` | the space seed: writers only; lets them invite (0600) |
/// | `content.key` | the content key of an encrypted space: readers only (0600) |
///
/// The directory is kept at mode 0700 and the database files at 0600: the database holds
/// the decrypted records. A directory with some of these files but not all is damaged,
/// never empty: its errors name the missing file and say how to restore it.
///
/// The key files are those of ``FileKeyStore``; another ``ReplicaKeyStore`` (the
/// Keychain) keeps the secrets elsewhere, and the directory holds the database only.
struct ReplicaDirectory {
    static let databaseName = "replica.sqlite"
    static let deviceKeyName = "device.key"
    let path: String
    let keys: any ReplicaKeyStore

    var database: String { path + "/" + Self.databaseName }
    var deviceKey: String { path + "/" + Self.deviceKeyName }
    var spaceKey: String { path + "/space.key" }
    var contentKey: String { path + "/content.key" }
    /// The database and the files SQLite keeps beside it.
    var databaseFiles: [String] { Self.databaseFiles(in: path) }

    /// The database of a replica in `directory` and the files SQLite keeps beside it.
    static func databaseFiles(in directory: String) -> [String] {
        let database = directory + "/" + databaseName
        return [database, database + "-wal", database + "-shm"]
    }
    /// A recovery's new device key, written before the store switches to it.
    var nextDeviceKey: String { path + "/device.key.next" }

    /// Where a recovery keeps the device key it retired (for the `successor` operation of
    /// the membership redesign, which the old device will sign).
    func retiredDeviceKey(_ key: PublicKey) -> String { path + "/device-\(key.hex.prefix(16)).retired.key" }

    /// The identities of the retired key files (`device-….retired.key`), sorted by file name.
    func retiredDeviceKeys() throws -> [Identity] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return try names.filter { $0.hasPrefix("device-") && $0.hasSuffix(".retired.key") }.sorted().map {
            try Identity(keyFile: path + "/" + $0)
        }
    }

    /// A directory for a new replica: created (0700) if missing, refused if it holds any
    /// replica file, set to 0700 if it already existed.
    init(creating path: String, keys: (any ReplicaKeyStore)? = nil) throws {
        self.path = path
        self.keys = keys ?? FileKeyStore(directory: path)
        let files = FileManager.default
        do {
            try files.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw ConcordError(
                .storage, "cannot create the directory \(path): \(error.localizedDescription); check the path and its permissions")
        }
        let present = ([database, deviceKey] + databaseFiles.dropFirst() + [spaceKey, contentKey]).filter { Self.kind(of: $0) != nil }
        if !present.isEmpty {
            let names = present.map { String($0.dropFirst(path.count + 1)) }.joined(separator: ", ")
            throw ConcordError(
                .replicaExists,
                "\(path) already holds a replica's files (\(names)); open it (with the CLI: --store \(path)), or choose an empty directory for a new one"
            )
        }
        guard chmod(path, 0o700) == 0 else {
            throw ConcordError(
                .storage, "cannot restrict \(path) to its owner (chmod 700): \(String(cString: strerror(errno))); use a directory you own")
        }
    }

    /// The directory of an existing replica. Group and other access is removed from the
    /// directory and its database files (best effort: a file system without permissions
    /// keeps its own; key files others can read are refused when read, with the `chmod`
    /// to run). With a key store other than the files, `device.key` is not looked for.
    /// - Throws: `ConcordError` `.noReplica` when the directory holds no replica file at
    ///   all; `.storeDamaged` when it holds some but not all, or one of them is not a
    ///   regular file.
    init(existing path: String, keys: (any ReplicaKeyStore)? = nil) throws {
        self.path = path
        self.keys = keys ?? FileKeyStore(directory: path)
        let databaseKind = Self.kind(of: database)
        let deviceKeyKind = keys == nil ? Self.kind(of: deviceKey) : S_IFREG
        switch (databaseKind, deviceKeyKind) {
        case (nil, nil):
            throw ConcordError(
                .noReplica,
                "\(path) holds no replica (no \(Self.databaseName) and \(Self.deviceKeyName)); create one with Replica.create(at:name:) or join a space with an invite"
            )
        case (_?, nil):
            throw ConcordError(
                .storeDamaged,
                "the replica in \(path) is damaged: \(Self.deviceKeyName) is missing (\(Self.databaseName) is there). Restore \(Self.deviceKeyName) from a backup of this directory: it is this device's identity and cannot be made again. Without a backup, move \(path) away and join the space again with a new invite (the data comes back from the other devices)"
            )
        case (nil, _?):
            throw ConcordError(
                .storeDamaged,
                "the replica in \(path) is damaged: \(Self.databaseName) is missing (\(Self.deviceKeyName) is there). Restore \(Self.databaseName) (with \(Self.databaseName)-wal and -shm if the backup has them) from a backup of this directory. Without a backup, move \(path) away and join the space again with a new invite (the data comes back from the other devices)"
            )
        default:
            break
        }
        for file in databaseFiles + [deviceKey, spaceKey, contentKey] {
            guard let kind = Self.kind(of: file), kind != S_IFREG else { continue }
            throw ConcordError(
                .storeDamaged,
                "the replica in \(path) is damaged: \(file) is \(Self.phrase(kind)), not a regular file; it was not opened. Restore it from a backup of this directory"
            )
        }
        Self.tighten(path)
        for file in databaseFiles { Self.tighten(file) }
    }

    /// Creates the database of a new replica: an empty file of mode 0600 before SQLite
    /// opens it, so it (and the `-wal` and `-shm` files SQLite gives the same mode) is
    /// never readable by others, whatever the umask.
    func createStore() throws -> SQLiteStore {
        let fd = open(database, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw ConcordError(.storage, "cannot create \(database): \(String(cString: strerror(errno))); check that \(path) is writable")
        }
        // The umask may have narrowed 0600 further; make it exactly owner read/write.
        _ = fchmod(fd, 0o600)
        close(fd)
        return try openStore()
    }

    func openStore() throws -> SQLiteStore {
        try ConcordError.storage { try SQLiteStore(path: database) }
    }

    /// Writes the secrets of a new membership as 0600 key files.
    func writeKeys(of membership: Membership) throws {
        try ConcordError.mapping("writing the keys of \(path)") {
            try keys.save(Self.bytes(membership.device.seed), as: .device)
            if let invite = membership.inviteKeys.first { try keys.save(Self.bytes(invite.seed), as: .invite) }
            if let epoch = membership.handedEpochKeys.first {
                try keys.save(Self.bytes(KeyFile(symmetricKey: epoch.key).secret), as: .epoch)
            }
            if let peer = membership.peerSecret {
                try keys.save(Self.bytes(KeyFile(symmetricKey: peer).secret), as: .peer)
            }
            if let space = membership.space {
                try keys.save(Self.bytes(space.seed), as: .space)
            } else if let key = membership.contentKey {
                try keys.save(Self.bytes(KeyFile(symmetricKey: key).secret), as: .content)
            }
        }
    }

    /// Writes a recovery's new device key as `device.key.next` (0600), before the store
    /// transaction that switches the replica to it.
    func stageDeviceKey(_ identity: Identity) throws {
        try ConcordError.mapping("writing the new device key in \(path)") {
            try? FileManager.default.removeItem(atPath: nextDeviceKey)
            try identity.writeKeyFile(to: nextDeviceKey)
        }
    }

    /// After the store switched to the staged key: keeps the old key as a retired key file
    /// and saves the staged one as the device key in the replica's key store (``keys``),
    /// then removes the staged file. Repeated by ``readMembership(from:)`` if a crash came
    /// in between.
    func commitDeviceKey(retiring old: PublicKey) throws {
        try ConcordError.mapping("switching the device key of \(path)") {
            let files = FileManager.default
            let retired = retiredDeviceKey(old)
            if !files.fileExists(atPath: retired), let oldSeed = try keys.load(.device) {
                let oldIdentity = try Identity(seed: SecretBytes(oldSeed))
                if oldIdentity.publicKey == old { try oldIdentity.writeKeyFile(to: retired) }
            }
            let next = try Identity(keyFile: nextDeviceKey)
            try keys.save(Self.bytes(next.seed), as: .device)
            try files.removeItem(atPath: nextDeviceKey)
        }
    }

    /// Rebuilds the membership from the key files and the store's public metadata.
    func readMembership(from store: any Store) throws -> Membership {
        try ConcordError.mapping("reading the replica in \(path)") {
            guard let deviceSeed = try readKey(deviceKey, { _ in try keys.load(.device) }) else {
                throw ConcordError(
                    .storeDamaged,
                    "the replica in \(path) is damaged: its device key is missing from its key store. Restore it from a backup (a key cannot be made again); without one, move \(path) away and join the space again with a new invite"
                )
            }
            var device = try Identity(seed: SecretBytes(deviceSeed))
            if FileManager.default.fileExists(atPath: nextDeviceKey) {
                // A recovery wrote the new key, then stopped: finish it if the store switched.
                let next = try readKey(nextDeviceKey) { try Identity(keyFile: $0) }
                if try store.read({ try $0.metadata(MetaKey.device) }) == next.publicKey.bytes {
                    try commitDeviceKey(retiring: device.publicKey)
                    device = next
                } else {
                    try FileManager.default.removeItem(atPath: nextDeviceKey)
                }
            }
            let (spaceBytes, encryptedFlag, chainBytes, format) = try store.read { tx in
                (
                    try tx.metadata(MetaKey.spaceID), try tx.metadata(MetaKey.encrypted), try tx.metadata(MetaKey.certificates),
                    try tx.metadata(MetaKey.format)
                )
            }
            if format == [ChangeBundle.memberFormatVersion], let spaceBytes, let encryptedFlag {
                return try readMemberFormat(device: device, spaceBytes: spaceBytes, encrypted: encryptedFlag == [1])
            }
            guard let spaceBytes, let encryptedFlag, let chainBytes else {
                throw ConcordError(
                    .storeDamaged,
                    "\(database) holds no space: the replica in \(path) was never completely created, and holds no data. Move \(path) away, then create or join again in an empty directory"
                )
            }
            let spaceID: SpaceID
            let certificates: CertificateChain
            do {
                spaceID = try SpaceID(bytes: spaceBytes)
                certificates = try CertificateChain(bytes: chainBytes)
            } catch {
                throw ConcordError(
                    .storeDamaged,
                    "the replica in \(path) is damaged: the membership stored in \(Self.databaseName) does not decode (\(error)). Restore \(Self.databaseName) from a backup, or move \(path) away and join the space again"
                )
            }
            let encrypted = encryptedFlag == [1]
            guard certificates.subject == device.publicKey else {
                throw ConcordError(
                    .invalidKey,
                    "device.key in \(path) does not match the membership stored in \(Self.databaseName); restore the original device.key")
            }
            var space: Space?
            var contentKey: SymmetricKey?
            if let spaceSeed = try readKey(spaceKey, { _ in try keys.load(.space) }) {
                let restored = try Space(seed: SecretBytes(spaceSeed), encrypted: encrypted)
                guard restored.id == spaceID else {
                    throw ConcordError(.invalidKey, "space.key in \(path) belongs to another space; restore the original space.key")
                }
                space = restored
                contentKey = restored.contentKey
            } else if encrypted {
                guard let key = try readKey(self.contentKey, { _ in try keys.load(.content) }) else {
                    throw ConcordError(
                        .storeDamaged,
                        "the replica in \(path) is damaged: \(self.contentKey) is missing. Restore it from a backup of this directory (a key cannot be made again); without one, move \(path) away and join the space again with a new invite"
                    )
                }
                contentKey = try SymmetricKey(SecretBytes(key))
            }
            return Membership(
                device: device, spaceID: spaceID, isEncrypted: encrypted, certificates: certificates,
                contentKey: contentKey, space: space)
        }
    }

    /// The membership of a format-3 replica: its device key, and the invite key and epoch
    /// key it joined with, if any.
    private func readMemberFormat(device: Identity, spaceBytes: [UInt8], encrypted: Bool) throws -> Membership {
        let spaceID: SpaceID
        do {
            spaceID = try SpaceID(bytes: spaceBytes)
        } catch {
            throw ConcordError(
                .storeDamaged,
                "the replica in \(path) is damaged: the space id stored in \(Self.databaseName) does not decode (\(error)). "
                    + "Restore it from a backup, or move \(path) away and join the space again")
        }
        let invites = try keys.load(.invite).map { [try Identity(seed: SecretBytes($0))] } ?? []
        let epochs = try keys.load(.epoch).map { [EpochKey(key: try SymmetricKey(SecretBytes($0)))] } ?? []
        let peer = try keys.load(.peer).map { try SymmetricKey(SecretBytes($0)) }
        // After a recovery: the keys this device had before (epoch keys sealed to them open).
        let retired = try retiredDeviceKeys()
        return Membership(
            memberOf: spaceID, device: device, isEncrypted: encrypted, inviteKeys: invites + retired, handedEpochKeys: epochs, peerSecret: peer)
    }

    /// Reads a key file; a missing or damaged one makes the replica damaged (a key file
    /// others can read keeps its own error, which gives the `chmod 600` to run).
    private func readKey<T>(_ file: String, _ read: (String) throws -> T) throws -> T {
        do {
            return try read(file)
        } catch let error as ConcordCryptoError where error.code == .keyFileNotFound || error.code == .invalidKeyFile {
            let what = error.code == .keyFileNotFound ? "\(file) is missing." : error.message
            throw ConcordError(
                .storeDamaged,
                "the replica in \(path) is damaged: \(what) Restore it from a backup of this directory (a key cannot be made again); without one, move \(path) away and join the space again with a new invite"
            )
        }
    }

    /// The file type bits of what is at `path` (symbolic links followed), `nil` if nothing.
    /// The size of a regular file in bytes; 0 when it is missing or not a regular file.
    static func size(of path: String) -> Int {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return 0 }
        return Int(info.st_size)
    }

    static func kind(of path: String) -> mode_t? {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mode & S_IFMT : nil
    }

    static func phrase(_ kind: mode_t) -> String {
        switch kind {
        case S_IFIFO: "a FIFO (named pipe)"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        case S_IFDIR: "a directory"
        default: "a special file"
        }
    }

    /// Removes group and other access from what is at `path`, if anything.
    static func tighten(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return }
        let current = info.st_mode & 0o7777
        let tightened = current & ~mode_t(0o077)
        if tightened != current { _ = chmod(path, tightened) }
    }

    static func bytes(_ secret: SecretBytes) -> [UInt8] { secret.withUnsafeBytes { Array($0) } }
}
