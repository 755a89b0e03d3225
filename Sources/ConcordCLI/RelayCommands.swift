import ArgumentParser
import Concord
import ConcordSync
import Foundation

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
                    print(line)
                    fflush(stdout)
                    last = line
                }
            }
        }
        let signal = await signals.wait()
        await engine.stop()
        printer.cancel()
        print("stopped (signal \(signal)); \(await engine.feedBundlesReceived) bundles received live")
    }

    /// A sync error as the CLI's failure: refusals that repeating cannot fix are exit 2.
    static func failure(_ error: ConcordSyncError) -> CLIFailure {
        let refused = error.code == .relayRefused && !error.isTransient && [403, 409, 422].contains(error.httpStatus ?? 0)
        return CLIFailure(message: error.message, status: refused ? Exit.rejected : Exit.failure)
    }
}

/// Waits for the first of some signals (`SIGINT`, `SIGTERM`), which it stops from
/// terminating the process.
///
/// `@unchecked Sendable`: the C signal boundary. Its mutable state (the continuation and
/// the signal that fired) is only touched under `lock`; the dispatch sources are set up in
/// `init` and never change.
final class SignalWaiter: @unchecked Sendable {
    private let lock = NSLock()
    private var sources: [any DispatchSourceSignal] = []
    private var continuation: CheckedContinuation<Int32, Never>?
    private var fired: Int32?

    init(_ signals: [Int32]) {
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in self?.fire(number) }
            source.resume()
            sources.append(source)
        }
    }

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
