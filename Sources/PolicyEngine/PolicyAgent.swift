import BPFMapBindings
import CFQDNShared
import DomainTrie
import Foundation

/// The agent: owns the datapath's control plane. Loads (or adopts) the pinned datapath,
/// attaches endpoints, compiles and applies policies atomically, and reads back what the
/// kernel learned. The kernel does the enforcing; when the agent stops, it keeps going.
///
/// ```swift
/// let agent = try PolicyAgent(configuration: .init(dnsServers: [DNSServer("10.0.0.2")!]))
/// try await agent.addEndpoint(Endpoint(name: "web", attachment: .veth(interface: "veth-web"), labels: ["app": "web"]))
/// try await agent.apply(PolicyDocument.load(contentsOf: "policy.yaml"))
/// for try await event in agent.events() { print(event.jsonLine) }
/// ```
public actor PolicyAgent {
    public struct Configuration: Sendable {
        /// bpffs directory holding the pinned maps and links.
        public var pinDirectory: String
        /// Trusted DNS servers (for every endpoint).
        public var dnsServers: [DNSServer]
        /// Seconds an established TCP flow outlives the expiry of its destination.
        public var flowGrace: UInt32
        /// In-flight queries older than this are collected (seconds).
        public var inflightTimeout: UInt32
        /// The BPF objects to load: this build's (the default). Upgrade tests pass objects of
        /// an older layout to play an older agent.
        public var objects: DatapathObjects
        /// A `learned` event also for every address an answer only refreshed (the same name's
        /// address again). Off by default: refreshes are the steady state of every name in use
        /// and are counted (`Counter.addressesRefreshed`), not sent one by one. Datapath-wide
        /// (kept in the pinned state until an agent sets it otherwise).
        public var refreshEvents: Bool

        public init(pinDirectory: String = FQDN_PIN_DIR_DEFAULT, dnsServers: [DNSServer], flowGrace: UInt32 = 300,
                    inflightTimeout: UInt32 = 30, objects: DatapathObjects = .embedded, refreshEvents: Bool = false) {
            self.pinDirectory = pinDirectory
            self.dnsServers = dnsServers
            self.flowGrace = flowGrace
            self.inflightTimeout = inflightTimeout
            self.objects = objects
            self.refreshEvents = refreshEvents
        }
    }

    struct EndpointState {
        var endpoint: Endpoint
        var id: UInt32
        var ifindex: UInt32?
        var cgroupID: UInt64?
        /// Policy version in the kernel (0: none).
        var version: UInt32
        /// The source addresses written to fq_ep_addr; nil: not checked.
        var sources: [[UInt8]]? = nil
    }

    public nonisolated let configuration: Configuration
    public nonisolated let datapath: Datapath
    public nonisolated var maps: DatapathMaps { datapath.maps }

    var endpoints: [String: EndpointState] = [:]
    var policies: [FQDNPolicy] = []
    /// Versions this agent compiled, by id.
    var versions: [UInt32: CompiledPolicy] = [:]
    var stopped = false
    /// Whether `apply` ran (before, adopted endpoints keep their pinned policy version).
    var policiesApplied = false

    /// Loads the datapath (adopting a pinned one under the pin directory: nothing learned is
    /// lost) and installs the trusted DNS servers.
    public init(configuration: Configuration) throws {
        self.configuration = configuration
        datapath = try Datapath.load(pinDirectory: configuration.pinDirectory, objects: configuration.objects)
        let maps = datapath.maps
        try bpf { () throws(BPFError) in
            let wanted = Set(configuration.dnsServers.map(\.key))
            for k in try maps.servers.keys() where !wanted.contains(k) { try maps.servers.delete(k) }
            for k in wanted { try maps.servers.update(k, 0) }
            if var meta = try maps.meta.lookup(0) {
                meta.agent_pid = UInt32(getpid())
                if configuration.refreshEvents {
                    meta.flags |= FQDN_META_F_REFRESH_EVENTS
                } else {
                    meta.flags &= ~FQDN_META_F_REFRESH_EVENTS
                }
                try maps.meta.update(0, meta)
            }
        }
    }

    // MARK: - Endpoints

    /// Adds an endpoint: records it, gives it the policy version its labels select, and
    /// attaches the programs (pinned links). An endpoint of the same name already in the
    /// pinned state keeps its id and everything learned for it.
    @discardableResult
    public func addEndpoint(_ endpoint: Endpoint) throws -> UInt32 {
        guard endpoints[endpoint.name] == nil else {
            throw DatapathError.endpoint(name: endpoint.name, reason: "already added")
        }
        guard !endpoint.name.isEmpty, endpoint.name.utf8.count < Int(FQDN_EP_NAME_LEN) else {
            throw DatapathError.endpoint(name: endpoint.name, reason: "name must be 1 to \(FQDN_EP_NAME_LEN - 1) bytes")
        }
        var state = EndpointState(endpoint: endpoint, id: 0, version: 0)
        state.sources = try sourceAddresses(of: endpoint)
        var info = fqdn_endpoint_info()
        CBytes.set(&info.name, Array(endpoint.name.utf8))
        switch endpoint.attachment {
        case let .veth(interface, namespace):
            // Before anything is written: without tcx the attach would fail after the
            // endpoint's keys exist.
            do { try KernelFeatures.current.requireVethEndpoints() } catch { throw DatapathError.kernel(error) }
            let index = try Datapath.interfaceIndex(interface, namespace: namespace)
            if let other = endpoints.values.first(where: { $0.ifindex == index }) {
                throw DatapathError.endpoint(name: endpoint.name, reason: "interface index \(index) is already endpoint \(other.endpoint.name) (veth endpoints must share one network namespace)")
            }
            state.ifindex = index
            info.kind = UInt32(FQDN_EP_KIND_VETH)
            info.ifindex = index
        case let .cgroup(path):
            let id = try Datapath.cgroupID(path)
            state.cgroupID = id
            info.kind = UInt32(FQDN_EP_KIND_CGROUP)
            info.cgroup_id = id
        }
        let maps = self.maps
        // Same name in the pinned state (a previous agent's endpoint): adopt its id.
        let pinned = try bpf { () throws(BPFError) in try maps.epInfo.entries() }
        if let (id, old) = pinned.first(where: { CBytes.string($0.value.name) == endpoint.name }) {
            state.id = id
            if old.kind != info.kind || old.ifindex != info.ifindex || old.cgroup_id != info.cgroup_id {
                try forgetEndpointKeys(old)
            }
        } else {
            state.id = try allocateEndpointID(inUse: Set(pinned.map(\.key)))
        }
        try bpf { () throws(BPFError) in try maps.epInfo.update(state.id, info) }
        // The addresses before the flag that asks for them (writeEndpoint, setSourceCheck).
        try writeSourceAddresses(state)

        let previous = try currentEndpointValue(state)
        if !policiesApplied, let previous, previous.policy_id != 0, previous.endpoint_id == state.id {
            // Adopting a running endpoint before this agent applied any policy: it keeps
            // the pinned version (no window without enforcement) until `apply` moves it.
            state.version = previous.policy_id
            try setSourceCheck(state, previous)
            try datapath.attach(endpointID: state.id, endpoint)
            endpoints[endpoint.name] = state
            return state.id
        }
        let version = try version(for: endpoint.labels, writeIfNew: true)
        state.version = version?.id ?? 0
        try writeEndpoint(state, policyID: state.version, previous: previous?.policy_id ?? 0)
        do {
            try datapath.attach(endpointID: state.id, endpoint)
        } catch {
            try? removeEndpointKeys(state)
            try? clearSourceAddresses(endpointID: state.id)
            _ = try? maps.epInfo.delete(state.id)
            throw error
        }
        endpoints[endpoint.name] = state
        if let prev = previous?.policy_id, prev != 0, prev != state.version {
            try reevaluate([(state.id, prev, version)])
            try writeEndpoint(state, policyID: state.version, previous: 0)
        }
        try collectVersions()
        return state.id
    }

    /// Removes an endpoint: detaches its programs and forgets everything learned for it.
    public func removeEndpoint(named name: String) throws {
        guard let state = endpoints.removeValue(forKey: name) else {
            throw DatapathError.endpoint(name: name, reason: "no such endpoint")
        }
        try datapath.detach(endpointID: state.id)
        try removeEndpointKeys(state)
        try forgetLearned(endpointID: state.id)
        try clearSourceAddresses(endpointID: state.id)
        try forgetTCPConnections(endpointID: state.id)
        if let index = state.ifindex {
            try TCPDatapath.forgetPodNamespaces(pinDirectory: configuration.pinDirectory, ifindex: index)
        }
        _ = try bpf { () throws(BPFError) in try maps.epInfo.delete(state.id) }
        try collectVersions()
    }

    /// The endpoints this agent manages.
    public func endpointList() -> [Endpoint] { endpoints.values.sorted { $0.id < $1.id }.map(\.endpoint) }

    /// The endpoint id of an endpoint this agent manages.
    public func endpointID(named name: String) -> UInt32? { endpoints[name]?.id }

    /// The source addresses an endpoint may send from (configured or discovered when it was
    /// added); nil when its sources are not checked or there is no such endpoint.
    public func sourceAddresses(of name: String) -> [[UInt8]]? { endpoints[name]?.sources }

    /// The interface index of a veth endpoint.
    public func interfaceIndex(of name: String) -> UInt32? { endpoints[name]?.ifindex }

    // MARK: - Policies

    /// Replaces every policy. All-or-nothing: everything is compiled first (a compile error
    /// throws before any map is written); each endpoint then moves to its new version with
    /// one map update, and what it learned under the old version is re-evaluated under the
    /// new one (names no longer allowed are forgotten).
    public func apply(_ policies: [FQDNPolicy]) throws {
        var seen = Set<String>()
        for p in policies where !seen.insert(p.name).inserted {
            throw PolicyCompileError(policies: [p.name], reason: "two policies are named '\(p.name)'")
        }
        // 1. Compile every version needed (no writes).
        var planned: [String: CompiledPolicy?] = [:]
        var fresh: [[String]: CompiledPolicy] = [:]
        var nextID = try bpf { () throws(BPFError) in try maps.meta.lookup(0) }?.next_policy_id ?? 1
        let used = try liveVersionIDs()
        for (name, state) in endpoints {
            let selecting = policies.filter { $0.endpointSelector.matches(state.endpoint.labels) }.sorted { $0.name < $1.name }
            if selecting.isEmpty { planned[name] = .some(nil); continue }
            if let current = versions[state.version], current.sources == selecting { planned[name] = current; continue }
            let key = selecting.map(\.name)
            if let v = fresh[key] { planned[name] = v; continue }
            while nextID == 0 || used.contains(nextID) || versions[nextID] != nil { nextID &+= 1 }
            let v = try CompiledPolicy.compile(selecting, id: nextID, flowGrace: configuration.flowGrace)
            nextID &+= 1
            fresh[key] = v
            planned[name] = v
        }
        // Policies that select no endpoint yet must compile too (an error is an error now).
        for p in policies where !endpoints.values.contains(where: { p.endpointSelector.matches($0.endpoint.labels) }) {
            _ = try CompiledPolicy.compile([p], id: UInt32.max, flowGrace: configuration.flowGrace)
        }
        // 2. Write the new versions next to the live ones.
        try bpf { () throws(BPFError) in
            if var meta = try maps.meta.lookup(0) {
                meta.next_policy_id = nextID
                try maps.meta.update(0, meta)
            }
        }
        for v in fresh.values { try writeVersion(v) }
        // 3. Flip each endpoint (one map update), re-evaluate, then drop the previous version.
        var moved: [Move] = []
        for (name, target) in planned {
            guard var state = endpoints[name] else { continue }
            let old = state.version
            let new = target?.id ?? 0
            if old == new { continue }
            state.version = new
            endpoints[name] = state
            try writeEndpoint(state, policyID: new, previous: old)
            if old != 0 {
                try reevaluate([(state.id, old, target)])
                moved.append((state.id, old, target))
            }
            try writeEndpoint(state, policyID: new, previous: 0)
        }
        self.policies = policies
        policiesApplied = true
        // 4. Delete versions no endpoint uses.
        try collectVersions()
        // 5. An answer the kernel took up under the old version just before the flip can
        // write its entry after step 3 (valid under no version the endpoint has: denied until
        // the next answer). With the old version gone no more can appear (learning needs the
        // version); the stragglers are re-evaluated once more.
        try reevaluate(moved)
    }

    /// Reads a CiliumNetworkPolicy YAML file and applies it (nothing is applied when the
    /// file has an error: the `PolicyError` names file, path and reason).
    public func apply(policyFile path: String) throws {
        try apply(PolicyDocument.load(contentsOf: path))
    }

    /// The policies applied last.
    public func currentPolicies() -> [FQDNPolicy] { policies }

    /// The compiled version an endpoint uses (nil: no policy selects it).
    public func compiledPolicy(forEndpoint name: String) -> CompiledPolicy? {
        endpoints[name].flatMap { versions[$0.version] }
    }

    // MARK: - State

    /// Learned names and addresses, per endpoint, with their expiry.
    public func snapshot() throws -> [LearnedName] { try maps.learned() }

    /// Forgets everything an endpoint learned: its next connections need a fresh answer.
    public func flushLearned(endpoint name: String) throws {
        guard let state = endpoints[name] else { throw DatapathError.endpoint(name: name, reason: "no such endpoint") }
        try forgetLearned(endpointID: state.id)
    }

    /// The counters summed over CPUs.
    public func counters() throws -> [Counter: UInt64] { try maps.counterValues() }

    /// Events from the kernel as they happen. One consumer at a time.
    public nonisolated func events() throws -> AsyncThrowingStream<PolicyEvent, any Error> {
        try maps.eventStream()
    }

    /// What one garbage collection removed.
    public struct GarbageReport: Sendable, Hashable, Codable {
        public var expiredAddresses = 0
        public var names = 0
        public var slots = 0
        public var inflight = 0
        public var flows = 0
        /// Idle connections into endpoints.
        public var inbound = 0
        public var versions = 0
    }

    /// Deletes expired learned addresses (the kernel ignores them already), names without
    /// addresses, stale in-flight queries and idle flows, and unused policy versions.
    @discardableResult
    public func collectGarbage() throws -> GarbageReport {
        var report = GarbageReport()
        let now = BootClock.nanoseconds
        let maps = self.maps
        let grace = UInt64(configuration.flowGrace) * 1_000_000_000
        var removed = 0  // counted for the LRU-eviction metric (DatapathMaps.lruEvictedAddresses)
        defer { maps.countRemoved(removed) }
        try bpf { () throws(BPFError) in
            var live = Set<fqdn_name_key>()
            for e in try maps.learnedEntries() {
                if e.value.expiry_ns <= now { if try maps.deleteLearned(e.key) { report.expiredAddresses += 1; removed += 1 } }
                else { live.insert(Self.nameKey(e.endpointID, e.value.name_hash)) }
            }
            for k in try maps.names.keys() where !live.contains(k) {
                if try maps.names.delete(k) { report.names += 1 }
            }
            for k in try maps.slots.keys() where !live.contains(Self.nameKey(k.endpoint_id, k.name_hash)) {
                if try maps.slots.delete(k) { report.slots += 1 }
            }
            let inflightLimit = UInt64(configuration.inflightTimeout) * 1_000_000_000
            for (k, v) in try maps.inflight.entries() where now > v.sent_ns && now - v.sent_ns > inflightLimit {
                if try maps.inflight.delete(k) { report.inflight += 1 }
            }
            for (k, v) in try maps.flows.entries() where now > v.last_ns && now - v.last_ns > grace {
                if try maps.flows.delete(k) { report.flows += 1 }
            }
            // Connections into endpoints idle past their limit (the kernel ignores them already).
            for (k, v) in try maps.inbound.entries() where now > v.last_ns {
                let idle = UInt64(k.proto == 6 ? FQDN_INBOUND_TCP_IDLE_SEC : FQDN_INBOUND_UDP_IDLE_SEC) * 1_000_000_000
                if now - v.last_ns >= idle, try maps.inbound.delete(k) { report.inbound += 1 }
            }
        }
        report.versions = try collectVersions()
        return report
    }

    /// Stops managing the datapath. By default everything stays pinned and attached: DNS
    /// learning and enforcement go on without an agent, and the next agent adopts the state.
    /// With `removeDatapath`, every link is detached and every pin removed.
    public func shutdown(removeDatapath: Bool = false) throws {
        guard !stopped else { return }
        stopped = true
        if removeDatapath {
            try Datapath.remove(pinDirectory: configuration.pinDirectory)
            return
        }
        let maps = self.maps
        try bpf { () throws(BPFError) in
            if var meta = try maps.meta.lookup(0), meta.agent_pid == UInt32(getpid()) {
                meta.agent_pid = 0
                try maps.meta.update(0, meta)
            }
        }
    }

    /// For the package's tests and benchmarks, not the public API.
    /// Runs a packet through one of the veth programs (BPF_PROG_TEST_RUN) as if it crossed
    /// the endpoint's interface: e.g. a DNS response through `.vethEgress` is learned from for
    /// real. The endpoint must be a veth endpoint of this agent.
    package func run(_ packet: [UInt8], through program: Datapath.Program, endpoint name: String) throws -> Datapath.PacketResult {
        guard let state = endpoints[name], let index = state.ifindex, case let .veth(_, namespace) = state.endpoint.attachment else {
            throw DatapathError.endpoint(name: name, reason: "not a veth endpoint of this agent")
        }
        return try datapath.run(packet, through: program, ifindex: index, namespace: namespace)
    }

    // MARK: - Internals

    static func nameKey(_ endpoint: UInt32, _ hash: UInt64) -> fqdn_name_key {
        var k = fqdn_name_key()
        k.endpoint_id = endpoint
        k.name_hash = hash
        return k
    }

    /// The version the policies select for `labels`: an existing one with the same sources,
    /// or a new one (written to the maps when `writeIfNew`).
    func version(for labels: [String: String], writeIfNew: Bool) throws -> CompiledPolicy? {
        let selecting = policies.filter { $0.endpointSelector.matches(labels) }.sorted { $0.name < $1.name }
        if selecting.isEmpty { return nil }
        if let v = versions.values.first(where: { $0.sources == selecting }) { return v }
        let maps = self.maps
        let used = try liveVersionIDs()
        var nextID = try bpf { () throws(BPFError) in try maps.meta.lookup(0) }?.next_policy_id ?? 1
        while nextID == 0 || used.contains(nextID) || versions[nextID] != nil { nextID &+= 1 }
        let v = try CompiledPolicy.compile(selecting, id: nextID, flowGrace: configuration.flowGrace)
        try bpf { () throws(BPFError) in
            if var meta = try maps.meta.lookup(0) {
                meta.next_policy_id = nextID &+ 1
                try maps.meta.update(0, meta)
            }
        }
        if writeIfNew { try writeVersion(v) }
        return v
    }

    func allocateEndpointID(inUse: Set<UInt32>) throws -> UInt32 {
        let maps = self.maps
        return try bpf { () throws(BPFError) -> UInt32 in
            var meta = try maps.meta.lookup(0) ?? fqdn_meta()
            var id = max(meta.next_endpoint_id, 1)
            while inUse.contains(id) || endpoints.values.contains(where: { $0.id == id }) || id == 0 { id &+= 1 }
            meta.next_endpoint_id = id &+ 1
            try maps.meta.update(0, meta)
            return id
        }
    }

    func currentEndpointValue(_ s: EndpointState) throws -> fqdn_endpoint? {
        let maps = self.maps
        return try bpf { () throws(BPFError) -> fqdn_endpoint? in
            if let i = s.ifindex { return try maps.epIfindex.lookup(i) }
            if let c = s.cgroupID { return try maps.epCgroup.lookup(c) }
            return nil
        }
    }

    func writeEndpoint(_ s: EndpointState, policyID: UInt32, previous: UInt32) throws {
        var v = fqdn_endpoint()
        v.endpoint_id = s.id
        v.policy_id = policyID
        v.prev_policy_id = previous
        v.flags = policyID != 0 ? UInt32(FQDN_EP_F_ENFORCE | FQDN_EP_F_LEARN) : 0
        if s.sources != nil { v.flags |= UInt32(FQDN_EP_F_SRC_CHECK) }
        // DNS over TCP stays enabled (enableTCP) whatever the policy does.
        if let current = try currentEndpointValue(s), current.endpoint_id == s.id {
            v.flags |= current.flags & UInt32(FQDN_EP_F_TCP_DNS)
        }
        let maps = self.maps
        try bpf { () throws(BPFError) in
            if let i = s.ifindex { try maps.epIfindex.update(i, v) }
            if let c = s.cgroupID { try maps.epCgroup.update(c, v) }
        }
    }

    /// The addresses an endpoint may send from: nil when not checked.
    func sourceAddresses(of endpoint: Endpoint) throws -> [[UInt8]]? {
        switch (endpoint.sourceAddresses, endpoint.attachment) {
        case (.unchecked, _): return nil
        case let (.fixed(list), _):
            guard !list.isEmpty, list.count <= Int(FQDN_MAX_EP_ADDRS), list.allSatisfy({ $0.count == 4 || $0.count == 16 }) else {
                throw DatapathError.endpoint(name: endpoint.name, reason: "source addresses: 1 to \(FQDN_MAX_EP_ADDRS) IPv4 or IPv6 addresses (got \(list.count))")
            }
            return list
        case let (.discover, .veth(interface, namespace)):
            let found = try PodAddresses.discover(interface: interface, namespace: namespace)
            guard found.count <= Int(FQDN_MAX_EP_ADDRS) else {
                throw DatapathError.endpoint(name: endpoint.name, reason: "the pod side of \(interface) has \(found.count) addresses, more than \(FQDN_MAX_EP_ADDRS): give them (addr=) or src=unchecked")
            }
            return found
        case (.discover, .cgroup):
            throw DatapathError.endpoint(name: endpoint.name, reason: "source addresses cannot be discovered for a cgroup endpoint: give them (addr=) or src=unchecked")
        }
    }

    /// Makes fq_ep_addr hold exactly the endpoint's source addresses (stale ones of an
    /// adopted endpoint go).
    func writeSourceAddresses(_ s: EndpointState) throws {
        let maps = self.maps
        var wanted: [fqdn_ep_addr_key] = []
        for a in s.sources ?? [] {
            var k = fqdn_ep_addr_key()
            k.endpoint_id = s.id
            k.family = UInt8(a.count == 4 ? FQDN_AF_INET : FQDN_AF_INET6)
            CBytes.set(&k.addr, a)
            wanted.append(k)
        }
        try bpf { () throws(BPFError) in
            for k in wanted { try maps.epAddr.update(k, 0) }
            for k in try maps.epAddr.keys() where k.endpoint_id == s.id {
                let keep = wanted.contains { $0.family == k.family && CBytes.get($0.addr) == CBytes.get(k.addr) }
                if !keep { _ = try maps.epAddr.delete(k) }
            }
        }
    }

    func clearSourceAddresses(endpointID id: UInt32) throws {
        let maps = self.maps
        try bpf { () throws(BPFError) in
            for k in try maps.epAddr.keys() where k.endpoint_id == id { _ = try maps.epAddr.delete(k) }
        }
    }

    /// Forgets the DNS-over-TCP connections of a removed endpoint (their sockets may outlive it;
    /// sockops deletes an entry when its connection closes, but finds it through the endpoint).
    func forgetTCPConnections(endpointID id: UInt32) throws {
        let maps = self.maps
        try bpf { () throws(BPFError) in
            for k in try maps.tcpTx.keys() where k.endpoint_id == id { _ = try maps.tcpTx.delete(k) }
        }
    }

    /// An adopted endpoint's kernel value with the source check as this agent configures it.
    func setSourceCheck(_ s: EndpointState, _ current: fqdn_endpoint) throws {
        var v = current
        if s.sources != nil { v.flags |= UInt32(FQDN_EP_F_SRC_CHECK) } else { v.flags &= ~UInt32(FQDN_EP_F_SRC_CHECK) }
        guard v.flags != current.flags else { return }
        let maps = self.maps
        try bpf { () throws(BPFError) in
            if let i = s.ifindex { try maps.epIfindex.update(i, v) }
            if let c = s.cgroupID { try maps.epCgroup.update(c, v) }
        }
    }

    /// Sets `flag` (FQDN_EP_F_*) on an endpoint's kernel value, keeping the rest.
    func setEndpointFlag(named name: String, _ flag: UInt32) throws {
        guard let s = endpoints[name] else { throw DatapathError.endpoint(name: name, reason: "no such endpoint") }
        guard var v = try currentEndpointValue(s) else { return }
        v.flags |= flag
        let maps = self.maps
        try bpf { () throws(BPFError) in
            if let i = s.ifindex { try maps.epIfindex.update(i, v) }
            if let c = s.cgroupID { try maps.epCgroup.update(c, v) }
        }
    }

    func removeEndpointKeys(_ s: EndpointState) throws {
        let maps = self.maps
        try bpf { () throws(BPFError) in
            if let i = s.ifindex { try maps.epIfindex.delete(i) }
            if let c = s.cgroupID { try maps.epCgroup.delete(c) }
        }
    }

    /// A pinned endpoint whose interface or cgroup changed: drop its old lookup key.
    func forgetEndpointKeys(_ info: fqdn_endpoint_info) throws {
        let maps = self.maps
        try bpf { () throws(BPFError) in
            if info.kind == UInt32(FQDN_EP_KIND_VETH) { _ = try maps.epIfindex.delete(info.ifindex) }
            else { _ = try maps.epCgroup.delete(info.cgroup_id) }
        }
    }

    /// Deletes everything learned for an endpoint.
    func forgetLearned(endpointID id: UInt32) throws {
        try maps.forgetLearned(endpointID: id)
    }

    /// Writes a version's settings, ports, CIDR entries and trie (under its own id).
    func writeVersion(_ v: CompiledPolicy) throws {
        let maps = self.maps
        try bpf { () throws(BPFError) in
            try maps.apply(TrieMapOperation.operations(from: nil, to: v.trie))
            for (rule, ports) in v.ports {
                var k = fqdn_ports_key()
                k.policy_id = v.id
                k.rule = rule
                try maps.ports.update(k, ports)
            }
            for c in v.cidrs {
                var value = fqdn_cidr()
                value.rule_mask = c.ruleMask
                if c.network.isIPv6 {
                    var k = fqdn_cidr6_key()
                    k.prefixlen = 32 + UInt32(c.network.prefixLength)
                    k.policy_id = v.id
                    CBytes.set(&k.addr, c.network.address)
                    try maps.cidr6.update(k, value)
                } else {
                    var k = fqdn_cidr4_key()
                    k.prefixlen = 32 + UInt32(c.network.prefixLength)
                    k.policy_id = v.id
                    CBytes.set(&k.addr, c.network.address)
                    try maps.cidr4.update(k, value)
                }
            }
            // Settings last: a version is complete before anything can point at it.
            try maps.policy.update(v.id, v.settings)
        }
        versions[v.id] = v
    }

    /// Version ids referenced by any endpoint (current or previous) in the kernel.
    func liveVersionIDs() throws -> Set<UInt32> {
        let maps = self.maps
        return try bpf { () throws(BPFError) -> Set<UInt32> in
            var ids = Set<UInt32>()
            for (_, v) in try maps.epIfindex.entries() { ids.insert(v.policy_id); ids.insert(v.prev_policy_id) }
            for (_, v) in try maps.epCgroup.entries() { ids.insert(v.policy_id); ids.insert(v.prev_policy_id) }
            ids.remove(0)
            return ids
        }
    }

    /// Deletes every version (this agent's or a previous agent's) no endpoint references.
    @discardableResult
    func collectVersions() throws -> Int {
        let live = try liveVersionIDs()
        let maps = self.maps
        let stored = try bpf { () throws(BPFError) in Set(try maps.policy.keys()) }
        var removed = 0
        for id in stored.union(versions.keys) where !live.contains(id) {
            try deleteVersion(id)
            versions[id] = nil
            removed += 1
        }
        return removed
    }

    /// Deletes every entry keyed by version `id` (settings first, so nothing can select it
    /// while it is taken apart).
    func deleteVersion(_ id: UInt32) throws {
        let maps = self.maps
        try bpf { () throws(BPFError) in
            try maps.policy.delete(id)
            for k in try maps.ports.keys() where k.policy_id == id { try maps.ports.delete(k) }
            for k in try maps.cidr4.keys() where k.policy_id == id { try maps.cidr4.delete(k) }
            for k in try maps.cidr6.keys() where k.policy_id == id { try maps.cidr6.delete(k) }
            for m in TrieMap.allCases {
                // Every trie key starts with the policy version id.
                guard let map = maps.trie[m] else { continue }
                for key in try map.keyBytes() where key.count >= 4 {
                    let pid = key.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
                    if pid == id { try map.delete(keyBytes: key) }
                }
            }
        }
    }

    /// An endpoint moved from version `old` to `target` (nil: no policy selects it now).
    typealias Move = (endpointID: UInt32, old: UInt32, target: CompiledPolicy?)

    /// Entries learned under each move's old version for its endpoint, in one walk of the
    /// learned maps: their rules recomputed under the target version from the name they were
    /// learned for; forgotten when it does not allow it.
    func reevaluate(_ moves: [Move]) throws {
        guard !moves.isEmpty else { return }
        let maps = self.maps
        let byEndpoint = Dictionary(moves.map { ($0.endpointID, $0) }) { _, last in last }
        var cache: [fqdn_name_key: UInt32] = [:]
        var removed = 0  // counted for the LRU-eviction metric (DatapathMaps.lruEvictedAddresses)
        defer { maps.countRemoved(removed) }
        func mask(_ key: fqdn_name_key, _ version: CompiledPolicy) -> UInt32 {
            if let m = cache[key] { return m }
            var m: UInt32 = 0
            if let entry = try? maps.names.lookup(key), let name = try? DomainName(wire: entry.name.wireBytes) {
                m = version.ruleMask(for: name)
            }
            cache[key] = m
            return m
        }
        try bpf { () throws(BPFError) in
            for e in try maps.learnedEntries() {
                guard let move = byEndpoint[e.endpointID], e.value.policy_id == move.old else { continue }
                let m = move.target.map { mask(Self.nameKey(e.endpointID, e.value.name_hash), $0) } ?? 0
                guard m != 0, let version = move.target else {
                    if try maps.deleteLearned(e.key) { removed += 1 }
                    continue
                }
                var nv = e.value
                nv.policy_id = version.id
                nv.rule_mask = m
                try? maps.replaceLearned(e.key, with: nv)
            }
        }
    }
}

extension DNSServer {
    var key: fqdn_server_key {
        var k = fqdn_server_key()
        k.family = UInt8(address.count == 4 ? FQDN_AF_INET : FQDN_AF_INET6)
        k.port = port
        CBytes.set(&k.addr, address)
        return k
    }
}

extension fqdn_server_key: @retroactive Hashable, @retroactive Equatable {
    public static func == (a: fqdn_server_key, b: fqdn_server_key) -> Bool {
        a.family == b.family && a.port == b.port && CBytes.get(a.addr) == CBytes.get(b.addr)
    }

    public func hash(into h: inout Hasher) {
        h.combine(family)
        h.combine(port)
        h.combine(CBytes.get(addr))
    }
}
