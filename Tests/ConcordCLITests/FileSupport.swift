import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// File-system fixtures for the CLI tests: FIFOs, sockets, devices, sparse files and names
/// that are not UTF-8, each made inside the test's own scratch directory.
enum Fixture {
    struct Failure: Error, CustomStringConvertible { var description: String }

    static func check(_ result: Int32, _ what: String) throws {
        if result != 0 { throw Failure(description: "\(what): \(String(cString: strerror(errno)))") }
    }

    /// A FIFO (named pipe) at `path`.
    static func fifo(_ path: String) throws {
        try check(mkfifo(path, 0o644), "mkfifo \(path)")
    }

    /// A UNIX-domain socket file at `path` (bound, then closed: the file stays).
    static func socket(_ path: String) throws {
        #if canImport(Glibc)
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = Darwin.socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw Failure(description: "socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes + [0])
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try check(result, "bind \(path)")
    }

    /// Whether this process may make device nodes (root).
    static var canMakeDevices: Bool { geteuid() == 0 }

    /// A character device with the numbers of `/dev/null` (1, 3) at `path`, inside the
    /// test's directory: the real `/dev/null` is never touched. Root only.
    static func nullDevice(_ path: String) throws {
        #if canImport(Glibc)
        let device = dev_t((1 << 8) | 3)  // makedev(1, 3) in Linux's encoding for small numbers
        #else
        let device = dev_t((1 << 24) | 3)
        #endif
        try check(mknod(path, S_IFCHR | 0o666, device), "mknod \(path)")
    }

    /// A sparse file of `size` bytes starting with `prefix` (the rest reads as zeros and
    /// takes no disk space).
    static func sparseFile(_ path: String, size: Int, prefix: [UInt8] = []) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw Failure(description: "open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        if !prefix.isEmpty {
            let written = prefix.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
            guard written == prefix.count else { throw Failure(description: "write \(path)") }
        }
        try check(ftruncate(fd, off_t(size)), "ftruncate \(path)")
    }

    /// The file type bits of what is at `path` itself (symbolic links not followed).
    static func kind(_ path: String) -> mode_t? {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & S_IFMT : nil
    }

    /// The permission bits of `path`.
    static func mode(_ path: String) -> mode_t? {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mode & 0o7777 : nil
    }

    /// Renames `path` to `directory/<name bytes>` (a name that need not be UTF-8).
    static func rename(_ path: String, toRawName name: [UInt8], in directory: String) throws {
        let target = Array(directory.utf8) + [0x2F] + name + [0]
        let result = target.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { posixRename(path, $0.baseAddress!) }
        }
        try check(result, "rename \(path)")
    }

    /// The names in `directory`, as bytes.
    static func rawNames(in directory: String) -> [[UInt8]] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [[UInt8]] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { Array(UnsafeBufferPointer(start: $0, count: strlen($0))).map { UInt8(bitPattern: $0) } }
            }
            if name != [0x2E] && name != [0x2E, 0x2E] { names.append(name) }
        }
        return names
    }
}

/// `rename(2)`, under a name `Fixture.rename` does not shadow.
private func posixRename(_ from: UnsafePointer<CChar>, _ to: UnsafePointer<CChar>) -> Int32 {
    rename(from, to)
}
