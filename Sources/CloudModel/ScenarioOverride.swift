import Yams

/// Sets scenario keys by path before loading (`hpccloud sweep --vary`):
/// `policy`, `overcommit`, `hosts[0].count`, `hosts[1].hca`,
/// `workload.synthetic.arrivals.perHour`, ... The result is loaded and
/// validated like any scenario, so a bad value is reported by key.
public enum ScenarioOverride {
    public struct Setting: Hashable, Sendable, CustomStringConvertible {
        public var key: String
        public var value: String

        public init(key: String, value: String) {
            self.key = key
            self.value = value
        }

        public var description: String { "\(key)=\(value)" }

        /// `KEY=VALUE` as the command line gives it (`--set`, `--baseline`): nil without a key or an `=`.
        public init?(parsing text: String) {
            guard let equals = text.firstIndex(of: "="), equals != text.startIndex else { return nil }
            self.init(key: String(text[..<equals]), value: String(text[text.index(after: equals)...]))
        }
    }

    /// `yaml` with each setting applied in order.
    public static func apply(_ settings: [Setting], to yaml: String, file: String) throws -> String {
        guard var root = try YAMLValue.parse(yaml, file: file).node as Node? else { return yaml }
        for setting in settings {
            let path = try components(setting.key, file: file)
            root = try set(path[...], in: root, to: setting.value, setting: setting, file: file)
        }
        return try Yams.serialize(node: root)
    }

    enum Component: Equatable {
        case key(String)
        case index(Int)
    }

    /// `hosts[0].count` -> [.key("hosts"), .index(0), .key("count")]
    static func components(_ key: String, file: String) throws -> [Component] {
        var result: [Component] = []
        for part in key.split(separator: ".", omittingEmptySubsequences: false) {
            var rest = Substring(part)
            guard let name = rest.split(separator: "[").first, !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw InputError(file: file, field: key, message: "expected a key path such as hosts[0].count or workload.synthetic.arrivals.perHour")
            }
            result.append(.key(String(name)))
            rest = rest.dropFirst(name.count)
            while rest.hasPrefix("[") {
                guard let close = rest.firstIndex(of: "]"), let index = Int(rest[rest.index(after: rest.startIndex)..<close]), index >= 0 else {
                    throw InputError(file: file, field: key, message: "expected [N] with N >= 0 in the key path")
                }
                result.append(.index(index))
                rest = rest[rest.index(after: close)...]
            }
            guard rest.isEmpty else { throw InputError(file: file, field: key, message: "unexpected '\(rest)' in the key path") }
        }
        return result
    }

    private static func set(_ path: ArraySlice<Component>, in node: Node, to value: String, setting: Setting, file: String) throws -> Node {
        guard let first = path.first else { return Node(value) }
        let rest = path.dropFirst()
        switch (first, node) {
        case (.key(let key), .mapping(var mapping)):
            let child = mapping[Node(key)] ?? (rest.isEmpty ? Node(value) : Node.mapping([:]))
            mapping[Node(key)] = try set(rest, in: child, to: value, setting: setting, file: file)
            return .mapping(mapping)
        case (.index(let index), .sequence(var sequence)):
            guard index < sequence.count else {
                throw InputError(file: file, field: setting.key, message: "index \(index) is past the list's \(sequence.count) entries")
            }
            sequence[index] = try set(rest, in: sequence[index], to: value, setting: setting, file: file)
            return .sequence(sequence)
        default:
            throw InputError(file: file, field: setting.key, message: "cannot set this key: a \(Self.kind(node)) is in the way")
        }
    }

    private static func kind(_ node: Node) -> String {
        switch node {
        case .scalar: "scalar"
        case .mapping: "mapping"
        case .sequence: "list"
        case .alias: "alias"
        }
    }
}
