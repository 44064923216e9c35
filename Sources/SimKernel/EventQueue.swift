import HeapModule

/// Simulated time in integer nanoseconds: equal instants compare equal, and
/// runs reproduce bit for bit (SEMANTICS section 1).
public typealias SimTime = Int64

/// The position of an event in the total order of SEMANTICS section 1:
/// time, then class, then request id, then insertion sequence.
public struct EventKey: Comparable, Hashable, Sendable {
    public let time: SimTime
    /// Same-time classes run in ascending order (depart < shrink < extend < arrive).
    public let eventClass: UInt8
    public let id: Int64
    public let sequence: UInt64

    @inlinable
    public init(time: SimTime, eventClass: UInt8, id: Int64, sequence: UInt64) {
        self.time = time
        self.eventClass = eventClass
        self.id = id
        self.sequence = sequence
    }

    @inlinable
    public static func < (a: EventKey, b: EventKey) -> Bool {
        if a.time != b.time { return a.time < b.time }
        if a.eventClass != b.eventClass { return a.eventClass < b.eventClass }
        if a.id != b.id { return a.id < b.id }
        return a.sequence < b.sequence
    }
}

/// A scheduled event that can be cancelled before it is popped.
public struct EventHandle: Hashable, Sendable {
    public let sequence: UInt64

    @inlinable
    public init(sequence: UInt64) { self.sequence = sequence }
}

/// A priority queue of events with a total order and lazy cancellation.
///
/// `Payload` should be a small trivial value type (no references) so that
/// scheduling never allocates beyond the heap's amortized growth.
public struct EventQueue<Payload> {
    @usableFromInline
    struct Entry: Comparable {
        @usableFromInline let key: EventKey
        @usableFromInline let payload: Payload

        @usableFromInline init(key: EventKey, payload: Payload) {
            self.key = key
            self.payload = payload
        }

        @inlinable static func < (a: Entry, b: Entry) -> Bool { a.key < b.key }
        @inlinable static func == (a: Entry, b: Entry) -> Bool { a.key == b.key }
    }

    @usableFromInline var heap = Heap<Entry>()
    @usableFromInline var nextSequence: UInt64 = 0
    @usableFromInline var cancelled = Set<UInt64>()

    public init() {}

    /// Events scheduled and not yet popped or cancelled.
    /// - Complexity: O(1)
    public var count: Int { heap.count - cancelled.count }

    public var isEmpty: Bool { count == 0 }

    /// Schedules `payload` at `time`; ties are broken by class, id, then insertion order.
    /// - Complexity: O(log n)
    @inlinable
    @discardableResult
    public mutating func schedule(at time: SimTime, eventClass: UInt8, id: Int64, _ payload: Payload) -> EventHandle {
        let sequence = nextSequence
        nextSequence &+= 1
        heap.insert(Entry(key: EventKey(time: time, eventClass: eventClass, id: id, sequence: sequence), payload: payload))
        return EventHandle(sequence: sequence)
    }

    /// Cancels a pending event. The entry stays in the heap and is dropped when
    /// it reaches the top, so cancelling costs no heap work.
    /// - Precondition: the event is pending (scheduled, not yet popped or cancelled);
    ///   checked in debug builds only, because the check is O(n).
    /// - Complexity: O(1) amortized
    public mutating func cancel(_ handle: EventHandle) {
        assert(!cancelled.contains(handle.sequence)
               && heap.unordered.contains(where: { $0.key.sequence == handle.sequence }),
               "cancel of an event that is not pending")
        cancelled.insert(handle.sequence)
    }

    /// The earliest pending event's key, without removing it.
    /// - Complexity: O(log n) amortized (drops cancelled entries on the way)
    public mutating func peekKey() -> EventKey? {
        dropCancelledTop()
        return heap.min?.key
    }

    /// Removes and returns the earliest pending event.
    /// - Complexity: O(log n) amortized
    @inlinable
    public mutating func pop() -> (key: EventKey, payload: Payload)? {
        while let entry = heap.popMin() {
            if !cancelled.isEmpty, cancelled.remove(entry.key.sequence) != nil { continue }
            return (entry.key, entry.payload)
        }
        return nil
    }

    @usableFromInline
    mutating func dropCancelledTop() {
        while let top = heap.min, !cancelled.isEmpty, cancelled.contains(top.key.sequence) {
            cancelled.remove(top.key.sequence)
            _ = heap.popMin()
        }
    }
}
