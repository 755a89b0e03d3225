import ArgumentParser
import Concord
import ConcordCrypto
import ConcordRelay
import ConcordSync
import Foundation
import Logging
import UnixSignals

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Sync the replica with a relay, a peer, or the members on the local network: one round, or live with --watch.",
        discussion: """
            With a relay URL, one round pulls every bundle the relay holds that this \
            replica lacks, then pushes every local bundle the relay lacks (pending writes \
            are sealed first), and prints the counts. A round that is cut (network, relay \
            restart) is retried with backoff, up to --attempts times; a cut round loses \
            nothing, whatever it imported stays.

            With peer://HOST:PORT (a device running `concord peer serve`), both sides \
            authenticate as members of the space over an encrypted channel, send each other \
            what the other lacks (bundles of every author they hold), and print the counts. \
            With --lan, the members found on the local network within --timeout seconds \
            (multicast DNS, `_concord._tcp`) are synced with one after the other. A relay \
            URL and --lan may be combined.

            With --watch the replica stays connected: remote changes are imported as they \
            arrive and local writes (from other `concord` commands on this store) are sent \
            within a second; status changes are printed until SIGINT or SIGTERM. `--lan \
            --watch` also accepts connections (on --port, any free port by default) and \
            advertises itself, so every device running it finds every other.

            Exit status: 1 when the relay or peer stays unreachable (or no member was found \
            with --lan), 2 when it refuses (403 not a member or read-only, 422 invalid \
            bundle, a peer that refuses this device) or a received bundle was rejected, 4 \
            when this device needs its owner: its clock is wrong (set the date and time) or \
            its history forked because a copy of the store wrote too (run `concord recover`); \
            the message says which, with dates.

            Examples:
              concord relay serve --port 8080 &        # or a relay someone runs for you
              concord sync http://127.0.0.1:8080
              concord sync https://relay.example.org --watch
              concord sync peer://192.168.1.20:7420
              concord sync --lan --watch
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: ArgumentHelp("The relay's base URL (http:// or https://) or a peer (peer://HOST:PORT).", valueName: "URL")) var url:
        String?
    @Flag(help: "Keep syncing live until SIGINT/SIGTERM, printing status changes.") var watch = false
    @Flag(help: "Sync with the members found on the local network (mDNS).") var lan = false
    @Option(help: "With --lan: seconds to look for members before syncing (one round).") var timeout: Double = 3
    @Option(help: "With --lan --watch: the port to accept peers on (0: any free port).") var port: Int = 0
    @Option(help: "Tries for one round when the relay is unreachable or busy.") var attempts = 5

    /// The peer endpoint, if the URL is one.
    var peerEndpoint: PeerEndpoint? {
        guard let url, url.hasPrefix(PeerEndpoint.scheme + "://") else { return nil }
        return PeerEndpoint(url)
    }

    /// The relay URL, if the URL is one.
    var relayURL: URL? {
        guard let url, peerEndpoint == nil, let relay = URL(string: url), ["http", "https"].contains(relay.scheme ?? ""), relay.host != nil
        else { return nil }
        return relay
    }

    func validate() throws {
        if let url, peerEndpoint == nil, relayURL == nil {
            if url.hasPrefix(PeerEndpoint.scheme + "://") {
                throw ValidationError("\(url) is not a peer address; write peer://HOST:PORT, for example peer://192.168.1.20:7420")
            }
            throw ValidationError(
                "\(url) is not a relay URL or a peer address; give a relay's base (http://127.0.0.1:8080) or peer://HOST:PORT")
        }
        if url == nil && !lan { throw ValidationError("give a relay URL, a peer (peer://HOST:PORT), or --lan") }
        if peerEndpoint != nil && lan { throw ValidationError("give either a peer address or --lan, not both") }
        if attempts < 1 { throw ValidationError("--attempts must be at least 1") }
        if timeout <= 0 { throw ValidationError("--timeout must be positive") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
    }

    func run() async throws {
        let replica = try options.open()
        let engine: SyncEngine
        if peerEndpoint == nil && !lan, let relayURL {
            engine = SyncEngine(replica: replica, relay: relayURL)
        } else {
            var peering = SyncEngine.Peering(endpoints: peerEndpoint.map { [$0] } ?? [], discover: lan, discoveryTimeout: timeout)
            if lan && watch { peering.listenPort = port }
            engine = try SyncEngine(replica: replica, relay: relayURL, peering: peering)
        }
        if watch {
            try await watchLive(engine)
            return
        }
        var attempt = 0
        while true {
            do {
                let summary = try await engine.syncNow()
                if lan && summary.peers.isEmpty && summary.peerFailures.isEmpty && relayURL == nil {
                    throw CLIFailure(
                        message:
                            "no member of this space was found on the local network within \(timeout) s; check that another device runs `concord peer serve` or `concord sync --lan --watch` on the same network, or raise --timeout"
                    )
                }
                print(summary)
                // A bundle past its author's cut-off (removed, or continued by a successor) is
                // ignored on every member by design: said, but not an error of the input.
                let isCut: (ConcordError) -> Bool = { $0.code == .removed }
                let rejected =
                    summary.pulled.rejected.filter { !isCut($0.error) }.count
                    + summary.peers.reduce(0) { $0 + $1.received.rejected.filter { !isCut($0.error) }.count }
                Output.warnVoided(summary.pulled.voided + summary.peers.flatMap(\.received.voided))
                if summary.ownBundlesFromElsewhere > 0 {
                    Output.error(
                        "concord: warning: the relay held \(summary.ownBundlesFromElsewhere) change\(summary.ownBundlesFromElsewhere == 1 ? "" : "s") of this device that this store did not have: it was restored from a backup, or a copy of it is in use elsewhere. Nothing was lost: this store's new writes follow them. If a copy is in use, run `concord recover` on one of the two, so that each device has an identity of its own"
                    )
                }
                let me = replica.membership.device.publicKey
                for place in Set(summary.pulled.forkedPlaces) where place.author != me {
                    Output.error(
                        "concord: device \(place.author.hex.prefix(8)) wrote two different versions of its change \(place.sequence) (a copied or restored store); this device follows the relay's version"
                    )
                }
                // This device's own problems explain refused bundles (a clock behind makes
                // every newer change look "from the future"): say that once, in dates.
                if let status = Output.reportProblems(summary.problems) { throw ExitCode(status) }
                if replica.membership.isMemberFormat, try await replica.whoami()?.retired != nil {
                    Output.error(
                        "concord: a copy of this store continued this device under a new identity (its successor op reached this device); "
                            + "this copy's later writes are ignored by every member until you run `concord recover` here, which re-issues them")
                    throw ExitCode(Exit.attention)
                }
                for rejection in summary.pulled.rejected {
                    let verb = isCut(rejection.error) ? "ignored" : "rejected"
                    Output.error("concord: pulled bundle \(rejection.index + 1) \(verb): \(rejection.error.message)")
                }
                for failure in summary.peerFailures { Output.error("concord: \(failure)") }
                if rejected > 0 { throw ExitCode(Exit.rejected) }
                if !summary.peerFailures.isEmpty { throw ExitCode(Exit.failure) }
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
        let signal = try await runUntilSignal(engine, storePath: options.path) {
            if let port = await waitForListeningPort(engine) { writeLine("listening on peer://0.0.0.0:\(port)") }
        }
        writeLine("stopped (signal \(signal)); \(await engine.feedBundlesReceived) bundles received live")
    }

    /// A sync error as the CLI's failure: refusals that repeating cannot fix are exit 2;
    /// this device's own clock or forked history is exit 5.
    static func failure(_ error: ConcordSyncError) -> CLIFailure {
        if error.code == .needsAttention { return CLIFailure(message: error.message, status: Exit.attention) }
        // Membership said no: the relay or a peer refused this device, or this device refused
        // the peer (a removed member).
        if error.relayCode == "removed" || error.code == .peerRefused {
            return CLIFailure(message: error.message, status: Exit.notAllowed)
        }
        let refused = error.code == .relayRefused && !error.isTransient && [403, 409, 422].contains(error.httpStatus ?? 0)
        return CLIFailure(message: error.message, status: refused ? Exit.rejected : Exit.failure)
    }
}

/// The engine's peer port once it listens (waits up to 60 s), `nil` if it does not listen.
func waitForListeningPort(_ engine: SyncEngine) async -> Int? {
    guard let peers = engine.peers, engine.peering?.listenPort != nil else { return nil }
    for _ in 0..<1200 {
        if let port = await peers.listeningPort { return port }
        if case .error(let message)? = await engine.linkStatuses["listen"] {
            Output.error("concord: " + message)
            return nil
        }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return nil
}

/// How LAN discovery's start ended, as ``waitForDiscovery(_:)`` saw it.
enum DiscoveryStart {
    case started(instanceName: String)
    case failed(String)
    case timedOut
}

/// Waits (up to 60 s) until `engine` has started LAN discovery, or reported why it could not.
func waitForDiscovery(_ engine: SyncEngine) async -> DiscoveryStart {
    for _ in 0..<1200 {
        if let discovery = await engine.discovery { return .started(instanceName: await discovery.instanceName) }
        for link in ["listen", "discovery"] {
            if case .error(let message)? = await engine.linkStatuses[link] { return .failed(message) }
        }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return .timedOut
}

/// Runs `engine` live until SIGINT or SIGTERM: prints each change of status kind (and of
/// the set of connected peers), and seals writes other `concord` commands make on the
/// store so the engine sends them.
@discardableResult
func runUntilSignal(_ engine: SyncEngine, storePath: String, started: () async -> Void = {}) async throws -> Int32 {
    // swift-service-lifecycle's signal sequence: the signals are trapped from here on (they
    // no longer terminate the process) and delivered in order.
    let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
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
    let peerWatcher = Task {
        guard let peers = engine.peers else { return }
        var last: Set<PublicKey> = []
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(200))
            let now = Set(await peers.connectedPeers)
            for peer in now.subtracting(last).sorted() { writeLine("connected peer \(peer.hex.prefix(8))") }
            for peer in last.subtracting(now).sorted() { writeLine("disconnected peer \(peer.hex.prefix(8))") }
            last = now
        }
    }
    await started()
    // Writes of other `concord` commands on this store wait in its pending queue: the
    // engine's replica seals them from there (sealing reads the store), then the engine
    // sends the sealed bundles. Bundles other commands sealed themselves (`remove-member`,
    // `import`) show as a changed version vector: the engine is told too.
    let sealer = Task {
        var known = try? await engine.replica.versionVector()
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(250))
            if let pending = try? await engine.replica.status().pendingOperations, pending > 0 {
                _ = try? await engine.replica.seal()
                engine.signal.notify()
            }
            let now = try? await engine.replica.versionVector()
            if now != known {
                known = now
                engine.signal.notify()
            }
        }
    }
    var signal: Int32 = 0
    for await received in signals {
        signal = received.rawValue
        break
    }
    sealer.cancel()
    peerWatcher.cancel()
    await engine.stop()
    printer.cancel()
    return signal
}

/// Writes a line to stdout at once (unbuffered: tests and scripts wait for it).
func writeLine(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
