internal import CLibbpf
import Glibc
import Synchronization

/// Which way traffic crosses an interface hook.
public enum TrafficDirection: String, Sendable, CustomStringConvertible {
    case ingress, egress
    public var description: String { rawValue }
}

/// A program attached somewhere. It detaches when the last reference goes away, unless it was
/// pinned (`pin(at:)`, for links) or told to stay (`keepAttached()`); `detach()` removes it
/// explicitly (a pinned link too, and its pin).
///
/// Kinds: a BPF link (tcx, cgroup), a tc filter on a clsact qdisc (netlink; survives its
/// loader's exit, cannot be pinned), and a program attached to a sockmap (sk_skb / sk_msg).
public final class BPFAttachment: @unchecked Sendable, CustomStringConvertible {
    enum Kind {
        case link(fd: Int32)
        case tcFilter(ifindex: Int32, namespace: NetworkNamespace?, attachPoint: bpf_tc_attach_point, handle: UInt32, priority: UInt32)
        case progAttach(programFD: Int32, targetFD: Int32, attachType: bpf_attach_type)
    }

    struct State {
        var detached = false
        var keep = false
        var pinPath: String?
    }

    let kind: Kind
    /// Keeps the program (and its object) and the target (e.g. a sockmap) alive.
    private let retained: [AnyObject]
    private let state = Mutex(State())
    public let description: String

    init(kind: Kind, retained: [AnyObject], description: String) {
        self.kind = kind
        self.retained = retained
        self.description = description
    }

    deinit {
        let keep = state.withLock { $0.keep || $0.detached }
        switch kind {
        case .link(let fd):
            close(fd)  // detaches unless pinned
        case .tcFilter, .progAttach:
            if !keep { try? remove() }
        }
    }

    /// Whether `detach()` has run.
    public var isDetached: Bool { state.withLock { $0.detached } }

    /// Where the link is pinned, if it is.
    public var pinPath: String? { state.withLock { $0.pinPath } }

    /// The link fd (links only).
    public var linkFD: Int32? {
        if case .link(let fd) = kind { return fd }
        return nil
    }

    /// Pins a link at `path` (bpffs): it then stays attached after this process ends, until
    /// the pin is removed or `detach()` runs. tc filters and sockmap attachments have no link
    /// to pin; use `keepAttached()` for them.
    public func pin(at path: String) throws(BPFError) {
        guard case .link(let fd) = kind else {
            throw .notSupported(feature: "pinning \(description) (not a BPF link; use keepAttached())", minimumKernel: "n/a")
        }
        try check(bpf_obj_pin(fd, path), "bpf_obj_pin(link \(description), \(path))")
        state.withLock { $0.pinPath = path }
    }

    /// Leaves the attachment in place when this value is released.
    public func keepAttached() {
        state.withLock { $0.keep = true }
    }

    /// Detaches now (idempotent). A pinned link is detached too and its pin removed.
    public func detach() throws(BPFError) {
        let (already, pin) = state.withLock { s in
            defer { s.detached = true }
            return (s.detached, s.pinPath)
        }
        if already { return }
        try remove()
        if let pin { try BPFFS.unpin(pin) }
    }

    private func remove() throws(BPFError) {
        switch kind {
        case .link(let fd):
            let r = bpf_link_detach(fd)
            // EINVAL/EOPNOTSUPP: link types without detach; closing the last fd is enough.
            if r < 0 && -r != EINVAL && -r != EOPNOTSUPP && -r != ENOLINK {
                throw .syscall(op: "bpf_link_detach(\(description))", errno: BPFErrno(-r))
            }
        case let .tcFilter(ifindex, namespace, attachPoint, handle, priority):
            try inNamespace(namespace) { () throws(BPFError) in
                var hook = bpf_tc_hook()
                hook.sz = MemoryLayout<bpf_tc_hook>.size
                hook.ifindex = ifindex
                hook.attach_point = attachPoint
                var opts = bpf_tc_opts()
                opts.sz = MemoryLayout<bpf_tc_opts>.size
                opts.handle = handle
                opts.priority = priority
                let r = bpf_tc_detach(&hook, &opts)
                // ENOENT/ENODEV: the filter or the interface is already gone.
                if r < 0 && -r != ENOENT && -r != ENODEV && -r != EINVAL {
                    throw .syscall(op: "bpf_tc_detach(\(description))", errno: BPFErrno(-r))
                }
            }
        case let .progAttach(programFD, targetFD, attachType):
            let r = bpf_prog_detach2(programFD, targetFD, attachType)
            if r < 0 && -r != ENOENT {
                throw .syscall(op: "bpf_prog_detach2(\(description))", errno: BPFErrno(-r))
            }
        }
    }

