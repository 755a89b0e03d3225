import ConcordCore
import ConcordCrypto
import ConcordStore
import Foundation

/// The files of a replica on disk (`Specs/storage-schema.md`, "Directory layout"):
///
/// | file | holds |
/// |---|---|
/// | `replica.sqlite` (+ `-wal`, `-shm`) | the ``SQLiteStore`` |
/// | `device.key` | this device's Ed25519 seed (0600) |
/// | `space.key` | the space seed: writers only; lets them invite (0600) |
/// | `content.key` | the content key of an encrypted space: readers only (0600) |
struct ReplicaDirectory {
    static let databaseName = "replica.sqlite"
    let path: String

    var database: String { path + "/" + Self.databaseName }
    var deviceKey: String { path + "/device.key" }
    var spaceKey: String { path + "/space.key" }
    var contentKey: String { path + "/content.key" }

    /// A directory for a new replica: created if missing, refused if it holds one.
    init(creating path: String) throws {
        self.path = path
        let files = FileManager.default
        do {
            try files.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw ConcordError(.storage, "cannot create the directory \(path): \(error.localizedDescription); check the path and its permissions")
        }
        if files.fileExists(atPath: database) || files.fileExists(atPath: deviceKey) {
            throw ConcordError(.replicaExists, "\(path) already holds a replica; open it, or choose an empty directory")
        }
    }

    /// The directory of an existing replica.
    init(existing path: String) throws {
        self.path = path
        guard FileManager.default.fileExists(atPath: database), FileManager.default.fileExists(atPath: deviceKey) else {
            throw ConcordError(.noReplica, "\(path) holds no replica (no \(Self.databaseName) and device.key); create one with Replica.create(at:) or join a space with an invite")
        }
    }

    func openStore() throws -> SQLiteStore {
        try ConcordError.storage { try SQLiteStore(path: database) }
    }

    /// Writes the secrets of a new membership as 0600 key files.
    func writeKeys(of membership: Membership) throws {
        try ConcordError.mapping("writing the keys of \(path)") {
            try membership.device.writeKeyFile(to: deviceKey)
            if let space = membership.space {
                try KeyFile(kind: .ed25519Seed, secret: space.seed).write(to: spaceKey)
            } else if let key = membership.contentKey {
                try KeyFile(symmetricKey: key).write(to: contentKey)
            }
        }
    }

    /// Rebuilds the membership from the key files and the store's public metadata.
    func readMembership(from store: any Store) throws -> Membership {
        try ConcordError.mapping("reading the replica in \(path)") {
            let device = try Identity(keyFile: deviceKey)
            let (spaceBytes, encryptedFlag, chainBytes) = try store.read { tx in
                (try tx.metadata(MetaKey.spaceID), try tx.metadata(MetaKey.encrypted), try tx.metadata(MetaKey.certificates))
            }
            guard let spaceBytes, let encryptedFlag, let chainBytes else {
                throw ConcordError(.noReplica, "\(database) holds no space; the replica was never completely created: remove the directory and create or join again")
            }
            let spaceID = try SpaceID(bytes: spaceBytes)
            let encrypted = encryptedFlag == [1]
            let certificates = try CertificateChain(bytes: chainBytes)
            guard certificates.subject == device.publicKey else {
                throw ConcordError(.invalidKey, "device.key in \(path) does not match the membership stored in \(Self.databaseName); restore the original device.key")
            }
            var space: Space?
            var contentKey: SymmetricKey?
            if FileManager.default.fileExists(atPath: spaceKey) {
                let file = try KeyFile.read(from: spaceKey)
                let restored = try Space(seed: file.secret, encrypted: encrypted)
                guard restored.id == spaceID else {
                    throw ConcordError(.invalidKey, "space.key in \(path) belongs to another space; restore the original space.key")
                }
                space = restored
                contentKey = restored.contentKey
            } else if encrypted {
                let file = try KeyFile.read(from: contentKey_path)
                contentKey = try SymmetricKey(file.secret)
            }
            return Membership(
                device: device, spaceID: spaceID, isEncrypted: encrypted, certificates: certificates,
                contentKey: contentKey, space: space)
        }
    }

    private var contentKey_path: String { contentKey }
}
