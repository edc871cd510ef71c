import ArgumentParser
import BPFMapBindings
import Foundation

struct Features: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print what the running kernel supports of what FQDNPolicy needs.",
        discussion: """
            Probes the kernel (needs root or CAP_BPF; without, every probe reads as unsupported) and \
            prints each requirement: feature, what needs it, the first kernel that has it (measured by \
            Scripts/kernel-matrix.sh), and whether this kernel meets it. Exit status 1 when the datapath \
            cannot load here.
            """
    )

    @Flag(name: .long, help: "One JSON object: release, probed features, requirements.")
    var json = false

    func run() throws {
        if geteuid() != 0 {
            FileHandle.standardError.write(Data("warning: not root: the probes need CAP_BPF and read as unsupported without it\n".utf8))
        }
        let f = KernelFeatures.current
        if json {
            struct Report: Encodable { var features: KernelFeatures; var requirements: [KernelFeatures.Requirement] }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(Report(features: f, requirements: f.requirements)), as: UTF8.self))
        } else {
            print("kernel \(f.release)")
            for r in f.requirements {
                print("\(r.met ? "yes" : "NO ")  \(r.feature.padding(toLength: 56, withPad: " ", startingAt: 0)) >= \(r.minimum)  (\(r.neededBy))")
            }
        }
        do { try f.requireDatapath() } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
