import Dispatch

/// The serial executor of a ``Replica``: jobs run one at a time on a dispatch queue of
/// the replica's own.
///
/// A replica's work is mostly SQLite calls that block on the disk (a durable commit
/// waits for `fsync`). On Swift's cooperative thread pool, which has one thread per core,
/// a few such calls would stall every other task of the app; on a dispatch queue they
/// block a thread of Dispatch's pool instead. The queue is serial, so the actor's
/// isolation holds.
final class ReplicaExecutor: SerialExecutor {
    let queue: DispatchQueue
    /// Set on every replica's queue: tells code (and tests) it runs on one.
    static let marker = DispatchSpecificKey<Bool>()

    init(label: String) {
        queue = DispatchQueue(label: label, qos: .userInitiated)
        queue.setSpecific(key: Self.marker, value: true)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedSerialExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    func checkIsolated() {
        dispatchPrecondition(condition: .onQueue(queue))
    }
}
