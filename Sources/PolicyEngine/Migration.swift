import BPFMapBindings
import BPFObjects
import CFQDNShared
import Glibc

// Layout versions and upgrades of a pinned datapath.
//
// A pinned datapath outlives its agent, so a new agent (a new build) finds maps made by an
// older one. Every pinned shared map is compared with this build's definition of it (its
// shape: type, key and value size, max_entries, flags):
//   - same shape: the pinned map is adopted as it is, shared by the old and the new programs
//     (nothing is copied, nothing can be lost);
//   - different shape: the map must be listed, with a converter, in the migration from the
//     pinned layout version to this build's; otherwise the load is refused before anything
//     is created or changed.
// A migration loads the new programs on the adopted maps plus fresh maps for the changed
// ones, fills those from the old maps, switches every pinned link to the new programs with
// bpf_link_update (an attached program is replaced atomically: there is no moment without
// one), copies what the old programs counted in between, replaces the old maps' pins, and
// writes the new layout version into fq_meta LAST: an agent killed at any step leaves either
// the old version number (the next agent migrates again) or the finished state.

/// The BPF objects a datapath loads and the layout version they were built with.
///
/// `embedded` (the default) is this build's objects. Tests inject objects built from the
/// same sources for an older layout (`-DFQDN_LAYOUT_VERSION=1`) to play an older agent.
public struct DatapathObjects: Sendable {
    /// `FQDN_LAYOUT_VERSION` the objects were compiled with.
    public var layoutVersion: UInt32
    /// The ELF bytes of the object built from `<name>.bpf.c`, or nil.
    public var bytes: @Sendable (String) -> [UInt8]?

    public init(layoutVersion: UInt32, bytes: @escaping @Sendable (String) -> [UInt8]?) {
        self.layoutVersion = layoutVersion
        self.bytes = bytes
    }

    /// This build's embedded objects.
    public static let embedded = DatapathObjects(layoutVersion: UInt32(FQDN_LAYOUT_VERSION)) { BPFObjects.named($0) }

    /// Identity of the datapath programs: FNV-1a over the attach-point objects' bytes, never 0
    /// (0 means "unknown": a layout 1 datapath did not record it). Stored in `fqdn_meta.build_id`.
    public var buildID: UInt32 {
        var h: UInt32 = 0x811c_9dc5
        for p in Datapath.Program.allCases {
            for b in bytes(p.rawValue) ?? [] { h = (h ^ UInt32(b)) &* 0x0100_0193 }
        }
        return h == 0 ? 1 : h
    }
}

/// Carries one map's contents from the old shape into the new one.
protocol MapMigrator: AnyObject {
    /// Before the new programs run: copies the old map's state into the new map.
    func fill(from old: BPFMap, into new: BPFMap) throws(BPFError)
    /// After every link runs the new programs: adds what the old programs wrote since `fill`.
    func catchUp(from old: BPFMap, into new: BPFMap) throws(BPFError)
}

/// A per-CPU u64 counter array that gained (never lost or renumbered) counters: the old
/// indices keep their meaning, so each CPU's old value is copied to the same index.
final class PerCPUCountersMigrator: MapMigrator {
    private var copied: [UInt32: [UInt64]] = [:]

    func fill(from old: BPFMap, into new: BPFMap) throws(BPFError) {
        let o = try BPFPerCPUArrayMap<UInt64>(old), n = try BPFPerCPUArrayMap<UInt64>(new)
        for i in 0..<UInt32(min(old.maxEntries, new.maxEntries)) {
            guard let values = try o.values(at: i) else { continue }
            try n.update(i, perCPU: values)
            copied[i] = values
        }
    }

    func catchUp(from old: BPFMap, into new: BPFMap) throws(BPFError) {
        let o = try BPFPerCPUArrayMap<UInt64>(old), n = try BPFPerCPUArrayMap<UInt64>(new)
        for (i, before) in copied {
            guard let now = try o.values(at: i), let current = try n.values(at: i) else { continue }
            // The new programs increment `current` concurrently; this read-modify-write can
            // lose an increment made on the same CPU between the read and the write (a few
            // counts at most, once per upgrade), never the carried-over totals.
            var updated = current
            var changed = false
            for cpu in 0..<min(now.count, before.count, updated.count) where now[cpu] != before[cpu] {
                updated[cpu] &+= now[cpu] &- before[cpu]
                changed = true
            }
            if changed { try n.update(i, perCPU: updated) }
        }
    }
}

