#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension KeyFile {
    /// Writes the key file atomically with permissions `0600`.
    ///
    /// The bytes go to a temporary file in the same directory, created with mode `0600`
    /// (owner read/write only) before any secret byte is written; the file is flushed
    /// with `fsync`, renamed over `path`, and the directory is flushed so the rename
    /// survives a crash. An existing file at `path` is replaced. The in-memory copy of
    /// the encoded file is wiped afterwards.
    ///
    /// ```swift
    /// try KeyFile(identity: Identity()).write(to: "device.key")
    /// ```
    ///
    /// - Parameters:
    ///   - path: Where to write; the directory must exist.
    /// - Throws: ``ConcordCryptoError`` with code `.keyFileIOFailed` when the directory is
    ///   missing or not writable, or the disk is full. No partial file is left behind.
    public func write(to path: String) throws {
        let contents = encoded()
        let (directory, name) = Self.split(path)
        let suffix = Hex.encode(SecureRandom.bytes(count: 8))
        let temporaryPath = "\(directory)/.\(name).\(suffix).tmp"

        let descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else {
            throw Self.ioError("create a temporary file in \(directory)", errno, hint: "check that the directory exists and is writable")
        }
        var succeeded = false
        defer {
            if !succeeded { unlink(temporaryPath) }
        }
        do {
            defer { close(descriptor) }
            // The mode given to open() may have been narrowed by the umask; set it exactly
            // (still before any secret byte is written) so the owner can read the file back.
            guard fchmod(descriptor, 0o600) == 0 else {
                throw Self.ioError("set permissions on \(temporaryPath)", errno, hint: "check the file system supports permissions")
            }
            try contents.withBytePointer { pointer, count in
                try Self.writeAll(descriptor, pointer, count, path: temporaryPath)
            }
            guard fsync(descriptor) == 0 else {
                throw Self.ioError("flush \(temporaryPath)", errno, hint: "check the disk")
            }
        }
        guard rename(temporaryPath, path) == 0 else {
            throw Self.ioError("replace \(path)", errno, hint: "check that the path is not a directory and is writable")
        }
        succeeded = true
        Self.syncDirectory(directory)
    }

    /// Reads a key file, refusing files others can access.
    ///
    /// ```swift
    /// let file = try KeyFile.read(from: "device.key")
    /// guard file.kind == .ed25519Seed else { ... }
    /// let identity = try Identity(seed: file.secret)
    /// ```
    ///
    /// - Parameters:
    ///   - path: The key file's path.
    /// - Returns: The kind and secret stored in the file.
    /// - Throws: ``ConcordCryptoError`` with code
    ///   - `.keyFileNotFound` when nothing exists at `path`;
    ///   - `.insecureKeyFilePermissions` when group or others have any access; the message
    ///     gives the `chmod 600` command to run;
    ///   - `.invalidKeyFile` for a file that is not a regular file, has the wrong size,
    ///     magic, version, kind or checksum;
    ///   - `.keyFileIOFailed` when the file cannot be opened or read (for example
    ///     permission denied).
    public static func read(from path: String) throws -> KeyFile {
        // Never open anything but a regular file: opening a FIFO blocks until a writer
        // appears (a `device.key` replaced by a FIFO would hang every command), and
        // opening a device can have effects. Checked on the path first, then opened
        // non-blocking and checked again on the descriptor (below), so a swap in between
        // cannot block either.
        var pathStatus = stat()
        if stat(path, &pathStatus) == 0, pathStatus.st_mode & S_IFMT != S_IFREG {
            throw notRegular(path, mode: pathStatus.st_mode)
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard descriptor >= 0 else {
            let code = errno
            if code == ENOENT {
                throw ConcordCryptoError(
                    .keyFileNotFound,
                    "No key file at \(path). Check the path, or create a new key if this is a new device."
                )
            }
            throw ioError("open \(path)", code, hint: "check that you own the file")
        }
        defer { close(descriptor) }

        // Check the opened file itself, not the path, so a swap between check and read is harmless.
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw ioError("inspect \(path)", errno, hint: "check the file")
        }
        guard status.st_mode & S_IFMT == S_IFREG else { throw notRegular(path, mode: status.st_mode) }
        let permissions = status.st_mode & 0o777
        guard permissions & 0o077 == 0 else {
            throw ConcordCryptoError(
                .insecureKeyFilePermissions,
                "Key file \(path) has permissions \(octal(permissions)), so other users can read or change it. Run: chmod 600 \(shellQuoted(path))"
            )
        }

        // Read one byte more than the largest valid file to detect oversized files.
        var length = 0
        let buffer = try SecretBytes(uninitializedCount: maximumFileSize + 1) { buffer in
            while length < buffer.count {
                let result = systemRead(descriptor, buffer.baseAddress! + length, buffer.count - length)
                if result == 0 { break }
                if result < 0 {
                    if errno == EINTR { continue }
                    throw ioError("read \(path)", errno, hint: "check the disk")
                }
                length += result
            }
        }
        return try buffer.withBytePointer { pointer, _ in
            try decode(UnsafeBufferPointer(start: pointer, count: length), path: path)
        }
    }

    private static func notRegular(_ path: String, mode: mode_t) -> ConcordCryptoError {
        let what = switch mode & S_IFMT {
        case S_IFIFO: "a FIFO (named pipe)"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        case S_IFDIR: "a directory"
        default: "a special file"
        }
        return ConcordCryptoError(.invalidKeyFile, "\(path) is \(what), not a key file; it was not opened. Replace it with the key file itself (restore it from a backup).")
    }

    /// Splits a path into its directory (`.` when none) and last component.
    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }

    private static func writeAll(_ descriptor: Int32, _ pointer: UnsafePointer<UInt8>, _ count: Int, path: String) throws {
        var offset = 0
        while offset < count {
            let result = systemWrite(descriptor, pointer + offset, count - offset)
            if result < 0 {
                if errno == EINTR { continue }
                throw ioError("write \(path)", errno, hint: "check free disk space")
            }
            offset += result
        }
    }

    /// Flushes a directory entry change; best effort (some file systems refuse it).
    private static func syncDirectory(_ directory: String) {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        close(descriptor)
    }

    private static func ioError(_ action: String, _ code: Int32, hint: String) -> ConcordCryptoError {
        let reason = String(cString: strerror(code))
        return ConcordCryptoError(.keyFileIOFailed, "Could not \(action): \(reason); \(hint).")
    }

    private static func octal(_ mode: mode_t) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// Quotes `path` for a POSIX shell when it contains characters a shell would interpret.
    static func shellQuoted(_ path: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:@%,")
        if !path.isEmpty, path.allSatisfy(safe.contains) { return path }
        var quoted = "'"
        for character in path {
            quoted += character == "'" ? "'\\''" : String(character)
        }
        return quoted + "'"
    }
}

// `read` and `write` are shadowed by KeyFile.read(from:) and KeyFile.write(to:) inside the
// extension; these aliases reach the system calls.
private func systemRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}

private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, buffer, count)
}
