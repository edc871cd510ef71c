import BPFMapBindings
import BPFObjects
import CFQDNShared
import DomainTrie
import Glibc

/// Errors of the datapath layer (loading, adopting, attaching), on top of `BPFError`.
public enum DatapathError: Error, Sendable, CustomStringConvertible {
    /// A BPF operation failed.
    case bpf(BPFError)
    /// The pinned state was made with another map layout than this build's and cannot be
    /// migrated (`detail` names the maps and what differs). Nothing was changed.
    case layoutMismatch(directory: String, pinned: UInt32, expected: UInt32, detail: String = "")
    /// No pinned datapath under the directory.
    case notPinned(directory: String)
    /// An embedded BPF object is missing (a build problem).
    case missingObject(String)
    /// An endpoint cannot be attached or found.
    case endpoint(name: String, reason: String)
    /// The process lacks capabilities loading and attaching need (checked before anything is
    /// created).
    case privileges(missing: [String])
    /// The running kernel lacks a feature the programs need (checked before loading).
    case kernel(KernelUnsupported)
    /// The process runs under `ip netns exec NAME`, which gives it a private /sys: no bpffs
    /// and no cgroup2 there, and pins made there would vanish with the process (checked
    /// before anything is created).
    case privateSysfs(namespace: String)

    public var description: String {
        switch self {
        case .bpf(let e): "\(e)"
        case let .layoutMismatch(dir, pinned, expected, detail):
            "the datapath pinned at \(dir) has map layout version \(pinned), this build has \(expected)\(detail.isEmpty ? "" : " (\(detail))"); nothing was changed: remove it (fqdnctl agent --cleanup, or rm -r \(dir)) or run the matching agent"
        case .notPinned(let dir): "no FQDNPolicy datapath is pinned at \(dir) (start one with `fqdnctl agent`)"
        case .missingObject(let name): "BPF object \(name) is not embedded in this build"
        case let .endpoint(name, reason): "endpoint \(name): \(reason)"
        case .kernel(let e): "\(e)"
        case let .privateSysfs(ns):
            "this process runs under `ip netns exec \(ns)`, which mounts a private /sys: the node's bpffs (/sys/fs/bpf) and cgroup2 are not visible, and pins made here would vanish with the process; nothing was loaded or changed. Run the agent in the node's mount namespace, e.g. `nsenter --net=/var/run/netns/\(ns) fqdnctl agent ...` (it keeps the caller's mounts)"
        case let .privileges(missing):
            "loading and attaching the datapath needs CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN (run as root); this process lacks \(missing.joined(separator: ", ")); nothing was loaded or changed"
        }
    }
}

/// Runs `body`, turning a `BPFError` into `DatapathError.bpf`.
@inline(__always)
func bpf<T>(_ body: () throws(BPFError) -> T) throws(DatapathError) -> T {
    do { return try body() } catch { throw .bpf(error) }
}

/// Typed views of every map the attach-point programs share (datapath_maps.h), made either
/// from a loaded object or from the pins of a running datapath.
public final class DatapathMaps: @unchecked Sendable {
    /// The maps shared by all programs and pinned (their C names).
    public static let sharedNames: [String] = [
        "fq_ep_ifindex", "fq_ep_cgroup", "fq_ep_addr", "fq_ep_info", "fq_policy", "fq_ports", "fq_cidr4", "fq_cidr6",
        "fq_dns_servers", "fq_inflight", "fq_allow4", "fq_allow6", "fq_names", "fq_name_slots",
        "fq_flows", "fq_inbound", "fq_tcp_tx", "fq_secret", "fq_events", "fq_counters", "fq_meta",
    ] + TrieMap.allCases.map(\.kernelName)
        // Objects built for a layout before 6 (only the upgrade tests load them, to play an
        // older agent) still name the trie maps fqdn_trie_*: pinned under those names too.
        + TrieMap.allCases.map(\.legacyKernelName)

