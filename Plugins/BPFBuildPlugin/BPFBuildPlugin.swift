import Foundation
import PackagePlugin

/// Compiles BPF C programs with the toolchain's clang (`-target bpf`) and embeds the objects,
/// base64-encoded, into one generated Swift file of the target it is applied to. No resource
/// bundle, nothing to ship beside the binary.
///
/// The target decides which programs: `BPFObjects` (what the library loads and ships) gets
/// `BPFPrograms/*.bpf.c`; `BPFTestObjects` (harnesses for tests, benchmarks and developer
/// tools) gets `BPFPrograms/tests/*.bpf.c`. Production code cannot reach a test object.
///
/// Every `.c` and `.h` under `BPFPrograms/` is an input, so editing a shared header rebuilds
/// the objects. The plugin itself runs at every build planning, so a new `.bpf.c` is picked up
/// without touching the package.
@main
struct BPFBuildPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let root = context.package.directoryURL.appending(path: "BPFPrograms", directoryHint: .isDirectory)
        let fm = FileManager.default

        let dir = target.name == "BPFTestObjects" ? root.appending(path: "tests", directoryHint: .isDirectory) : root
        var programs: [URL] = []
        let names = (try? fm.contentsOfDirectory(atPath: dir.path(percentEncoded: false))) ?? []
        for name in names.sorted() where name.hasSuffix(".bpf.c") {
            programs.append(dir.appending(path: name))
        }

        var inputs: [URL] = []
        if let walker = fm.enumerator(at: root, includingPropertiesForKeys: nil) {
            for case let url as URL in walker where url.pathExtension == "c" || url.pathExtension == "h" {
                inputs.append(url)
            }
        }

        let work = context.pluginWorkDirectoryURL
        let output = work.appending(path: "BPFObjectsEmbedded.swift")
        let embed = try context.tool(named: "BPFEmbed")
        // The toolchain's clang has the bpf target; fall back to PATH lookup inside the tool.
        let clang = (try? context.tool(named: "clang"))?.url.path(percentEncoded: false) ?? "clang"

        var arguments = [
            "--clang", clang,
            "--include", root.appending(path: "include").path(percentEncoded: false),
            "--objects", work.appending(path: "objects").path(percentEncoded: false),
            "--output", output.path(percentEncoded: false),
            "--type", target.name,
        ]
        arguments += programs.map { $0.path(percentEncoded: false) }

        return [
            .buildCommand(
                displayName: "Compiling \(programs.count) BPF programs for \(target.name)",
                executable: embed.url,
                arguments: arguments,
                inputFiles: inputs,
                outputFiles: [output]
            )
        ]
    }
}
