import ArgumentParser
import Concord
import ConcordRelay
import ConcordSync
import Foundation
import Logging

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Sync the replica with a relay: one round, or live with --watch.",
        discussion: """
            One round pulls every bundle the relay holds that this replica lacks, then \
            pushes every local bundle the relay lacks (pending writes are sealed first), and \
            prints the counts. A round that is cut (network, relay restart) is retried with \
            backoff, up to --attempts times; a cut round loses nothing, whatever it \
            imported stays. With --watch the replica stays subscribed to the relay's live \
            feed: remote changes are imported as they arrive and local writes (from other \
            `concord` commands on this store) are pushed within a second; status changes \
            are printed until SIGINT or SIGTERM.

            Exit status: 1 when the relay stays unreachable or busy, 2 when it refuses \
            (403 not a member or read-only, 409 fork, 422 invalid bundle) or a pulled \
            bundle was rejected.

            Examples:
              concord relay serve --port 8080 &        # or a relay someone runs for you
              concord sync http://127.0.0.1:8080
              concord sync https://relay.example.org --watch
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: ArgumentHelp("The relay's base URL (http:// or https://).", valueName: "URL")) var url: String
    @Flag(help: "Keep syncing live until SIGINT/SIGTERM, printing status changes.") var watch = false
    @Option(help: "Tries for one round when the relay is unreachable or busy.") var attempts = 5

    func validate() throws {
        guard let relay = URL(string: url), ["http", "https"].contains(relay.scheme ?? ""), relay.host != nil else {
            throw ValidationError("\(url) is not a relay URL; give its base, for example http://127.0.0.1:8080")
        }
        if attempts < 1 { throw ValidationError("--attempts must be at least 1") }
    }

    func run() async throws {
        let replica = try options.open()
        let engine = SyncEngine(replica: replica, relay: URL(string: url)!)
        if watch {
            try await watchLive(engine)
            return
        }
        var attempt = 0
        while true {
            do {
                let summary = try await engine.syncNow()
                print(summary)
                for rejection in summary.pulled.rejected {
                    Output.error("concord: pulled bundle \(rejection.index + 1) rejected: \(rejection.error.message)")
                }
                if !summary.pulled.rejected.isEmpty { throw ExitCode(Exit.rejected) }
                return
            } catch let error as ConcordSyncError where error.isTransient && attempt + 1 < attempts {
                let delay = engine.options.retryDelay(attempt: attempt, retryAfter: error.retryAfter)
                Output.error("concord: \(error.message); retrying in \(String(format: "%.1f", delay)) s")
                attempt += 1
                try await Task.sleep(for: .seconds(delay))
            } catch let error as ConcordSyncError {
                throw Self.failure(error)
            }
        }
    }

    /// Live sync until a termination signal; prints each change of status kind.
    func watchLive(_ engine: SyncEngine) async throws {
        let signals = SignalWaiter([SIGINT, SIGTERM])
        await engine.start()
        let statuses = await engine.status
        let printer = Task {
            var last = ""
            for await status in statuses {
                let line: String
                switch status {
                case .syncing: line = "syncing"
                default: line = status.description
                }
                if line != last {
                    writeLine(line)
                    last = line
                }
            }
        }
        // Writes of other `concord` commands on this store are pending in the store but
        // unknown to this process's replica: seal them through a fresh instance, then
        // the engine pushes the sealed bundles.
        let path = options.path
        let sealer = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(250))
                if let pending = try? await engine.replica.status().pendingOperations, pending > 0 {
                    _ = try? await Replica.open(at: path).seal()
                }
            }
        }
        let signal = await signals.wait()
        sealer.cancel()
        await engine.stop()
        printer.cancel()
        writeLine("stopped (signal \(signal)); \(await engine.feedBundlesReceived) bundles received live")
    }

    /// A sync error as the CLI's failure: refusals that repeating cannot fix are exit 2.
    static func failure(_ error: ConcordSyncError) -> CLIFailure {
        let refused = error.code == .relayRefused && !error.isTransient && [403, 409, 422].contains(error.httpStatus ?? 0)
        return CLIFailure(message: error.message, status: refused ? Exit.rejected : Exit.failure)
    }
}

/// The pipe a signal handler writes to (set once before any handler is installed).
nonisolated(unsafe) private var signalPipeWriteEnd: Int32 = -1

/// Writes a line to stdout at once (unbuffered: tests and scripts wait for it).
func writeLine(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// Waits for the first of some signals (`SIGINT`, `SIGTERM`), which then no longer
/// terminate the process. A C handler writes the signal number to a pipe (the only
/// async-signal-safe way out); a thread reads it.
///
/// `@unchecked Sendable`: the C signal boundary. Its mutable state (the continuation and
/// the signal that fired) is only touched under `lock`.
final class SignalWaiter: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Int32, Never>?
    private var fired: Int32?

    init(_ signals: [Int32]) {
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 { signalPipeWriteEnd = fds[1] }
        for number in signals {
            signal(number) { received in
                var byte = UInt8(truncatingIfNeeded: received)
                _ = write(signalPipeWriteEnd, &byte, 1)
            }
        }
        let readEnd = fds[0]
        Thread.detachNewThread { [self] in
            var byte: UInt8 = 0
            while read(readEnd, &byte, 1) < 0 && errno == EINTR {}
            self.fire(Int32(byte))
        }
    }

    /// The signal received, if one was.
    var received: Int32? { lock.withLock { fired } }

    /// The first signal received (at once if one already was).
    func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            lock.lock()
            if let fired {
                lock.unlock()
                continuation.resume(returning: fired)
            } else {
                self.continuation = continuation
                lock.unlock()
            }
        }
    }

    private func fire(_ number: Int32) {
        lock.lock()
        if fired == nil { fired = number }
        let waiting = continuation
        continuation = nil
        lock.unlock()
        waiting?.resume(returning: number)
    }
}

struct RelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Run a relay that stores and forwards a space's signed bundles.",
        discussion: """
            A relay holds no content key: it checks signatures, membership certificates \
            and hash chains, stores bundles, and passes them on to every device of the \
            space (`Specs/relay-api.md`).

            Examples:
              concord relay serve --port 8080
              concord relay serve --host 0.0.0.0 --port 8080 --data /var/lib/concord
              concord relay serve --port 8080 --db sqlite:/srv/relay.sqlite
            """,
        subcommands: [RelayServe.self]
    )
}

struct RelayServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the relay API over HTTP until SIGINT or SIGTERM.",
        discussion: """
            Prints `listening on http://HOST:PORT` once the socket is bound (with --port 0 \
            the system picks a free port). Storage: --db sqlite:PATH (one relay process, \
            the default: relay.sqlite in --data DIR, else the current directory) or \
            --db postgres://USER@HOST/DB (several relay processes sharing one database). \
            On SIGINT or SIGTERM it stops accepting, finishes the requests in flight and \
            closes the database. Logs go to stderr.

            Examples:
              concord relay serve --port 8080
              concord relay serve --port 0 --db sqlite:/tmp/relay.sqlite
              concord relay serve --host 0.0.0.0 --port 443 --db postgres://concord@db/concord
              concord sync http://127.0.0.1:8080      # on each device
            """
    )
    @Option(help: "The address to bind.") var host = "127.0.0.1"
    @Option(help: "The TCP port (0: any free port).") var port = 8080
    @Option(help: ArgumentHelp("sqlite:PATH or postgres://… (default: sqlite:relay.sqlite in --data).", valueName: "SPEC")) var db: String?
    @Option(help: ArgumentHelp("Directory of the default SQLite database (default: current directory).", valueName: "DIR")) var data: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical") }
    }

    func run() async throws {
        var logger = Logger(label: "concord.relay", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let spec = db ?? "sqlite:" + ((data.map { $0.hasSuffix("/") ? $0 : $0 + "/" } ?? "./") + "relay.sqlite")
        if let data { try? FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true) }
        let storage = try await openRelayStorage(spec, logger: logger)
        let server = RelayServer(configuration: RelayConfiguration(host: host, port: port), storage: storage, logger: logger)
        let signals = SignalWaiter([SIGINT, SIGTERM])
        let host = self.host
        let serving = Task {
            try await server.run { port in
                writeLine("listening on http://\(host):\(port)")
            }
        }
        Task {
            _ = await signals.wait()
            serving.cancel()
        }
        let result = await serving.result
        let outcome = signals.received
        // Closing the database gets a few seconds; then the process ends regardless.
        let status = outcome == nil ? Exit.failure : Exit.ok
        Thread.detachNewThread { Thread.sleep(forTimeInterval: 10); Foundation.exit(status) }
        await storage.close()
        if case .failure(let error) = result, !(error is CancellationError) {
            throw CLIFailure(message: "the relay stopped: \(error); check that \(host):\(port) is free and the database is reachable")
        }
        if let outcome { Output.error("concord: relay stopped (signal \(outcome))") }
    }
}

/// Opens the relay's storage from `sqlite:PATH` or a PostgreSQL URL.
private func openRelayStorage(_ spec: String, logger: Logger) async throws -> any RelayStorage {
    if spec.hasPrefix("sqlite:") {
        var path = String(spec.dropFirst("sqlite:".count))
        if path.hasPrefix("//") { path.removeFirst(2) }
        guard !path.isEmpty else { throw CLIFailure(message: "--db sqlite: needs a path, for example sqlite:./relay.sqlite") }
        do {
            return try SQLiteRelayStorage(path: path)
        } catch {
            throw CLIFailure(message: "cannot open the relay database \(path): \(error); check the path and its permissions")
        }
    }
    if spec.hasPrefix("postgres://") || spec.hasPrefix("postgresql://") {
        do {
            return try await RelayStorageURL.open(spec, logger: logger)
        } catch {
            throw CLIFailure(message: "cannot open the relay database: \(error); check that PostgreSQL is running and the URL's user, password and database are right")
        }
    }
    throw CLIFailure(message: "\(spec) is not a database spec; use sqlite:PATH or postgres://USER@HOST/DB")
}