    let epIfindex: BPFHashMap<UInt32, fqdn_endpoint>
    let epCgroup: BPFHashMap<UInt64, fqdn_endpoint>
    let epInfo: BPFHashMap<UInt32, fqdn_endpoint_info>
    let epAddr: BPFHashMap<fqdn_ep_addr_key, UInt32>
    let policy: BPFHashMap<UInt32, fqdn_policy_settings>
    let ports: BPFHashMap<fqdn_ports_key, fqdn_rule_ports>
    let cidr4: BPFLPMTrie<fqdn_cidr4_key, fqdn_cidr>
    let cidr6: BPFLPMTrie<fqdn_cidr6_key, fqdn_cidr>
    let servers: BPFHashMap<fqdn_server_key, UInt32>
    /// Read and deleted only, through what every layout's value starts with (so an agent can
    /// collect an older layout's entries).
    let inflight: BPFHashMapHeads<fqdn_inflight_key, fqdn_inflight_head>
    let allow4: BPFHashMap<fqdn_allow4_key, fqdn_allow>
    let allow6: BPFHashMap<fqdn_allow6_key, fqdn_allow>
    let names: BPFHashMap<fqdn_name_key, fqdn_name>
    let slots: BPFHashMap<fqdn_slot_key, fqdn_slot>
    let flows: BPFHashMap<fqdn_flow_key, fqdn_flow>
    let inbound: BPFHashMap<fqdn_inbound_key, fqdn_flow>
    /// DNS-over-TCP connections and the bytes their sockets wrote (read through the head).
    let tcpTx: BPFHashMapHeads<fqdn_tcp_tx_key, fqdn_tcp_tx_head>
    /// The key of the TCP sequence number shift.
    let secret: BPFArrayMap<fqdn_secret>
    let events: BPFMap
    let counters: BPFPerCPUArrayMap<UInt64>
    let meta: BPFArrayMap<fqdn_meta>
    let trie: [TrieMap: BPFMap]

    init(_ open: (String) throws(BPFError) -> BPFMap) throws(BPFError) {
        epIfindex = try .init(open("fq_ep_ifindex"))
        epCgroup = try .init(open("fq_ep_cgroup"))
        epInfo = try .init(open("fq_ep_info"))
        epAddr = try .init(open("fq_ep_addr"))
        policy = try .init(open("fq_policy"))
        ports = try .init(open("fq_ports"))
        cidr4 = try .init(open("fq_cidr4"))
        cidr6 = try .init(open("fq_cidr6"))
        servers = try .init(open("fq_dns_servers"))
        inflight = try .init(open("fq_inflight"))
        allow4 = try .init(open("fq_allow4"))
        allow6 = try .init(open("fq_allow6"))
        names = try .init(open("fq_names"))
        slots = try .init(open("fq_name_slots"))
        flows = try .init(open("fq_flows"))
        inbound = try .init(open("fq_inbound"))
        tcpTx = try .init(open("fq_tcp_tx"))
        secret = try .init(open("fq_secret"))
        events = try open("fq_events")
        counters = try BPFPerCPUArrayMap(open("fq_counters"))
        meta = try .init(open("fq_meta"))
        var trie: [TrieMap: BPFMap] = [:]
        for m in TrieMap.allCases {
            do { trie[m] = try open(m.kernelName) } catch {
                guard let legacy = try? open(m.legacyKernelName) else { throw error }
                trie[m] = legacy
            }
        }
        self.trie = trie
    }

    /// The maps of the datapath pinned under `pinDirectory` (read and write; no programs).
    public static func pinned(at pinDirectory: String) throws(DatapathError) -> DatapathMaps {
        let dir = Datapath.mapsDirectory(pinDirectory)
        guard BPFFS.exists(dir + "/fq_meta") else { throw .notPinned(directory: pinDirectory) }
        try Datapath.checkLayout(pinDirectory)
        return try bpf { () throws(BPFError) in try DatapathMaps { name throws(BPFError) in try BPFMap.openPinned(dir + "/" + name) } }
    }

    /// Applies trie map operations (exact key/value bytes from DomainTrie).
    func apply(_ ops: [TrieMapOperation]) throws(BPFError) {
        for op in ops {
            guard let map = trie[op.map] else { continue }
            switch op.kind {
            case .delete: try map.delete(keyBytes: op.key)  // already gone: fine
            case .insert: try map.update(keyBytes: op.key, valueBytes: op.value ?? [], policy: .noExist)
            case .update: try map.update(keyBytes: op.key, valueBytes: op.value ?? [], policy: .exist)
            }
        }
    }
}

extension TrieMap {
    /// The C name of the trie map in BPFPrograms/include/trie.h.
    var kernelName: String {
        switch self {
        case .nodes: "fq_trie_nodes"
        case .globs: "fq_trie_globs"
        case .sets: "fq_trie_sets"
        }
    }