    /// Replaces the link's program in place (`bpf_link_update`): there is no moment without a
    /// program. Returns false when the link is severed (`ENOLINK`: the interface or cgroup it
    /// was attached to is gone); throws for attachments that are not links.
    @discardableResult
    public func update(program: BPFProgram) throws(BPFError) -> Bool {
        guard case .link(let fd) = kind else {
            throw .notSupported(feature: "replacing the program of \(description) (not a BPF link)", minimumKernel: "n/a")
        }
        let r = bpf_link_update(fd, program.fd, nil)
        if r == -ENOLINK { return false }
        try check(r, "bpf_link_update(\(description))")
        return true
    }

    /// Opens a link pinned at `path` (e.g. by an earlier agent). Releasing it leaves the link
    /// attached (the pin holds it); `detach()` detaches it and removes the pin.
    public static func openPinnedLink(_ path: String) throws(BPFError) -> BPFAttachment {
        let fd = try checkFD(bpf_obj_get(path), "bpf_obj_get(\(path))")
        let attachment = BPFAttachment(kind: .link(fd: fd), retained: [], description: "link pinned at \(path)")
        attachment.state.withLock { $0.pinPath = path }
        return attachment
    }
}

/// A kernel attach type (`enum bpf_attach_type`), for overriding what a program's section
/// implies.
public struct BPFAttachType: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let cgroupInetIngress = BPFAttachType(rawValue: BPF_CGROUP_INET_INGRESS.rawValue)
    public static let cgroupInetEgress = BPFAttachType(rawValue: BPF_CGROUP_INET_EGRESS.rawValue)
    public static let cgroupSockOps = BPFAttachType(rawValue: BPF_CGROUP_SOCK_OPS.rawValue)
    public static let cgroupInet4Connect = BPFAttachType(rawValue: BPF_CGROUP_INET4_CONNECT.rawValue)
    public static let cgroupUDP4Sendmsg = BPFAttachType(rawValue: BPF_CGROUP_UDP4_SENDMSG.rawValue)
    public static let skSKBStreamParser = BPFAttachType(rawValue: BPF_SK_SKB_STREAM_PARSER.rawValue)
    public static let skSKBStreamVerdict = BPFAttachType(rawValue: BPF_SK_SKB_STREAM_VERDICT.rawValue)
    public static let skSKBVerdict = BPFAttachType(rawValue: BPF_SK_SKB_VERDICT.rawValue)
    public static let skMsgVerdict = BPFAttachType(rawValue: BPF_SK_MSG_VERDICT.rawValue)
    /// `BPF_TCX_INGRESS` (46): libbpf 1.1's headers predate tcx; the kernel (6.6+) has it.
    public static let tcxIngress = BPFAttachType(rawValue: 46)
    /// `BPF_TCX_EGRESS` (47).
    public static let tcxEgress = BPFAttachType(rawValue: 47)

    var c: bpf_attach_type { bpf_attach_type(rawValue: rawValue) }
}

