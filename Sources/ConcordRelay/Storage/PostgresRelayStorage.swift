import ConcordCore
import ConcordProtocol
import ConcordCrypto
import Foundation
import Logging
import PostgresNIO

/// Relay storage in PostgreSQL, for several relay processes sharing one database
/// (`Specs/relay-api.md` §7).
///
/// Bundles live in the `bundles` table (`position BIGSERIAL`, `UNIQUE (space, author,
/// seq)`); the schema is created on first start, under an advisory lock so relays that
/// start together do not race. Every append runs in one transaction that holds a
/// per-space advisory lock: chains and quota are checked against committed rows, so two
/// relays racing on the same author settle as duplicate or fork and never store both.
/// Each stored bundle is announced with `NOTIFY concord_bundles, '<space hex>:<position>'`
/// inside the transaction; ``notices()`` streams them (from every relay, this one
/// included) over one `LISTEN` connection per storage instance.
///
/// ```swift
/// let storage = try await PostgresRelayStorage(url: "postgres://relay:secret@db:5432/concord", logger: logger)
/// let summary = try await storage.append(bundles, to: space, limits: SpaceLimits(quotaBytes: 1 << 30, maxAuthors: 10_000))
/// ```
public final class PostgresRelayStorage: RelayStorage {
    /// `"postgres"`.
    public let backendName = "postgres"

    /// The `NOTIFY` channel every relay sharing the database listens on.
    public static let notifyChannel = "concord_bundles"

    /// The schema version this build creates and understands.
    static let schemaVersion = 5

    /// Appends: each holds a connection for one statement, waiting there on its space's lock.
    let client: PostgresClient
    /// Everything else (the feed's reads, pulls, vectors): a pool of its own, so that a
    /// read never queues behind pushes that wait on a space lock with a connection each.
    let readClient: PostgresClient
    private let connectionConfiguration: PostgresConnection.Configuration
    let logger: Logger
    private let runTask: Task<Void, Never>
    private let hub: NoticeHub
    /// The bundles this process stored last, so the feed reads its own pushes without a query.
    private let recent = RecentBundles(maxCount: 4_096, maxBytes: 32 << 20)
    /// How many stored bundles ``bundle(at:)`` answers from memory now (tests).
    var recentlyStoredCount: Int { recent.count }

    /// Connects to the database at `url` and creates (or upgrades) the schema.
    ///
    /// - Parameters:
    ///   - url: `postgres://user:password@host:port/database` (or `postgresql://`); an
    ///     optional `?sslmode=disable|prefer|require` (default `prefer`).
    ///   - logger: Where connection problems and refusals are logged.
    ///   - maximumConnections: The size of the pool appends use (one connection per push
    ///     in flight, held while it waits on its space's lock).
    ///   - readConnections: The size of the separate pool for reads (the live feed, pulls,
    ///     vectors), plus one `LISTEN` connection once ``notices()`` is called.
    /// - Throws: ``RelayError`` ``RelayError/Code/configuration`` for a malformed URL,
    ///   ``RelayError/Code/storage`` for a schema newer than this build; the driver's error when the database cannot be reached.
    public init(url: String, logger: Logger, maximumConnections: Int = 10, readConnections: Int = 4) async throws {
        let parsed = try PostgresURL(url)
        func makeClient(_ size: Int) -> PostgresClient {
            var options = PostgresClient.Configuration.Options()
            options.maximumConnections = max(1, size)
            var configuration = PostgresClient.Configuration(
                host: parsed.host, port: parsed.port, username: parsed.user, password: parsed.password,
                database: parsed.database, tls: parsed.clientTLS())
            configuration.options = options
            return PostgresClient(configuration: configuration, backgroundLogger: logger)
        }
        let client = makeClient(maximumConnections)
        let readClient = makeClient(readConnections)
        self.client = client
        self.readClient = readClient
        self.connectionConfiguration = PostgresConnection.Configuration(
            host: parsed.host, port: parsed.port, username: parsed.user, password: parsed.password,
            database: parsed.database, tls: try parsed.connectionTLS())
        self.logger = logger
        self.runTask = Task {
            await withDiscardingTaskGroup { group in
                group.addTask { await client.run() }
                group.addTask { await readClient.run() }
            }
        }
        self.hub = NoticeHub()
        do {
            try await migrate()
        } catch {
            runTask.cancel()
            await runTask.value
            throw error
        }
        logger.info(
            "PostgreSQL relay storage ready", metadata: ["host": "\(parsed.host):\(parsed.port)", "database": "\(parsed.database)"])
    }

