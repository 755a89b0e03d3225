import Logging

/// Opens relay storage from the text of a `--storage` option or `CONCORD_RELAY_STORAGE`.
///
/// ```swift
/// let storage = try await RelayStorageURL.open("sqlite:/var/lib/concord/relay.sqlite", logger: logger)
/// let shared = try await RelayStorageURL.open("postgres://relay:secret@db:5432/concord", logger: logger)
/// ```
public enum RelayStorageURL {
    /// Opens the storage `spec` names.
    ///
    /// - Parameters:
    ///   - spec: `sqlite:PATH` (one relay process; the file is created if missing), or
    ///     `postgres://user:password@host:port/database` / `postgresql://…` (several relay
    ///     processes sharing one database; `?sslmode=disable|prefer|require`).
    ///   - logger: Where the storage logs.
    /// - Returns: ``SQLiteRelayStorage`` or ``PostgresRelayStorage``.
    /// - Throws: ``RelayError`` ``RelayError/Code/configuration`` for any other text; the
    ///   storage's own error when it cannot be opened.
    public static func open(_ spec: String, logger: Logger) async throws -> any RelayStorage {
        let lowered = spec.lowercased()
        if lowered.hasPrefix("sqlite:") {
            let path = String(spec.dropFirst("sqlite:".count))
            guard !path.isEmpty else {
                throw RelayError.configuration("\"sqlite:\" needs a file path, for example sqlite:/var/lib/concord/relay.sqlite")
            }
            return try await openSQLite(path: path, logger: logger)
        }
        if lowered.hasPrefix("postgres://") || lowered.hasPrefix("postgresql://") {
            return try await PostgresRelayStorage(url: spec, logger: logger)
        }
        throw RelayError.configuration(
            "unknown storage \"\(PostgresURL.redacted(spec))\"; use sqlite:PATH or postgres://user:password@host:port/database")
    }
}

extension RelayStorageURL {
    /// Opens SQLite storage at `path`.
    static func openSQLite(path: String, logger: Logger) async throws -> any RelayStorage {
        var path = path
        if path.hasPrefix("//") { path.removeFirst(2) }
        return try SQLiteRelayStorage(path: path)
    }
}
