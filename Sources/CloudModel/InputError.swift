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
        return TerminalText.visible("\(location): \(text)".split(whereSeparator: \.isNewline).joined(separator: " "))
    }
}
