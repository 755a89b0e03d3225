import ConcordCore
import ConcordStore

/// Models read from records, with the records that did not decode reported beside them.
///
/// A record may not decode when it was written by a newer app version with a changed
/// type, or damaged by hand; one such record never hides the others.
///
/// ```swift
/// let result = try await replica.models(Todo.self, matching: RecordQuery("todos"))
/// show(result.models)
/// if !result.undecodable.isEmpty { showBadge("\(result.undecodable.count) items need a newer app") }
/// ```
public struct ModelResults<Model> {
    /// The models, in the query's order.
    public var models: [Model]
    /// The records that did not decode, in the query's order.
    public var undecodable: [UndecodableRecord]

    /// Creates results.
    /// - Parameters:
    ///   - models: The models.
    ///   - undecodable: The records that did not decode.
    public init(models: [Model] = [], undecodable: [UndecodableRecord] = []) {
        self.models = models
        self.undecodable = undecodable
    }

    /// Decodes each record, sorting the failures out.
    init(decoding records: [RecordView], as type: Model.Type, in collection: String) where Model: Decodable {
        self.init()
        models.reserveCapacity(records.count)
        let decoder = RecordDecoder()
        let defaults = RecordModelDefaults.encoded(type)
        for record in records {
            do {
                models.append(try decoder.decode(type, from: record, defaults: defaults))
            } catch {
                undecodable.append(UndecodableRecord(collection: collection, record: record, error: error))
            }
        }
    }
}

extension ModelResults: Sendable where Model: Sendable {}
extension ModelResults: Equatable where Model: Equatable {}

/// A record that does not decode as the model asked for, and why.
public struct UndecodableRecord: Hashable, Sendable, CustomStringConvertible {
    /// The record's collection.
    public var collection: String
    /// The record as stored.
    public var record: RecordView
    /// Why it does not decode, and what to change.
    public var message: String

    /// Creates a report.
    /// - Parameters:
    ///   - collection: The record's collection.
    ///   - record: The record.
    ///   - message: Why it does not decode.
    public init(collection: String, record: RecordView, message: String) {
        self.collection = collection
        self.record = record
        self.message = message
    }

    init(collection: String, record: RecordView, error: any Error) {
        let message: String
        switch error {
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
            DecodingError.keyNotFound(_, let context), DecodingError.dataCorrupted(let context):
            message = context.debugDescription
        default:
            message = "\(error)"
        }
        self.init(collection: collection, record: record, message: message)
    }

    /// `todos/1B4E28BA-…: field 'due' holds string "soon" but the model wants Date; …`.
    public var description: String { "\(collection)/\(record.id): \(message)" }
}
