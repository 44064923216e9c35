import Foundation
import Reporting
import Simulation
import Testing
import TestSupport

/// The HTML report of a small run, rendered by headless Chromium (Debian's
/// `chromium`, installed by `make test`): the page loads without errors and
/// draws its charts.
@Suite(.serialized) struct HTMLRenderTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs Chromium headless, killing it after `timeout` seconds.
    func chromium(_ arguments: [String], timeout: TimeInterval = 90) throws -> (status: Int32, stdout: String, stderr: String) {
        let binary = try #require(Self.chromium, "Chromium is not installed: `make test` installs Debian's chromium package")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let deadline = DispatchTime.now() + timeout
        DispatchQueue.global().asyncAfter(deadline: deadline) { if process.isRunning { process.terminate() } }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    @Test(.requires(.chromium)) func theReportRendersWithItsChartsInChromium() throws {
        let directory = try Fixtures.scratchDirectory("html")
        let database = try ResultsDatabase(path: directory + "/runs.sqlite")
        let scenario = try Fixtures.loader().load(path: Fixtures.repoRoot + "/Workloads/seed-testbed.yaml")
        for policy in ["first-fit", "worst-fit"] {
            let run = try Run(scenario: scenario, policy: policy)
            let recorder = try RunRecorder(database: database, run: run, scenarioYAML: "")
            let summary = try run.simulate(record: recorder.record, monitor: RunMonitor(sample: { recorder.sample(time: $0, usage: $1, queued: $2) }))
            try recorder.finish(summary: summary, title: run.title)
        }
        let page = directory + "/report.html"
        try Report(database: database).html(title: "render test").write(toFile: page, atomically: true, encoding: .utf8)

        let dom = try chromium(["--dump-dom", "file://" + page])
        #expect(dom.status == 0, "chromium failed: \(dom.stderr.suffix(500))")
        #expect(dom.stdout.components(separatedBy: "<svg").count - 1 >= 9, "the rendered page lacks its charts")
        #expect(dom.stdout.contains("Headline") && dom.stdout.contains("run 2: worst-fit"))
        let pageErrors = dom.stderr.split(separator: "\n").filter { $0.contains("CONSOLE") || $0.contains("net::ERR") || $0.contains("Uncaught") }
        #expect(pageErrors.isEmpty, "page errors: \(pageErrors)")

        let png = directory + "/report.png"
        let shot = try chromium(["--window-size=1280,2400", "--screenshot=" + png, "file://" + page])
        #expect(shot.status == 0, "chromium failed: \(shot.stderr.suffix(500))")
        let data = try Data(contentsOf: URL(fileURLWithPath: png))
        #expect(data.starts(with: [0x89, 0x50, 0x4E, 0x47]) && data.count > 20_000, "screenshot missing or blank (\(data.count) bytes)")
    }
}
