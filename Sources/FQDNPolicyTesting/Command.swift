import Foundation

/// What a finished command printed and returned.
public struct CommandResult: Sendable, CustomStringConvertible {
    public var arguments: [String]
    public var status: Int32
    public var stdout: String
    public var stderr: String

    public var description: String {
        "`\(arguments.joined(separator: " "))` exited \(status)\(stderr.isEmpty ? "" : ": \(stderr.trimmingCharacters(in: .whitespacesAndNewlines))")"
    }
}

public struct CommandFailed: Error, CustomStringConvertible {
    public var result: CommandResult
    public var description: String { result.description }
}

/// Runs a command (resolved through PATH, plus /usr/sbin and /sbin) and waits for it.
/// With `check` (the default) a non-zero exit throws `CommandFailed` with its stderr.
@discardableResult
public func runCommand(_ arguments: [String], check: Bool = true, stdin: String? = nil) throws -> CommandResult {
    precondition(!arguments.isEmpty)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["PATH"] = (environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
    process.environment = environment
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let input = Pipe()
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try? input.fileHandleForWriting.close()
    // Read both pipes to the end before waiting (a full pipe would block the child).
    nonisolated(unsafe) var errData = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    let result = CommandResult(
        arguments: arguments,
        status: process.terminationStatus,
        stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self)
    )
    if check && result.status != 0 { throw CommandFailed(result: result) }
    return result
}