extension BPFProgram {
    /// Attaches a `tc` program as a direct-action cls_bpf filter on the clsact qdisc of
    /// `interface` (created when missing and left in place: a clsact qdisc without filters
    /// does nothing, and removing it would remove other users' filters).
    ///
    /// - Parameters:
    ///   - interface: the interface name, resolved inside `namespace`.
    ///   - direction: the clsact ingress or egress hook.
    ///   - namespace: the interface's network namespace (nil: this thread's).
    ///   - priority: filter priority; 0 lets the kernel choose (read back into the attachment).
    ///   - handle: filter handle; 0 lets the kernel choose.
    public func attachTC(interface: String, direction: TrafficDirection, in namespace: NetworkNamespace? = nil,
                         priority: UInt32 = 0, handle: UInt32 = 0) throws(BPFError) -> BPFAttachment {
        let point = direction == .ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS
        let progFD = fd
        let (ifindex, opts) = try inNamespace(namespace) { () throws(BPFError) -> (Int32, bpf_tc_opts) in
            let ifindex = Int32(try interfaceIndex(interface))
            var hook = bpf_tc_hook()
            hook.sz = MemoryLayout<bpf_tc_hook>.size
            hook.ifindex = ifindex
            hook.attach_point = point
            let created = bpf_tc_hook_create(&hook)
            if created < 0 && -created != EEXIST {
                throw .syscall(op: "bpf_tc_hook_create(\(interface) clsact)", errno: BPFErrno(-created))
            }
            var opts = bpf_tc_opts()
            opts.sz = MemoryLayout<bpf_tc_opts>.size
            opts.prog_fd = progFD
            opts.priority = priority
            opts.handle = handle
            try check(bpf_tc_attach(&hook, &opts), "bpf_tc_attach(\(interface) \(direction))")
            return (ifindex, opts)
        }
        return BPFAttachment(
            kind: .tcFilter(ifindex: ifindex, namespace: namespace, attachPoint: point, handle: opts.handle, priority: opts.priority),
            retained: [self],
            description: "tc \(direction) \(name) on \(interface)\(namespace.map { " in \($0)" } ?? "") (handle \(opts.handle), priority \(opts.priority))"
        )
    }

    /// Attaches a `tc` program through tcx (a BPF link, Linux 6.6+): detaches when released
    /// unless pinned, does not need a qdisc, and coexists with tc filters.
    public func attachTCX(interface: String, direction: TrafficDirection, in namespace: NetworkNamespace? = nil) throws(BPFError) -> BPFAttachment {
        let type = (direction == .ingress ? BPFAttachType.tcxIngress : .tcxEgress).c
        let progFD = fd
        let link = try inNamespace(namespace) { () throws(BPFError) -> Int32 in
            let ifindex = try interfaceIndex(interface)
            let r = bpf_link_create(progFD, Int32(ifindex), type, nil)
            if r < 0 && (-r == EINVAL || -r == EOPNOTSUPP) && !Self.kernelAtLeast(6, 6) {
                throw .notSupported(feature: "tcx", minimumKernel: "6.6")
            }
            return try checkFD(r, "bpf_link_create(tcx \(direction), \(interface))")
        }
        return BPFAttachment(kind: .link(fd: link), retained: [self],
                             description: "tcx \(direction) \(name) on \(interface)\(namespace.map { " in \($0)" } ?? "")")
    }

    /// Attaches to a cgroup v2 directory through a BPF link. The attach type is the program's
    /// (from its section: `cgroup_skb/ingress`, `cgroup_skb/egress`, `sockops`,
    /// `cgroup/connect4`, ...) unless given.
    public func attachCgroup(_ path: String, attachType: BPFAttachType? = nil) throws(BPFError) -> BPFAttachment {
        let cgroup = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard cgroup >= 0 else { throw .syscall(op: "open(\(path))", errno: .current) }
        defer { close(cgroup) }
        let type = attachType?.c ?? bpf_program__expected_attach_type(raw)
        let link = try checkFD(bpf_link_create(fd, cgroup, type, nil), "bpf_link_create(cgroup \(path), \(name))")
        return BPFAttachment(kind: .link(fd: link), retained: [self], description: "cgroup \(section) \(name) on \(path)")
    }

    /// Attaches an `sk_skb` (stream verdict / stream parser / verdict) or `sk_msg` program to
    /// a sockmap or sockhash (`bpf_prog_attach`). The attach type is the program's (from its
    /// section, e.g. `sk_skb/stream_verdict`) unless given.
    public func attach(toSockMap map: BPFMap, attachType: BPFAttachType? = nil) throws(BPFError) -> BPFAttachment {
        guard map.type == .sockMap || map.type == .sockHash else {
            throw .wrongMapType(map: map.name, expected: "sockmap or sockhash", actual: map.type.description)
        }
        let type = attachType?.c ?? bpf_program__expected_attach_type(raw)
        try check(bpf_prog_attach(fd, map.fd, type, 0), "bpf_prog_attach(\(name) -> \(map.name))")
        return BPFAttachment(kind: .progAttach(programFD: fd, targetFD: map.fd, attachType: type),
                             retained: [self, map], description: "\(section) \(name) on \(map.name)")
    }

    static func kernelAtLeast(_ major: Int, _ minor: Int) -> Bool {
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: u.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        guard parts.count == 2 else { return true }
        return (parts[0], parts[1]) >= (major, minor)
    }
}