/// A map of short-lived state whose entries the new layout cannot read (in-flight queries):
/// the new map starts empty.
final class TransientMigrator: MapMigrator {
    func fill(from old: BPFMap, into new: BPFMap) throws(BPFError) {}
    func catchUp(from old: BPFMap, into new: BPFMap) throws(BPFError) {}
}

/// One supported upgrade: the maps whose shape changes between two layout versions and how
/// each one's contents are carried over. Maps not listed must keep their shape (they are
/// adopted as they are).
struct LayoutMigration: Sendable {
    let from: UInt32
    let to: UInt32
    /// Map name -> a fresh converter for one run.
    let converters: [String: @Sendable () -> MapMigrator]
    /// Maps that keep their shape under a new name: old pin name -> new pin name. Their pins
    /// are renamed (bpffs rename, atomic per map) before the new programs adopt them.
    var renamed: [String: String] = [:]
    /// What the migration does, for the log and the documentation.
    let summary: String

    /// Every supported upgrade (Documentation/Operations.md, "Upgrades").
    static let all: [LayoutMigration] = [
        // 1 -> 2: fq_counters gained FQDN_CTR_ADDRS_REMOVED (26 -> 27 entries): the 26 old
        // per-CPU values are copied, the new counter starts at 0. fq_meta keeps its size (the
        // reserved pad became build_id, 0 until this build writes it): adopted, and its
        // layout_version is bumped last. Every other map is unchanged and adopted.
        LayoutMigration(
            from: 1, to: 2, converters: ["fq_counters": { PerCPUCountersMigrator() }],
            summary: "fq_counters 26 -> 27 counters (values carried over), fq_meta build_id"),
        // 2 -> 3 (fail closed): fq_counters gained three counters (27 -> 30); fq_inbound is a
        // new map (created empty: no connection into an endpoint is known yet, so replies on
        // connections accepted before the upgrade are denied until their peer sends again).
        LayoutMigration(
            from: 2, to: 3, converters: ["fq_counters": { PerCPUCountersMigrator() }],
            summary: "fq_counters 27 -> 30 counters (values carried over), new fq_inbound"),
        // 3 -> 4 (source validation, query randomisation): fq_counters 30 -> 32; fq_ep_addr
        // is new (created empty: the agent writes each endpoint's addresses when it adds or
        // adopts it; until then the endpoint's flags do not ask for the check);
        // fq_inflight's value grew (24 -> 32 bytes): queries in flight during the upgrade
        // are not carried over, so their answers teach nothing (the application's retry
        // does), as after an LRU eviction.
        LayoutMigration(
            from: 3, to: 4,
            converters: ["fq_counters": { PerCPUCountersMigrator() }, "fq_inflight": { TransientMigrator() }],
            summary: "fq_counters 30 -> 32 counters (values carried over), new fq_ep_addr, fq_inflight starts empty"),
        // 4 -> 5 (DNS over TCP fails closed): fq_tcp_tx and fq_secret are new (created empty;
        // the load draws the secret). A DNS-over-TCP connection established before the
        // upgrade has no entry, so the new egress programs drop its data as unwritten
        // (`tcp_unwritten`): its client times out and connects again, and the new connection
        // is recorded. Every other map keeps its shape.
        LayoutMigration(
            from: 4, to: 5, converters: [:],
            summary: "new fq_tcp_tx and fq_secret (DNS-over-TCP connections made before the upgrade must reconnect)"),
        // 5 -> 6 (one map prefix): the trie maps keep their shape and contents under fq_
        // names. The running programs hold the maps, not their names, so renaming the pins
        // changes nothing for them; an agent killed between two renames leaves layout 5 in
        // fq_meta and the next one renames the rest.
        LayoutMigration(
            from: 5, to: 6, converters: [:],
            renamed: ["fqdn_trie_nodes": "fq_trie_nodes", "fqdn_trie_globs": "fq_trie_globs", "fqdn_trie_sets": "fq_trie_sets"],
            summary: "trie maps pinned as fq_trie_{nodes,globs,sets} (renamed, contents kept)"),
    ]

