#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The worker's journal: lines appended with `write(2)` and made durable with `fsync(2)`
/// before `append` returns. A line about a call is appended only after that call
/// returned, so what the journal acknowledges really was acknowledged by `Replica`.
final class Journal {
    private let descriptor: Int32

    init(path: String) {
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard descriptor >= 0 else { fail("cannot open the journal \(path): errno \(errno)") }
    }

    deinit { close(descriptor) }

    /// Appends `lines` (one `write` for all of them) and fsyncs the file.
    func append(_ lines: [String]) {
        let bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                fail("cannot write the journal: errno \(errno)")
            }
            offset += written
        }
        guard fsync(descriptor) == 0 else { fail("cannot fsync the journal: errno \(errno)") }
    }
}

/// Prints `message` to standard error and exits with status 2 (the test then reports it:
/// a worker that stops by itself, not by SIGKILL, is a failure).
func fail(_ message: String) -> Never {
    var line = Array("concord-crash-worker: \(message)\n".utf8)
    _ = line.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    exit(2)
}