    // MARK: Schema

    /// Creates the tables once; concurrent starts serialize on an advisory lock. Runs on
    /// a connection of its own, so it does not race the pool's start.
    private func migrate() async throws {
        let logger = self.logger
        let connection = try await PostgresConnection.connect(configuration: connectionConfiguration, id: 0, logger: logger)
        do {
            try await Self.inTransaction(connection, logger: logger) { connection in
                try await Self.run("SELECT pg_advisory_xact_lock(\(Self.lockNamespace), 0)", on: connection, logger: logger)
                try await Self.run(
                    "CREATE TABLE IF NOT EXISTS concord_relay_schema (version INTEGER NOT NULL PRIMARY KEY)", on: connection, logger: logger
                )
                var current = 0
                for try await version in try await connection.query(
                    "SELECT COALESCE(MAX(version), 0) FROM concord_relay_schema", logger: logger
                ).decode(Int.self) {
                    current = version
                }
                guard current <= Self.schemaVersion else {
                    throw RelayError.storage(
                        "the database holds relay schema version \(current), newer than this relay's \(Self.schemaVersion); upgrade the relay"
                    )
                }
                if current < 1 {
                    try await Self.run(
                        """
                        CREATE TABLE IF NOT EXISTS bundles (
                            position BIGSERIAL PRIMARY KEY,
                            space    BYTEA  NOT NULL,
                            author   BYTEA  NOT NULL,
                            seq      BIGINT NOT NULL CHECK (seq >= 1),
                            id       BYTEA  NOT NULL,
                            previous BYTEA  NOT NULL,
                            bytes    BYTEA  NOT NULL,
                            UNIQUE (space, author, seq)
                        )
                        """, on: connection, logger: logger)
                    try await Self.run(
                        "CREATE INDEX IF NOT EXISTS bundles_space_position ON bundles (space, position)", on: connection, logger: logger)
                    try await Self.run(
                        """
                        CREATE TABLE IF NOT EXISTS space_usage (
                            space BYTEA  NOT NULL PRIMARY KEY,
                            bytes BIGINT NOT NULL
                        )
                        """, on: connection, logger: logger)
                    try await Self.run("INSERT INTO concord_relay_schema (version) VALUES (1)", on: connection, logger: logger)
                    logger.info("created the relay schema (version 1)")
                }
                if current < 2 {
                    // Authors per space and their heads: vectors and pulls in time linear in
                    // a space's authors, and the author limit without a scan.
                    try await Self.run(
                        """
                        CREATE TABLE IF NOT EXISTS heads (
                            space  BYTEA  NOT NULL,
                            author BYTEA  NOT NULL,
                            seq    BIGINT NOT NULL,
                            PRIMARY KEY (space, author)
                        )
                        """, on: connection, logger: logger)
                    try await Self.run(
                        """
                        INSERT INTO heads (space, author, seq) SELECT space, author, MAX(seq) FROM bundles GROUP BY space, author
                        ON CONFLICT (space, author) DO UPDATE SET seq = EXCLUDED.seq
                        """, on: connection, logger: logger)
                    try await Self.run(
                        "ALTER TABLE space_usage ADD COLUMN IF NOT EXISTS authors BIGINT NOT NULL DEFAULT 0", on: connection, logger: logger)
                    try await Self.run(
                        "UPDATE space_usage u SET authors = (SELECT COUNT(*) FROM heads h WHERE h.space = u.space)", on: connection, logger: logger)
                    try await Self.run("INSERT INTO concord_relay_schema (version) VALUES (2)", on: connection, logger: logger)
                    logger.info("migrated the relay schema to version 2 (heads, authors per space)")
                }
                if current < 3 {
                    // Appends in one statement: the chain checks, limits, insert and NOTIFY
                    // of a push run server-side, one round trip instead of about eight.
                    try await Self.run(PostgresQuery(unsafeSQL: Self.appendFunction), on: connection, logger: logger)
                    try await Self.run("INSERT INTO concord_relay_schema (version) VALUES (3)", on: connection, logger: logger)
                    logger.info("migrated the relay schema to version 3 (concord_append)")
                }
                if current < 4 {
                    // Snapshots (`relay-snapshots`): the latest of each space and the one it
                    // replaced, with their chunks; their bytes count in `space_usage.bytes`.
                    try await Self.run(
                        """
                        CREATE TABLE IF NOT EXISTS snapshots (
                            space       BYTEA   NOT NULL,
                            id          BYTEA   NOT NULL,
                            latest      BOOLEAN NOT NULL,
                            vector      BYTEA   NOT NULL,
                            made_at     BIGINT  NOT NULL,
                            manifest    BYTEA   NOT NULL,
                            chunk_count INTEGER NOT NULL,
                            bytes       BIGINT  NOT NULL,
                            PRIMARY KEY (space, id)
                        )
                        """, on: connection, logger: logger)
                    try await Self.run(
                        """
                        CREATE TABLE IF NOT EXISTS snapshot_chunks (
                            space BYTEA   NOT NULL,
                            id    BYTEA   NOT NULL,
                            idx   INTEGER NOT NULL,
                            bytes BYTEA   NOT NULL,
                            PRIMARY KEY (space, id, idx)
                        )
                        """, on: connection, logger: logger)
                    try await Self.run("INSERT INTO concord_relay_schema (version) VALUES (4)", on: connection, logger: logger)
                    logger.info("migrated the relay schema to version 4 (relay-snapshots)")
                }
                if current < 5 {
                    // Retention (`relay-retention`): each row's kind and `hlc max` (NULL
                    // until a retention pass reads the row: `concord_append` is unchanged),
                    // whether its bytes were dropped, and each author's floor.
                    try await Self.run(
                        """
                        ALTER TABLE bundles ADD COLUMN IF NOT EXISTS kind SMALLINT,
                            ADD COLUMN IF NOT EXISTS hlc_max BIGINT,
                            ADD COLUMN IF NOT EXISTS dropped BOOLEAN NOT NULL DEFAULT FALSE
                        """, on: connection, logger: logger)
                    try await Self.run(
                        """
                        CREATE TABLE IF NOT EXISTS bundle_floors (
                            space  BYTEA  NOT NULL,
                            author BYTEA  NOT NULL,
                            seq    BIGINT NOT NULL,
                            PRIMARY KEY (space, author)
                        )
                        """, on: connection, logger: logger)
                    try await Self.run("INSERT INTO concord_relay_schema (version) VALUES (5)", on: connection, logger: logger)
                    logger.info("migrated the relay schema to version 5 (relay-retention)")
                }
            }
        } catch {
            try? await connection.close()
            throw error
        }
        try? await connection.close()
    }

