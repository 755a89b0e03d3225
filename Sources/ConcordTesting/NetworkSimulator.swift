import ConcordCore

/// A deterministic network of replicas for convergence tests.
///
/// Replicas make random local edits at random times and broadcast each edit batch to
/// every peer. The network delays (and so reorders) messages, drops them (the sender
/// retransmits after a timeout), duplicates them, and partitions the replicas into two
/// groups that cannot talk until the partition heals. Each replica's physical clock is
/// skewed. Everything is driven by one seed: the same seed replays the same run.
///
/// ```swift
/// var sim = NetworkSimulator(configuration: .init(replicas: 5), seed: 99)
/// let result = try sim.run()
/// try expectConverged(result.states, seed: 99)
/// print(result.statistics)
/// ```
public struct NetworkSimulator {
    /// Knobs of a simulated run.
    public struct Configuration: Sendable {
        /// Number of replicas (2...).
        public var replicas: Int
        /// Total local edit batches across all replicas.
        public var edits: Int
        /// Operations per edit batch: 1 up to this.
        public var maxOperationsPerEdit: Int
        /// Simulated duration over which edits happen, in ms.
        public var duration: UInt64
        /// Message delay: uniform in 1...maxDelay ms.
        public var maxDelay: UInt64
        /// Probability that a delivery attempt is lost (then retransmitted).
        public var dropRate: Double
        /// Probability that a delivered message is delivered once more, later.
        public var duplicateRate: Double
        /// Retransmission timeout in ms.
        public var retransmitAfter: UInt64
        /// Expected number of partitions during the run.
        public var partitions: Int
        /// Each replica's clock is off by up to this many ms (keep it below the drift bound).
        public var maxClockSkew: UInt64

        public init(
            replicas: Int, edits: Int = 40, maxOperationsPerEdit: Int = 3, duration: UInt64 = 2_000,
            maxDelay: UInt64 = 200, dropRate: Double = 0.2, duplicateRate: Double = 0.1,
            retransmitAfter: UInt64 = 150, partitions: Int = 1, maxClockSkew: UInt64 = 1_000
        ) {
            self.replicas = replicas
            self.edits = edits
            self.maxOperationsPerEdit = maxOperationsPerEdit
            self.duration = duration
            self.maxDelay = maxDelay
            self.dropRate = dropRate
            self.duplicateRate = duplicateRate
            self.retransmitAfter = retransmitAfter
            self.partitions = partitions
            self.maxClockSkew = maxClockSkew
        }
    }

    /// Counters of what the network did.
    public struct Statistics: Sendable, CustomStringConvertible {
        public var operations = 0
        public var messagesSent = 0
        public var deliveries = 0
        public var drops = 0
        public var duplicates = 0
        public var partitions = 0
        public var heldByPartition = 0
        public var description: String {
            "\(operations) ops, \(messagesSent) messages, \(deliveries) deliveries, \(drops) drops, \(duplicates) duplicates, \(partitions) partitions (\(heldByPartition) deliveries held)"
        }
    }

    /// The outcome of ``run()``.
    public struct Result: Sendable {
        /// Each replica after the network went quiet.
        public var replicas: [LocalReplica]
        /// Every operation made, in the order made.
        public var operations: [RecordOperation]
        /// What the network did.
        public var statistics: Statistics
        /// The replicas' states.
        public var states: [ReplicaState] { replicas.map(\.state) }
    }

    private enum Event {
        case edit(replica: Int)
        case deliver(message: Int, to: Int, attempt: Int)
        case partition
        case heal
    }

    private struct Message {
        var from: Int
        var ops: [RecordOperation]
    }

    /// The configuration.
    public let configuration: Configuration
    private var rng: SeededGenerator

    /// A simulator for `configuration`, driven by `seed`.
    public init(configuration: Configuration, seed: UInt64) {
        precondition(configuration.replicas >= 1, "a simulation needs at least one replica")
        self.configuration = configuration
        rng = SeededGenerator(seed: seed)
    }

