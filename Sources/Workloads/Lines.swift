/// Calls `body` with each line of `bytes` (1-based number, without the
/// newline or a trailing carriage return): the readers' shared line loop,
/// which builds no Strings.
func forEachLine(_ bytes: [UInt8], _ body: (Int, ArraySlice<UInt8>) throws -> Void) rethrows {
    var number = 0
    var start = 0
    while start < bytes.count {
        var end = start
        while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
        number += 1
        var line = bytes[start..<end]
        start = end + 1
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        try body(number, line)
    }
}
