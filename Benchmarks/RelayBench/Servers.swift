// The servers the fan-out section drives, each in a process of its own (this binary run
// with `--serve relay` or `--serve bare`), so that the load generator (writers and
// subscribers, the parent process) and the server do not share an address space, and the
// server's CPU time is its own (/proc/<pid>/stat).
//
//   relay   the Concord relay (`startRelay`, SQLite or PostgreSQL).
//   bare    the ceiling: a WebSocket broadcast server on the relay's stack (Hummingbird 2,
//           HTTP/1.1 with WebSocket upgrade, the same 30 s auto-ping), with nothing else:
//           `POST /publish` frames its body as the relay frames a bundle
//           (`u32 length | bytes`) and writes it to every `GET /feed` WebSocket at once,
//           one message per publish; `{"type":"ready"}` after the upgrade, as the relay.

import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The bare server's subscribers.
final class BareHub: Sendable {
    private let state = Mutex<(next: Int, subscribers: [Int: AsyncStream<ByteBuffer>.Continuation])>((0, [:]))

    func add(_ continuation: AsyncStream<ByteBuffer>.Continuation) -> Int {
        state.withLock { state in
            state.next += 1
            state.subscribers[state.next] = continuation
            return state.next
        }
    }

    func remove(_ id: Int) { _ = state.withLock { $0.subscribers.removeValue(forKey: id) } }

    func send(_ message: ByteBuffer) {
        let targets = state.withLock { Array($0.subscribers.values) }
        for target in targets { target.yield(message) }
    }
}

/// Runs the bare broadcast server until stdin closes; prints `listening <port>`.
func serveBare() async throws {
    var logger = Logger(label: "bare-broadcast")
    logger.logLevel = .critical
    let hub = BareHub()
    let router = Router(context: BasicWebSocketRequestContext.self)
    router.post("/publish") { request, _ -> Response in
        let body = try await request.body.collect(upTo: 16 << 20)
        var frame = ByteBufferAllocator().buffer(capacity: 4 + body.readableBytes)
        frame.writeInteger(UInt32(body.readableBytes))
        frame.writeImmutableBuffer(body)
        hub.send(frame)
        return Response(status: .ok)
    }
    router.ws("/feed") { inbound, outbound, _ in
        let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
        let id = hub.add(continuation)
        defer { hub.remove(id) }
        try await outbound.writeTextMessage(#"{"type":"ready"}"#)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { for try await _ in inbound {} }
            group.addTask { for await message in stream { try await outbound.writeBinaryMessage(message) } }
            _ = try await group.next()
            group.cancelAll()
        }
    }
    let app = Application(
        router: router,
        server: .http1WebSocketUpgrade(
            webSocketRouter: router,
            configuration: HTTP1WebSocketUpgradeChannel.Configuration(ws: WebSocketServerConfiguration(autoPing: .enabled(timePeriod: .seconds(30))))),
        configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0), serverName: "bare-broadcast"),
        onServerRunning: { channel in announce(port: channel.localAddress?.port ?? 0) },
        logger: logger)
    exitWhenStdinCloses()
    try await app.runService()
}

/// Runs the relay until stdin closes; prints `listening <port>`.
func serveRelay(options: Options) async throws {
    guard let backend = options.backends.first, let directory = options.directory else { fail("--serve relay needs --backends B and --dir D") }
    let relay = try await startRelay(backend: backend, options: options, directory: directory)
    announce(port: relay.port)
    exitWhenStdinCloses()
    while true { try await Task.sleep(for: .seconds(3600)) }
}

func announce(port: Int) {
    FileHandle.standardOutput.write(Data("listening \(port)\n".utf8))
}

/// The parent holds our stdin; when it closes (the parent is done or died), we exit.
func exitWhenStdinCloses() {
    let thread = Thread {
        _ = FileHandle.standardInput.readDataToEndOfFile()
        exit(0)
    }
    thread.start()
}

/// A server process started from this binary with `--serve`.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let port: Int
    private let input = Pipe()

    /// Starts `concord-relay-bench --serve <arguments>` and waits for its port.
    init(_ arguments: [String]) throws {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--serve"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = input
        try process.run()
        var text = ""
        var port = 0
        while port == 0 {
            let data = output.fileHandleForReading.availableData
            guard !data.isEmpty else { throw BenchError("the server process (\(arguments.joined(separator: " "))) ended: \(text)") }
            text += String(decoding: data, as: UTF8.self)
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening ") }) {
                port = Int(line.dropFirst("listening ".count)) ?? 0
            }
        }
        self.port = port
    }

    /// User plus system CPU seconds the process has used (Linux, /proc/<pid>/stat).
    func cpuSeconds() -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return .nan }
        // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return .nan }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Peak resident memory (VmHWM), MB.
    func peakRSSMegabytes() -> Double { Double(peakRSS(of: process.processIdentifier)) / 1_048_576 }

    func stop() {
        try? input.fileHandleForWriting.close()
        let deadline = now() + 10
        while process.isRunning, now() < deadline { usleep(20_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

/// CPU seconds of this process (the load generator), user plus system.
func ownCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}
