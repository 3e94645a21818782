using System.CommandLine;
using System.CommandLine.Invocation;

namespace Spiffy.Cli.CommandLine;

/// <summary>One verb of the CLI: its command (options, arguments, help) and what it does.</summary>
public interface IVerb
{
    VerbCommand Command { get; }

    /// <summary>Runs the verb; returns the exit code (0, or 3 when a lossless check failed). Exceptions go to <see cref="Failures"/>.</summary>
    Task<int> RunAsync(ParseResult parse, CliOutput output, CancellationToken cancel);
}

/// <summary>A verb's command: a one-line summary (the root's list), the details and examples of its own help.</summary>
public sealed class VerbCommand : Command
{
    public VerbCommand(string name, string summary, string details, params string[] examples) : base(name, summary)
    {
        Summary = summary;
        Details = details;
        Examples = examples;
    }

    public string Summary { get; }

    /// <summary>The description shown by the verb's own --help.</summary>
    public string Details { get; }

    /// <summary>Command lines, each optionally followed by "  # what it does".</summary>
    public IReadOnlyList<string> Examples { get; }
}

/// <summary>
/// The help action: System.CommandLine's own help, then the verb's examples (its help builder is not
/// public, so the examples follow the text it writes).
/// </summary>
public sealed class HelpWithExamplesAction : SynchronousCommandLineAction
{
    private readonly SynchronousCommandLineAction _help;

    public HelpWithExamplesAction(SynchronousCommandLineAction help) { _help = help; }

    public override bool ClearsParseErrors => true;

    public override int Invoke(ParseResult parseResult)
    {
        var verb = parseResult.CommandResult.Command as VerbCommand;
        if (verb is not null) verb.Description = verb.Details;
        int code;
        try { code = _help.Invoke(parseResult); }
        finally { if (verb is not null) verb.Description = verb.Summary; }
        if (verb is { Examples.Count: > 0 })
        {
            var output = parseResult.InvocationConfiguration.Output;
            output.WriteLine("Examples:");
            foreach (var e in verb.Examples) output.WriteLine("  " + e);
            output.WriteLine();
        }
        return code;
    }
}
