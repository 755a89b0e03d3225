import ConcordCore
import ConcordCrypto

extension ConcordError {
    /// Maps an error of `ConcordCore` into this module's error type.
    ///
    /// `malformedEncoding` becomes `malformedBundle` (ConcordCore
    /// only decodes inside a bundle here); its message, which names the byte offset,
    /// is kept.
    /// - Parameters:
    ///   - error: The core error.
    ///   - context: A short phrase naming what was being read, prefixed to the message.
    init(_ error: ConcordCoreError, context: String? = nil) {
        let code: Code
        if error.code == .clockDriftExceeded {
            code = .clockDriftExceeded
        } else if error.code == .clockCounterOverflow || error.code == .physicalClockOutOfRange {
            code = .clockFailure
        } else if error.code == .unsupportedVersion {
            code = .unsupportedVersion
        } else if error.code == .invalidIdentifier {
            code = .invalidIdentifier
        } else {
            code = .malformedBundle
        }
        self.init(code, context.map { "\($0): \(error.message)" } ?? error.message)
    }

    /// Maps an error of `ConcordCrypto` into this module's error type. Its messages
    /// never contain libsodium codes; they are kept.
    /// - Parameters:
    ///   - error: The crypto error.
    ///   - context: A short phrase naming what was being done, prefixed to the message.
    init(_ error: ConcordCryptoError, context: String? = nil) {
        let code: Code
        if error.code == .invalidSignature {
            code = .invalidSignature
        } else if error.code == .decryptionFailed {
            code = .decryptionFailed
        } else {
            code = .invalidKey
        }
        self.init(code, context.map { "\($0): \(error.message)" } ?? error.message)
    }

    /// Runs `body`, converting any lower-layer error into a ``ConcordError``.
    /// - Parameters:
    ///   - context: Prefixed to the message of a mapped error.
    ///   - body: The work to run.
    /// - Throws: ``ConcordError`` only.
    @discardableResult
    package static func mapping<R>(_ context: String? = nil, _ body: () throws -> R) throws(ConcordError) -> R {
        do {
            return try body()
        } catch let error as ConcordError {
            throw error
        } catch let error as ConcordCoreError {
            throw ConcordError(error, context: context)
        } catch let error as ConcordCryptoError {
            throw ConcordError(error, context: context)
        } catch let error as any StorageFailure {
            throw ConcordError(.storage, "\(context.map { "\($0): " } ?? "")\(error.storageMessage)")
        } catch {
            throw ConcordError(.malformedBundle, "\(context.map { "\($0): " } ?? "")unexpected failure: \(error)")
        }
    }
}

/// A storage error the mapping recognizes (conformed to by `StoreError` in
/// `Replica/ConcordError+Storage.swift`, so the bundle layer itself does not import the
/// store: the fuzzers build it without GRDB).
package protocol StorageFailure: Error {
    var storageMessage: String { get }
}
