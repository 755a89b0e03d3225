import ConcordRelayProtocol

/// The endpoints of `Specs/relay-api.md` §3 and the method each takes, so that a known
/// path asked with another method is `405 method-not-allowed` with `Allow`, and an unknown
/// path `404 not-found`.
enum RelayRoutes {
    /// Methods of the fixed paths.
    static let fixed: [String: String] = ["/healthz": "GET", "/metrics": "GET"]
    /// Methods of `/v1/spaces/{space}/<endpoint>`.
    static let spaceEndpoints: [String: String] = [
        "challenge": "POST", "sessions": "POST", "vector": "GET", "bundles": "POST", "pull": "POST", "feed": "GET",
    ]

    /// The methods `path` takes; empty when no endpoint has that path.
    static func allowedMethods(for path: String) -> [String] {
        var path = Substring(path)
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        if let method = fixed[String(path)] { return [method] }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        // "", "v1", "spaces", "{space}", "<endpoint>"
        guard parts.count >= 5, parts[0].isEmpty, parts[1] == RelayAPI.version, parts[2] == "spaces", !parts[3].isEmpty else { return [] }
        if parts[4] == "snapshot" {
            // snapshot; snapshot/{id}/control; snapshot/{id}/chunks/{i}
            switch parts.count {
            case 5: return ["GET", "PUT"]
            case 7 where !parts[5].isEmpty && parts[6] == "control": return ["GET"]
            case 8 where !parts[5].isEmpty && parts[6] == "chunks" && !parts[7].isEmpty: return ["GET"]
            default: return []
            }
        }
        guard parts.count == 5, let method = spaceEndpoints[String(parts[4])] else { return [] }
        return [method]
    }
}
