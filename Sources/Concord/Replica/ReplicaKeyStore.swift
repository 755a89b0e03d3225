import ConcordCrypto
import Foundation

/// A secret of a replica: which key a ``ReplicaKeyStore`` keeps.
public struct ReplicaSecret: Hashable, Sendable, CustomStringConvertible {
    /// The name of the secret, also the file name of ``FileKeyStore`` (`device.key`).
    public let name: String

    private init(_ name: String) { self.name = name }

    /// This device's Ed25519 seed: its identity, held by every replica.
    public static let device = ReplicaSecret("device.key")
    /// The space's seed: lets its holder invite members. Writers that created the space,
    /// or joined with a writer invite.
    public static let space = ReplicaSecret("space.key")
    /// The content key of an encrypted space, for members without the space seed (readers).
    public static let content = ReplicaSecret("content.key")

    /// Format 3: the seed of the invite key this device joined with (epoch keys sealed to
    /// the invite before the device was admitted open with it).
    public static let invite = ReplicaSecret("invite.key")
    /// Format 3: the epoch key the invite token handed over.
    public static let epoch = ReplicaSecret("epoch.key")
    /// Format 3, encrypted spaces: the peer secret (LAN discovery and peer handshakes,
    /// `Specs/peer-protocol.md` §2.1).
    public static let peer = ReplicaSecret("peer.key")

    /// Every secret, in the order a replica reads them.
    public static let all: [ReplicaSecret] = [.device, .space, .content, .invite, .epoch, .peer]

    /// `device.key`.
    public var description: String { name }
}

/// Where a replica keeps its secrets (the device identity, the space seed, the content
/// key). The default, ``FileKeyStore``, writes `0600` key files beside the database; an
/// app can keep them in the Keychain instead by implementing this protocol.
///
/// ```swift
/// // On Apple platforms, with the Security framework:
/// struct KeychainKeyStore: ReplicaKeyStore {
///     let service: String   // for example "com.example.notes.replica"
///     func load(_ secret: ReplicaSecret) throws -> [UInt8]? {
///         var result: CFTypeRef?
///         let query = [kSecClass: kSecClassGenericPassword, kSecAttrService: service,
///                      kSecAttrAccount: secret.name, kSecReturnData: true] as CFDictionary
///         let status = SecItemCopyMatching(query, &result)
///         if status == errSecItemNotFound { return nil }
///         guard status == errSecSuccess, let data = result as? Data else { throw KeychainError(status) }
///         return [UInt8](data)
///     }
///     func save(_ bytes: [UInt8], as secret: ReplicaSecret) throws {
///         let item = [kSecClass: kSecClassGenericPassword, kSecAttrService: service,
///                     kSecAttrAccount: secret.name, kSecValueData: Data(bytes),
///                     kSecAttrAccessible: kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly] as CFDictionary
///         let status = SecItemAdd(item, nil)
///         guard status == errSecSuccess else { throw KeychainError(status) }
///     }
/// }
/// let replica = try Replica.open(at: directory, keyStore: KeychainKeyStore(service: "com.example.notes.replica"))
/// ```
///
/// A store is consulted when a replica is created or joined (``save(_:as:)`` for each
/// secret it has) and when it is opened (``load(_:)``). Secrets are 32 bytes.
public protocol ReplicaKeyStore: Sendable {
    /// The secret's bytes, or `nil` when none is stored.
    /// - Parameters:
    ///   - secret: Which secret.
    /// - Returns: Its 32 bytes, or `nil`.
    /// - Throws: When the store cannot be read (the error reaches the caller as
    ///   `ConcordError` `.invalidKey`).
    func load(_ secret: ReplicaSecret) throws -> [UInt8]?

    /// Stores a secret of a new replica.
    /// - Parameters:
    ///   - bytes: Its 32 bytes.
    ///   - secret: Which secret.
    /// - Throws: When it cannot be stored.
    func save(_ bytes: [UInt8], as secret: ReplicaSecret) throws
}

/// The default ``ReplicaKeyStore``: one key file per secret in a directory, written
/// atomically with mode `0600` and refused on reading when others can read it
/// (`Specs/storage-schema.md` §1).
public struct FileKeyStore: ReplicaKeyStore {
    /// The directory of the key files.
    public let directory: String

    /// A key store in `directory` (a replica's own directory by default).
    /// - Parameters:
    ///   - directory: Where the key files are.
    public init(directory: String) {
        self.directory = directory
    }

    func path(_ secret: ReplicaSecret) -> String { directory + "/" + secret.name }

    /// Reads `directory/<secret>`; `nil` when the file does not exist.
    public func load(_ secret: ReplicaSecret) throws -> [UInt8]? {
        guard FileManager.default.fileExists(atPath: path(secret)) else { return nil }
        let file = try KeyFile.read(from: path(secret))
        let expected: KeyFile.Kind = secret == .content ? .symmetricKey : .ed25519Seed
        guard file.kind == expected else {
            throw ConcordCryptoError(.invalidKeyFile, "\(path(secret)) holds a \(file.kind), not a \(expected); restore the original file.")
        }
        return file.secret.withUnsafeBytes { Array($0) }
    }

    /// Writes `directory/<secret>` (mode `0600`, atomically).
    public func save(_ bytes: [UInt8], as secret: ReplicaSecret) throws {
        try KeyFile(kind: secret == .content ? .symmetricKey : .ed25519Seed, secret: SecretBytes(bytes)).write(to: path(secret))
    }
}
