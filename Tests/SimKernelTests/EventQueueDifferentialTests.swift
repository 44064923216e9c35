import SimKernel
import Testing

/// The radix `EventQueue` against the 4-ary `HeapEventQueue` it replaced, on
/// seeded random operation sequences: every pop, peek, count and handle must
/// agree, ties and cancellations included.
@Suite struct EventQueueDifferentialTests {
    /// SplitMix64: a fixed generator, so a failing seed reproduces.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
        mutating func below(_ n: UInt64) -> UInt64 { next() % n }
    }

    /// How far after the last popped time a sequence schedules: a few instants
    /// (ties everywhere), a simulator's spread, gaps of any size up to Int64.max.
    enum Spread: CaseIterable { case instants, narrow, wide, anySize, mostlyNear, scaled }

    static func gap(_ spread: Spread, _ random: inout Generator) -> SimTime {
        switch spread {
        case .instants: SimTime(random.below(2))
        case .narrow: SimTime(random.below(16))
        case .wide: SimTime(random.below(1_000_000))
        case .anySize: SimTime(random.next() >> (1 + random.below(63)))
        case .mostlyNear: random.below(8) == 0 ? SimTime(random.next() >> 1) : SimTime(random.below(300))
        case .scaled: SimTime(random.below(1000)) << random.below(50)
        }
    }

    /// Runs one random sequence on both queues; returns the first disagreement.
    static func compare(seed: UInt64, operations: Int) -> String? {
        var random = Generator(state: seed)
        let spread = Spread.allCases[Int(random.below(UInt64(Spread.allCases.count)))]
        let classes = [1, 2, 4, 8][Int(random.below(4))] as UInt64
        let ids = [1, 3, 16, 1 << 20][Int(random.below(4))] as UInt64
        let pops = random.below(60), cancels = random.below(15)
        var queue = EventQueue<Int>(), reference = HeapEventQueue<Int>()
        var handles: [EventHandle] = [], pending = Set<UInt64>()
        var now: SimTime = 0
        for step in 0..<operations {
            let roll = random.below(100)
            if roll < pops {
                let got = queue.pop(), want = reference.pop()
                guard got?.key == want?.key, got?.payload == want?.payload else {
                    return "step \(step): popped \(String(describing: got)), heap popped \(String(describing: want))"
                }
                if let want {
                    pending.remove(want.key.sequence)
                    now = want.key.time
                }
            } else if roll < pops + cancels {
                guard !handles.isEmpty else { continue }
                let handle = handles[Int(random.below(UInt64(handles.count)))]
                if pending.remove(handle.sequence) != nil {
                    queue.cancel(handle)
                    reference.cancel(handle)
                }
            } else if roll < pops + cancels + 5 {
                let got = queue.peekKey(), want = reference.peekKey()
                guard got == want else { return "step \(step): peeked \(String(describing: got)), heap \(String(describing: want))" }
            } else {
                let (sum, overflow) = now.addingReportingOverflow(gap(spread, &random))
                let time = overflow || random.below(500) == 0 ? SimTime.max : sum
                let eventClass = UInt8(random.below(classes)), id = Int64(random.below(ids))
                let handle = queue.schedule(at: time, eventClass: eventClass, id: id, step)
                guard handle == reference.schedule(at: time, eventClass: eventClass, id: id, step) else {
                    return "step \(step): handles differ"
                }
                handles.append(handle)
                pending.insert(handle.sequence)
            }
            guard queue.count == reference.count, queue.isEmpty == reference.isEmpty else {
                return "step \(step): count \(queue.count), heap \(reference.count)"
            }
        }
        while true {
            guard queue.peekKey() == reference.peekKey() else { return "drain: peeks differ" }
            let got = queue.pop(), want = reference.pop()
            guard got?.key == want?.key, got?.payload == want?.payload else {
                return "drain: popped \(String(describing: got)), heap popped \(String(describing: want))"
            }
            if want == nil { return queue.isEmpty ? nil : "drain: not empty at the end" }
        }
    }

    @Test func randomOperationSequencesPopAsTheHeapDoes() {
        for seed in 0..<200 as Range<UInt64> {
            var random = Generator(state: seed &* 0x5851_f42d_4c95_7f2d)
            let operations = 1 + Int(random.below(random.below(4) == 0 ? 1_500 : 150))
            let failure = Self.compare(seed: random.next(), operations: operations)
            #expect(failure == nil, "seed \(seed): \(failure ?? "")")
            if failure != nil { return }
        }
    }

    @Test func extremeKeysPopInOrder() {
        var queue = EventQueue<Int>()
        var keys: [EventKey] = []
        let times: [SimTime] = [0, 1, 255, 256, 65_535, 1 << 40, (1 << 62) + 3, .max - 1, .max]
        let ids: [Int64] = [.min, -1, 0, 1, 255, 256, .max]
        var sequence: UInt64 = 0
        for time in times.reversed() {
            for eventClass in [255, 3, 0] as [UInt8] {
                for id in ids.reversed() {
                    queue.schedule(at: time, eventClass: eventClass, id: id, Int(sequence))
                    keys.append(EventKey(time: time, eventClass: eventClass, id: id, sequence: sequence))
                    sequence += 1
                }
            }
        }
        var popped: [EventKey] = []
        while let (key, payload) = queue.pop() {
            #expect(Int(key.sequence) == payload)
            popped.append(key)
        }
        #expect(popped == keys.sorted())
    }

    @Test func copiesChangeIndependently() {
        var queue = EventQueue<Int>()
        for i in 0..<500 { queue.schedule(at: Int64(i * 7919 % 1000), eventClass: UInt8(i % 3), id: Int64(i % 5), i) }
        for _ in 0..<100 { _ = queue.pop() }
        var copy = queue
        copy.schedule(at: 2_000, eventClass: 0, id: 0, -1)
        let first = queue.pop()!
        #expect(copy.peekKey() == first.key)
        #expect(queue.count == 399 && copy.count == 401)
        var fromQueue: [Int] = [], fromCopy: [Int] = []
        while let (_, payload) = queue.pop() { fromQueue.append(payload) }
        _ = copy.pop()
        while let (_, payload) = copy.pop() { fromCopy.append(payload) }
        #expect(fromCopy == fromQueue + [-1])
    }

    final class Counter { var released = 0 }
    final class Tracked {
        let counter: Counter
        init(_ counter: Counter) { self.counter = counter }
        deinit { counter.released += 1 }
    }

    @Test func payloadsWithReferencesAreReleased() {
        let counter = Counter()
        do {
            var queue = EventQueue<Tracked>()
            var handles: [EventHandle] = []
            for i in 0..<3_000 { handles.append(queue.schedule(at: Int64(i % 97) << (i % 40), eventClass: 0, id: 0, Tracked(counter))) }
            for handle in handles.prefix(100) { queue.cancel(handle) }
            for _ in 0..<1_000 { _ = queue.pop() }
            #expect(counter.released >= 1_000)  // and the cancelled ones popped past
            var copy = queue
            copy.schedule(at: .max, eventClass: 0, id: 0, Tracked(counter))
            _ = copy.pop()
        }
        #expect(counter.released == 3_001)
    }
}
