internal import CLibbpf
internal import CSysShims
import Glibc
import Synchronization

/// libbpf's own messages (warnings about maps, BTF, relocations, and the verifier log it
/// prints on a failed load).
///
/// libbpf prints through one process-wide callback. BPFMapBindings installs it once and
/// collects what libbpf says on the thread that runs a libbpf call (libbpf prints on the
/// calling thread), so a failed call's error carries libbpf's explanation. Messages outside a
/// capture go to `LibbpfLog.handler` (default: dropped; with env `FQDN_LIBBPF_LOG=1`, warnings
/// and info go to stderr).
public enum LibbpfLog {
    public enum Level: Sendable { case warning, info, debug }

    /// Receives messages outside a capture. Set it before loading.
    public static var handler: (@Sendable (Level, String) -> Void)? {
        get { state.withLock { $0.handler } }
        set { installed; state.withLock { $0.handler = newValue } }
    }

    struct State {
        var handler: (@Sendable (Level, String) -> Void)?
        /// thread id -> captured text
        var captures: [pid_t: String] = [:]
    }

    static let state = Mutex(State(handler: defaultHandler()))

    static func defaultHandler() -> (@Sendable (Level, String) -> Void)? {
        guard let v = getenv("FQDN_LIBBPF_LOG"), String(cString: v) == "1" else { return nil }
        return { level, message in
            if level != .debug {
                let line = "libbpf: \(message)"
                _ = line.withCString { write(2, $0, strlen($0)) }
            }
        }
    }

    /// Installs the print callback (once, on first use).
    static let installed: Void = {
        _ = libbpf_set_print { level, format, args in
            guard let format, let args else { return 0 }
            var buffer = [CChar](repeating: 0, count: 4096)
            let n = vsnprintf(&buffer, buffer.count, format, args)
            guard n > 0 else { return 0 }
            let text = String(decoding: buffer.prefix(min(Int(n), buffer.count - 1)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let lvl: Level = switch level {
            case LIBBPF_WARN: .warning
            case LIBBPF_INFO: .info
            default: .debug
            }
            LibbpfLog.deliver(lvl, text)
            return n
        }
        // libbpf 1.x: strict mode is the default; nothing else to set.
    }()

    static func deliver(_ level: Level, _ text: String) {
        let tid = fqdn_gettid()
        let handler: (@Sendable (Level, String) -> Void)? = state.withLock { s in
            if level != .debug, s.captures[tid] != nil {
                if s.captures[tid]!.utf8.count < 1 << 20 { s.captures[tid]! += text }
                return nil
            }
            return s.handler
        }
        handler?(level, text)
    }

    /// Runs `body` and returns what libbpf warned about on this thread meanwhile.
    static func capture<T>(_ body: () throws(BPFError) -> T) -> (Result<T, BPFError>, String) {
        _ = installed
        let tid = fqdn_gettid()
        let outer = state.withLock { s -> String? in
            let previous = s.captures[tid]
            s.captures[tid] = ""
            return previous
        }
        let result: Result<T, BPFError>
        do { result = .success(try body()) } catch { result = .failure(error) }
        let text = state.withLock { s -> String in
            let text = s.captures[tid] ?? ""
            if let outer { s.captures[tid] = outer + text } else { s.captures[tid] = nil }
            return text
        }
        return (result, text)
    }
}