    /// The migration from `from` to `to`: one step of `all`, or consecutive steps composed
    /// (each converter of a later step replaces an earlier one for the same map; the
    /// counters' converter copies whatever the old map has, so one pass does).
    static func find(from: UInt32, to: UInt32) -> LayoutMigration? {
        guard from < to else { return nil }
        var converters: [String: @Sendable () -> MapMigrator] = [:]
        var renamed: [String: String] = [:]
        var summaries: [String] = []
        var at = from
        while at < to {
            guard let step = all.first(where: { $0.from == at && $0.to > at && $0.to <= to }) else { return nil }
            // Converters are keyed by the name the map has in the step's target layout.
            converters.merge(step.converters) { _, later in later }
            // A map renamed twice goes from its first name to its last.
            for (old, new) in step.renamed { renamed[renamed.first { $0.value == old }?.key ?? old] = new }
            summaries.append(step.summary)
            at = step.to
        }
        return LayoutMigration(from: from, to: to, converters: converters, renamed: renamed, summary: summaries.joined(separator: "; "))
    }
}

/// What `Datapath.load` found pinned and did about it (shown in the agent's log).
public struct DatapathUpgrade: Sendable, CustomStringConvertible {
    /// Layout version of the pinned state before this load.
    public var fromLayout: UInt32
    public var toLayout: UInt32
    /// Build identities (`DatapathObjects.buildID`) before and after (0: not recorded).
    public var fromBuild: UInt32
    public var toBuild: UInt32
    /// Maps created in the new shape and filled from the old ones.
    public var migratedMaps: [String]
    /// Pinned links switched to the new programs in place.
    public var linksSwitched: Int

    public var description: String {
        var parts: [String] = []
        if fromLayout != toLayout {
            parts.append("map layout migrated from version \(fromLayout) to \(toLayout) (\(migratedMaps.isEmpty ? "no map changed shape" : "new " + migratedMaps.joined(separator: ", ") + ", filled as the migration says"); every other map adopted as it is)")
        }
        parts.append("programs upgraded from build \(Self.hex(fromBuild)) to \(Self.hex(toBuild)) (\(linksSwitched) pinned link(s) switched in place)")
        return parts.joined(separator: "; ")
    }

    static func hex(_ id: UInt32) -> String { id == 0 ? "unknown" : String(id, radix: 16) }
}

/// The decision for a pinned datapath, made before anything is created or changed.
struct LayoutPlan {
    var pinnedVersion: UInt32
    var pinnedBuild: UInt32
    /// Maps whose pinned shape differs: created new and filled by `migration`.
    var replace: [String: MapMigrator] = [:]
    var migration: LayoutMigration?

