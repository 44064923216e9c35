import Foundation
import Testing
import TestSupport

/// The README's example sessions run as tests, as SimGrid's `.tesh` files do:
/// in a fenced block whose first line starts with `$ `, each `$ ` line is a
/// command (run by /bin/sh in a scratch directory that holds `Workloads/` and
/// `Hardware/` and `policies/`, with the built `hpccloud` first on PATH) and the lines up to the
/// next `$ ` are its output, stdout and stderr together. An example whose output
/// ends with `hpccloud: error:` must fail; any other must succeed. A changed
/// number in the tool cannot go unnoticed in the README.
@Suite struct READMEExamplesTests {
    /// One command of a session and the output the README shows for it.
    struct Step: Sendable {
        let line: Int
        let command: String
        let expected: [String]
    }

    /// One example block: its commands run in order in one scratch directory.
    struct Session: CustomTestStringConvertible, Sendable {
        let steps: [Step]
        var testDescription: String { "README.md:\(steps[0].line): \(steps.last!.command)" }
    }

    /// The README's example sessions.
    static let sessions: [Session] = {
        guard let text = try? String(contentsOfFile: Fixtures.repoRoot + "/README.md", encoding: .utf8) else { return [] }
        var sessions: [Session] = []
        var steps: [Step] = []
        var inBlock = false, session = false, firstLine = false
        var current: (line: Int, command: String, output: [String])?
        func finishStep() {
            if let c = current { steps.append(Step(line: c.line, command: c.command, expected: c.output)) }
            current = nil
        }
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(line)
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("```") {
                if inBlock {
                    finishStep()
                    if !steps.isEmpty { sessions.append(Session(steps: steps)) }
                    steps = []
                }
                inBlock.toggle()
                firstLine = inBlock
                session = false
                continue
            }
            guard inBlock else { continue }
            if firstLine {
                // Only blocks that start with a command are sessions.
                firstLine = false
                session = line.hasPrefix("$ ")
            }
            guard session else { continue }
            if line.hasPrefix("$ ") {
                finishStep()
                current = (index + 1, String(line.dropFirst(2)), [])
            } else {
                current?.output.append(line)
            }
        }
        return sessions
    }()

    /// A scratch directory with the checkout's scenarios and hardware, so commands run as in the README.
    static func workspace() throws -> String {
        let directory = try Fixtures.scratchDirectory("readme")
        for name in ["Workloads", "Hardware", "policies"] {
            try FileManager.default.createSymbolicLink(atPath: directory + "/" + name, withDestinationPath: Fixtures.repoRoot + "/" + name)
        }
        return directory
    }

    @Test func theREADMEHasExampleSessions() {
        #expect(Self.sessions.count >= 6, "found \(Self.sessions.map(\.testDescription))")
    }

    @Test(arguments: sessions)
    func exampleOutputIsWhatTheToolPrints(_ session: Session) throws {
        let directory = try Self.workspace()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for step in session.steps {
            let (status, output) = try Self.run(step.command, in: directory)
            let normalize = { (lines: [String]) -> [String] in
                var lines = lines.map { String($0.reversed().drop(while: \.isWhitespace).reversed()) }
                while lines.last?.isEmpty == true { lines.removeLast() }
                return lines
            }
            let actual = normalize(output.components(separatedBy: "\n"))
            let expected = normalize(step.expected)
            let firstDifference = (0..<min(actual.count, expected.count)).first { actual[$0] != expected[$0] } ?? min(actual.count, expected.count)
            #expect(actual == expected, """
                README.md:\(step.line): \(step.command): output differs from line \(firstDifference + 1) of the example
                README:  \(firstDifference < expected.count ? expected[firstDifference] : "(end)")
                printed: \(firstDifference < actual.count ? actual[firstDifference] : "(end)")
                whole output:
                \(actual.joined(separator: "\n"))
                """)
            let mustFail = expected.last?.hasPrefix("hpccloud: error:") ?? false
            #expect((status != 0) == mustFail, "README.md:\(step.line): \(step.command): exit status \(status)")
        }
    }

    /// Runs one command line under /bin/sh with the built `hpccloud` first on PATH; stdout and stderr together.
    static func run(_ command: String, in directory: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // Grouped, so the command's own redirections (2>/dev/null) apply after the merge.
        process.arguments = ["-c", "{ " + command + "\n} 2>&1"]
        let binaryDirectory = URL(fileURLWithPath: Tool.binary).deletingLastPathComponent().path
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = binaryDirectory + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        environment["HPCCLOUD_REPORTS"] = directory + "/Reports"
        environment.removeValue(forKey: "HPCCLOUD_HARDWARE")
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
