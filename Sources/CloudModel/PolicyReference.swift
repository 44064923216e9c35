/// How a scenario or the command line names a placement policy: a policy
/// registered in the engine by name (`best-fit`), or a program speaking the
/// external policy protocol (`exec:python3 policies/first_fit.py`).
public enum PolicyReference: Equatable, Sendable {
    case named(String)
    /// The program and its arguments, split at spaces (no shell runs it).
    case external(command: [String])

    public static let externalPrefix = "exec:"

    /// Parses a policy name; nil for `exec:` with no command.
    public init?(_ text: String) {
        guard text.hasPrefix(Self.externalPrefix) else {
            self = .named(text)
            return
        }
        let command = text.dropFirst(Self.externalPrefix.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard !command.isEmpty else { return nil }
        self = .external(command: command)
    }

    /// A program, not a policy the engine has.
    public var isExternal: Bool {
        if case .external = self { true } else { false }
    }

    /// Checks a policy name against the registered `names`: one line saying what was expected.
    public static func validate(_ text: String, names: [String]) -> String? {
        switch PolicyReference(text) {
        case nil:
            "'exec:' needs a command, such as exec:python3 policies/first_fit.py"
        case .named(let name) where !names.contains(name):
            "unknown policy '\(TerminalText.visible(name))' (expected one of: \(names.joined(separator: ", ")), or exec:COMMAND)"
        default:
            nil
        }
    }
}
