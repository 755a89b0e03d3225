import ConcordCore
import ConcordStore
import Observation
import Synchronization

/// The results of a query, kept up to date: an `@Observable` object for SwiftUI (or any
/// Observation client) that changes only when the results do.
///
/// It follows ``Replica/observe(_:)``: local writes and merged remote bundles alike
/// update it, and a write that leaves the results as they were changes nothing, so
/// views that read it are not invalidated needlessly. It stops following when released.
///
/// ```swift
/// @Observable @MainActor final class TodoList {
///     let open: LiveQuery
///     init(replica: Replica) {
///         open = LiveQuery(RecordQuery("todos").where("done", .equals(false)), in: replica)
///     }
/// }
/// // In a view: ForEach(list.open.records, id: \.id) { Text($0["title"]?.stringValue ?? "") }
/// ```
@MainActor @Observable
public final class LiveQuery {
    /// The query followed.
    public let query: RecordQuery
    /// The current results (empty until ``isLoaded``).
    public private(set) var records: [RecordView] = []
    /// Whether the first results have arrived.
    public private(set) var isLoaded = false
    /// How many times the results changed (the first results count): for tests and
    /// diagnostics.
    public private(set) var updateCount = 0

    @ObservationIgnored private let subscription = Subscription()

    /// Starts following `query` on `replica`.
    /// - Parameters:
    ///   - query: The query.
    ///   - replica: The replica.
    public init(_ query: RecordQuery, in replica: Replica) {
        self.query = query
        subscription.task = Task { [weak self] in
            for await update in await replica.observe(query) {
                guard let self else { return }
                self.receive(update.records)
            }
        }
    }

    private func receive(_ records: [RecordView]) {
        guard !isLoaded || records != self.records else { return }
        self.records = records
        isLoaded = true
        updateCount += 1
    }
}

/// The models of a query, kept up to date: ``LiveQuery`` decoded as `Model`.
///
/// Records that do not decode are listed in ``undecodable`` instead of hiding the rest.
/// The models change only when the underlying records do.
///
/// ```swift
/// @Observable @MainActor final class TodoList {
///     let todos: LiveModels<Todo>
///     init(replica: Replica) {
///         todos = LiveModels(Todo.self, matching: RecordQuery("todos").order(by: "title"), in: replica)
///     }
/// }
/// // In a view: ForEach(list.todos.models) { todo in Text(todo.title) }
/// ```
@MainActor @Observable
public final class LiveModels<Model: Decodable & Sendable> {
    /// The query followed.
    public let query: RecordQuery
    /// The current models, in the query's order.
    public private(set) var models: [Model] = []
    /// The records that do not decode as `Model`.
    public private(set) var undecodable: [UndecodableRecord] = []
    /// Whether the first results have arrived.
    public private(set) var isLoaded = false
    /// How many times the results changed (the first results count).
    public private(set) var updateCount = 0

    @ObservationIgnored private var records: [RecordView] = []
    @ObservationIgnored private let subscription = Subscription()

    /// Starts following the models `query` selects on `replica`.
    /// - Parameters:
    ///   - type: The model type.
    ///   - query: The query.
    ///   - replica: The replica.
    public init(_ type: Model.Type = Model.self, matching query: RecordQuery, in replica: Replica) {
        self.query = query
        subscription.task = Task { [weak self] in
            for await update in await replica.observe(query) {
                guard let self else { return }
                self.receive(update.records)
            }
        }
    }

    /// Starts following a typed query's models.
    /// - Parameters:
    ///   - query: The query, fields named by key paths.
    ///   - replica: The replica.
    /// - Throws: `ConcordError` `.invalidModel` when a key path names no single field.
    public convenience init(_ query: ModelQuery<Model>, in replica: Replica) throws where Model: RecordModel {
        self.init(Model.self, matching: try query.recordQuery(), in: replica)
    }

    private func receive(_ records: [RecordView]) {
        guard !isLoaded || records != self.records else { return }
        self.records = records
        let results = ModelResults(decoding: records, as: Model.self, in: query.collection)
        models = results.models
        undecodable = results.undecodable
        isLoaded = true
        updateCount += 1
    }
}

/// Cancels the observing task when its owner is released (the `deinit` of a main-actor
/// class cannot touch its isolated state; this object's own `deinit` can).
final class Subscription: Sendable {
    private let stored = Mutex<Task<Void, Never>?>(nil)

    var task: Task<Void, Never>? {
        get { stored.withLock { $0 } }
        set { stored.withLock { $0 = newValue } }
    }

    deinit { stored.withLock { $0?.cancel() } }
}