    /// Its name before layout 6 (`fqdn_trie_*`): what the 5 -> 6 migration renames.
    var legacyKernelName: String { "fqdn_trie_" + rawValue }
}

/// The loaded attach-point programs and their shared, pinned maps.
///
/// Every attach point is its own BPF object (`BPFPrograms/<name>.bpf.c`). The first object
/// loaded creates the shared maps (or adopts them from `<pin dir>/maps/` when a datapath is
/// already pinned there) and pins them; the others reuse the same maps. Links are pinned
/// under `<pin dir>/links/`, so the datapath keeps running when the agent exits.
public final class Datapath: @unchecked Sendable {
    public enum Program: String, CaseIterable, Sendable {
        /// tc ingress of a host-side veth (the pod's egress).
        case vethIngress = "veth_ingress"
        /// tc egress of a host-side veth (toward the pod).
        case vethEgress = "veth_egress"
        case cgroupEgress = "cgroup_egress"
        case cgroupIngress = "cgroup_ingress"

        public var functionName: String { "fqdn_" + rawValue }
    }

    public let pinDirectory: String
    public let maps: DatapathMaps
    /// Whether the maps were adopted from an earlier datapath (learned state kept).
    public let adopted: Bool
    /// What this load changed in a pinned datapath of another layout or build (nil: a new
    /// datapath, or the same programs adopted). The agent logs it.
    public internal(set) var upgrade: DatapathUpgrade?
    let programs: [Program: BPFProgram]

    static func mapsDirectory(_ pin: String) -> String { pin + "/maps" }
    static func linksDirectory(_ pin: String) -> String { pin + "/links" }

    /// Refuses a pinned state of another layout version (before any map is reused). Readers
    /// (`DatapathMaps.pinned`, fqdnctl) need the exact version; `load` migrates instead
    /// (`LayoutPlan`, Migration.swift).
    static func checkLayout(_ pinDirectory: String) throws(DatapathError) {
        let path = mapsDirectory(pinDirectory) + "/fq_meta"
        guard BPFFS.exists(path) else { return }
        let map = try bpf { () throws(BPFError) in try BPFMap.openPinned(path) }
        guard map.valueSize == MemoryLayout<fqdn_meta>.size,
              let meta = try bpf({ () throws(BPFError) in try BPFArrayMap<fqdn_meta>(map).lookup(0) })
        else { throw .layoutMismatch(directory: pinDirectory, pinned: 0, expected: UInt32(FQDN_LAYOUT_VERSION)) }
        if meta.layout_version != UInt32(FQDN_LAYOUT_VERSION) {
            throw .layoutMismatch(directory: pinDirectory, pinned: meta.layout_version, expected: UInt32(FQDN_LAYOUT_VERSION))
        }
    }

