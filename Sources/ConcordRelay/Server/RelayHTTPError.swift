import ConcordRelayProtocol
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// A ``RelayRefusal`` on its way to the client, with the headers some refusals carry
/// (`WWW-Authenticate` for 401, `Retry-After` for 429).
struct RelayHTTPError: Error, Sendable {
    /// The status, code and message.
    var refusal: RelayRefusal
    /// Seconds for `Retry-After`, if any.
    var retryAfter: Int?

    init(_ refusal: RelayRefusal, retryAfter: Int? = nil) {
        self.refusal = refusal
        self.retryAfter = retryAfter
    }

    /// `400 bad-request`.
    static func badRequest(_ message: String) -> RelayHTTPError {
        RelayHTTPError(RelayRefusal(status: 400, code: "bad-request", message: message))
    }

    /// `401 unauthenticated`.
    static func unauthenticated(_ message: String) -> RelayHTTPError {
        RelayHTTPError(RelayRefusal(status: 401, code: "unauthenticated", message: message))
    }

    /// `413 too-large`.
    static func tooLarge(limit: Int) -> RelayHTTPError {
        RelayHTTPError(RelayRefusal(status: 413, code: "too-large", message: "the request body is above the relay's \(limit)-byte limit; push fewer bundles per request"))
    }

    /// The JSON response (§6).
    func response() -> Response {
        var body = RelayAPI.ErrorBody(error: refusal.code, message: refusal.message)
        if let expected = refusal.expected {
            body.expected = RelayAPI.Expected(author: expected.author, sequence: expected.sequence)
        }
        var headers: HTTPFields = [.contentType: "application/json"]
        if refusal.status == 401 { headers[.wwwAuthenticate] = "Bearer" }
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        let data = (try? JSONEncoder().encode(body)) ?? Data()
        return Response(status: HTTPResponse.Status(code: refusal.status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Maps any error a handler threw to a refusal: ours as is, Hummingbird's by status,
    /// anything else as `500 internal` (its details are logged, not sent).
    static func from(_ error: any Error) -> RelayHTTPError {
        switch error {
        case let error as RelayHTTPError:
            return error
        case let refusal as RelayRefusal:
            return RelayHTTPError(refusal)
        case let error as HTTPError:
            switch error.status.code {
            case 404: return RelayHTTPError(RelayRefusal(status: 404, code: "not-found", message: "no such endpoint; see Specs/relay-api.md for the paths of API version \(RelayAPI.version)"))
            case 405: return RelayHTTPError(RelayRefusal(status: 405, code: "method-not-allowed", message: "this endpoint does not take that method"))
            case 413: return RelayHTTPError(RelayRefusal(status: 413, code: "too-large", message: error.body ?? "the request body is too large"))
            case 400..<500: return badRequest(error.body ?? "the request is malformed")
            default: return RelayHTTPError(RelayRefusal(status: error.status.code, code: "internal", message: "the relay failed; retry later"))
            }
        default:
            return RelayHTTPError(RelayRefusal(status: 500, code: "internal", message: "the relay failed; retry later"))
        }
    }
}

/// Turns every error into the JSON refusal of §6, logs it and counts it by code.
struct RefusalMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: RelayMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        metrics.activeRequests.increment()
        defer { metrics.activeRequests.decrement() }
        do {
            return try await next(request, context)
        } catch {
            let mapped = RelayHTTPError.from(error)
            metrics.refusal(mapped.refusal.code)
            let metadata: Logger.Metadata = [
                "status": "\(mapped.refusal.status)", "code": "\(mapped.refusal.code)", "path": "\(request.uri.path)",
            ]
            if mapped.refusal.status >= 500 {
                context.logger.error("request failed: \(mapped.refusal.message)", metadata: metadata.merging(["error": "\(String(reflecting: error))"]) { $1 })
            } else {
                context.logger.notice("refused: \(mapped.refusal.message)", metadata: metadata)
            }
            return mapped.response()
        }
    }
}
