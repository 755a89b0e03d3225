import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1

/// The relay's connections: Hummingbird's HTTP/1.1 with WebSocket upgrade, plus a
/// ``ConnectionGuard`` on every connection and a count of connections per client
/// (`Specs/relay-api.md` §6, "Connections and time").
struct RelayChildChannel: ServerChildChannel {
    typealias Value = HTTP1WebSocketUpgradeChannel.Value

    let inner: HTTP1WebSocketUpgradeChannel
    let settings: ConnectionGuard.Settings
    let clients: ClientLimits
    let metrics: RelayMetrics
    let logger: Logger

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let settings = settings
        let clients = clients
        let metrics = metrics
        let guardLogger = self.logger
        return inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let client = ClientKey(channel.remoteAddress)
            let admitted = !settings.limitConnections || clients.openConnection(client)
            metrics.connections.increment()
            channel.closeFuture.whenComplete { _ in
                metrics.connections.decrement()
                if admitted && settings.limitConnections { clients.closeConnection(client) }
            }
            let operations = channel.pipeline.syncOperations
            let decoder = try operations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            let activity = ConnectionGuard.Activity()
            let connectionGuard = ConnectionGuard(
                settings: settings, refuse: !admitted, client: client, activity: activity, metrics: metrics, logger: guardLogger)
            try operations.addHandler(ConnectionGuard.ByteWatcher(activity), position: .before(decoder))
            try operations.addHandler(connectionGuard, position: .after(decoder))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
