import ConcordCrypto
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("Key files")
struct KeyFileTests {
    /// A fresh temporary directory, removed by the caller with `cleanUp`.
    static func temporaryDirectory() throws -> String {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("concord-keyfile-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        return url.path
    }

    static func cleanUp(_ directory: String) {
        try? FileManager.default.removeItem(atPath: directory)
    }

    static func mode(of path: String) -> mode_t {
        var status = stat()
        precondition(stat(path, &status) == 0, "stat \(path) failed")
        return status.st_mode & 0o777
    }

    /// Writes raw bytes with mode 0600, for crafting malformed files.
    static func writeRaw(_ bytes: [UInt8], to path: String) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(descriptor >= 0)
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        precondition(chmod(path, 0o600) == 0)
    }

    static func contents(of path: String) -> [UInt8] {
        Array(FileManager.default.contents(atPath: path) ?? Data())
    }

    @Test("an identity round-trips through a 0600 key file, with no temporary file left behind")
    func roundTrip() throws {
        let directory = try Self.temporaryDirectory()
        defer { Self.cleanUp(directory) }
        let path = directory + "/device.key"
        let identity = Identity()
        try identity.writeKeyFile(to: path)

        #expect(Self.mode(of: path) == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["device.key"])
        let raw = Self.contents(of: path)
        #expect(raw.count == 60)
        #expect(Array(raw[..<8]) == Array("CONCORDK".utf8))
        #expect(raw[8] == 1)

        let restored = try Identity(keyFile: path)
        #expect(restored.publicKey == identity.publicKey)
        let file = try KeyFile.read(from: path)
        #expect(file.kind == .ed25519Seed)
        #expect(file.secret.isEqual(to: identity.seed))
    }

    // The umask is process-wide and other suites run concurrently, so this test does not change it.
    @Test("writing replaces an existing file atomically and keeps 0600")
    func replaceAndUmask() throws {
        let directory = try Self.temporaryDirectory()
        defer { Self.cleanUp(directory) }
        let path = directory + "/space.key"
        try Identity().writeKeyFile(to: path)
        let key = SymmetricKey()
        try KeyFile(symmetricKey: key).write(to: path)
        #expect(Self.mode(of: path) == 0o600)
        let file = try KeyFile.read(from: path)
        #expect(file.kind == .symmetricKey)
        #expect(try SymmetricKey(file.secret).isEqual(to: key))
        expectCryptoError(.invalidKeyFile) { try Identity(keyFile: path) }
    }

    @Test("a key file readable by group or others is refused with the chmod command")
    func insecurePermissions() throws {
        let directory = try Self.temporaryDirectory()
        defer { Self.cleanUp(directory) }
        let path = directory + "/device.key"
        try Identity().writeKeyFile(to: path)
        for mode: mode_t in [0o644, 0o640, 0o604, 0o620, 0o602] {
            #expect(chmod(path, mode) == 0)
            let error = expectCryptoError(.insecureKeyFilePermissions) { try KeyFile.read(from: path) }
            #expect(error?.message.contains("chmod 600 \(path)") == true)
            #expect(error?.description.contains("chmod 600 \(path)") == true)
        }
        #expect(chmod(path, 0o400) == 0)
        #expect(throws: Never.self) { try KeyFile.read(from: path) }
    }

    @Test("the chmod hint quotes paths that a shell would split")
    func quotedPath() throws {
        let directory = try Self.temporaryDirectory()
        defer { Self.cleanUp(directory) }
        let path = directory + "/my key's file"
        try Identity().writeKeyFile(to: path)
        #expect(chmod(path, 0o644) == 0)
        let error = expectCryptoError(.insecureKeyFilePermissions) { try KeyFile.read(from: path) }
        #expect(error?.message.hasSuffix("chmod 600 '\(directory)/my key'\\''s file'") == true)
    }

    @Test("missing, truncated, extended, corrupted and foreign files give clear errors")
    func malformedFiles() throws {
        let directory = try Self.temporaryDirectory()
        defer { Self.cleanUp(directory) }
        let path = directory + "/device.key"

        let missing = expectCryptoError(.keyFileNotFound) { try KeyFile.read(from: path) }
        #expect(missing?.message.contains(path) == true)

        try Identity().writeKeyFile(to: path)
        let valid = Self.contents(of: path)

        Self.writeRaw(Array(valid[..<20]), to: path)
        expectCryptoError(.invalidKeyFile) { try KeyFile.read(from: path) }
        Self.writeRaw(Array(valid[..<5]), to: path)
        expectCryptoError(.invalidKeyFile) { try KeyFile.read(from: path) }
        Self.writeRaw([], to: path)
        expectCryptoError(.invalidKeyFile) { try KeyFile.read(from: path) }
        Self.writeRaw(valid + [0], to: path)
        expectCryptoError(.invalidKeyFile) { try KeyFile.read(from: path) }
        Self.writeRaw(valid + [UInt8](repeating: 0, count: 5000), to: path)
        expectCryptoError(.invalidKeyFile) { try KeyFile.read(from: path) }
        Self.writeRaw(SecureRandom.bytes(count: 60), to: path)
        expectCryptoError(.invalidKeyFile) { try KeyFile.read(from: path) }

        var corrupted = valid
        corrupted[20] ^= 0x01
        Self.writeRaw(corrupted, to: path)
        let checksum = expectCryptoError(.invalidKeyFile) { try KeyFile.read(from: path) }
        #expect(checksum?.message.contains("checksum") == true)

        var newer = valid
        newer[8] = 2
        Self.writeRaw(newer, to: path)
        let version = expectCryptoError(.invalidKeyFile) { try KeyFile.read(from: path) }
        #expect(version?.message.contains("version 2") == true)

        expectCryptoError(.invalidKeyFile) { try KeyFile.read(from: directory) }
    }

    @Test("writing into a missing directory fails with keyFileIOFailed")
    func missingDirectory() throws {
        let directory = try Self.temporaryDirectory()
        defer { Self.cleanUp(directory) }
        expectCryptoError(.keyFileIOFailed) { try Identity().writeKeyFile(to: directory + "/absent/device.key") }
        expectCryptoError(.invalidKeyLength) {
            try KeyFile(kind: .ed25519Seed, secret: SecretBytes([UInt8](repeating: 1, count: 16)))
        }
    }
}