    /// The first key of the two-key advisory locks this storage takes for schema changes
    /// (`'CNCD'`); per-space locks use the one-key form, a separate key space.
    static let lockNamespace: Int32 = 0x434E_4344

    /// The advisory lock key of a space: its first 8 bytes.
    static func lockKey(_ spaceID: SpaceID) -> Int64 {
        Int64(bitPattern: spaceID.bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
    }

    // MARK: Append

    /// See ``RelayStorage/append(_:to:limits:)``.
    public func append(_ bundles: [ChangeBundle], to spaceID: SpaceID, limits: SpaceLimits) async throws -> AppendSummary {
        guard !bundles.isEmpty else { return AppendSummary() }
        if let stranger = bundles.first(where: { $0.spaceID != spaceID }) {
            throw RelayError.storage(
                "\(stranger) does not belong to space \(spaceID.shortDescription); verify bundles before storing them")
        }
        let logger = self.logger
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await Self.appendOnce(bundles, to: spaceID, limits: limits, client: client, recent: recent, logger: logger)
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" && attempt < 3 {
                // Another writer that does not take the space lock stored the same
                // (space, author, seq) first; checking again settles it as duplicate or fork.
                logger.debug("unique violation while appending; checking chains again", metadata: ["space": "\(spaceID.shortDescription)"])
            }
        }
    }

    /// The append itself, one statement under the space lock: `concord_append` (schema
    /// version 3, ``appendFunction``) checks chains and limits, inserts, moves heads and
    /// usage and notifies, and answers one row: `ok` with the stored positions, or the
    /// refusal and what it names. Nothing is stored when it refuses.
    private static func appendOnce(
        _ bundles: [ChangeBundle], to spaceID: SpaceID, limits: SpaceLimits, client: PostgresClient, recent: RecentBundles, logger: Logger
    ) async throws -> AppendSummary {
        let rows = try await client.query(
            """
            SELECT outcome, positions, ids, duplicates, author, seq, stored, pushed, used, adding FROM concord_append(
                \(ByteBuffer(bytes: spaceID.bytes)), \(lockKey(spaceID)),
                \(bundles.map { ByteBuffer(bytes: $0.author.bytes) })::bytea[],
                \(bundles.map { Int64(clamping: $0.sequence) })::int8[],
                \(bundles.map { ByteBuffer(bytes: $0.id.bytes) })::bytea[],
                \(bundles.map { ByteBuffer(bytes: $0.previous.bytes) })::bytea[],
                \(bundles.map { ByteBuffer(bytes: $0.bytes) })::bytea[],
                \(limits.quotaBytes), \(Int64(clamping: limits.maxAuthors)), \(limits.maxSpaces.map { Int64(clamping: $0) })::int8,
                \(notifyChannel), \(spaceID.hex + ":"))
            """, logger: logger)
        typealias Answer = (String, [Int64]?, [ByteBuffer]?, Int64, ByteBuffer?, Int64?, ByteBuffer?, ByteBuffer?, Int64?, Int64?)
        var answer: Answer?
        for try await row in rows.decode(Answer.self) { answer = row }
        guard let (outcome, positions, ids, duplicates, author, seq, stored, pushed, used, adding) = answer else {
            throw RelayError.storage("concord_append answered no row")
        }
        func key() throws -> PublicKey { try PublicKey(bytes: (author ?? ByteBuffer()).readableBytesView) }
        switch outcome {
        case "ok":
            var summary = AppendSummary()
            summary.storedPositions = positions ?? []
            summary.duplicates = Int(duplicates)
            // The stored bundles by position, for the feed (``bundle(at:)``) to read without a query.
            let byID = Dictionary(bundles.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            for (position, id) in zip(summary.storedPositions, ids ?? []) {
                guard let bundle = byID[try bundleID(id)] else { continue }
                recent.insert(
                    StoredBundle(
                        position: position, spaceID: spaceID, author: bundle.author, sequence: bundle.sequence, id: bundle.id,
                        previous: bundle.previous, bytes: bundle.bytes))
            }
            logger.debug(
                "stored bundles",
                metadata: ["space": "\(spaceID.shortDescription)", "stored": "\(summary.stored)", "duplicates": "\(summary.duplicates)"])
            return summary
        case "fork":
            let author = try key()
            let (stored, pushed) = (try bundleID(stored ?? ByteBuffer()), try bundleID(pushed ?? ByteBuffer()))
            logger.notice(
                "refused a fork",
                metadata: [
                    "space": "\(spaceID.shortDescription)", "author": "\(author.hex.prefix(8))", "sequence": "\(seq ?? 0)",
                    "stored": "\(stored.hex)", "pushed": "\(pushed.hex)",
                ])
            throw RelayError.fork(author: author, sequence: UInt64(seq ?? 0), stored: stored, pushed: pushed)
        case "gap":
            throw RelayError.missingPredecessor(author: try key(), needed: UInt64(seq ?? 0), got: UInt64(used ?? 0))
        case "too-many-spaces":
            throw RelayError.tooManySpaces(limit: limits.maxSpaces ?? 0)
        case "too-many-authors":
            throw RelayError.tooManyAuthors(spaceID: spaceID, authors: Int(used ?? 0), adding: Int(adding ?? 0), limit: limits.maxAuthors)
        case "quota-exceeded":
            throw RelayError.quotaExceeded(spaceID: spaceID, used: used ?? 0, adding: adding ?? 0, quota: limits.quotaBytes)
        default:
            throw RelayError.storage("concord_append answered \(outcome)")
        }
    }

    // MARK: Reads

    /// See ``RelayStorage/vector(of:)``.
    public func vector(of spaceID: SpaceID) async throws -> VersionVector {
        VersionVector(Dictionary(uniqueKeysWithValues: try await heads(of: spaceID).map { ($0.author, $0.sequence) }))
    }

    /// Every head of the space.
    private func heads(of spaceID: SpaceID) async throws -> [AuthorHead] {
        let rows = try await readClient.query(
            "SELECT author, seq FROM heads WHERE space = \(ByteBuffer(bytes: spaceID.bytes))", logger: logger)
        var heads: [AuthorHead] = []
        for try await (author, seq) in rows.decode((ByteBuffer, Int64).self) {
            heads.append(AuthorHead(author: try PublicKey(bytes: author.readableBytesView), sequence: UInt64(seq)))
        }
        return heads
    }

    /// See ``RelayStorage/vectorPage(of:after:limit:)``.
    public func vectorPage(of spaceID: SpaceID, after: PublicKey?, limit: Int) async throws -> [AuthorHead] {
        let rows = try await readClient.query(
            """
            SELECT author, seq FROM heads WHERE space = \(ByteBuffer(bytes: spaceID.bytes)) AND author > \(ByteBuffer(bytes: after?.bytes ?? []))
            ORDER BY author LIMIT \(Int64(max(0, limit)))
            """, logger: logger)
        var heads: [AuthorHead] = []
        for try await (author, seq) in rows.decode((ByteBuffer, Int64).self) {
            heads.append(AuthorHead(author: try PublicKey(bytes: author.readableBytesView), sequence: UInt64(seq)))
        }
        return heads
    }

    /// See ``RelayStorage/pullStart(in:since:)``: the heads of the space, then one query
    /// over the first missing bundle of each author the client lacks bundles of.
    public func pullStart(in spaceID: SpaceID, since: VersionVector) async throws -> Int64? {
        let space = ByteBuffer(bytes: spaceID.bytes)
        var start: Int64?
        if since.entries.isEmpty {
            for try await position in try await readClient.query("SELECT MIN(position) FROM bundles WHERE space = \(space)", logger: logger).decode(
                Int64?.self)
            {
                start = position
            }
            return start.map { $0 - 1 }
        }
        let behind = try await heads(of: spaceID).filter { $0.sequence > since[$0.author] }
        guard !behind.isEmpty else { return nil }
        let rows = try await readClient.query(
            """
            SELECT MIN(b.position)
            FROM unnest(\(behind.map { ByteBuffer(bytes: $0.author.bytes) })::bytea[], \(behind.map { Int64(clamping: since[$0.author] + 1) })::int8[]) AS p(author, seq)
            JOIN bundles b ON b.space = \(space) AND b.author = p.author AND b.seq = p.seq
            """, logger: logger)
        for try await position in rows.decode(Int64?.self) { start = position }
        return start.map { $0 - 1 }
    }

    /// See ``RelayStorage/bundles(in:since:afterPosition:limit:)``: positions, authors and
    /// sequences first, looked up in `since`; then the bytes of the rows to send.
    public func bundles(in spaceID: SpaceID, since: VersionVector, afterPosition: Int64, limit: Int) async throws -> [StoredBundle] {
        guard limit > 0 else { return [] }
        let space = ByteBuffer(bytes: spaceID.bytes)
        let chunk = 4 * max(limit, 64)
        var result: [StoredBundle] = []
        var after = afterPosition
        while result.count < limit {
            let rows = try await readClient.query(
                "SELECT position, author, seq FROM bundles WHERE space = \(space) AND position > \(after) ORDER BY position LIMIT \(Int64(chunk))",
                logger: logger)
            var scanned = 0
            var last = after
            var wanted: [Int64] = []
            for try await (position, author, seq) in rows.decode((Int64, ByteBuffer, Int64).self) {
                scanned += 1
                last = position
                if result.count + wanted.count < limit, UInt64(seq) > since[try PublicKey(bytes: author.readableBytesView)] {
                    wanted.append(position)
                }
            }
            if !wanted.isEmpty {
                result += try await Self.storedBundles(
                    try await readClient.query(
                        "SELECT position, space, author, seq, id, previous, bytes FROM bundles WHERE position = ANY(\(wanted)::int8[]) ORDER BY position",
                        logger: logger))
            }
            guard scanned == chunk else { break }
            after = last
        }
        return result
    }

    /// See ``RelayStorage/bundle(at:)``.
    /// A bundle this process stored lately comes from memory, without a query.
    public func bundle(at position: Int64) async throws -> StoredBundle? {
        if let bundle = recent[position] { return bundle }
        let rows = try await readClient.query(
            "SELECT position, space, author, seq, id, previous, bytes FROM bundles WHERE position = \(position)", logger: logger)
        return try await Self.storedBundles(rows).first
    }

    /// See ``RelayStorage/usage(of:)``.
    public func usage(of spaceID: SpaceID) async throws -> Int64 {
        var used: Int64 = 0
        let rows = try await readClient.query(
            "SELECT bytes FROM space_usage WHERE space = \(ByteBuffer(bytes: spaceID.bytes))", logger: logger)
        for try await bytes in rows.decode(Int64.self) { used = bytes }
        return used
    }

    /// See ``RelayStorage/healthCheck()``.
    public func healthCheck() async throws {
        for try await _ in try await readClient.query("SELECT 1", logger: logger).decode(Int.self) {}
    }

    private static func storedBundles(_ rows: PostgresRowSequence) async throws -> [StoredBundle] {
        var result: [StoredBundle] = []
        for try await (position, space, author, seq, id, previous, bytes) in rows.decode(
            (Int64, ByteBuffer, ByteBuffer, Int64, ByteBuffer, ByteBuffer, ByteBuffer).self)
        {
            result.append(
                StoredBundle(
                    position: position, spaceID: try SpaceID(bytes: space.readableBytesView),
                    author: try PublicKey(bytes: author.readableBytesView), sequence: UInt64(seq),
                    id: try bundleID(id), previous: try bundleID(previous), bytes: Array(bytes.readableBytesView)))
        }
        return result
    }

    private static func bundleID(_ buffer: ByteBuffer) throws -> BundleID {
        BundleID(digest: try Digest32(bytes: Array(buffer.readableBytesView)))
    }

    /// Runs `query` and reads its rows to the end, so its errors surface here.
    static func run(_ query: PostgresQuery, on connection: PostgresConnection, logger: Logger) async throws {
        for try await _ in try await connection.query(query, logger: logger) {}
    }

    /// Runs `body` between `BEGIN` and `COMMIT` (`ROLLBACK` when it throws), rethrowing
    /// its error unchanged so a ``RelayError`` reaches the caller as is.
    static func inTransaction<Result: Sendable>(
        _ connection: PostgresConnection, logger: Logger, _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await run("BEGIN", on: connection, logger: logger)
        do {
            let result = try await body(connection)
            try await run("COMMIT", on: connection, logger: logger)
            return result
        } catch {
            try? await run("ROLLBACK", on: connection, logger: logger)
            throw error
        }
    }

    // MARK: Notices

    /// See ``RelayStorage/notices()``. The first call opens the `LISTEN` connection and
    /// returns once it listens; if that connection drops it is reopened (and logged), and
    /// bundles stored meanwhile are announced from the table so none is missed.
    public func notices() async throws -> AsyncStream<BundleNotice> {
        let configuration = connectionConfiguration
        let logger = self.logger
        let client = self.readClient
        return try await hub.subscribe { hub in
            Task { await Self.listen(configuration: configuration, client: client, hub: hub, logger: logger) }
        }
    }

    /// The `LISTEN` loop: connect, listen, fan out; reconnect with backoff until cancelled.
    private static func listen(configuration: PostgresConnection.Configuration, client: PostgresClient, hub: NoticeHub, logger: Logger)
        async
    {
        var connectionID = 0
        var delay = Duration.milliseconds(100)
        while !Task.isCancelled {
            connectionID += 1
            var connection: PostgresConnection?
            do {
                let opened = try await PostgresConnection.connect(configuration: configuration, id: connectionID, logger: logger)
                connection = opened
                try await opened.listen(on: notifyChannel) { notifications in
                    let wasReconnect = await hub.listening()
                    delay = .milliseconds(100)
                    if wasReconnect {
                        logger.notice("LISTEN \(notifyChannel) restored")
                        try await catchUp(client: client, hub: hub, logger: logger)
                    } else {
                        // The baseline for a catch-up after a future reconnect.
                        let rows = try await client.query("SELECT COALESCE(MAX(position), 0) FROM bundles", logger: logger)
                        for try await position in rows.decode(Int64.self) { await hub.advance(to: position) }
                    }
                    for try await notification in notifications {
                        if let notice = BundleNotice(payload: notification.payload) {
                            await hub.publish(notice)
                        } else {
                            logger.warning("ignored a malformed notification", metadata: ["payload": "\(notification.payload)"])
                        }
                    }
                }
                if !Task.isCancelled { logger.warning("the LISTEN connection closed; reconnecting") }
            } catch where !Task.isCancelled {
                logger.warning("the LISTEN connection failed; reconnecting", metadata: ["error": "\(String(reflecting: error))"])
                await hub.failed(error)
            } catch {
                // Cancelled: the relay is closing; fall through to close the connection.
            }
            // Always closed before it is released, cancelled or not: PostgresNIO asserts
            // that a connection is closed before deinit (a debug-build crash otherwise).
            if let connection { try? await connection.close() }
            if Task.isCancelled { break }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(5))
        }
    }

    /// How far below the highest position heard a catch-up looks. Positions are drawn
    /// when a transaction inserts and become visible when it commits, so a bundle can
    /// commit after one with a higher position was announced; if `LISTEN` was down at
    /// that moment, only a look below the highest position finds it. Positions are only
    /// ever this far out of order while that many pushes are in flight at once.
    static let catchUpMargin: Int64 = 4096

    /// After a reconnect: announces bundles stored while `LISTEN` was down: those above
    /// the highest position heard, and late commits up to ``catchUpMargin`` below it.
    /// The hub drops positions it announced already, so none is announced twice.
    private static func catchUp(client: PostgresClient, hub: NoticeHub, logger: Logger) async throws {
        guard let last = await hub.lastPosition else { return }
        let floor = max(0, last - catchUpMargin)
        let rows = try await client.query(
            "SELECT space, position FROM bundles WHERE position > \(floor) ORDER BY position LIMIT 100000", logger: logger)
        var count = 0
        for try await (space, position) in rows.decode((ByteBuffer, Int64).self) {
            if await hub.publish(BundleNotice(spaceID: try SpaceID(bytes: space.readableBytesView), position: position)) { count += 1 }
        }
        if count > 0 { logger.notice("announced bundles stored while LISTEN was down", metadata: ["count": "\(count)"]) }
    }

    /// See ``RelayStorage/close()``. Ends every notice stream and closes all connections.
    public func close() async {
        if let listener = await hub.close() { await listener.value }
        runTask.cancel()
        await runTask.value
    }
}
