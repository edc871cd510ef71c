import Foundation
import Glibc

/// DNS over TCP with chosen segment boundaries, for tests of in-kernel framing.
///
/// `DNSTCPRelay` sits between clients and a real DNS server (e.g. `KnotServer`): it forwards
/// each query to the server over TCP and writes the server's real answers back to the client
/// cut into the segments a `Mode` asks for (prefix split, several answers in one segment, an
/// answer plus the first byte of the next, small chunks, a connection closed mid-answer, a
/// forged answer first). It records every byte it sent on each connection, so a test can
/// check that the client received exactly those bytes.
///
/// `DNSTCPClient` is a crafted client (Python, in a namespace and optionally a cgroup) that
/// writes queries with chosen write boundaries and returns every byte it received.
public final class DNSTCPRelay: @unchecked Sendable {
    /// How answers are written to the client (each write with TCP_NODELAY; writes meant as
    /// separate segments are 50 ms apart).
    public enum Mode: Sendable, CustomStringConvertible {
        /// Each answer in one write, as it comes.
        case normal
        /// The first byte of each answer's length prefix, then the rest.
        case splitPrefix
        /// `n` answers collected, then written in one write (one segment when they fit).
        case batch(Int)
        /// Two answers: the first plus the first `k` bytes of the second in one write, then
        /// the rest of the second.
        case plus(Int)
        /// Each answer in writes of `k` bytes.
        case chunks(Int)
        /// The first `k` bytes of the first answer, then the connection is closed.
        case cut(Int)
        /// Before each answer, a copy of it with another transaction id (an answer to
        /// nothing in flight).
        case forgedFirst

        public var description: String {
            switch self {
            case .normal: "normal"
            case .splitPrefix: "split-prefix"
            case .batch(let n): "batch:\(n)"
            case .plus(let k): "plus:\(k)"
            case .chunks(let k): "chunks:\(k)"
            case .cut(let k): "cut:\(k)"
            case .forgedFirst: "forged-first"
            }
        }
    }

    public let namespace: TestNamespace
    public let address: String
    public let port: UInt16
    private let directory: String
    private let process: Process
    private var stopped = false

    /// Starts the relay in `namespace`, listening on `address`:`port`, forwarding to
    /// `upstream`:`upstreamPort` (reachable from the namespace).
    public init(namespace: TestNamespace, address: String, port: UInt16 = 53, upstream: String,
                upstreamPort: UInt16 = 53, mode: Mode) throws {
        self.namespace = namespace
        self.address = address
        self.port = port
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fqdn-relay-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "ip", "netns", "exec", namespace.name, "python3", "-c", Self.script,
                             address, String(port), upstream, String(upstreamPort), mode.description, directory + "/log", directory + "/ready"]
        process.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        process.standardError = err
        try process.run()
        let deadline = Date().addingTimeInterval(5)
        while !FileManager.default.fileExists(atPath: directory + "/ready") {
            if !process.isRunning || Date() > deadline {
                let text = String(decoding: err.fileHandleForReading.availableData, as: UTF8.self)
                stop()
                throw CommandFailed(result: CommandResult(arguments: ["relay", mode.description], status: 1, stdout: "", stderr: "relay did not start: \(text)"))
            }
            usleep(20_000)
        }
    }

    deinit { stop() }

    /// The bytes written to each client connection so far, in connection order (a
    /// connection is listed once it has ended).
    public func sent() -> [[UInt8]] {
        guard let text = try? String(contentsOfFile: directory + "/log", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let data = line.data(using: .utf8),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let hex = object["sent"] as? String else { return nil }
            return Hex.decode(hex)
        }
    }

    /// Waits until `count` connections have ended (logged), up to `timeout` seconds.
    public func waitForConnections(_ count: Int, timeout: Double = 3) -> [[UInt8]] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let s = sent()
            if s.count >= count || Date() > deadline { return s }
            usleep(20_000)
        }
    }

    /// Kills the relay and removes its files. Idempotent.
    public func stop() {
        if stopped { return }
        stopped = true
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(2)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    static let script = #"""
import json, os, socket, struct, sys, threading, time
listen, port, upstream, uport, mode, logpath, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7]
kind, _, arg = mode.partition(":")
arg = int(arg) if arg else 0
lock = threading.Lock()
GAP = 0.05

