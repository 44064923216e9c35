/// A set of free integers in `first...last` that hands out the lowest free one.
///
/// Two-level bitmap: a summary bit per 64-key word says whether the word has a
/// free key, so `takeLowest` reads at most `count/4096` summary words plus one word.
struct LowestFreeSet: Equatable {
    let first: Int
    let count: Int
    /// Bit set = free.
    private var words: [UInt64]
    /// Bit w set = words[w] has a free bit.
    private var summary: [UInt64]
    private(set) var freeCount: Int

    init(_ range: ClosedRange<Int>) {
        first = range.lowerBound
        count = range.count
        let wordCount = (count + 63) / 64
        words = Array(repeating: ~0, count: wordCount)
        if count % 64 != 0 { words[wordCount - 1] = (1 << UInt64(count % 64)) - 1 }
        summary = Array(repeating: ~0, count: (wordCount + 63) / 64)
        if wordCount % 64 != 0 { summary[summary.count - 1] = (1 << UInt64(wordCount % 64)) - 1 }
        freeCount = count
    }

    func isFree(_ value: Int) -> Bool {
        let i = value - first
        return words[i >> 6] & (1 << UInt64(i & 63)) != 0
    }

    /// Removes and returns the lowest free value, or nil when none is free.
    /// - Complexity: O(count / 4096)
    mutating func takeLowest() -> Int? {
        for s in summary.indices where summary[s] != 0 {
            let w = s << 6 + summary[s].trailingZeroBitCount
            let bit = words[w].trailingZeroBitCount
            words[w] &= ~(1 << UInt64(bit))
            if words[w] == 0 { summary[s] &= ~(1 << UInt64(w & 63)) }
            freeCount -= 1
            return first + w << 6 + bit
        }
        return nil
    }

    func contains(_ value: Int) -> Bool { value >= first && value - first < count }

    /// Removes `value` (which must be free).
    /// - Complexity: O(1)
    mutating func take(_ value: Int) {
        let i = value - first
        precondition(contains(value) && isFree(value), "take of a value that is not free")
        words[i >> 6] &= ~(1 << UInt64(i & 63))
        if words[i >> 6] == 0 { summary[i >> 12] &= ~(1 << UInt64((i >> 6) & 63)) }
        freeCount -= 1
    }

    /// Returns `value` to the set.
    /// - Complexity: O(1)
    mutating func release(_ value: Int) {
        let i = value - first
        precondition(i >= 0 && i < count && !isFree(value), "release of a value that is not taken")
        words[i >> 6] |= 1 << UInt64(i & 63)
        summary[i >> 12] |= 1 << UInt64((i >> 6) & 63)
        freeCount += 1
    }
}
