import ConcordRelayProtocol
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOHTTP1

/// A refusal as it goes on the wire (`Specs/relay-api.md` §6): an HTTP status, the stable
/// `error` string, the message, and the headers some refusals carry.
///
/// This is the only place where a ``RelayError`` becomes HTTP: storage and handlers throw
/// typed errors, and the middleware and the connection guard turn them into responses here.
struct HTTPRefusal: Sendable {
    /// The status.
    var status: HTTPResponse.Status
    /// The `error` string of the body, for example `missing-predecessor`.
    var code: String
    /// What happened and what to do.
    var message: String
    /// For `missing-predecessor`: where the author's chain continues.
    var expected: RelayAPI.Expected?
    /// `Retry-After`, in seconds.
    var retryAfter: Int?
    /// `Allow`, for 405.
    var allow: [String] = []
    /// For `snapshot-required`: the snapshot to load (body `snapshot`, header `Concord-Snapshot`).
    var snapshot: String?

    /// The status and `error` string of each code (§6).
    init(_ error: RelayError) {
        let (status, code) = Self.wire(error.code)
        self.status = status
        self.code = code
        // Failures of the relay itself are logged in full, never sent.
        self.message =
            status.code >= 500 && status != .serviceUnavailable && status.code != 507 ? "the relay failed; retry later" : error.message
        self.retryAfter = error.retryAfter
        self.allow = error.allowedMethods
        self.snapshot = error.requiredSnapshot?.hex
        if let expected = error.expected {
            self.expected = RelayAPI.Expected(author: expected.author.hex, sequence: expected.sequence)
        }
    }

    private static func wire(_ code: RelayError.Code) -> (HTTPResponse.Status, String) {
        switch code {
        case .malformedRequest: (.badRequest, "bad-request")
        case .unauthenticated: (.unauthorized, "unauthenticated")
        case .challengeRejected: (.unauthorized, "challenge")
        case .badSignature: (.unauthorized, "bad-signature")
        case .wrongRelay: (.unauthorized, "wrong-relay")
        case .notAMember: (.forbidden, "not-a-member")
        case .removed: (.forbidden, "removed")
        case .inviteUnknown: (.forbidden, "invite-unknown")
        case .readOnly: (.forbidden, "read-only")
        case .notAnAdmin: (.forbidden, "not-an-admin")
        case .spaceNotServed: (.forbidden, "space-not-served")
        case .notFound: (.notFound, "not-found")
        case .methodNotAllowed: (.methodNotAllowed, "method-not-allowed")
        case .requestTimeout: (.requestTimeout, "request-timeout")
        case .fork: (.conflict, "fork")
        case .missingPredecessor: (.conflict, "missing-predecessor")
        case .staleSnapshot: (.conflict, "stale-snapshot")
        case .snapshotRequired: (.conflict, "snapshot-required")
        case .noSnapshot: (.notFound, "no-snapshot")
        case .snapshotGone: (.gone, "gone")
        case .invalidSnapshot: (.unprocessableContent, "invalid-snapshot")
        case .tooLarge: (.contentTooLarge, "too-large")
        case .invalidBundle: (.unprocessableContent, "invalid-bundle")
        case .rateLimited: (.tooManyRequests, "rate-limited")
        case .tooManyConnections: (.tooManyRequests, "too-many-connections")
        case .busy: (.serviceUnavailable, "busy")
        case .unavailable: (.serviceUnavailable, "unavailable")
        case .quotaExceeded: (HTTPResponse.Status(code: 507), "quota-exceeded")
        case .tooManyAuthors: (HTTPResponse.Status(code: 507), "too-many-authors")
        case .tooManySpaces: (HTTPResponse.Status(code: 507), "too-many-spaces")
        default: (.internalServerError, "internal")
        }
    }

    /// Any error a handler threw: ours by code, Hummingbird's by status, anything else
    /// `500 internal` (its details are logged, not sent).
    static func from(_ error: any Error) -> HTTPRefusal {
        switch error {
        case let error as RelayError:
            return HTTPRefusal(error)
        case let error as HTTPParserError:
            // The client broke HTTP mid-request (most often: closed before its body ended).
            return HTTPRefusal(RelayError(.malformedRequest, "the request is malformed or ended before its end (\(error.debugDescription))"))
        case let error as HTTPError:
            switch error.status.code {
            case 404:
                return HTTPRefusal(
                    RelayError(.notFound, "no such endpoint; see Specs/relay-api.md for the paths of API version \(RelayAPI.version)"))
            case 413:
                return HTTPRefusal(RelayError(.tooLarge, error.body ?? "the request body is too large"))
            case 400..<500:
                return HTTPRefusal(RelayError(.malformedRequest, error.body ?? "the request is malformed"))
            default:
                return HTTPRefusal(RelayError(.storage, "\(error)"))
            }
        default:
            return HTTPRefusal(RelayError(.storage, "\(error)"))
        }
    }

    /// The headers of the response: JSON, and `WWW-Authenticate`, `Retry-After`, `Allow`
    /// where they apply.
    var headers: HTTPFields {
        var headers: HTTPFields = [.contentType: "application/json"]
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        if !allow.isEmpty { headers[.allow] = allow.joined(separator: ", ") }
        if let snapshot, let name = HTTPField.Name(RelayAPI.snapshotRequiredHeader) { headers[name] = snapshot }
        return headers
    }

    /// The JSON body `{"error", "message"[, "expected"][, "snapshot"]}`.
    var body: Data {
        let body = RelayAPI.ErrorBody(error: code, message: message, expected: expected, snapshot: snapshot)
        return (try? JSONEncoder().encode(body)) ?? Data()
    }

    /// The response (§6).
    func response() -> Response {
        Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Turns every error into the JSON refusal of §6, logs it and counts it by code.
struct RefusalMiddleware: RouterMiddleware {
    typealias Context = RelayRequestContext
    let metrics: RelayMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        metrics.activeRequests.increment()
        defer { metrics.activeRequests.decrement() }
        do {
            return try await next(request, context)
        } catch {
            var refusal = HTTPRefusal.from(error)
            if let error = error as? HTTPError, error.status == .notFound {
                let allowed = RelayRoutes.allowedMethods(for: request.uri.path)
                if !allowed.isEmpty {
                    var notAllowed = RelayError(
                        .methodNotAllowed, "\(request.uri.path) takes \(allowed.joined(separator: ", ")), not \(request.method)")
                    notAllowed.allowedMethods = allowed
                    refusal = HTTPRefusal(notAllowed)
                }
            }
            metrics.refusal(refusal.code)
            let metadata: Logger.Metadata = [
                "status": "\(refusal.status.code)", "code": "\(refusal.code)", "path": "\(request.uri.path)",
                "peer": "\(context.remoteAddress?.description ?? "?")",
            ]
            if request.headers[.upgrade]?.lowercased() == "websocket" {
                // Hummingbird would answer a refused upgrade with an empty 400.
                await ConnectionGuard.stash(refusal, on: context.channel)
            }
            if refusal.code == "internal" && !context.channel.isActive {
                context.logger.debug("request ended with its connection", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            } else if refusal.code == "internal" {
                context.logger.error("request failed", metadata: metadata.merging(["error": "\(String(reflecting: error))"]) { $1 })
            } else {
                context.logger.notice("refused: \(refusal.message)", metadata: metadata)
            }
            return refusal.response()
        }
    }
}
