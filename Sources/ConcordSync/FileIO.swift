#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// POSIX file helpers: whole-file reads straight into one buffer, and atomic writes
/// (a temporary file in the destination's directory, fsync, rename, fsync of the
/// directory), so a reader of the destination sees either nothing or the whole file.
enum FileIO {
    /// The suffix of temporary files; folder sync and directory imports skip them.
    static let temporarySuffix = ".tmp"

    static func failure(_ what: String, _ path: String) -> ConcordSyncError {
        let reason = String(cString: strerror(errno))
        return ConcordSyncError(.fileSystem, "cannot \(what) \(path): \(reason); check the path, the free space and the permissions")
    }

    /// Reads a whole file into one array (no intermediate `Data`).
    static func readAll(_ path: String) throws(ConcordSyncError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("open", path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure("read the size of", path) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw ConcordSyncError(.fileSystem, "\(path) is not a regular file; give the path of a .concord file")
        }
        let size = Int(info.st_size)
        var ioError: ConcordSyncError?
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var done = 0
            while done < size {
                let n = read(fd, buffer.baseAddress! + done, size - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    ioError = failure("read", path)
                    break
                }
                if n == 0 { break }  // the file shrank while reading: parse what we got
                done += n
            }
            initialized = done
        }
        if let ioError { throw ioError }
        return bytes
    }

    /// Whether `path` is a directory.
    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Whether something exists at `path`.
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// The names in a directory (not `.` and `..`), sorted.
    static func list(_ directory: String) throws(ConcordSyncError) -> [String] {
        guard let dir = opendir(directory) else { throw failure("list the directory", directory) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    static func baseName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}

/// Writes a file atomically: bytes go to a hidden temporary file next to the
/// destination (`.<name>.<random>.tmp`), which is fsynced and renamed over the
/// destination by ``commit()``. Until then nothing is visible under the destination's
/// name; ``abort()`` (or a crash) leaves at most the temporary file.
final class AtomicFileWriter {
    let destination: String
    let temporaryPath: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private static let flushThreshold = 1 << 20

    init(destination: String) throws(ConcordSyncError) {
        self.destination = destination
        let directory = FileIO.directory(of: destination)
        let random = (0..<8).map { _ in String(UInt8.random(in: 0...255), radix: 16) }.joined()
        temporaryPath = directory + "/." + FileIO.baseName(of: destination) + "." + random + FileIO.temporarySuffix
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
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
