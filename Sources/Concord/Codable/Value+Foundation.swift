import ConcordCore
import Foundation

extension Value {
    /// A date as a model stores it: `.double(timeIntervalSince1970)`.
    ///
    /// ```swift
    /// let due = RecordQuery("todos").where("due", .lessThan(Value(Date())))
    /// ```
    /// - Parameters:
    ///   - date: The date.
    public init(_ date: Date) {
        self = .double(date.timeIntervalSince1970)
    }

    /// A UUID as a model stores it: `.string(uuidString)`.
    /// - Parameters:
    ///   - uuid: The UUID.
    public init(_ uuid: UUID) {
        self = .string(uuid.uuidString)
    }

    /// Bytes as a model stores them: `.bytes`.
    /// - Parameters:
    ///   - data: The bytes.
    public init(_ data: Data) {
        self = .bytes([UInt8](data))
    }

    /// Any value that a model would store as one field (a scalar, a raw-value enum, a
    /// single-value wrapper), as it would store it.
    ///
    /// ```swift
    /// let done = RecordQuery("todos").where("state", .equals(try Value(encoding: State.done)))
    /// ```
    /// - Parameters:
    ///   - value: The value.
    /// - Throws: `ConcordError` `.invalidModel` when it is not stored as a single value
    ///   (a struct, a collection), or an integer does not fit `Int64`.
    public init(encoding value: some Encodable) throws {
        do {
            guard let scalar = try RecordEncoding.scalar(value, path: []) else {
                throw ConcordError(.invalidModel, "\(type(of: value)) is not stored as a single value; name one of its fields instead")
            }
            self = scalar
        } catch let error as ConcordError {
            throw error
        } catch {
            throw ConcordError(.invalidModel, "\(error)")
        }
    }

    /// The date, when this is a number (seconds since 1970, as models store dates).
    public var dateValue: Date? { doubleValue.map(Date.init(timeIntervalSince1970:)) }

    /// The UUID, when this is a string holding one.
    public var uuidValue: UUID? { stringValue.flatMap(UUID.init(uuidString:)) }

    /// The bytes as `Data`, when this is ``bytes(_:)``.
    public var dataValue: Data? { bytesValue.map { Data($0) } }
}
