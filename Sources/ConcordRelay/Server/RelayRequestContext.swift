import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// The request context of the relay's router: Hummingbird's core storage, the WebSocket
/// handler slot of the feed upgrade, and the connection the request came on (its peer
/// address identifies the client for per-client limits, `Specs/relay-api.md` §6).
struct RelayRequestContext: RequestContext, WebSocketRequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<Self>
    /// The connection.
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.webSocket = .init()
        self.channel = source.channel
    }

    /// The TCP peer.
    var remoteAddress: SocketAddress? { channel.remoteAddress }
}
