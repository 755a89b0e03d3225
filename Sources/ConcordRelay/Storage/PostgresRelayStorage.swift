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
    static let schemaVersion = 2

    private let client: PostgresClient
    private let connectionConfiguration: PostgresConnection.Configuration
    private let logger: Logger
    private let runTask: Task<Void, Never>
    private let hub: NoticeHub

    /// Connects to the database at `url` and creates the schema if it is missing.
    ///
    /// - Parameters:
    ///   - url: `postgres://user:password@host:port/database` (or `postgresql://`); an
    ///     optional `?sslmode=disable|prefer|require` (default `prefer`).
    ///   - logger: Where connection problems and refusals are logged.
    ///   - maximumConnections: The size of the connection pool (plus one `LISTEN`
    ///     connection once ``notices()`` is called).
    /// - Throws: ``RelayError`` ``RelayError/Code/configuration`` for a malformed URL,
    ///   ``RelayError/Code/storage`` for a schema newer than this build; the driver's error when the database cannot be reached.
    public init(url: String, logger: Logger, maximumConnections: Int = 10) async throws {
        let parsed = try PostgresURL(url)
        var options = PostgresClient.Configuration.Options()
        options.maximumConnections = max(1, maximumConnections)
        var configuration = PostgresClient.Configuration(
            host: parsed.host, port: parsed.port, username: parsed.user, password: parsed.password,
            database: parsed.database, tls: parsed.clientTLS())
        configuration.options = options
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.connectionConfiguration = PostgresConnection.Configuration(
            host: parsed.host, port: parsed.port, username: parsed.user, password: parsed.password,
            database: parsed.database, tls: try parsed.connectionTLS())
        self.logger = logger
        self.runTask = Task { await client.run() }
        self.hub = NoticeHub()
        do {
            try await migrate()
        } catch {
            runTask.cancel()
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
                return try await client.withConnection { connection in
                    try await Self.inTransaction(connection, logger: logger) { connection in
                        try await Self.appendLocked(bundles, to: spaceID, limits: limits, on: connection, logger: logger)
                    }
                }
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" && attempt < 3 {
                // Another writer that does not take the space lock stored the same
                // (space, author, seq) first; checking again settles it as duplicate or fork.
                logger.debug("unique violation while appending; checking chains again", metadata: ["space": "\(spaceID.shortDescription)"])
            }
        }
    }

    /// The body of an append, inside its transaction.
    private static func appendLocked(
        _ bundles: [ChangeBundle], to spaceID: SpaceID, limits: SpaceLimits, on connection: PostgresConnection, logger: Logger
    ) async throws -> AppendSummary {
        let space = ByteBuffer(bytes: spaceID.bytes)
        try await run("SELECT pg_advisory_xact_lock(\(lockKey(spaceID)))", on: connection, logger: logger)

        // Heads of the authors named, and what is stored at the pushed (author, seq) pairs.
        var authors: [PublicKey] = []
        for bundle in bundles where !authors.contains(bundle.author) { authors.append(bundle.author) }
        var heads: [PublicKey: (sequence: UInt64, id: BundleID)] = [:]
        let headRows = try await connection.query(
            """
            SELECT a.author, h.seq, h.id
            FROM unnest(\(authors.map { ByteBuffer(bytes: $0.bytes) })::bytea[]) AS a(author)
            CROSS JOIN LATERAL (
                SELECT seq, id FROM bundles WHERE space = \(space) AND author = a.author ORDER BY seq DESC LIMIT 1
            ) h
            """, logger: logger)
        for try await (author, seq, id) in headRows.decode((ByteBuffer, Int64, ByteBuffer).self) {
            let key = try PublicKey(bytes: author.readableBytesView)
            heads[key] = (UInt64(seq), try bundleID(id))
        }
        struct Slot: Hashable {
            var author: PublicKey
            var sequence: UInt64
        }
        var occupied: [Slot: BundleID] = [:]
        let probes = bundles.filter { $0.sequence <= heads[$0.author]?.sequence ?? 0 }
        if !probes.isEmpty {
            let rows = try await connection.query(
                """
                SELECT b.author, b.seq, b.id
                FROM unnest(\(probes.map { ByteBuffer(bytes: $0.author.bytes) })::bytea[], \(probes.map { Int64($0.sequence) })::int8[]) AS p(author, seq)
                JOIN bundles b ON b.space = \(space) AND b.author = p.author AND b.seq = p.seq
                """, logger: logger)
            for try await (author, seq, id) in rows.decode((ByteBuffer, Int64, ByteBuffer).self) {
                let slot = Slot(author: try PublicKey(bytes: author.readableBytesView), sequence: UInt64(seq))
                occupied[slot] = try bundleID(id)
            }
        }

        // The chain checks of §4, in push order, against storage and the earlier bundles.
        var summary = AppendSummary()
        var accepted: [ChangeBundle] = []
        for bundle in bundles {
            let slot = Slot(author: bundle.author, sequence: bundle.sequence)
            if let stored = occupied[slot] {
                guard stored == bundle.id else {
                    logger.notice(
                        "refused a fork",
                        metadata: [
                            "space": "\(spaceID.shortDescription)", "author": "\(bundle.author.hex.prefix(8))",
                            "sequence": "\(bundle.sequence)", "stored": "\(stored.hex)", "pushed": "\(bundle.id.hex)",
                        ])
                    throw RelayError.fork(author: bundle.author, sequence: bundle.sequence, stored: stored, pushed: bundle.id)
                }
                summary.duplicates += 1
                continue
            }
            let head = heads[bundle.author] ?? (sequence: 0, id: BundleID.zero)
            if head.sequence > 0, bundle.sequence == head.sequence + 1, bundle.previous != head.id {
                // The next place, but after another bundle than the stored head: the author's
                // history forked at the head's place (a copied or restored store), not a gap
                // (relay-api §4, as `ChainCheck` for SQLite).
                logger.notice(
                    "refused a fork",
                    metadata: [
                        "space": "\(spaceID.shortDescription)", "author": "\(bundle.author.hex.prefix(8))",
                        "sequence": "\(head.sequence)", "stored": "\(head.id.hex)", "pushed": "\(bundle.previous.hex)",
                    ])
                throw RelayError.fork(author: bundle.author, sequence: head.sequence, stored: head.id, pushed: bundle.previous)
            }
            guard bundle.sequence == head.sequence + 1, bundle.previous == head.id else {
                throw RelayError.missingPredecessor(author: bundle.author, needed: head.sequence + 1, got: bundle.sequence)
            }
            heads[bundle.author] = (bundle.sequence, bundle.id)
            occupied[slot] = bundle.id
            accepted.append(bundle)
        }
        guard !accepted.isEmpty else { return summary }

        var used: (bytes: Int64, authors: Int)?
        for try await (bytes, authors) in try await connection.query(
            "SELECT bytes, authors FROM space_usage WHERE space = \(space)", logger: logger
        ).decode((Int64, Int64).self) {
            used = (bytes, Int(authors))
        }
        var spaceCount = 0
        if used == nil, limits.maxSpaces != nil {
            // A new space: new spaces are counted one at a time, under a lock of their own.
            try await run("SELECT pg_advisory_xact_lock(\(Self.lockNamespace), 1)", on: connection, logger: logger)
            for try await count in try await connection.query("SELECT COUNT(*) FROM space_usage", logger: logger).decode(Int64.self) {
                spaceCount = Int(count)
            }
        }
        let (adding, newAuthors) = try SpaceLimitCheck.check(accepted, of: spaceID, used: used, limits: limits) { spaceCount }

        let inserted = try await connection.query(
            """
            INSERT INTO bundles (space, author, seq, id, previous, bytes)
            SELECT \(space), author, seq, id, previous, bytes
            FROM unnest(
                \(accepted.map { ByteBuffer(bytes: $0.author.bytes) })::bytea[],
                \(accepted.map { Int64($0.sequence) })::int8[],
                \(accepted.map { ByteBuffer(bytes: $0.id.bytes) })::bytea[],
                \(accepted.map { ByteBuffer(bytes: $0.previous.bytes) })::bytea[],
                \(accepted.map { ByteBuffer(bytes: $0.bytes) })::bytea[]
            ) WITH ORDINALITY AS n(author, seq, id, previous, bytes, ordinal)
            ORDER BY ordinal
            RETURNING position
            """, logger: logger)
        for try await position in inserted.decode(Int64.self) { summary.storedPositions.append(position) }
        summary.storedPositions.sort()
        let newHeads = SpaceLimitCheck.newHeads(accepted)
        try await run(
            """
            INSERT INTO heads (space, author, seq)
            SELECT \(space), author, seq
            FROM unnest(\(newHeads.map { ByteBuffer(bytes: $0.author.bytes) })::bytea[], \(newHeads.map { Int64($0.sequence) })::int8[]) AS h(author, seq)
            ON CONFLICT (space, author) DO UPDATE SET seq = EXCLUDED.seq
            """, on: connection, logger: logger)
        try await run(
            """
            INSERT INTO space_usage (space, bytes, authors) VALUES (\(space), \(adding), \(Int64(newAuthors)))
            ON CONFLICT (space) DO UPDATE SET bytes = space_usage.bytes + EXCLUDED.bytes, authors = space_usage.authors + EXCLUDED.authors
            """, on: connection, logger: logger)
        // One notification per bundle, delivered to every listener after commit.
        try await run(
            """
            SELECT pg_notify(\(notifyChannel), \(spaceID.hex + ":") || p::text) FROM unnest(\(summary.storedPositions)::int8[]) AS p
            """, on: connection, logger: logger)
        logger.debug(
            "stored bundles",
            metadata: [
                "space": "\(spaceID.shortDescription)", "stored": "\(summary.stored)", "duplicates": "\(summary.duplicates)",
            ])
        return summary
    }

    // MARK: Reads

    /// See ``RelayStorage/vector(of:)``.
    public func vector(of spaceID: SpaceID) async throws -> VersionVector {
        VersionVector(Dictionary(uniqueKeysWithValues: try await heads(of: spaceID).map { ($0.author, $0.sequence) }))
    }

    /// Every head of the space.
    private func heads(of spaceID: SpaceID) async throws -> [AuthorHead] {
        let rows = try await client.query("SELECT author, seq FROM heads WHERE space = \(ByteBuffer(bytes: spaceID.bytes))", logger: logger)
        var heads: [AuthorHead] = []
        for try await (author, seq) in rows.decode((ByteBuffer, Int64).self) {
            heads.append(AuthorHead(author: try PublicKey(bytes: author.readableBytesView), sequence: UInt64(seq)))
        }
        return heads
    }

    /// See ``RelayStorage/vectorPage(of:after:limit:)``.
    public func vectorPage(of spaceID: SpaceID, after: PublicKey?, limit: Int) async throws -> [AuthorHead] {
        let rows = try await client.query(
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
            for try await position in try await client.query("SELECT MIN(position) FROM bundles WHERE space = \(space)", logger: logger).decode(
                Int64?.self)
            {
                start = position
            }
            return start.map { $0 - 1 }
        }
        let behind = try await heads(of: spaceID).filter { $0.sequence > since[$0.author] }
        guard !behind.isEmpty else { return nil }
        let rows = try await client.query(
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
            let rows = try await client.query(
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
                    try await client.query(
                        "SELECT position, space, author, seq, id, previous, bytes FROM bundles WHERE position = ANY(\(wanted)::int8[]) ORDER BY position",
                        logger: logger))
            }
            guard scanned == chunk else { break }
            after = last
        }
        return result
    }

    /// See ``RelayStorage/bundle(at:)``.
    public func bundle(at position: Int64) async throws -> StoredBundle? {
        let rows = try await client.query(
            "SELECT position, space, author, seq, id, previous, bytes FROM bundles WHERE position = \(position)", logger: logger)
        return try await Self.storedBundles(rows).first
    }

    /// See ``RelayStorage/usage(of:)``.
    public func usage(of spaceID: SpaceID) async throws -> Int64 {
        var used: Int64 = 0
        let rows = try await client.query("SELECT bytes FROM space_usage WHERE space = \(ByteBuffer(bytes: spaceID.bytes))", logger: logger)
        for try await bytes in rows.decode(Int64.self) { used = bytes }
        return used
    }

    /// See ``RelayStorage/healthCheck()``.
    public func healthCheck() async throws {
        for try await _ in try await client.query("SELECT 1", logger: logger).decode(Int.self) {}
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
    private static func run(_ query: PostgresQuery, on connection: PostgresConnection, logger: Logger) async throws {
        for try await _ in try await connection.query(query, logger: logger) {}
    }

    /// Runs `body` between `BEGIN` and `COMMIT` (`ROLLBACK` when it throws), rethrowing
    /// its error unchanged so a ``RelayError`` reaches the caller as is.
    private static func inTransaction<Result: Sendable>(
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
        let client = self.client
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
