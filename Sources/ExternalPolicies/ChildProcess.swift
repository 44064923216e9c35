import Foundation

/// A program run with pipes on its stdin and stdout (its stderr is ours, for
/// its debugging output), in its own process group so that the terminal's
/// Ctrl-C reaches the simulator, which stops the run and then the program.
final class ChildProcess {
    struct Failure: Error { var message: String }

    enum Read {
        case line([UInt8])
        /// End of the program's output; its exit status if it has exited.
        case closed(Int32?)
        case error(String)
        /// No line before the deadline.
        case timedOut
        /// `interrupted()` said so while waiting.
        case interrupted
    }

    private let pid: pid_t
    private var input: Int32
    private let output: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var chunk = [UInt8](repeating: 0, count: 1 << 16)
    private var exitStatus: Int32?
    private var reaped = false

    /// Starts `command[0]` found on PATH (posix_spawnp, no shell).
    init(command: [String]) throws {
        // A policy that dies must be an error the run reports, not a SIGPIPE that kills it.
        signal(SIGPIPE, SIG_IGN)
        var toChild: [Int32] = [0, 0], fromChild: [Int32] = [0, 0]
        guard pipe(&toChild) == 0 else { throw Failure(message: "cannot make a pipe: \(String(cString: strerror(errno)))") }
        guard pipe(&fromChild) == 0 else {
            close(toChild[0]); close(toChild[1])
            throw Failure(message: "cannot make a pipe: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], STDIN_FILENO)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], STDOUT_FILENO)
        for fd in toChild + fromChild { posix_spawn_file_actions_addclose(&actions, fd) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group; SIGPIPE back to the default the program expects.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF))
        var child: pid_t = 0
        let argv = command.map { strdup($0) } + [nil]
        defer { for arg in argv { free(arg) } }
        let status = posix_spawnp(&child, command[0], &actions, &attributes, argv, environ)
        close(toChild[0])
        close(fromChild[1])
        guard status == 0 else {
            close(toChild[1]); close(fromChild[0])
            throw Failure(message: "cannot start '\(command[0])': \(String(cString: strerror(status)))")
        }
        pid = child
        input = toChild[1]
        output = fromChild[0]
        _ = fcntl(input, F_SETFD, FD_CLOEXEC)
        _ = fcntl(output, F_SETFD, FD_CLOEXEC)
        buffer.reserveCapacity(1 << 16)
    }

    deinit {
        stop()
        close(output)
    }

    /// Writes all of `bytes`; the error text if the program stopped reading.
    func write(_ bytes: [UInt8]) -> String? {
        guard input >= 0 else { return "its input is closed" }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Foundation.write(input, $0.baseAddress! + offset, bytes.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                return errno == EPIPE ? "it closed its input" : String(cString: strerror(errno))
            }
            offset += written
        }
        return nil
    }

    /// The next line of the program's output, without its newline.
    /// - Parameters:
    ///   - timeout: seconds to wait for it in all.
    ///   - interrupted: asked every tenth of a second while waiting (Ctrl-C may land on any thread).
    func readLine(timeout: Double, interrupted: () -> Bool = { false }) -> Read {
        let deadline = ContinuousClock.now + .milliseconds(Int64(min(timeout, 1e9) * 1000))
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[start..<newline])
                start = newline + 1
                if start == buffer.count {
                    buffer.removeAll(keepingCapacity: true)
                    start = 0
                }
                return .line(line)
            }
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            // Wait in slices for the output to be readable.
            var ready = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            let waited = poll(&ready, 1, 100)
            if waited < 0 && errno != EINTR { return .error(String(cString: strerror(errno))) }
            if waited <= 0 {
                if interrupted() { return .interrupted }
                if ContinuousClock.now >= deadline { return .timedOut }
                continue
            }
            let count = chunk.withUnsafeMutableBytes { Foundation.read(output, $0.baseAddress!, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .error(String(cString: strerror(errno)))
            }
            if count == 0 { return .closed(exitSoon()) }
            buffer += chunk[0..<count]
        }
    }

    /// The exit status of a program that closed its output, if it exits within a second.
    private func exitSoon() -> Int32? {
        for _ in 0..<100 {
            if let status = waitExit(blocking: false) { return status }
            usleep(10_000)
        }
        return nil
    }

    /// Closes the program's input (it should exit) and waits for it.
    func closeAndWait() -> Int32? {
        closeInput()
        return waitExit(blocking: true)
    }

    /// Ends the program now (SIGKILL to its process group) and reaps it.
    func stop() {
        closeInput()
        guard !reaped else { return }
        kill(-pid, SIGKILL)
        _ = waitExit(blocking: true)
    }

    private func closeInput() {
        guard input >= 0 else { return }
        close(input)
        input = -1
    }

    /// The exit status (128 + signal when killed), once the program has exited.
    private func waitExit(blocking: Bool) -> Int32? {
        if reaped { return exitStatus }
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, blocking ? 0 : WNOHANG) } while result < 0 && errno == EINTR
        guard result == pid else { return nil }
        reaped = true
        let signaled = status & 0x7f
        exitStatus = signaled == 0 ? (status >> 8) & 0xff : 128 + signaled
        return exitStatus
    }
}
