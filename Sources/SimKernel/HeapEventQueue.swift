/// The event queue before `EventQueue`: a 4-ary min-heap with the same API and
/// order, kept as the reference the tests compare `EventQueue` against (an
/// independent design: a bug would have to be made twice).
///
/// A node's children sit together and the tree is half as deep as a binary
/// heap; sifting moves a hole instead of swapping. The event times live in
/// their own array beside the entries, so the comparisons on the way down read
/// 8 bytes per child (four children in half a cache line) and touch the full
/// keys only on equal times. (swift-collections' min-max heap, used before,
/// ran at 6.1M events/s on the benchmark's hold model; this runs at 8.5M. A
/// slab of keys with 16-byte heap nodes measured slower here.)
///
/// `Payload` should be a small trivial value type (no references) so that
/// scheduling never allocates beyond the arrays' amortized growth.
public struct HeapEventQueue<Payload> {
    @usableFromInline
    struct Entry {
        @usableFromInline let key: EventKey
        @usableFromInline let payload: Payload

        @inlinable init(key: EventKey, payload: Payload) {
            self.key = key
            self.payload = payload
        }
    }

    /// `times[i] == entries[i].key.time`, kept apart for the sift comparisons.
    @usableFromInline var times: [SimTime] = []
    @usableFromInline var entries: [Entry] = []
    @usableFromInline var nextSequence: UInt64 = 0
    @usableFromInline var cancelled = Set<UInt64>()

    public init() {}

    /// Events scheduled and not yet popped or cancelled.
    /// - Complexity: O(1)
    public var count: Int { entries.count - cancelled.count }

    public var isEmpty: Bool { count == 0 }

    /// Schedules `payload` at `time`; ties are broken by class, id, then insertion order.
    /// - Complexity: O(log n)
    @inlinable
    @discardableResult
    public mutating func schedule(at time: SimTime, eventClass: UInt8, id: Int64, _ payload: Payload) -> EventHandle {
        let sequence = nextSequence
        nextSequence &+= 1
        let entry = Entry(key: EventKey(time: time, eventClass: eventClass, id: id, sequence: sequence), payload: payload)
        times.append(time)
        entries.append(entry)
        siftUp(entry, from: entries.count - 1)
        return EventHandle(sequence: sequence)
    }

    /// Cancels a pending event. The entry stays in the heap and is dropped when
    /// it reaches the top, so cancelling costs no heap work.
    /// - Precondition: the event is pending (scheduled, not yet popped or cancelled);
    ///   checked in debug builds only, because the check is O(n).
    /// - Complexity: O(1) amortized
    public mutating func cancel(_ handle: EventHandle) {
        assert(!cancelled.contains(handle.sequence) && entries.contains(where: { $0.key.sequence == handle.sequence }),
               "cancel of an event that is not pending")
        cancelled.insert(handle.sequence)
    }

    /// The earliest pending event's key, without removing it.
    /// - Complexity: O(log n) amortized (drops cancelled entries on the way)
    public mutating func peekKey() -> EventKey? {
        while let top = entries.first, !cancelled.isEmpty, cancelled.remove(top.key.sequence) != nil { _ = removeMin() }
        return entries.first?.key
    }

    /// Removes and returns the earliest pending event.
    /// - Complexity: O(log n) amortized
    @inlinable
    public mutating func pop() -> (key: EventKey, payload: Payload)? {
        while let entry = removeMin() {
            if !cancelled.isEmpty, cancelled.remove(entry.key.sequence) != nil { continue }
            return (entry.key, entry.payload)
        }
        return nil
    }

    @inlinable
    mutating func removeMin() -> Entry? {
        guard let last = entries.popLast() else { return nil }
        times.removeLast()
        guard !entries.isEmpty else { return last }
        let top = entries[0]
        siftDown(last)
        return top
    }

    /// Moves `moving` (at `index`) up to its place.
    @inlinable
    mutating func siftUp(_ moving: Entry, from index: Int) {
        let time = moving.key.time
        times.withUnsafeMutableBufferPointer { times in
            entries.withUnsafeMutableBufferPointer { heap in
                var hole = index
                while hole > 0 {
                    let parent = (hole - 1) >> 2
                    let parentTime = times[parent]
                    guard time < parentTime || (time == parentTime && moving.key < heap[parent].key) else { break }
                    times[hole] = parentTime
                    heap[hole] = heap[parent]
                    hole = parent
                }
                times[hole] = time
                heap[hole] = moving
            }
        }
    }

    /// Places `moving` from the root down, into the hole left by the minimum.
    @inlinable
    mutating func siftDown(_ moving: Entry) {
        let time = moving.key.time
        times.withUnsafeMutableBufferPointer { times in
            entries.withUnsafeMutableBufferPointer { heap in
                let count = heap.count
                var hole = 0
                while true {
                    let first = 4 * hole + 1
                    guard first < count else { break }
                    var best = first
                    var bestTime = times[first]
                    let end = min(first + 4, count)
                    var child = first + 1
                    while child < end {
                        let childTime = times[child]
                        if childTime < bestTime || (childTime == bestTime && heap[child].key < heap[best].key) {
                            best = child
                            bestTime = childTime
                        }
                        child += 1
                    }
                    guard bestTime < time || (bestTime == time && heap[best].key < moving.key) else { break }
                    times[hole] = bestTime
                    heap[hole] = heap[best]
                    hole = best
                }
                times[hole] = time
                heap[hole] = moving
            }
        }
    }
}
