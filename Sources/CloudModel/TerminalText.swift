/// Text from inputs on its way to a terminal: its control characters (an
/// input's escape sequences, which a terminal would run) shown, not sent.
public enum TerminalText {
    /// `text` with every control character as `\u{1B}`; tabs, and newlines when `keepingNewlines`, stay.
    public static func visible(_ text: String, keepingNewlines: Bool = false) -> String {
        func escaped(_ scalar: Unicode.Scalar) -> Bool { isControl(scalar) && !(keepingNewlines && scalar == "\n") }
        guard text.unicodeScalars.contains(where: escaped) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if escaped(scalar) { out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}" } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }

    /// C0 (but tab), DEL and C1: what a terminal interprets.
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        (scalar.value < 0x20 && scalar != "\t") || (0x7f...0x9f).contains(scalar.value)
    }
}
