import SimKernel
import Testing

@Suite struct EventQueueTests {
    @Test func popsInTheTotalOrderTimeClassIdSequence() {
        var queue = EventQueue<String>()
        queue.schedule(at: 10, eventClass: 3, id: 1, "arrive 1 @10")
        queue.schedule(at: 10, eventClass: 0, id: 9, "depart 9 @10")
        queue.schedule(at: 5, eventClass: 3, id: 7, "arrive 7 @5")
        queue.schedule(at: 10, eventClass: 3, id: 0, "arrive 0 @10")
        queue.schedule(at: 10, eventClass: 1, id: 4, "shrink 4 @10")
        queue.schedule(at: 10, eventClass: 2, id: 4, "extend 4 @10")
        queue.schedule(at: 10, eventClass: 3, id: 1, "arrive 1 @10 again")
        var order: [String] = []
        while let (_, payload) = queue.pop() { order.append(payload) }
        #expect(order == ["arrive 7 @5", "depart 9 @10", "shrink 4 @10", "extend 4 @10",
                          "arrive 0 @10", "arrive 1 @10", "arrive 1 @10 again"])
    }

    @Test func orderIsTotalAndIndependentOfInsertionPattern() {
        // Many equal keys scheduled in a scrambled order come out by (time, class, id, seq).
        var queue = EventQueue<Int>()
        var keys: [EventKey] = []
        var lcg: UInt64 = 12345
        for i in 0..<5000 {
            lcg = lcg &* 6364136223846793005 &+ 1442695040888963407
            let time = Int64(lcg >> 60), cls = UInt8((lcg >> 40) % 4), id = Int64((lcg >> 20) % 8)
            queue.schedule(at: time, eventClass: cls, id: id, i)
            keys.append(EventKey(time: time, eventClass: cls, id: id, sequence: UInt64(i)))
        }
        var popped: [EventKey] = []
        while let (key, payload) = queue.pop() {
            #expect(Int(key.sequence) == payload)
            popped.append(key)
        }
        #expect(popped == keys.sorted())
    }

    @Test func cancelledEventsNeverPop() {
        var queue = EventQueue<Int>()
        let handles = (0..<10).map { queue.schedule(at: Int64($0), eventClass: 0, id: 0, $0) }
        queue.cancel(handles[0])
        queue.cancel(handles[5])
        queue.cancel(handles[9])
        #expect(queue.count == 7)
        #expect(queue.peekKey()?.time == 1)
        var seen: [Int] = []
        while let (_, value) = queue.pop() { seen.append(value) }
        #expect(seen == [1, 2, 3, 4, 6, 7, 8])
        #expect(queue.isEmpty)
    }
}

@Suite struct RandomStreamTests {
    @Test func sameSeedAndNameGiveTheSameStream() {
        let a = RandomStream(seed: 42, name: "arrivals"), b = RandomStream(seed: 42, name: "arrivals")
        for _ in 0..<1000 { #expect(a.uniform() == b.uniform()) }
    }

    @Test func namesAndSeedsGiveIndependentStreams() {
        let base = (0..<64).map { _ in RandomStream(seed: 42, name: "arrivals") }[0]
        let first = (0..<64).map { _ in base.uniformInt(below: 1 << 30) }
        let otherName = RandomStream(seed: 42, name: "sizes"), otherSeed = RandomStream(seed: 43, name: "arrivals")
        #expect((0..<64).map { _ in otherName.uniformInt(below: 1 << 30) } != first)
        #expect((0..<64).map { _ in otherSeed.uniformInt(below: 1 << 30) } != first)
    }

    @Test func streamsTakenFromOneRunAreStableWhateverTheOrderOfFirstUse() {
        let one = RandomStreams(seed: 7), two = RandomStreams(seed: 7)
        let a1 = one.stream("arrivals").uniform()
        _ = two.stream("placement").uniform()  // another consumer draws first
        #expect(two.stream("arrivals").uniform() == a1)
        #expect(one.stream("arrivals") === one.stream("arrivals"))
    }

    @Test func derivedSeedsAreFixedAcrossBuilds() {
        // Pinned values: a change here silently changes every run's numbers.
        #expect(RandomStream.derivedSeed(seed: 42, name: "arrivals") == 521_378_057)  // FNV-1a + splitmix64, computed independently in Python
        #expect(RandomStream.derivedSeed(seed: 0, name: "") == 2_821_030_705)
    }

    @Test func exponentialMeanAndUniformIntRangeHold() {
        let stream = RandomStream(seed: 1, name: "test")
        let n = 200_000
        var sum = 0.0
        for _ in 0..<n { sum += stream.exponential(mean: 3) }
        // Standard error of the mean is 3/sqrt(n) = 0.0067; allow 5 sigma.
        #expect(abs(sum / Double(n) - 3) < 0.034)
        var counts = [Int](repeating: 0, count: 5)
        for _ in 0..<50_000 { counts[stream.uniformInt(below: 5)] += 1 }
        #expect(counts.allSatisfy { abs($0 - 10_000) < 500 })
    }

    @Test func discreteIndexFollowsTheWeights() {
        let stream = RandomStream(seed: 3, name: "sizes")
        var counts = [0, 0, 0]
        for _ in 0..<100_000 { counts[stream.discreteIndex(cumulativeWeights: [0.2, 0.2, 1.0])] += 1 }
        #expect(counts[1] == 0)  // zero weight is never drawn
        #expect(abs(counts[0] - 20_000) < 700 && abs(counts[2] - 80_000) < 700)
    }
}
