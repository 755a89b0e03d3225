import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A loopback TCP proxy for relay tests: forwards every connection to `127.0.0.1:upstream`
/// (which can be switched, so a restarted relay on a new port keeps its URL) and can cut a
/// connection after it carried a given number of bytes towards the client.
///
/// `@unchecked Sendable`: raw sockets and threads (the C boundary); its mutable state is
/// only touched under `lock`.
final class TCPProxy: @unchecked Sendable {
    /// The port clients connect to.
    private(set) var port: UInt16 = 0
    private let lock = NSLock()
    private var upstream: UInt16
    private var cutAfter: Int?
    private var cutCount = 0
    private var listener: Int32 = -1
    private var sockets: Set<Int32> = []
    private var closed = false

    init(upstream: UInt16) throws {
        self.upstream = upstream
        listener = socket(AF_INET, Self.streamType, 0)
        guard listener >= 0 else { throw ProxyError(description: "socket() failed: \(errno)") }
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 64) == 0 else { throw ProxyError(description: "bind/listen failed: \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        let fd = listener
        Thread.detachNewThread { [self] in self.acceptLoop(fd) }
    }

    struct ProxyError: Error, CustomStringConvertible { var description: String }

    /// Sends new connections to `port` from now on.
    func setUpstream(_ port: UInt16) {
        lock.withLock { upstream = port }
    }

    /// The next connection that carries more than `bytes` towards the client is cut
    /// there (both directions closed); later connections pass untouched.
    func cutNextTransfer(afterBytes bytes: Int) {
        lock.withLock { cutAfter = bytes }
    }

    /// Connections cut so far.
    var cuts: Int { lock.withLock { cutCount } }

    /// Closes every connection now (as a network drop would).
    func dropAll() {
        let all = lock.withLock { sockets }
        for fd in all { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    /// Stops listening and closes every connection.
    func close() {
        let (all, fd) = lock.withLock { () -> (Set<Int32>, Int32) in
            closed = true
            return (sockets, listener)
        }
        shutdown(fd, Int32(SHUT_RDWR))
        _ = systemClose(fd)
        for socket in all { shutdown(socket, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop(_ fd: Int32) {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            Thread.detachNewThread { [self] in self.serve(client) }
        }
    }

    private func serve(_ client: Int32) {
        let target = lock.withLock { upstream }
        let server = socket(AF_INET, Self.streamType, 0)
        var address = Self.loopback(port: target)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            _ = systemClose(server)
            _ = systemClose(client)
            return
        }
        lock.withLock {
            sockets.insert(client)
            sockets.insert(server)
        }
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread { [self] in
            self.pump(from: client, to: server, counting: false)
            done.signal()
        }
        pump(from: server, to: client, counting: true)
        done.wait()
        lock.withLock {
            sockets.remove(client)
            sockets.remove(server)
        }
        _ = systemClose(server)
        _ = systemClose(client)
    }

    /// Copies bytes until either side closes; `counting` applies the armed cut.
    private func pump(from source: Int32, to destination: Int32, counting: Bool) {
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var carried = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            var length = n
            var cut = false
            if counting {
                lock.withLock {
                    if let limit = cutAfter, carried + n > limit {
                        length = max(0, limit - carried)
                        cutAfter = nil
                        cutCount += 1
                        cut = true
                    }
                }
            }
            if !send(all: buffer, count: length, to: destination) { break }
            carried += length
            if cut { break }
        }
        shutdown(source, Int32(SHUT_RDWR))
        shutdown(destination, Int32(SHUT_RDWR))
    }

    private func send(all buffer: [UInt8], count: Int, to fd: Int32) -> Bool {
        var offset = 0
        while offset < count {
            let sent = buffer.withUnsafeBytes { raw in
                Self.systemSend(fd, raw.baseAddress! + offset, count - offset)
            }
            if sent <= 0 { return false }
            offset += sent
        }
        return true
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        #if canImport(Darwin)
        address.sin_len = UInt8(MemoryLayout<sockaddr_in>.size)
        #endif
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    #if canImport(Glibc)
    private static let streamType = Int32(SOCK_STREAM.rawValue)
    private static func systemSend(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
        Glibc.send(fd, pointer, count, Int32(MSG_NOSIGNAL))
    }
    private func systemClose(_ fd: Int32) -> Int32 { Glibc.close(fd) }
    #else
    private static let streamType = SOCK_STREAM
    private static func systemSend(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &yes, socklen_t(MemoryLayout<Int32>.size))
        return Darwin.send(fd, pointer, count, 0)
    }
    private func systemClose(_ fd: Int32) -> Int32 { Darwin.close(fd) }
    #endif
}
