#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// POSIX file helpers: reads that never block on a FIFO or device and never follow a
/// name that is not UTF-8 into the wrong file, directory listings that keep names byte
/// for byte, and atomic writes (a temporary file in the destination's directory, fsync,
/// rename, fsync of the directory), so a reader of the destination sees either nothing
/// or the whole file (`Specs/wire-format.md` §10.2 and §10.3).
package enum FileIO {
    /// The suffix of temporary files; folder sync and directory imports skip them.
    static let temporarySuffix = ".tmp"

    static func failure(_ what: String, _ path: some CustomStringConvertible) -> ConcordSyncError {
        let reason = String(cString: strerror(errno))
        return ConcordSyncError(.fileSystem, "cannot \(what) \(path): \(reason); check the path, the free space and the permissions")
    }

    /// What is at `path`, following symbolic links (a link to a regular file is a
    /// regular file; a dangling link is `.missing`).
    package static func kind(of path: RawPath) -> FileKind {
        var info = stat()
        let result = path.withCString { stat($0, &info) }
        return result == 0 ? FileKind(mode: info.st_mode) : .missing
    }

    /// What is at `path` itself: a symbolic link is `.symbolicLink`.
    static func kindOfLink(_ path: RawPath) -> FileKind {
        var info = stat()
        let result = path.withCString { lstat($0, &info) }
        return result == 0 ? FileKind(mode: info.st_mode) : .missing
    }

    /// Opens a regular file for reading. Anything else (a FIFO, a device, a socket, a
    /// directory) is refused **before** it is opened: opening a FIFO blocks until a
    /// writer appears, and opening some devices has effects. The file is opened
    /// non-blocking and checked again on the descriptor, so a swap between the check
    /// and the open cannot make the read block either.
    /// - Returns: The descriptor (the caller closes it) and the file's size.
    /// - Throws: ``ConcordSyncError`` `.fileSystem`, naming the path and what is there.
    static func openRegularFile(_ path: RawPath) throws(ConcordSyncError) -> (descriptor: Int32, size: Int) {
        let before = kind(of: path)
        if before == .missing { throw failure("open", path) }  // errno is stat's
        guard before == .regular else { throw notRegular(path, before) }
        let fd = path.withCString { open($0, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY) }
        guard fd >= 0 else { throw failure("open", path) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let error = failure("read the size of", path)
            close(fd)
            throw error
        }
        let opened = FileKind(mode: info.st_mode)
        guard opened == .regular else {
            close(fd)
            throw notRegular(path, opened)
        }
        // Regular files ignore O_NONBLOCK; clear it anyway so reads are plain reads.
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
        return (fd, Int(info.st_size))
    }

    static func notRegular(_ path: RawPath, _ kind: FileKind) -> ConcordSyncError {
        ConcordSyncError(.fileSystem, "\(path) is \(kind.phrase), not a regular file; nothing was read from it. Give the path of a .concord file")
    }

    /// Reads up to `count` bytes at `offset` into `buffer` (fewer only at the end of
    /// the file); retries on `EINTR`.
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, path: RawPath) throws(ConcordSyncError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw failure("read", path)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Reads up to `count` bytes (all of `bytes` by default) at `offset` into the front of
    /// `bytes`; fewer only at the end of the file.
    static func read(_ fd: Int32, into bytes: inout [UInt8], count: Int? = nil, at offset: Int, path: RawPath) throws(ConcordSyncError) -> Int {
        let wanted = count ?? bytes.count
        let result: Result<Int, ConcordSyncError> = bytes.withUnsafeMutableBytes { raw in
            do throws(ConcordSyncError) {
                return .success(try read(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<wanted]), at: offset, path: path))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Reads a whole regular file into one array (no intermediate `Data`).
    static func readAll(_ path: RawPath) throws(ConcordSyncError) -> [UInt8] {
        let (fd, size) = try openRegularFile(path)
        defer { close(fd) }
        var ioError: ConcordSyncError?
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            do throws(ConcordSyncError) {
                // A file that shrank while reading gives what was read: the parser rejects it.
                initialized = try read(fd, into: UnsafeMutableRawBufferPointer(buffer), at: 0, path: path)
            } catch {
                ioError = error
                initialized = 0
            }
        }
        if let ioError { throw ioError }
        return bytes
    }

    /// Whether `path` is a directory.
    static func isDirectory(_ path: String) -> Bool { kind(of: RawPath(path)) == .directory }

    /// Whether something exists at `path` (a dangling symbolic link counts).
    static func exists(_ path: String) -> Bool { kindOfLink(RawPath(path)) != .missing }

    /// The entries of a directory (not `.` and `..`), sorted by their name's bytes, each
    /// with what it is (symbolic links followed). Names are kept byte for byte: one that
    /// is not UTF-8 still opens.
    package static func list(_ directory: RawPath) throws(ConcordSyncError) -> [DirectoryEntry] {
        guard let dir = directory.withCString({ opendir($0) }) else { throw failure("list the directory", directory) }
        defer { closedir(dir) }
        var names: [[UInt8]] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: UInt8.self, capacity: Int(NAME_MAX) + 1) { pointer in
                    Array(UnsafeBufferPointer(start: pointer, count: strlen(UnsafeRawPointer(pointer).assumingMemoryBound(to: CChar.self))))
                }
            }
            if name != [0x2E] && name != [0x2E, 0x2E] { names.append(name) }
        }
        names.sort { $0.lexicographicallyPrecedes($1) }
        return names.map { name in
            let path = directory.appending(name)
            return DirectoryEntry(name: name, path: path, kind: kind(of: path))
        }
    }

    /// Refuses to write over `path` when something other than a regular file is there:
    /// an atomic write renames over its destination, which would replace a device (even
    /// `/dev/null`, for root), a FIFO, a socket, a directory or a symbolic link with a
    /// regular file.
    /// - Throws: ``ConcordSyncError`` `.fileSystem`, naming what is there.
    static func checkReplaceable(_ path: String) throws(ConcordSyncError) {
        let kind = kindOfLink(RawPath(path))
        guard kind != .missing, kind != .regular else { return }
        let advice = kind == .symbolicLink
            ? "give the path of the file itself, or a new file"
            : "give the path of a new file or of a regular file"
        throw ConcordSyncError(.fileSystem, "\(path) is \(kind.phrase), not a regular file; writing there would replace it, so nothing was written. Remove it first if you mean to, or \(advice)")
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    package static func baseName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}

