/// Where a peer listens: `peer://HOST:PORT` (also accepted without the scheme; IPv6
/// hosts in brackets, `peer://[fe80::1%eth0]:7420`).
///
/// ```swift
/// let endpoint = PeerEndpoint("peer://192.168.1.20:7420")!
/// print(endpoint.host, endpoint.port)   // 192.168.1.20 7420
/// ```
public struct PeerEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// The scheme of peer URLs.
    public static let scheme = "peer"
    /// The default port of `concord peer serve`.
    public static let defaultPort = 7420

    /// A host name or an IP address (without brackets).
    public var host: String
    /// The TCP port.
    public var port: Int

    /// Creates an endpoint.
    /// - Parameters:
    ///   - host: A host name or an IP address.
    ///   - port: The TCP port, 1...65535.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `peer://HOST:PORT` or `HOST:PORT`; `nil` for anything else (no port, a
    /// port outside 1...65535, a path).
    /// - Parameters:
    ///   - text: The address.
    public init?(_ text: String) {
        var rest = Substring(text)
        if rest.hasPrefix(Self.scheme + "://") { rest = rest.dropFirst(Self.scheme.count + 3) }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        let host: Substring
        let portText: Substring
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            guard after.hasPrefix(":") else { return nil }
            portText = after.dropFirst()
        } else {
            guard let colon = rest.lastIndex(of: ":") else { return nil }
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
            guard !host.contains(":") else { return nil }
        }
        guard !host.isEmpty, !host.contains("/"), let port = Int(portText), (1...65535).contains(port) else { return nil }
        self.init(host: String(host), port: port)
    }

    /// `peer://HOST:PORT`.
    public var description: String {
        "\(Self.scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }
}
