import ArgumentParser
import Concord
import ConcordSync
import Foundation

/// The exit statuses of `concord` (also in `concord --help`).
enum Exit {
    static let ok: Int32 = 0
    /// Usage errors and every other failure (no store, storage, a reader writing...).
    static let failure: Int32 = 1
    /// Rejected input: a truncated, damaged, tampered or foreign bundle file, a rejected
    /// bundle, an invalid invite token.
    static let rejected: Int32 = 2
    /// `get`, `conflicts`, `history`: the record is absent or deleted.
    static let notFound: Int32 = 3
    /// Not allowed by the space's membership: not an admin, a reader writing, a removed
    /// device, an expired or revoked invite (`Specs/membership.md` §9), a peer that refused
    /// this device or that this device refused.
    static let notAllowed: Int32 = 4
    /// The device needs its owner: its clock is wrong (set the date and time) or its history
    /// forked (run `concord recover`); the message says which (`Specs/sync-protocol.md` §5).
    /// (It was 4 before membership took 4 for "not allowed".)
    static let attention: Int32 = 5
}

/// A failure the CLI reports itself: `concord: <message>` on stderr, then `status`.
struct CLIFailure: Error {
    var message: String
    var status: Int32 = Exit.failure
}

enum Output {
    /// Writes a line to stderr.
    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

extension CLIFailure {
    /// Prints the error and returns the exit status for it.
    static func report(_ error: any Error) -> Int32 {
        switch error {
        case let code as ExitCode:
            return code.rawValue
        case let failure as CLIFailure:
            Output.error("concord: " + failure.message)
            return failure.status
        case let error as ConcordError where [.clockFailure, .identityChanged, .needsRecovery].contains(error.code):
            Output.error("concord: " + error.message)
            return Exit.attention
        case let error as ConcordError where error.code == .policyDenied:
            // The denial's sentence alone (`Specs/permissions.md` §6.5).
            Output.error(error.message)
            return Exit.notAllowed
        case let error as ConcordError where error.code == .notAllowed:
            Output.error("concord: " + error.message)
            return Exit.notAllowed
        case let error as ConcordError:
            Output.error("concord: " + error.message)
            let rejected: [ConcordError.Code] = [
                .invalidInvite, .inviteChecksumMismatch, .malformedBundle, .unsupportedVersion, .wrongSpace,
                .invalidSignature, .invalidCertificate, .bundleTooLarge, .invalidPolicy, .malformedSnapshot, .snapshotMismatch,
                .snapshotRefused, .decryptionFailed,
            ]
            return rejected.contains(error.code) ? Exit.rejected : Exit.failure
        case let error as ConcordSyncError where error.code == .needsAttention:
            Output.error("concord: " + error.message)
            return Exit.attention
        case let error as ConcordSyncError where error.relayCode == "removed" || error.code == .peerRefused:
            Output.error("concord: " + error.message)
            return Exit.notAllowed
        case let error as ConcordSyncError:
            Output.error("concord: " + error.message)
            return [.fileSystem, .invalidVector].contains(error.code) ? Exit.failure : Exit.rejected
        default:
            let code = ConcordCommand.exitCode(for: error)
            if code == .success {
                print(ConcordCommand.fullMessage(for: error))
                return Exit.ok
            }
            var text = ConcordCommand.fullMessage(for: error)
            if text.hasPrefix("Error: ") { text.removeFirst("Error: ".count) }
            Output.error("concord: " + text)
            return Exit.failure
        }
    }
}