    /// Loads the programs, creating or adopting the maps pinned under `pinDirectory`.
    ///
    /// A pinned datapath of the same layout is adopted as it is; one of an older layout is
    /// migrated when this build knows how (Migration.swift: maps of unchanged shape adopted,
    /// changed ones created, filled, and swapped in after every pinned link runs the new
    /// programs), otherwise refused with `.layoutMismatch` before anything changes. Pinned
    /// links are switched to the new programs in place whenever the programs differ.
    ///
    /// - Parameter objects: the BPF objects to load (this build's by default; tests inject
    ///   objects of an older layout).
    public static func load(pinDirectory: String = FQDN_PIN_DIR_DEFAULT, objects: DatapathObjects = .embedded) throws(DatapathError) -> Datapath {
        // Before any directory or map exists: without these the first failure would be deep
        // in libbpf (EPERM, a memlock hint) after the pin directory was already made.
        let missing = missingCapabilities()
        if !missing.isEmpty { throw .privileges(missing: missing) }
        if !BPFFS.isMounted(at: BPFFS.defaultMountPoint), let ns = ipNetnsExecNamespace() { throw .privateSysfs(namespace: ns) }
        do { try KernelFeatures.current.requireDatapath() } catch { throw .kernel(error) }
        try bpf { () throws(BPFError) in
            try BPFFS.ensureMounted(at: BPFFS.defaultMountPoint)
            try BPFFS.makeDirectory(mapsDirectory(pinDirectory))
            try BPFFS.makeDirectory(linksDirectory(pinDirectory))
        }
        let mapsDir = mapsDirectory(pinDirectory)
        let adopted = BPFFS.exists(mapsDir + "/fq_meta")
        // Parse every object first (nothing in the kernel yet) so the pinned maps can be
        // compared with all their definitions before anything is created or changed.
        var opened: [(Program, BPFObject)] = []
        for p in Program.allCases {
            guard let bytes = objects.bytes(p.rawValue) else { throw .missingObject(p.rawValue) }
            opened.append((p, try bpf { () throws(BPFError) in try BPFObject(bytes: bytes, name: p.rawValue) }))
        }
        let plan = try LayoutPlan.make(pinDirectory: pinDirectory, objects: opened.map(\.1), layoutVersion: objects.layoutVersion)
        let replace = plan?.replace ?? [:]
        // Maps that only changed name: their pins take the new name before anything adopts them.
        for (old, new) in plan?.migration?.renamed ?? [:] where BPFFS.exists(mapsDir + "/" + old) && !BPFFS.exists(mapsDir + "/" + new) {
            if rename(mapsDir + "/" + old, mapsDir + "/" + new) != 0 {
                throw .bpf(.syscall(op: "rename(\(mapsDir)/\(old), \(new))", errno: .current))
            }
        }
        var programs: [Program: BPFProgram] = [:]
        // Maps created in the new shape by the first object needing them, shared with the
        // others in memory: they are pinned only once filled (replacePins).
        var created: [String: BPFMap] = [:]
        for (p, o) in opened {
            try bpf { () throws(BPFError) in
                for name in o.userMapNames {
                    if let m = created[name] {
                        try o.reuseMap(name, m)
                    } else if replace[name] == nil, BPFFS.exists(mapsDir + "/" + name) {
                        try o.reuseMap(name, try BPFMap.openPinned(mapsDir + "/" + name))  // libbpf dups the fd
                    }
                }
                try o.load()
                for name in o.userMapNames where replace[name] != nil && created[name] == nil {
                    created[name] = try o.map(name)
                }
                try o.pinMaps(in: mapsDir, only: o.userMapNames.filter { DatapathMaps.sharedNames.contains($0) && replace[$0] == nil })
            }
            programs[p] = try bpf { () throws(BPFError) in try o.program(p.functionName) }
        }
        let buildID = objects.buildID
        var upgrade: DatapathUpgrade?
        if let plan, plan.migration != nil || plan.pinnedBuild != buildID {
            var old: [String: BPFMap] = [:]
            for name in replace.keys { old[name] = try bpf { () throws(BPFError) in try BPFMap.openPinned(mapsDir + "/" + name) } }
            for (name, migrator) in replace { try bpf { () throws(BPFError) in try migrator.fill(from: old[name]!, into: created[name]!) } }
            let switched = try switchPinnedLinks(pinDirectory: pinDirectory, to: programs)
            if !replace.isEmpty {
                // A program already running when its link switched finishes on the old maps;
                // runs are short (microseconds), so this wait lets the last of them end
                // before their counts are carried over.
                usleep(20_000)
                for (name, migrator) in replace { try bpf { () throws(BPFError) in try migrator.catchUp(from: old[name]!, into: created[name]!) } }
                try replacePins(created, in: mapsDir)
            }
            upgrade = DatapathUpgrade(
                fromLayout: plan.pinnedVersion, toLayout: objects.layoutVersion, fromBuild: plan.pinnedBuild,
                toBuild: objects.layoutVersion >= 2 ? buildID : 0, migratedMaps: replace.keys.sorted(), linksSwitched: switched)
        }
        let maps = try bpf { () throws(BPFError) in
            try DatapathMaps { name throws(BPFError) in try BPFMap.openPinned(mapsDir + "/" + name) }
        }
        // The key of the TCP sequence number shift, drawn once (getrandom) and kept with the
        // pins: a new key would shift the numbers of open connections differently.
        try bpf { () throws(BPFError) in
            let key = try maps.secret.lookup(0) ?? fqdn_secret()
            if key.k0 | key.k1 == 0 {
                var rng = SystemRandomNumberGenerator()
                var fresh = fqdn_secret()
                while fresh.k0 | fresh.k1 == 0 { fresh = fqdn_secret(k0: rng.next(), k1: rng.next()) }
                try maps.secret.update(0, fresh)
            }
        }
        // fq_meta last: until its version says so, the pinned state counts as the old layout
        // (a crash before this line leaves a state the next agent migrates again).
        try bpf { () throws(BPFError) in
            var meta = try maps.meta.lookup(0) ?? fqdn_meta()
            if !adopted || meta.layout_version == 0 {
                meta = fqdn_meta()
                meta.created_ns = BootClock.nanoseconds
                meta.next_endpoint_id = 1
                meta.next_policy_id = 1
            }
            meta.layout_version = objects.layoutVersion
            // Layout 1 had a reserved zero here; an injected layout-1 datapath keeps it so.
            meta.build_id = objects.layoutVersion >= 2 ? buildID : 0
            try maps.meta.update(0, meta)
        }
        let datapath = Datapath(pinDirectory: pinDirectory, maps: maps, adopted: adopted, programs: programs)
        datapath.upgrade = upgrade
        return datapath
    }