    /// Runs the simulation until every message is delivered.
    /// - Throws: whatever a replica throws while receiving (for instance a clock-drift
    ///   error if ``Configuration/maxClockSkew`` exceeds the drift bound).
    public mutating func run() throws -> Result {
        let c = configuration
        let domain = Generators.Domain.small(using: &rng)
        let start: UInt64 = 1_700_000_000_000
        let clocks = (0..<c.replicas).map { _ in ManualClock(milliseconds: start) }
        let skews = (0..<c.replicas).map { _ in Int64.random(in: -Int64(c.maxClockSkew)...Int64(c.maxClockSkew), using: &rng) }
        var replicas = clocks.map { LocalReplica(id: ReplicaID.random(using: &rng), clock: HybridLogicalClock(physicalClock: $0)) }
        var queue = EventQueue<Event>()
        var messages = [Message]()
        var operations = [RecordOperation]()
        var stats = Statistics()
        var group = [Int](repeating: 0, count: c.replicas)  // partition side of each replica

        for _ in 0..<c.edits {
            queue.push(.edit(replica: Int.random(in: 0..<c.replicas, using: &rng)), at: UInt64.random(in: 0...c.duration, using: &rng))
        }
        if c.replicas > 1 {
            for _ in 0..<c.partitions {
                let at = UInt64.random(in: 0...c.duration, using: &rng)
                queue.push(.partition, at: at)
                queue.push(.heal, at: at + UInt64.random(in: 1...max(1, c.duration / 2), using: &rng))
            }
        }

        while let (now, event) = queue.pop() {
            switch event {
            case .edit(let r):
                clocks[r].set(milliseconds: UInt64(Int64(start + now) + skews[r]))
                var ops = [RecordOperation]()
                for _ in 0..<Int.random(in: 1...c.maxOperationsPerEdit, using: &rng) {
                    let (collection, record, action) = Generators.action(in: domain, state: replicas[r].state, using: &rng)
                    ops.append(try replicas[r].perform(action, record: record, in: collection))
                }
                operations += ops
                stats.operations += ops.count
                messages.append(Message(from: r, ops: ops))
                for peer in 0..<c.replicas where peer != r {
                    stats.messagesSent += 1
                    queue.push(.deliver(message: messages.count - 1, to: peer, attempt: 1), at: now + delay())
                }
            case let .deliver(m, to, attempt):
                let message = messages[m]
                let blocked = group[message.from] != group[to]
                // Retransmission always gets through eventually: after 30 attempts the link is reliable.
                if blocked || (attempt < 30 && rng.chance(c.dropRate)) {
                    if blocked { stats.heldByPartition += 1 } else { stats.drops += 1 }
                    queue.push(.deliver(message: m, to: to, attempt: attempt + 1), at: now + c.retransmitAfter + delay())
                    continue
                }
                clocks[to].set(milliseconds: UInt64(Int64(start + now) + skews[to]))
                try replicas[to].receive(message.ops)
                stats.deliveries += 1
                if rng.chance(c.duplicateRate) {
                    stats.duplicates += 1
                    queue.push(.deliver(message: m, to: to, attempt: attempt), at: now + delay())
                }
            case .partition:
                stats.partitions += 1
                let cut = Int.random(in: 1..<c.replicas, using: &rng)
                let order = Array(0..<c.replicas).shuffled(using: &rng)
                for (position, r) in order.enumerated() { group[r] = position < cut ? 0 : 1 }
            case .heal:
                group = [Int](repeating: 0, count: c.replicas)
            }
        }
        return Result(replicas: replicas, operations: operations, statistics: stats)
    }

    private mutating func delay() -> UInt64 { UInt64.random(in: 1...max(1, configuration.maxDelay), using: &rng) }
}

/// A min-heap of events by time; ties pop in insertion order, so runs are deterministic.
struct EventQueue<Event> {
    private var heap: [(time: UInt64, sequence: Int, event: Event)] = []
    private var sequence = 0

    mutating func push(_ event: Event, at time: UInt64) {
        heap.append((time, sequence, event))
        sequence += 1
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard less(i, parent) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> (UInt64, Event)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var i = 0
        while true {
            let (l, r) = (2 * i + 1, 2 * i + 2)
            var m = i
            if l < heap.count && less(l, m) { m = l }
            if r < heap.count && less(r, m) { m = r }
            if m == i { break }
            heap.swapAt(i, m)
            i = m
        }
        return (top.time, top.event)
    }

    private func less(_ a: Int, _ b: Int) -> Bool {
        (heap[a].time, heap[a].sequence) < (heap[b].time, heap[b].sequence)
    }
}
