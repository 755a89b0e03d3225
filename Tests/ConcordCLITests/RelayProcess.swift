import Foundation

/// A real `concord relay serve` subprocess on loopback.
///
/// `@unchecked Sendable`: wraps a `Process` and a pipe; the printed output is only touched
/// under `lock`.
final class RelayProcess: @unchecked Sendable {
    let process: Process
    let port: UInt16
    /// The `--db` text: `sqlite:PATH` or a PostgreSQL URL.
    let storage: String

    /// `http://127.0.0.1:<port>`.
    var url: String { "http://127.0.0.1:\(port)" }

    /// Starts `concord relay serve --port 0 --db sqlite:<database>` and waits for its
    /// `listening on http://HOST:PORT` line.
    static func start(cli: CLI, database: String, timeout: Double = 20) throws -> RelayProcess {
        try start(cli: cli, storage: "sqlite:" + database, timeout: timeout)
    }

    /// Starts `concord relay serve --port 0 --db <storage> <arguments>` (`sqlite:PATH` or a
    /// PostgreSQL URL) and waits for its `listening on` line.
    static func start(cli: CLI, storage: String, arguments: [String] = [], timeout: Double = 20) throws -> RelayProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: cli.binary)
        process.arguments = ["relay", "serve", "--port", "0", "--db", storage] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["CONCORD_STORE"] = nil
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let box = LineBox()
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
            } else {
                box.append(data)
            }
        }
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let port = box.listeningPort() {
                return RelayProcess(process: process, port: port, storage: storage)
            }
            if !process.isRunning { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        process.terminate()
        throw StartFailure(description: "concord relay serve did not print `listening on` within \(timeout) s; output: \(box.text)")
    }

    private init(process: Process, port: UInt16, storage: String) {
        self.process = process
        self.port = port
        self.storage = storage
    }

    struct StartFailure: Error, CustomStringConvertible { var description: String }

    /// SIGKILL: no graceful shutdown at all.
    func kill() {
        if process.isRunning {
            _ = Foundation.kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
    }

    /// SIGTERM, then waits; returns the exit status.
    @discardableResult
    func terminate() -> Int32 {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Collected stdout.
    final class LineBox: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        func append(_ more: Data) { lock.withLock { data.append(more) } }
        var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
        func listeningPort() -> UInt16? {
            for line in text.split(separator: "\n") where line.hasPrefix("listening on http://") {
                if let colon = line.lastIndex(of: ":"), let port = UInt16(line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)) {
                    return port
                }
            }
            return nil
        }
    }
}