    /// The capabilities among CAP_BPF, CAP_NET_ADMIN (tc, tcx) and CAP_SYS_ADMIN (bpffs mount,
    /// setns into endpoint namespaces, cgroup attach) missing from this process's effective set
    /// (`CapEff` in /proc/self/status). Empty when the set cannot be read (the load then fails
    /// or succeeds on its own).
    static func missingCapabilities() -> [String] {
        guard let f = fopen("/proc/self/status", "r") else { return [] }
        defer { fclose(f) }
        var line: UnsafeMutablePointer<CChar>?
        var cap = 0
        defer { free(line) }
        var effective: UInt64?
        while getline(&line, &cap, f) > 0, let line {
            let text = String(cString: line)
            if text.hasPrefix("CapEff:") {
                effective = UInt64(text.dropFirst(7).filter { $0.isHexDigit }, radix: 16)
                break
            }
        }
        guard let effective else { return [] }
        let needed: [(String, UInt64)] = [("CAP_BPF", 39), ("CAP_NET_ADMIN", 12), ("CAP_SYS_ADMIN", 21)]
        return needed.filter { effective & (UInt64(1) << $0.1) == 0 }.map(\.0)
    }

    init(pinDirectory: String, maps: DatapathMaps, adopted: Bool, programs: [Program: BPFProgram]) {
        self.pinDirectory = pinDirectory
        self.maps = maps
        self.adopted = adopted
        self.programs = programs
    }

    public func program(_ p: Program) -> BPFProgram { programs[p]! }

    // MARK: - Attachments

    static func namespace(_ text: String?) -> NetworkNamespace? {
        guard let text, !text.isEmpty else { return nil }
        return text.contains("/") ? NetworkNamespace(path: text) : NetworkNamespace(named: text)
    }

    /// The interface index of a veth endpoint, resolved in its namespace.
    static func interfaceIndex(_ interface: String, namespace: String?) throws(DatapathError) -> UInt32 {
        let lookup: () -> UInt32 = { if_nametoindex(interface) }
        let index: UInt32
        if let ns = Self.namespace(namespace) {
            do { index = try ns.perform(lookup) } catch {
                throw .endpoint(name: interface, reason: "cannot enter network namespace \(ns): \(error)")
            }
        } else {
            index = lookup()
        }
        guard index != 0 else {
            throw .endpoint(name: interface, reason: "no interface \(interface)" + (namespace.map { " in network namespace \($0)" } ?? ""))
        }
        return index
    }

