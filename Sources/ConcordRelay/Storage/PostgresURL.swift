import Foundation
import PostgresNIO

/// The parts of a `postgres://` URL.
struct PostgresURL {
    var host: String
    var port: Int
    var user: String
    var password: String?
    var database: String
    var sslMode: String

    init(_ text: String) throws {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "postgres" || scheme == "postgresql"
        else {
            throw RelayError.configuration(
                "\"\(Self.redacted(text))\" is not a PostgreSQL URL; use postgres://user:password@host:port/database")
        }
        guard let host = components.host, !host.isEmpty else {
            throw RelayError.configuration(
                "the PostgreSQL URL \"\(Self.redacted(text))\" names no host; use postgres://user:password@host:port/database")
        }
        self.host = host
        self.port = components.port ?? 5432
        self.user = components.user.flatMap { $0.removingPercentEncoding } ?? "postgres"
        self.password = components.password.flatMap { $0.removingPercentEncoding }
        let path = String(components.path.drop { $0 == "/" })
        self.database = path.isEmpty ? user : (path.removingPercentEncoding ?? path)
        self.sslMode = components.queryItems?.first { $0.name == "sslmode" }?.value?.lowercased() ?? "prefer"
        guard ["disable", "prefer", "require"].contains(sslMode) else {
            throw RelayError.configuration("sslmode \"\(sslMode)\" is not supported; use disable, prefer or require")
        }
    }

    func clientTLS() -> PostgresClient.Configuration.TLS {
        switch sslMode {
        case "disable": .disable
        case "require": .require(.makeClientConfiguration())
        default: .prefer(.makeClientConfiguration())
        }
    }

    func connectionTLS() throws -> PostgresConnection.Configuration.TLS {
        switch sslMode {
        case "disable": return .disable
        case "require": return .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        default: return .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
    }

    /// The URL without its password, for messages.
    static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "***"
        return components.string ?? text
    }
}