def frames(buf):
    out = []
    while len(buf) >= 2:
        n = struct.unpack("!H", buf[:2])[0]
        if len(buf) < 2 + n:
            break
        out.append(buf[:2 + n])
        buf = buf[2 + n:]
    return out, buf

def handle(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    up = socket.create_connection((upstream, uport), timeout=5)
    up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sent = bytearray()
    def send(b):
        c.sendall(b)
        sent.extend(b)
    buf, ubuf, pending = b"", b"", []
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            buf += d
            qs, buf = frames(buf)
            for q in qs:
                up.sendall(q)
                while True:
                    rs, _ = frames(ubuf)
                    if rs:
                        break
                    x = up.recv(65536)
                    if not x:
                        raise EOFError("upstream closed")
                    ubuf += x
                r = rs[0]
                ubuf = ubuf[len(r):]
                if kind == "normal":
                    send(r)
                elif kind == "split-prefix":
                    send(r[:1]); time.sleep(GAP); send(r[1:])
                elif kind == "chunks":
                    for i in range(0, len(r), arg):
                        send(r[i:i + arg]); time.sleep(GAP / 5)
                elif kind == "batch":
                    pending.append(r)
                    if len(pending) == arg:
                        send(b"".join(pending)); pending = []
                elif kind == "plus":
                    pending.append(r)
                    if len(pending) == 2:
                        send(pending[0] + pending[1][:arg]); time.sleep(GAP); send(pending[1][arg:]); pending = []
                elif kind == "cut":
                    send(r[:arg]); time.sleep(GAP)
                    c.shutdown(socket.SHUT_RDWR)
                    raise EOFError("cut")
                elif kind == "forged-first":
                    txid = struct.unpack("!H", r[2:4])[0]
                    send(r[:2] + struct.pack("!H", txid ^ 0x5A5A) + r[4:]); time.sleep(GAP); send(r)
    except (EOFError, OSError):
        pass
    finally:
        with lock:
            with open(logpath, "a") as f:
                f.write(json.dumps({"sent": bytes(sent).hex()}) + "\n")
        try:
            c.close()
        except OSError:
            pass
        up.close()

s = socket.socket(socket.AF_INET6 if ":" in listen else socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((listen, port))
s.listen(64)
open(ready, "w").close()
while True:
    c, _ = s.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
"""#
}

/// A crafted DNS-over-TCP client (Python) with chosen write boundaries.
public enum DNSTCPClient {
    /// How the queries are written.
    public enum Writes: String, Sendable {
        /// All queries (prefixes included) in one write.
        case one
        /// One write per query.
        case each
        /// Per query: its 2-byte prefix, then (50 ms later) the message.
        case prefixApart = "prefix-apart"
        /// One byte per write.
        case bytewise
    }

    public struct Query: Sendable, Hashable {
        public var name: String
        public var type: UInt16
        public var id: UInt16
        public init(_ name: String, type: UInt16 = 1, id: UInt16) {
            self.name = name
            self.type = type
            self.id = id
        }
    }

    public struct Result: Sendable, CustomStringConvertible {
        /// Every byte received, in order.
        public var received: [UInt8]
        /// The framed messages in `received` (without their length prefixes).
        public var responses: [[UInt8]]
        /// The error of a failed write (e.g. "EACCES"), if any.
        public var writeError: String?
        /// The server closed the connection.
        public var eof: Bool
        public var timedOut: Bool

        public var description: String {
            "\(responses.count) responses, \(received.count) bytes, write error \(writeError ?? "none"), eof \(eof), timed out \(timedOut)"
        }
    }

    /// Connects from `namespace` (inside `cgroup` when given) to `server`:`port`, writes
    /// `queries` as `writes` says, and reads until `expect` whole messages arrived, the
    /// server closed, or `timeout` seconds passed.
    public static func run(namespace: TestNamespace, cgroup: CgroupFixture? = nil, server: String, port: UInt16 = 53,
                           queries: [Query], writes: Writes = .one, expect: Int? = nil, timeout: Double = 3) throws -> Result {
        let spec = queries.map { "\($0.name):\($0.type):\($0.id)" }.joined(separator: ",")
        let arguments = ["ip", "netns", "exec", namespace.name, "python3", "-c", script, server, String(port), spec,
                         writes.rawValue, String(expect ?? queries.count), String(timeout)]
        let r = try cgroup?.run(arguments, check: false) ?? runCommand(arguments, check: false)
        guard r.status == 0, let data = r.stdout.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CommandFailed(result: r)
        }
        let received = Hex.decode(object["received"] as? String ?? "")
        var responses: [[UInt8]] = []
        var i = 0
        while i + 2 <= received.count {
            let n = Int(received[i]) << 8 | Int(received[i + 1])
            guard i + 2 + n <= received.count else { break }
            responses.append(Array(received[(i + 2)..<(i + 2 + n)]))
            i += 2 + n
        }
        return Result(received: received, responses: responses, writeError: object["write_error"] as? String,
                      eof: object["eof"] as? Bool ?? false, timedOut: object["timeout"] as? Bool ?? false)
    }

    static let script = #"""
import errno, json, socket, struct, sys, time
server, port, spec, writes, expect, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6])

