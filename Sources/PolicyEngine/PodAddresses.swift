import BPFMapBindings
internal import CSysShims
import Foundation
import Glibc

/// Finding the addresses a veth endpoint's pod sends from, for source validation
/// (`Endpoint.SourceAddresses.discover`): the pod side of the veth is the host side's peer;
/// its network namespace is found by the id the node's namespace gives it (netlink
/// `IFLA_LINK_NETNSID`, compared with `RTM_GETNSID` of each candidate) among the named
/// namespaces (`/run/netns`) and those of running processes (`/proc/PID/ns/net`).
enum PodAddresses {
    /// The IPv4 and IPv6 addresses (4 or 16 bytes) on the pod side of `interface`, which
    /// lives in `namespace` (nil: the agent's). Link-local IPv6 addresses are left out:
    /// they never leave the link (neighbour discovery from them is allowed on its own).
    static func discover(interface: String, namespace: String?) throws(DatapathError) -> [[UInt8]] {
        func fail(_ why: String) -> DatapathError {
            .endpoint(name: interface, reason: "cannot discover the pod's addresses for source validation: \(why); give them (addr=IP, Endpoint.SourceAddresses.fixed) or turn the check off (src=unchecked)")
        }
        // In the node's namespace: the peer, and which candidate namespace is the peer's.
        let find: () -> Result<(peer: Int32, path: String?), DatapathError> = {
            let index = Int32(bitPattern: if_nametoindex(interface))
            guard index != 0 else { return .failure(fail("no interface \(interface)")) }
            var peer: Int32 = 0, nsid: Int32 = -1
            let r = fqdn_link_peer(index, &peer, &nsid)
            if r == -ENOENT { return .failure(fail("\(interface) has no peer (not a veth)")) }
            if r < 0 { return .failure(fail("netlink RTM_GETLINK: \(String(cString: strerror(-r)))")) }
            if nsid < 0 { return .success((peer, nil)) }  // both ends in this namespace
            for path in candidateNamespaces() {
                let fd = open(path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { continue }
                defer { close(fd) }
                var id: Int32 = -1
                if fqdn_netns_id(fd, &id) == 0, id == nsid { return .success((peer, path)) }
            }
            return .failure(fail("the peer's network namespace (id \(nsid) in the node's) is neither under /run/netns nor a running process's"))
        }
        let found: Result<(peer: Int32, path: String?), DatapathError>
        if let ns = Datapath.namespace(namespace) {
            do { found = try ns.perform(find) } catch { throw fail("cannot enter network namespace \(ns): \(error)") }
        } else {
            found = find()
        }
        let (peer, path) = try found.get()
        let list = { () -> [[UInt8]] in addresses(ofInterface: UInt32(peer)) }
        let result: [[UInt8]]
        if let path {
            do { result = try NetworkNamespace(path: path).perform(list) } catch { throw fail("cannot enter \(path): \(error)") }
        } else {
            result = list()
        }
        guard !result.isEmpty else {
            throw fail("the pod side of \(interface) (interface \(peer)\(path.map { " in " + $0 } ?? "")) has no IPv4 or global IPv6 address yet")
        }
        return result
    }

    /// Named namespaces first (cheap, and where CNI runtimes put pods), then every
    /// process's; the same namespace reached twice is asked once.
    static func candidateNamespaces() -> [String] {
        var paths: [String] = []
        for dir in ["/run/netns", "/var/run/netns"] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir))?.sorted() ?? [] {
                paths.append(dir + "/" + name)
            }
        }
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where entry.allSatisfy(\.isNumber) {
            paths.append("/proc/\(entry)/ns/net")
        }
        var seen = Set<[UInt64]>(), unique: [String] = []
        for p in paths {
            var st = stat()
            guard stat(p, &st) == 0 else { continue }
            if seen.insert([UInt64(st.st_dev), UInt64(st.st_ino)]).inserted { unique.append(p) }
        }
        return unique
    }

    /// The calling thread's namespace: the addresses on interface `index`.
    static func addresses(ofInterface index: UInt32) -> [[UInt8]] {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0 else { return [] }
        defer { freeifaddrs(head) }
        var out: [[UInt8]] = []
        var cursor = head
        while let ifa = cursor {
            defer { cursor = ifa.pointee.ifa_next }
            guard let sa = ifa.pointee.ifa_addr, if_nametoindex(ifa.pointee.ifa_name) == index else { continue }
            switch Int32(sa.pointee.sa_family) {
            case AF_INET:
                let a = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                out.append(withUnsafeBytes(of: a) { Array($0) })
            case AF_INET6:
                let a = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                let bytes = withUnsafeBytes(of: a) { Array($0) }
                if bytes[0] == 0xfe && bytes[1] & 0xC0 == 0x80 { continue }
                out.append(bytes)
            default: continue
            }
        }
        return out
    }
}
