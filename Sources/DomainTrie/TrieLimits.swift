import CFQDNShared

/// The limits of names, of the compiled trie and of the kernel walk.
///
/// Every number comes from `BPFPrograms/include/fqdn_shared.h` (sections 1 and 3), so the
/// compiler, the Swift matchers and the BPF walk cannot drift apart.
public enum TrieLimits {
    /// Longest name in wire form, root byte included.
    public static let maxNameLength = Int(FQDN_MAX_NAME_LEN)
    /// Most labels in a name, root excluded.
    public static let maxLabels = Int(FQDN_MAX_LABELS)
    /// Longest label.
    public static let maxLabelLength = Int(FQDN_MAX_LABEL_LEN)
    /// Label bytes in a key (zero-padded).
    public static let labelBytes = Int(FQDN_TRIE_LABEL_BYTES)
    /// In-label glob children of one node.
    public static let maxGlobs = Int(FQDN_TRIE_MAX_GLOBS)
    /// Nodes active at one depth of the walk.
    public static let maxActive = Int(FQDN_TRIE_MAX_ACTIVE)
    /// Distinct sets one name can hit.
    public static let maxHits = Int(FQDN_TRIE_MAX_HITS)
    /// Tags in one set.
    public static let maxSetTags = Int(FQDN_TRIE_MAX_SET_TAGS)
    /// Steps of the bounded glob matcher.
    public static let globMaxSteps = (maxLabelLength + 2) * (maxLabelLength + 2)
}