    /// Compares the pinned maps with the objects' definitions. Throws `.layoutMismatch`
    /// (naming the maps and what differs) when there is no way to carry the state over.
    static func make(pinDirectory: String, objects: [BPFObject], layoutVersion: UInt32) throws(DatapathError) -> LayoutPlan? {
        let dir = Datapath.mapsDirectory(pinDirectory)
        guard BPFFS.exists(dir + "/fq_meta") else { return nil }
        func refuse(_ pinned: UInt32, _ detail: String) -> DatapathError {
            .layoutMismatch(directory: pinDirectory, pinned: pinned, expected: layoutVersion, detail: detail)
        }
        let metaMap = try bpf { () throws(BPFError) in try BPFMap.openPinned(dir + "/fq_meta") }
        guard metaMap.valueSize == MemoryLayout<fqdn_meta>.size, metaMap.keySize == 4,
              let meta = try? BPFArrayMap<fqdn_meta>(metaMap).lookup(0)
        else { throw refuse(0, "fq_meta has value size \(metaMap.valueSize), this build reads \(MemoryLayout<fqdn_meta>.size)") }
        let pinnedVersion = meta.layout_version

        // The shape each shared map has in this build (the first object defining it).
        var defined: [String: BPFMapShape] = [:]
        for o in objects {
            for name in o.userMapNames where defined[name] == nil && DatapathMaps.sharedNames.contains(name) {
                defined[name] = try bpf { () throws(BPFError) in try o.mapShape(name) }
            }
        }
        let found = LayoutMigration.find(from: pinnedVersion, to: layoutVersion)
        // A map the migration renames is still pinned under its old name (or, after an
        // interrupted upgrade, already under the new one).
        let oldName = Dictionary((found?.renamed ?? [:]).map { ($1, $0) }) { a, _ in a }
        var differing: [(String, [String])] = []
        for name in defined.keys.sorted() {
            let path = BPFFS.exists(dir + "/" + name) ? dir + "/" + name : oldName[name].map { dir + "/" + $0 }
            guard let path, BPFFS.exists(path) else { continue }
            let pinned = try bpf { () throws(BPFError) in try BPFMap.openPinned(path) }.shape
            let diff = pinned.differences(to: defined[name]!)
            if !diff.isEmpty { differing.append((name, diff)) }
        }
        let described = differing.map { "\($0.0): \($0.1.joined(separator: ", "))" }.joined(separator: "; ")
        var plan = LayoutPlan(pinnedVersion: pinnedVersion, pinnedBuild: meta.build_id)
        if pinnedVersion == layoutVersion {
            // Same version but another shape: built with other limits; nothing says how to convert.
            if !differing.isEmpty { throw refuse(pinnedVersion, "same layout version but maps differ (pinned -> this build): \(described)") }
            return plan
        }
        guard let migration = found else {
            throw refuse(pinnedVersion, "no migration from layout \(pinnedVersion) to \(layoutVersion) in this build" + (differing.isEmpty ? "" : " (maps that differ: \(described))"))
        }
        let unconvertible = differing.filter { migration.converters[$0.0] == nil }
        if !unconvertible.isEmpty {
            throw refuse(pinnedVersion, "the migration \(pinnedVersion) -> \(layoutVersion) cannot convert " + unconvertible.map { "\($0.0) (\($0.1.joined(separator: ", ")))" }.joined(separator: "; "))
        }
        plan.migration = migration
        for (name, _) in differing { plan.replace[name] = migration.converters[name]!() }
        return plan
    }
}

extension Datapath {
    /// Switches every pinned endpoint link (`ep<id>-<program>`) to this datapath's program of
    /// the same attach point with `bpf_link_update`: the kernel swaps the program atomically,
    /// so traffic never meets an empty hook. Links whose interface is gone (ENOLINK) are left
    /// for `attach` to re-create. Returns how many were switched.
    static func switchPinnedLinks(pinDirectory: String, to programs: [Program: BPFProgram]) throws(DatapathError) -> Int {
        let dir = linksDirectory(pinDirectory)
        var switched = 0
        for name in BPFFS.contents(of: dir) where name.hasPrefix("ep") {
            guard let dash = name.firstIndex(of: "-"),
                  let p = Program(rawValue: String(name[name.index(after: dash)...])),
                  let prog = programs[p] else { continue }
            let path = dir + "/" + name
            // Severed links (the interface is gone) are left to the endpoint's own repair.
            let updated = try bpf { () throws(BPFError) -> Bool in try BPFAttachment.openPinnedLink(path).update(program: prog) }
            if updated { switched += 1 }
        }
        return switched
    }

    /// Replaces the pin of each migrated map with the new map. rename(2) on bpffs swaps the
    /// directory entry atomically, so a reader opens either the old or the new map, never
    /// nothing.
    static func replacePins(_ maps: [String: BPFMap], in mapsDir: String) throws(DatapathError) {
        for (name, map) in maps.sorted(by: { $0.key < $1.key }) {
            let staging = mapsDir + "/migrating-" + name  // bpffs refuses names with a dot
            unlink(staging)
            try bpf { () throws(BPFError) in try map.pin(at: staging) }
            if rename(staging, mapsDir + "/" + name) != 0 {
                let e = errno
                unlink(staging)
                throw .bpf(.syscall(op: "rename(\(staging))", errno: BPFErrno(e)))
            }
        }
    }
}
