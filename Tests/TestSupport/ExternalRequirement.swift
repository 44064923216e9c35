import Foundation
import Testing

/// What a test needs beyond the Swift toolchain: real programs it drives, or
/// root. Such tests say so in their names (…InChromium, …OnSlurm, …OnOpenSM,
/// …UnderSchemathesis, …AsRoot) and carry `.requires(...)`.
///
/// `make test` installs every program and sets `HPCCLOUD_TEST_EVERYTHING=1`:
/// there these tests always run, and a missing requirement fails them with its
/// reason. Elsewhere (a bare `swift test`) a test whose requirement is missing
/// is skipped, and the skip says what is missing and how to get it.
public enum ExternalRequirement: Sendable {
    case chromium, slurm, openSM, schemathesis, python3
    /// Root with mount namespaces (`unshare -m`), for tests that mount a small or read-only filesystem.
    case rootWithMounts

    /// Set by `make test`: nothing may be skipped.
    public static var everythingRequired: Bool {
        ProcessInfo.processInfo.environment["HPCCLOUD_TEST_EVERYTHING"] == "1"
    }

    public var isMet: Bool {
        let executable = { (path: String) in FileManager.default.isExecutableFile(atPath: path) }
        switch self {
        case .chromium:
            return executable("/usr/bin/chromium") || executable("/usr/bin/chromium-browser")
        case .slurm:
            return getuid() == 0 && ["/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/bin/sbatch", "/usr/sbin/munged"].allSatisfy(executable)
        case .openSM:
            return IBSimFabric.tools.allSatisfy { FileManager.default.fileExists(atPath: $0) }
        case .schemathesis:
            return (try? CleanSpawn.run("/usr/bin/env", ["python3", "-m", "schemathesis.cli", "--version"], timeout: 60, directory: "/").status) == 0
        case .python3:
            return (try? CleanSpawn.run("/usr/bin/env", ["python3", "--version"], timeout: 60, directory: "/").status) == 0
        case .rootWithMounts:
            return getuid() == 0 && (try? CleanSpawn.run("/usr/bin/unshare", ["-m", "true"], timeout: 10, directory: "/").status) == 0
        }
    }

    /// What is missing and how to get it.
    public var missing: String {
        switch self {
        case .chromium: "needs Chromium (Debian's chromium package; make test installs it)"
        case .slurm: "needs root and Slurm (slurm-wlm and munge; make test installs them; it runs as root in CI)"
        case .openSM: "needs OpenSM on ibsim (opensm, ibsim-utils, libumad2sim0, infiniband-diags; make test installs them)"
        case .schemathesis: "needs schemathesis (PyPI; make test installs it)"
        case .python3: "needs python3 (Debian's python3 package), for the external policy examples"
        case .rootWithMounts: "needs root with mount namespaces (unshare -m), to mount small and read-only filesystems"
        }
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs the test under `make test` always; elsewhere only if `requirements` are met, else skips it saying why.
    public static func requires(_ requirements: ExternalRequirement...) -> Self {
        let reasons = requirements.map(\.missing).joined(separator: "; ")
        return .enabled(if: ExternalRequirement.everythingRequired || requirements.allSatisfy(\.isMet),
                        Comment(rawValue: "skipped outside make test: " + reasons))
    }
}
