import Foundation

/// Starts processes with an empty signal mask and default signal actions.
///
/// Why: Foundation's `Process` hands a child the spawning thread's signal
/// mask, and the test runner's threads block signals, so a daemon started that
/// way never receives SIGHUP (OpenSM's re-read) or SIGTERM (shutdown).
public enum CleanSpawn {
    /// Spawns `executable`; stdout and stderr go to `output` (appended), or nowhere.
    /// - Parameter directory: the child's working directory (libumad2sim leaves `./sys-<pid>` there).
    public static func spawn(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                             output: String? = nil, directory: String? = nil) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t(), all = sigset_t()
        sigemptyset(&empty)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let target = output ?? "/dev/null"
        posix_spawn_file_actions_addopen(&actions, 1, target, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let env = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }.map { "\($0.key)=\($0.value)" }
        // Swift's Glibc lacks posix_spawn_file_actions_addchdir_np: a shell changes directory, then execs (same pid).
        let command = directory == nil ? [executable] + arguments : ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", directory!, executable] + arguments
        let argv = command.map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, command[0], &actions, &attributes, argv, envp)
        guard status == 0 else { throw POSIXError(POSIXErrorCode(rawValue: status) ?? .EIO) }
        return pid
    }

    /// Runs to the end (killed after `timeout` seconds); the exit status and the output.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                           timeout: TimeInterval = 60, directory: String? = nil) throws -> (status: Int32, output: String) {
        let log = NSTemporaryDirectory() + "hpccloud-spawn-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let pid = try spawn(executable, arguments, environment: environment, output: log, directory: directory)
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            if Date() > deadline { kill(pid, SIGKILL) }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let exited = status & 0x7f == 0
        return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), output)
    }

    /// SIGTERM, then SIGKILL after `grace` seconds; reaps the child.
    public static func stop(_ pid: pid_t, grace: TimeInterval = 3) {
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            if Date() > deadline {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                return
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }
}

/// `smpquery -G pkeys GUID PORT` against a fabric (ibsim under libumad2sim in the tests):
/// the port's pkey table in index order, as the subnet manager programmed it.
public enum SMPQuery {
    public static func pkeys(guid: UInt64, port: Int, environment: [String: String], directory: String) throws -> [Int] {
        let result = try CleanSpawn.run("/usr/sbin/smpquery", ["-G", "pkeys", String(format: "0x%llx", guid), "\(port)"],
                                        environment: environment, timeout: 20, directory: directory)
        var keys: [Int] = []
        for line in result.output.split(separator: "\n") where line.contains(":") && !line.contains("ibwarn") {
            for word in line.split(separator: " ") where word.hasPrefix("0x") { keys.append(Int(word.dropFirst(2), radix: 16) ?? 0) }
        }
        return keys
    }
}
