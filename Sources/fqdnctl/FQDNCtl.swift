import ArgumentParser

/// `fqdnctl`: drive FQDNPolicy from the command line.
///
/// Each subcommand lives in its own file; `decode`, `limits` and `match` print JSON and are
/// stable interfaces that tests and other tools rely on.
@main
struct FQDNCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fqdnctl",
        abstract: "In-kernel FQDN egress policy: inspect, test and run.",
        subcommands: [
            Decode.self,
            Limits.self,
            Features.self,
            Match.self,
            Agent.self,
            Status.self,
            Cache.self,
            Metrics.self,
            Remove.self,
            VerifierReportCommand.self,
            BenchParser.self,
            FuzzCompare.self,
        ]
    )
}
