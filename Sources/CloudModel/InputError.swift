/// A problem with user input (a scenario, a profile, a trace): always names the
/// file and, where known, the line, column and field, in one line.
public struct InputError: Error, CustomStringConvertible, Equatable, Sendable {
    public let file: String
    public let line: Int?
    public let column: Int?
    /// Key path (`hosts[0].cores`) or column name (`duration`).
    public let field: String?
    public let message: String

    public init(file: String, line: Int? = nil, column: Int? = nil, field: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.message = message
    }

    /// `file:line:column: field: message`, always a single line.
    public var description: String {
        var location = file
        if let line { location += ":\(line)" }
        if let column { location += ":\(column)" }
        let text = (field.map { "\($0): " } ?? "") + message
        return Self.visible("\(location): \(text)".split(whereSeparator: \.isNewline).joined(separator: " "))
    }

    /// Control characters (an input's escape sequences, which a terminal would run) as `\u{1B}`.
    public static func visible(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if isControl(scalar) { out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}" } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }

    /// C0 (but tab), DEL and C1: what a terminal interprets.
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        (scalar.value < 0x20 && scalar != "\t") || (0x7f...0x9f).contains(scalar.value)
    }
}