def query(name, qtype, qid):
    wire = b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".") if l) + b"\x00"
    m = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire + struct.pack("!HH", qtype, 1)
    return struct.pack("!H", len(m)) + m

msgs = []
for item in spec.split(","):
    name, qtype, qid = item.rsplit(":", 2)
    msgs.append(query(name, int(qtype), int(qid)))
out = {"received": "", "write_error": None, "eof": False, "timeout": False}
s = socket.create_connection((server, port), timeout=timeout)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
try:
    if writes == "one":
        s.sendall(b"".join(msgs))
    elif writes == "each":
        for m in msgs:
            s.sendall(m)
    elif writes == "prefix-apart":
        for m in msgs:
            s.sendall(m[:2]); time.sleep(0.05); s.sendall(m[2:])
    elif writes == "bytewise":
        for m in msgs:
            for b in m:
                s.send(bytes([b])); time.sleep(0.002)
except OSError as e:
    out["write_error"] = errno.errorcode.get(e.errno, str(e.errno))
got = b""
deadline = time.time() + timeout
def count(b):
    n, i = 0, 0
    while i + 2 <= len(b):
        k = struct.unpack("!H", b[i:i + 2])[0]
        if i + 2 + k > len(b):
            break
        n += 1
        i += 2 + k
    return n
while count(got) < expect:
    left = deadline - time.time()
    if left <= 0:
        out["timeout"] = True
        break
    s.settimeout(left)
    try:
        d = s.recv(65536)
    except socket.timeout:
        out["timeout"] = True
        break
    except OSError as e:
        out["write_error"] = out["write_error"] or errno.errorcode.get(e.errno, str(e.errno))
        break
    if not d:
        out["eof"] = True
        break
    got += d
s.close()
out["received"] = got.hex()
print(json.dumps(out))
"""#
}

enum Hex {
    static func decode(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count / 2)
        var high: UInt8?
        for c in text.utf8 {
            let v: UInt8
            switch c {
            case 48...57: v = c - 48
            case 97...102: v = c - 87
            case 65...70: v = c - 55
            default: continue
            }
            if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
        }
        return out
    }
}