/// What a directory entry or a path is.
package enum FileKind: Hashable, Sendable {
    case regular, directory, fifo, characterDevice, blockDevice, socket, symbolicLink, other, missing

    init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        case S_IFIFO: self = .fifo
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        case S_IFSOCK: self = .socket
        case S_IFLNK: self = .symbolicLink
        default: self = .other
        }
    }

    /// "a FIFO (named pipe)", for messages.
    package var phrase: String {
        switch self {
        case .regular: "a regular file"
        case .directory: "a directory"
        case .fifo: "a FIFO (named pipe)"
        case .characterDevice: "a character device"
        case .blockDevice: "a block device"
        case .socket: "a socket"
        case .symbolicLink: "a symbolic link"
        case .other: "a special file"
        case .missing: "missing"
        }
    }
}

/// One entry of a directory listing.
package struct DirectoryEntry: Sendable {
    /// The name's exact bytes.
    package let name: [UInt8]
    /// The directory's path followed by the name.
    package let path: RawPath
    /// What the entry is, symbolic links followed.
    package let kind: FileKind

    /// The name for messages (bytes that are not UTF-8 shown as U+FFFD).
    package var displayName: String { String(decoding: name, as: UTF8.self) }
}

/// A file system path as the bytes the system uses. Swift strings hold only valid
/// Unicode, so a name read from a directory that is not UTF-8 would change (and then
/// name no file) if it went through `String`; this keeps it exact.
package struct RawPath: Hashable, Sendable, CustomStringConvertible {
    /// The path's bytes, without a terminating NUL.
    package var bytes: [UInt8]

    /// The path of a string, as UTF-8.
    package init(_ string: String) { bytes = Array(string.utf8) }

    /// A path of exact bytes.
    package init(bytes: [UInt8]) { self.bytes = bytes }

    /// This path, a `/` unless it ends with one, and `name`.
    package func appending(_ name: [UInt8]) -> RawPath {
        RawPath(bytes: bytes.last == 0x2F ? bytes + name : bytes + [0x2F] + name)
    }

    /// The path for messages (bytes that are not UTF-8 shown as U+FFFD).
    package var description: String { String(decoding: bytes, as: UTF8.self) }

    /// Calls `body` with the path as a NUL-terminated C string.
    func withCString<R>(_ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        try (bytes + [0]).withUnsafeBufferPointer { buffer in
            try buffer.withMemoryRebound(to: CChar.self) { try body($0.baseAddress!) }
        }
    }
}

