import ArgumentParser
import Concord
import ConcordRelay
import Foundation
import Logging
import ServiceLifecycle

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
              concord relay serve --host 0.0.0.0 --port 8080 --data /var/lib/concord --allow-space 7f3a…
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
            On SIGINT or SIGTERM it stops accepting, ends the live feeds, finishes the \
            requests in flight (at most --shutdown-grace seconds) and closes the database. \
            Logs go to stderr.

            Which spaces: on a loopback address (the default --host 127.0.0.1) the relay \
            serves any space. On any other address you choose: --allow-space HEX \
            (repeatable) or --allow-spaces-file PATH serve only those spaces; --open \
            serves any space, at most --max-spaces of them, each client address starting \
            at most --new-spaces-per-hour. Every limit is in Specs/relay-api.md §6.

            Behind a reverse proxy or under a DNS name, give --public-url with the URL \
            clients use (a session is signed for one relay's URL), and --client-ip-header \
            with the header the proxy sets to the client's address.

            Examples:
              concord relay serve --port 8080
              concord relay serve --port 0 --db sqlite:/tmp/relay.sqlite
              concord relay serve --host 0.0.0.0 --port 8080 --allow-spaces-file /etc/concord/spaces
              concord relay serve --host 127.0.0.1 --port 8080 --public-url https://relay.example.org \\
                  --client-ip-header X-Forwarded-For --open --db postgres://concord@db/concord
              concord sync http://127.0.0.1:8080      # on each device
            """
    )
    @Option(help: "The address to bind.") var host = "127.0.0.1"
    @Option(help: "The TCP port (0: any free port).") var port = 8080
    @Option(help: ArgumentHelp("sqlite:PATH or postgres://… (default: sqlite:relay.sqlite in --data).", valueName: "SPEC")) var db: String?
    @Option(help: ArgumentHelp("Directory of the default SQLite database (default: current directory).", valueName: "DIR")) var data:
        String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"

    @Option(
        name: .customLong("allow-space"),
        help: ArgumentHelp("Serve this space (64 hex characters); repeat for more. Others are refused with 403.", valueName: "HEX"))
    var allowSpaces: [String] = []
    @Option(help: ArgumentHelp("Serve the spaces listed in this file, one id per line (# starts a comment).", valueName: "PATH"))
    var allowSpacesFile: String?
    @Flag(help: "Serve any space (the default on a loopback --host), bounded by --max-spaces and --new-spaces-per-hour.")
    var open = false
    @Option(help: "Open mode: the most spaces the relay holds.") var maxSpaces = RelayConfiguration().maxSpaces
    @Option(help: ArgumentHelp("Open mode: new spaces one client address may start per hour.", valueName: "N"))
    var newSpacesPerHour = RelayConfiguration().newSpacesPerClientPerHour

    @Option(
        name: .customLong("public-url"),
        help: ArgumentHelp(
            "A URL clients reach this relay under (https://relay.example.org); repeatable. Its local addresses at --port are always accepted.",
            valueName: "URL"))
    var publicURLs: [String] = []
    @Option(
        help: ArgumentHelp(
            "Header a trusted reverse proxy sets to the client's address (X-Forwarded-For, X-Real-IP); per-client limits then use it and --max-connections-per-client is off.",
            valueName: "NAME"))
    var clientIPHeader: String?

    @Option(help: "The most devices (authors) whose bundles one space may hold.") var maxAuthorsPerSpace = RelayConfiguration()
        .maxAuthorsPerSpace
    @Option(help: ArgumentHelp("Request body bytes held in memory at once over all requests; beyond, 503 busy.", valueName: "BYTES"))
    var maxInflightBytes = RelayConfiguration().maxInFlightBodyBytes
    @Option(help: "Connections one client address may hold open (0: no limit).") var maxConnectionsPerClient = RelayConfiguration()
        .maxConnectionsPerClient
    @Option(help: "Unused challenges one client address may hold.") var maxChallengesPerClient = RelayConfiguration().maxChallengesPerClient
    @Option(help: "Unused challenges one space may have.") var maxChallengesPerSpace = RelayConfiguration().maxChallengesPerSpace
    @Option(help: ArgumentHelp("Challenge and session requests per second per client address.", valueName: "RATE"))
    var authRequestsPerSecond = RelayConfiguration().authRequestsPerSecond
    @Option(help: ArgumentHelp("Seconds a connection may wait for a complete request head; then 408 and closed.", valueName: "SECONDS"))
    var idleTimeout = RelayConfiguration().idleTimeout
    @Option(help: ArgumentHelp("Seconds a request body may take to arrive; then 408 and closed.", valueName: "SECONDS"))
    var requestTimeout = RelayConfiguration().requestTimeout
    @Option(help: ArgumentHelp("Seconds a stopping relay lets requests in flight finish.", valueName: "SECONDS"))
    var shutdownGrace = RelayConfiguration().shutdownGracePeriod
    @Option(
        help: ArgumentHelp(
            "How long data bundles covered by the space's latest snapshot are kept (30d, 12h, 0: drop at once, forever).",
            valueName: "PERIOD"))
    var retention = RelayConfiguration().retention.description
    @Option(help: ArgumentHelp("Seconds between retention passes that pushes start (uploads run one at once).", valueName: "SECONDS"))
    var retentionInterval = RelayConfiguration().retentionPassInterval

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        if open && (!allowSpaces.isEmpty || allowSpacesFile != nil) {
            throw ValidationError("--open serves any space; leave out --allow-space and --allow-spaces-file, or --open")
        }
        for (name, value) in [
            ("--max-spaces", maxSpaces), ("--max-authors-per-space", maxAuthorsPerSpace), ("--max-inflight-bytes", maxInflightBytes),
        ]
        where value < 1 {
            throw ValidationError("\(name) must be at least 1")
        }
        guard maxConnectionsPerClient >= 0 else { throw ValidationError("--max-connections-per-client must be 0 (no limit) or more") }
        guard idleTimeout > 0, requestTimeout > 0, shutdownGrace >= 0 else {
            throw ValidationError("--idle-timeout and --request-timeout must be positive, --shutdown-grace at least 0")
        }
        do {
            _ = try RetentionPeriod(parsing: retention)
        } catch let error as RelayError {
            throw ValidationError("--retention: \(error.message)")
        }
        guard retentionInterval >= 0 else { throw ValidationError("--retention-interval must be at least 0") }
    }

    func run() async throws {
        var logger = Logger(label: "concord.relay", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let configuration = try relayConfiguration()
        let spec = db ?? "sqlite:" + ((data.map { $0.hasSuffix("/") ? $0 : $0 + "/" } ?? "./") + "relay.sqlite")
        if let data { try? FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true) }
        let storage = try await openRelayStorage(spec, logger: logger)
        let server = RelayServer(configuration: configuration, storage: storage, logger: logger)
        let host = self.host
        // Stopped in reverse order: the relay first (graceful, at most the grace period),
        // then the storage is closed. A relay or storage that does not stop within the
        // limits below ends the process.
        var group = ServiceGroupConfiguration(
            services: [
                .init(
                    service: ClosureService {
                        try? await gracefulShutdown()
                        await storage.close()
                    }),
                .init(
                    service: ClosureService {
                        try await server.run { port in writeLine("listening on http://\(host):\(port)") }
                    }),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        group.maximumGracefulShutdownDuration = .seconds(configuration.shutdownGracePeriod + 10)
        group.maximumCancellationDuration = .seconds(10)
        do {
            try await ServiceGroup(configuration: group).run()
        } catch {
            throw CLIFailure(message: "the relay stopped: \(error); check that \(host):\(port) is free and the database is reachable")
        }
        Output.error("concord: relay stopped")
    }

    /// The relay's configuration from the options; which spaces it serves is decided here.
    func relayConfiguration() throws -> RelayConfiguration {
        var configuration = RelayConfiguration(host: host, port: port)
        var allowed = Set<SpaceID>()
        for text in allowSpaces {
            guard let id = try? SpaceID(hex: text.lowercased()) else {
                throw CLIFailure(message: "--allow-space \(text) is not a space id (64 hex characters)")
            }
            allowed.insert(id)
        }
        if let allowSpacesFile {
            let text: String
            do {
                text = try String(contentsOfFile: allowSpacesFile, encoding: .utf8)
            } catch {
                throw CLIFailure(message: "cannot read --allow-spaces-file \(allowSpacesFile): \(error.localizedDescription)")
            }
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let entry =
                    line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first?.trimmingCharacters(in: .whitespaces)
                    ?? ""
                guard !entry.isEmpty else { continue }
                guard let id = try? SpaceID(hex: entry.lowercased()) else {
                    throw CLIFailure(message: "\(allowSpacesFile):\(number + 1): \(entry.prefix(20)) is not a space id (64 hex characters)")
                }
                allowed.insert(id)
            }
        }
        if !allowed.isEmpty || allowSpacesFile != nil {
            configuration.spaces = .only(allowed)
        } else if !open && !Self.isLoopback(host) {
            throw CLIFailure(
                message: """
                    a relay on \(host) is reachable by others: say which spaces it serves with --allow-space HEX \
                    (or --allow-spaces-file PATH), or serve any space with --open (bounded by --max-spaces and --new-spaces-per-hour)
                    """)
        }
        configuration.maxSpaces = maxSpaces
        configuration.newSpacesPerClientPerHour = newSpacesPerHour
        configuration.publicOrigins = publicURLs
        configuration.clientAddressHeader = clientIPHeader
        configuration.maxAuthorsPerSpace = maxAuthorsPerSpace
        configuration.maxInFlightBodyBytes = maxInflightBytes
        configuration.maxConnectionsPerClient = maxConnectionsPerClient
        configuration.maxChallengesPerClient = maxChallengesPerClient
        configuration.maxChallengesPerSpace = maxChallengesPerSpace
        configuration.authRequestsPerSecond = authRequestsPerSecond
        configuration.idleTimeout = idleTimeout
        configuration.requestTimeout = requestTimeout
        configuration.shutdownGracePeriod = shutdownGrace
        configuration.retention = try RetentionPeriod(parsing: retention)
        configuration.retentionPassInterval = retentionInterval
        return configuration
    }

    /// Whether `host` is a loopback address (only this machine can connect).
    static func isLoopback(_ host: String) -> Bool {
        let host = host.lowercased()
        return host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
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
            throw CLIFailure(
                message:
                    "cannot open the relay database: \(error); check that PostgreSQL is running and the URL's user, password and database are right"
            )
        }
    }
    throw CLIFailure(message: "\(spec) is not a database spec; use sqlite:PATH or postgres://USER@HOST/DB")
}
