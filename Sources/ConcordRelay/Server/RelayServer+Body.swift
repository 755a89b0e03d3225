import Foundation
import Hummingbird
import NIOCore

extension RelayServer {
    /// The body as JSON of type `T`, at most `limit` bytes, held within the relay's body
    /// budget while it is read and decoded.
    /// - Throws: ``RelayError`` `.tooLarge`, `.busy`, `.malformedRequest`.
    func decodeJSON<T: Decodable>(_ type: T.Type, from request: Request, limit: Int, tooLarge: String? = nil) async throws -> T {
        var reservation = BodyReservation(bodies)
        let body = try await collect(request, limit: limit, reservation: &reservation, tooLarge: tooLarge)
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch {
            throw RelayError(.malformedRequest, "the body is not a valid \(T.self) JSON object")
        }
    }

    /// Reads the whole body into one buffer, reserving its bytes from the body budget.
    /// - Throws: ``RelayError`` `.tooLarge` past `limit` (by `Content-Length` before reading
    ///   anything, else as the bytes arrive), `.busy` when the budget is spent.
    func collect(_ request: Request, limit: Int, reservation: inout BodyReservation, tooLarge: String? = nil) async throws -> ByteBuffer {
        var buffer = ByteBuffer()
        try await forEachChunk(of: request, limit: limit, reservation: &reservation, tooLarge: tooLarge) { chunk in
            buffer.writeImmutableBuffer(chunk)
        }
        return buffer
    }

    /// Hands every chunk of the body to `body`, at most `limit` bytes in all, reserving them
    /// from the relay's body budget first (the whole `Content-Length` at once when the
    /// request has one, so a push that cannot fit is refused before anything is read).
    /// - Throws: ``RelayError`` `.tooLarge`, `.busy`; what `body` throws.
    func forEachChunk(
        of request: Request, limit: Int, reservation: inout BodyReservation, tooLarge: String? = nil,
        _ body: (ByteBuffer) throws -> Void
    ) async throws {
        let refusal = tooLarge.map { RelayError(.tooLarge, $0) } ?? RelayError.tooLarge(limit: limit)
        var declared: Int?
        if let length = request.headers[.contentLength].flatMap(Int.init) {
            guard length <= limit else { throw refusal }
            try reservation.grow(by: length)
            declared = length
        }
        var total = 0
        for try await chunk in request.body {
            total += chunk.readableBytes
            guard total <= limit else { throw refusal }
            if declared == nil || total > declared! {
                try reservation.grow(by: chunk.readableBytes)
            }
            try body(chunk)
        }
    }
}
