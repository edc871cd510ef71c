import CLibFuzzer
import Glibc

// SwiftPM links its own entry point for executables, so hand control to libFuzzer's driver,
// with LLVMFuzzerTestOneInput (FuzzTarget.swift) as the callback.
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    fuzzOneInput(data, size)
}
exit(status)
