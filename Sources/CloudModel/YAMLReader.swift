import Yams

/// A YAML node with its key path and source file, so that every complaint about
/// it names `file:line:column: path`.
public struct YAMLValue {
    public let node: Node
    public let path: String
    public let file: String

    /// Parses `text` (the contents of `file`) into its root value.
    public static func parse(_ text: String, file: String) throws -> YAMLValue {
        do {
            guard let root = try Yams.compose(yaml: text) else {
                throw InputError(file: file, line: 1, column: 1, message: "the file is empty")
            }
            return YAMLValue(node: root, path: "", file: file)
        } catch let error as YamlError {
            throw InputError.fromYams(error, file: file)
        }
    }

    public func error(_ message: String) -> InputError {
        InputError(file: file, line: node.mark?.line, column: node.mark?.column,
                   field: path.isEmpty ? nil : path, message: message)
    }

    /// The scalar's text as written, or an error naming what was expected.
    public func scalarText(expecting what: String) throws -> String {
        guard case .scalar(let scalar) = node else { throw error("expected \(what), got a \(kindName)") }
        return scalar.string
    }

    var kindName: String {
        switch node {
        case .scalar: "scalar"
        case .mapping: "mapping"
        case .sequence: "list"
        case .alias: "alias"
        }
    }

    /// Text that reaches terminals, reports and partitions.conf comments: printable, lines and tabs allowed.
    public func string() throws -> String {
        let text = try scalarText(expecting: "a string")
        if let bad = text.unicodeScalars.first(where: { $0 != "\n" && TerminalText.isControl($0) }) {
            throw error("expected printable text, found the control character U+\(String(bad.value, radix: 16, uppercase: true))")
        }
        return text
    }

    /// `true` or `false`.
    public func bool() throws -> Bool {
        let text = try scalarText(expecting: "true or false")
        switch text.trimmingSpaces {
        case "true": return true
        case "false": return false
        default: throw error("expected true or false, got '\(text)'")
        }
    }

    /// An integer in decimal or `0x` hex, optionally signed.
    public func int() throws -> Int {
        let text = try scalarText(expecting: "an integer")
        guard let value = YAMLValue.parseInt(text) else { throw error("expected an integer, got '\(text)'") }
        return value
    }

    public func int(in range: ClosedRange<Int>, what: String = "an integer") throws -> Int {
        let value = try int()
        guard range.contains(value) else {
            if range.upperBound == Int.max {
                throw error("expected \(what) >= \(range.lowerBound), got \(value)")
            }
            throw error("expected \(what) in \(range.lowerBound)...\(range.upperBound), got \(value)")
        }
        return value
    }

    /// A finite number (`0.25`, `3`).
    public func double() throws -> Double {
        let text = try scalarText(expecting: "a number")
        guard let value = Double(text.trimmingSpaces), value.isFinite else {
            throw error("expected a number, got '\(text)'")
        }
        return value
    }

    public func double(atLeast low: Double, atMost high: Double = .infinity) throws -> Double {
        let value = try double()
        guard value >= low, value <= high else {
            throw error(high.isInfinite ? "expected a number >= \(low), got \(value)"
                                        : "expected a number in \(low)...\(high), got \(value)")
        }
        return value
    }

    public func sequence() throws -> [YAMLValue] {
        guard case .sequence(let items) = node else { throw error("expected a list, got a \(kindName)") }
        return items.enumerated().map { YAMLValue(node: $0.element, path: "\(path)[\($0.offset)]", file: file) }
    }

    /// A mapping whose keys must all be in `allowed`; an unknown key is an error at that key.
    public func mapping(allowed: [String]) throws -> YAMLMapping {
        guard case .mapping(let mapping) = node else { throw error("expected a mapping, got a \(kindName)") }
        var entries: [(key: String, value: YAMLValue)] = []
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let key) = keyNode else {
                throw YAMLValue(node: keyNode, path: path, file: file).error("keys must be plain strings")
            }
            let childPath = path.isEmpty ? key.string : "\(path).\(key.string)"
            if !allowed.isEmpty && !allowed.contains(key.string) {
                throw YAMLValue(node: keyNode, path: childPath, file: file)
                    .error("unknown key (expected one of: \(allowed.joined(separator: ", ")))")
            }
            entries.append((key.string, YAMLValue(node: valueNode, path: childPath, file: file)))
        }
        return YAMLMapping(owner: self, entries: entries)
    }

    static func parseInt(_ raw: String) -> Int? {
        var text = Substring(raw.trimmingSpaces)
        var negative = false
        if text.hasPrefix("-") { negative = true; text = text.dropFirst() } else if text.hasPrefix("+") { text = text.dropFirst() }
        let value: Int?
        if text.hasPrefix("0x") || text.hasPrefix("0X") {
            value = Int(text.dropFirst(2), radix: 16)
        } else {
            value = text.allSatisfy(\.isASCIIDigit) ? Int(text) : nil
        }
        return value.map { negative ? -$0 : $0 }
    }
}

/// The entries of a validated mapping, in file order.
public struct YAMLMapping {
    public let owner: YAMLValue
    public let entries: [(key: String, value: YAMLValue)]

    public subscript(key: String) -> YAMLValue? { entries.first { $0.key == key }?.value }

    public func required(_ key: String) throws -> YAMLValue {
        guard let value = self[key] else { throw owner.error("missing required key '\(key)'") }
        return value
    }
}

extension InputError {
    /// One line from a Yams error, keeping its position.
    static func fromYams(_ error: YamlError, file: String) -> InputError {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            let prefix = context.map { "\($0.text) " } ?? ""
            return InputError(file: file, line: mark.line, column: mark.column,
                              message: "malformed YAML: \(prefix)\(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            return InputError(file: file, line: context.mark.line, column: context.mark.column,
                              message: "malformed YAML: duplicate key(s) \(duplicates.joined(separator: ", "))")
        case let .reader(problem, _, _, _):
            return InputError(file: file, message: "unreadable YAML: \(problem)")
        default:
            return InputError(file: file, message: "malformed YAML: \(error)")
        }
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let first = s.first, first == " " || first == "\t" { s = s.dropFirst() }
        while let last = s.last, last == " " || last == "\t" { s = s.dropLast() }
        return String(s)
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