    /// The cgroup id (the directory's inode on cgroup v2) of a cgroup endpoint.
    static func cgroupID(_ path: String) throws(DatapathError) -> UInt64 {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw .endpoint(name: path, reason: "cannot stat cgroup \(path): \(String(cString: strerror(errno)))")
        }
        return UInt64(st.st_ino)
    }

    func linkPath(_ endpointID: UInt32, _ p: Program) -> String {
        Self.linksDirectory(pinDirectory) + "/ep\(endpointID)-\(p.rawValue)"
    }

    /// Attaches the endpoint's two programs through pinned links. A link already pinned for
    /// this endpoint (a previous agent's) is kept and switched to this agent's program in
    /// place (`bpf_link_update`): there is no moment without a program.
    func attach(endpointID: UInt32, _ endpoint: Endpoint) throws(DatapathError) {
        let pairs: [(Program, TrafficDirection)]
        switch endpoint.attachment {
        case .veth: pairs = [(.vethIngress, .ingress), (.vethEgress, .egress)]
        case .cgroup: pairs = [(.cgroupEgress, .egress), (.cgroupIngress, .ingress)]
        }
        for (p, direction) in pairs {
            let path = linkPath(endpointID, p)
            let prog = program(p)
            if BPFFS.exists(path) {
                let updated = try bpf { () throws(BPFError) -> Bool in try BPFAttachment.openPinnedLink(path).update(program: prog) }
                if updated { continue }
                // Severed: the link's interface is gone (the pod's veth was deleted, maybe
                // recreated under the same name). Drop the severed link's pin and attach anew.
                unlink(path)
            }
            let attachment = try bpf { () throws(BPFError) -> BPFAttachment in
                switch endpoint.attachment {
                case let .veth(interface, namespace):
                    return try prog.attachTCX(interface: interface, direction: direction, in: Self.namespace(namespace))
                case let .cgroup(cgroupPath):
                    return try prog.attachCgroup(cgroupPath)
                }
            }
            try bpf { () throws(BPFError) in try attachment.pin(at: path) }
        }
    }

    /// Detaches the endpoint's pinned links and removes their pins.
    func detach(endpointID: UInt32) throws(DatapathError) {
        for p in Program.allCases {
            let path = linkPath(endpointID, p)
            guard BPFFS.exists(path) else { continue }
            try bpf { () throws(BPFError) in try BPFAttachment.openPinnedLink(path).detach() }
        }
    }

    /// Detaches every pinned link and removes every pin (the kernel frees the maps when the
    /// last reference goes).
    public static func remove(pinDirectory: String) throws(DatapathError) {
        let links = linksDirectory(pinDirectory)
        for name in BPFFS.contents(of: links) {
            if let link = try? BPFAttachment.openPinnedLink(links + "/" + name) { try? link.detach() }
        }
        try bpf { () throws(BPFError) in try BPFFS.removeTree(pinDirectory) }
    }

    // MARK: - test_run

    /// What one packet did when run through a program.
    public struct PacketResult: Sendable {
        /// The program's return value (tc: TC_ACT_OK 0, TC_ACT_SHOT 2, TC_ACT_REDIRECT 7;
        /// cgroup_skb: 1 pass, 0 drop).
        public var returnValue: UInt32
        /// The packet as the program left it (e.g. a query rewritten into a REFUSED answer).
        public var data: [UInt8]
    }

    /// For the package's tests and benchmarks, not the public API.
    /// Runs `packet` (Ethernet frame) through a veth program with BPF_PROG_TEST_RUN, as if it
    /// crossed the interface `ifindex` (which must exist in the calling thread's namespace, or
    /// in `namespace`). Map side effects are real: a response run through `.vethEgress` teaches
    /// the endpoint's learned addresses exactly as a real one does.
    package func run(_ packet: [UInt8], through p: Program, ifindex: UInt32, namespace: String? = nil) throws -> PacketResult {
        let context = BPFProgram.skbContext(ifindex: ifindex)
        let prog = program(p)
        let body = { () throws -> PacketResult in
            let r = try prog.testRun(data: packet, context: context)
            return PacketResult(returnValue: r.returnValue, data: r.data)
        }
        if let ns = Self.namespace(namespace) { return try ns.perform(body) }
        return try body()
    }
}

extension Datapath {
    /// The `ip netns` name this process runs in when it was started by `ip netns exec NAME`,
    /// which unshares the mount namespace and mounts a fresh sysfs on /sys with NAME as its
    /// source: the last mount on /sys is a sysfs named after a /run/netns entry that is this
    /// process's network namespace. Nil otherwise (also for `nsenter --net`, which keeps the
    /// caller's mounts).
    static func ipNetnsExecNamespace() -> String? {
        func identity(_ path: String) -> (UInt, UInt)? {
            var st = stat()
            guard stat(path, &st) == 0 else { return nil }
            return (UInt(st.st_dev), UInt(st.st_ino))
        }
        var source: String?
        for m in Mounts.list() where m.target == "/sys" { source = m.type == "sysfs" ? m.source : nil }
        guard let name = source, !name.contains("/"), name != "sysfs", name != "none",
              let mine = identity("/proc/self/ns/net"), let named = identity("/run/netns/" + name), mine == named
        else { return nil }
        return name
    }
}
