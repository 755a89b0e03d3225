import ConcordRelayProtocol
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// The origins a session may be signed for (`Specs/relay-api.md` §1): the operator's
/// ``RelayConfiguration/publicOrigins``, and `http://` with every local address and host
/// name of this machine at the listening port (so a relay on a LAN or on loopback works
/// without settings). A malicious relay that forwards this relay's challenge gets a
/// signature naming itself, which is refused here.
final class AcceptedOrigins: Sendable {
    private let origins = Mutex<Set<String>>([])
    private let configured: [String]

    /// Canonicalizes the configured origins.
    /// - Throws: ``RelayError`` `.configuration` for one that is not an `http(s)://host[:port]` URL.
    init(configured: [String]) throws(RelayError) {
        var canonical: [String] = []
        for text in configured {
            guard let url = URL(string: text), let origin = RelayAPI.origin(of: url) else {
                throw RelayError.configuration(
                    "\(text) is not a public origin; give the URL clients use, for example https://relay.example.org")
            }
            canonical.append(origin)
        }
        self.configured = canonical
        origins.withLock { $0 = Set(canonical) }
    }

    /// Adds the local origins once the port is known.
    func listening(on port: Int) {
        var names: Set<String> = ["localhost", "127.0.0.1", "[::1]"]
        if let devices = try? System.enumerateDevices() {
            for device in devices {
                guard let address = device.address, let ip = address.ipAddress else { continue }
                switch address {
                case .v4: names.insert(ip)
                case .v6: names.insert("[\(ip.lowercased())]")
                default: break
                }
            }
        }
        if let host = Self.hostName(), !host.isEmpty {
            names.insert(host)
            if !host.hasSuffix(".local") && !host.contains(".") { names.insert(host + ".local") }
        }
        origins.withLock { origins in
            for name in names { origins.insert("http://\(name):\(port)") }
        }
    }

    /// Whether a session signed for `origin` is meant for this relay.
    func accepts(_ origin: String) -> Bool {
        origins.withLock { $0.contains(origin) }
    }

    /// A few accepted origins, for a refusal's message.
    func summary() -> String {
        let all = origins.withLock { $0 }
        let shown = configured + all.subtracting(configured).sorted().prefix(max(0, 4 - configured.count))
        return shown.joined(separator: ", ") + (all.count > shown.count ? ", …" : "")
    }

    private static func hostName() -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).lowercased()
    }
}
