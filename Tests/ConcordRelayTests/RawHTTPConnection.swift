import ConcordSync
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A TCP connection to a relay on loopback that sends exactly the bytes a test gives it:
/// half-sent heads, trickled bodies, raw WebSocket upgrades, and connections held open.
/// HTTP clients cannot misbehave on purpose; hostile-client tests need this.
///
/// Blocking socket calls run on a dispatch queue, never on the cooperative thread pool
/// (the relay under test runs there).
///
/// `@unchecked Sendable`: a file descriptor used from one queue at a time (each call
/// waits for the previous one).
final class RawHTTPConnection: @unchecked Sendable {
    private let fd: Int32
    private let queue = DispatchQueue(label: "raw-http")
    private let lock = NSLock()
    private var isClosed = false

    /// Connects to `127.0.0.1:port`, from `source` (for example `127.0.0.2`) when given.
    init(port: Int, source: String? = nil) throws {
        fd = socket(AF_INET, Self.streamType, 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed: \(errno)") }
        if let source {
            var local = Self.address(source, port: 0)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                _ = Glibc_close(fd)
                throw Failure(description: "bind(\(source)) failed: \(errno)")
            }
        }
        var remote = Self.address("127.0.0.1", port: UInt16(port))
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            _ = Glibc_close(fd)
            throw Failure(description: "connect failed: \(errno)")
        }
    }

    deinit { close() }

    /// Closes the socket (once).
    func close() {
        let first = lock.withLock { () -> Bool in
            defer { isClosed = true }
            return !isClosed
        }
        if first { _ = Glibc_close(fd) }
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// Sends `text` (UTF-8).
    func send(_ text: String) async throws { try await send(Array(text.utf8)) }

    /// Sends `bytes`; throws when the relay closed the connection.
    func send(_ bytes: [UInt8]) async throws {
        let fd = fd
        try await run {
            var offset = 0
            while offset < bytes.count {
                let sent = bytes[offset...].withUnsafeBytes { Glibc_send(fd, $0.baseAddress, $0.count) }
                guard sent > 0 else { throw Failure(description: "send failed: \(errno)") }
                offset += sent
            }
        }
    }

    /// Everything the relay sends until it closes the connection or `seconds` pass.
    /// - Returns: The bytes, and whether the connection was closed.
    func readUntilClosed(within seconds: Double) async throws -> (bytes: [UInt8], closed: Bool) {
        let fd = fd
        return try await run {
            var received: [UInt8] = []
            let deadline = Date().addingTimeInterval(seconds)
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let left = deadline.timeIntervalSinceNow
                guard left > 0 else { return (received, false) }
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ready = poll(&poller, 1, Int32(left * 1000))
                if ready == 0 { return (received, false) }
                guard ready > 0 else { throw Failure(description: "poll failed: \(errno)") }
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count == 0 { return (received, true) }
                if count < 0 { return (received, true) }  // reset: closed as well
                received += buffer[0..<count]
            }
        }
    }

    /// Reads one HTTP response (head and a `Content-Length` body), waiting at most `seconds`.
    func readResponse(within seconds: Double) async throws -> RawHTTPResponse? {
        let fd = fd
        return try await run {
            var received: [UInt8] = []
            let deadline = Date().addingTimeInterval(seconds)
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                if let response = RawHTTPResponse(parsing: received) { return response }
                let left = deadline.timeIntervalSinceNow
                guard left > 0 else { return nil }
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ready = poll(&poller, 1, Int32(left * 1000))
                if ready == 0 { return nil }
                guard ready > 0 else { throw Failure(description: "poll failed: \(errno)") }
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count <= 0 { return RawHTTPResponse(parsing: received) }
                received += buffer[0..<count]
            }
        }
    }

    private func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    private static func address(_ ip: String, port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, ip, &address.sin_addr)
        return address
    }

    #if canImport(Glibc)
    private static let streamType = Int32(SOCK_STREAM.rawValue)
    #else
    private static let streamType = SOCK_STREAM
    #endif
}

#if canImport(Glibc)
private func Glibc_close(_ fd: Int32) -> Int32 { Glibc.close(fd) }
#else
private func Glibc_close(_ fd: Int32) -> Int32 { Darwin.close(fd) }
#endif

#if canImport(Glibc)
private func Glibc_send(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    Glibc.send(fd, buffer, count, Int32(MSG_NOSIGNAL))
}
#else
private func Glibc_send(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int { Darwin.send(fd, buffer, count, 0) }
#endif

/// An HTTP response read off a ``RawHTTPConnection``.
struct RawHTTPResponse: Sendable {
    var status: Int
    /// Header names in lowercase.
    var headers: [String: String]
    var body: [UInt8]

    /// Parses a complete response (head, and as many body bytes as `Content-Length` says);
    /// nil while incomplete.
    init?(parsing bytes: [UInt8]) {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = (0...max(0, bytes.count - 4)).first(where: { bytes.count >= $0 + 4 && Array(bytes[$0..<$0 + 4]) == separator })
        else { return nil }
        let head = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = headers["content-length"].flatMap(Int.init) ?? 0
        guard bytes.count >= end + 4 + length else { return nil }
        self.status = status
        self.headers = headers
        self.body = Array(bytes[(end + 4)..<(end + 4 + length)])
    }

    /// The body as a refusal (§6).
    func error() throws -> RelayAPI.ErrorBody { try JSONDecoder().decode(RelayAPI.ErrorBody.self, from: Data(body)) }
}