/// Writes a file atomically: bytes go to a hidden temporary file next to the
/// destination (`.<name>.<random>.tmp`), which is fsynced and renamed over the
/// destination by ``commit()``. Until then nothing is visible under the destination's
/// name; ``abort()`` (or a crash) leaves at most the temporary file. A destination that
/// exists and is not a regular file is refused (``FileIO/checkReplaceable(_:)``), when
/// the writer starts and again just before the rename.
final class AtomicFileWriter {
    let destination: String
    let temporaryPath: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private static let flushThreshold = 1 << 20

    init(destination: String) throws(ConcordSyncError) {
        try FileIO.checkReplaceable(destination)
        self.destination = destination
        let directory = FileIO.directory(of: destination)
        let random = (0..<8).map { _ in String(UInt8.random(in: 0...255), radix: 16) }.joined()
        temporaryPath = directory + "/." + FileIO.baseName(of: destination) + "." + random + FileIO.temporarySuffix
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw FileIO.failure("create a temporary file for", destination) }
        buffer.reserveCapacity(Self.flushThreshold)
    }

    deinit {
        if fd >= 0 {
            close(fd)
            unlink(temporaryPath)
        }
    }

    func write(_ bytes: some Collection<UInt8>) throws(ConcordSyncError) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= Self.flushThreshold { try flush() }
    }

    private func flush() throws(ConcordSyncError) {
        var done = 0
        var ioError: ConcordSyncError?
        buffer.withUnsafeBytes { raw in
            while done < raw.count {
                let n = posixWrite(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    ioError = FileIO.failure("write", temporaryPath)
                    return
                }
                done += n
            }
        }
        if let ioError { throw ioError }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, fsyncs and renames the temporary file over the destination.
    func commit() throws(ConcordSyncError) {
        try flush()
        guard fsync(fd) == 0 else { throw FileIO.failure("flush to disk", temporaryPath) }
        close(fd)
        fd = -1
        do {
            // Again at the last moment: something may have appeared there meanwhile.
            try FileIO.checkReplaceable(destination)
        } catch {
            unlink(temporaryPath)
            throw error
        }
        guard rename(temporaryPath, destination) == 0 else {
            let error = FileIO.failure("rename the temporary file to", destination)
            unlink(temporaryPath)
            throw error
        }
        let dirfd = open(FileIO.directory(of: destination), O_RDONLY | O_CLOEXEC)
        if dirfd >= 0 {
            _ = fsync(dirfd)
            close(dirfd)
        }
    }

    /// Removes the temporary file.
    func abort() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
        unlink(temporaryPath)
    }
}

/// `write(2)`, under a name a method called `write` does not shadow.
private func posixWrite(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, pointer, count)
}

extension FileIO {
    /// Creates a directory (and its parents).
    static func createDirectory(_ path: String) throws(ConcordSyncError) {
        var partial = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            partial += "/" + component
            if !exists(partial), mkdir(partial, 0o755) != 0, errno != EEXIST {
                throw failure("create the directory", partial)
            }
        }
    }
}
