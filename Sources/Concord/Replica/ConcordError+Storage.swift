import ConcordStore

extension StoreError: StorageFailure {
    package var storageMessage: String { message }
}

extension ConcordError {
    /// Runs store work, mapping ``StoreError`` to `ConcordError` `.storage`; every other
    /// error (for example one thrown by an app's write closure) passes through unchanged.
    @discardableResult
    static func storage<R>(_ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as StoreError {
            throw ConcordError(.storage, error.message)
        }
    }
}
