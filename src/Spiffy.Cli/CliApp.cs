using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using Spiffy.Cli.CommandLine;
using Spiffy.Cli.Commands;

namespace Spiffy.Cli;

/// <summary>
/// The `spiffy` command on System.CommandLine: the verbs, parsing (typo suggestions, response files
/// @file, [suggest] completions, --help with examples, --version), Ctrl-C, and the rendering of
/// every failure (one line, a JSON error object with --json, the trace only with --verbose).
/// </summary>
public static class CliApp
{
    public const string Description = "spiffy - lossless speculative decoding for diffusion LMs";

    /// <summary>The verbs, in the order of the help.</summary>
    public static IReadOnlyList<IVerb> Verbs() => new IVerb[]
    {
        new GenerateCommand(), new InspectCommand(), new TokenizeCommand(), new LogitsCommand(),
        new TrainCommand(), new AugmentCommand(), new EvalCommand(), new CalibrateCommand(), new GraphCommand(), new BenchCommand(), new CheckDeviceCommand(),
    };

    public static RootCommand BuildRoot(Func<IVerb, ParseResult, CancellationToken, Task<int>> run)
    {
        var root = new RootCommand(Description);
        root.Options.Add(SharedOptions.Json);
        root.Options.Add(SharedOptions.Quiet);
        root.Options.Add(SharedOptions.Verbose);
        foreach (var verb in Verbs())
        {
            verb.Command.SetAction((parse, cancel) => run(verb, parse, cancel));
            root.Subcommands.Add(verb.Command);
        }
        foreach (var option in root.Options)
            if (option is HelpOption { Action: SynchronousCommandLineAction builtIn } help) help.Action = new HelpWithExamplesAction(builtIn);
        return root;
    }

    public static async Task<int> RunAsync(string[] argv)
    {
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            if (cts.IsCancellationRequested) return; // a second Ctrl-C kills the process
            e.Cancel = true;
            Console.Error.WriteLine("spiffy: stopping after the current step (Ctrl-C again to abort)...");
            cts.Cancel();
        };
        var root = BuildRoot(RunVerbAsync);
        // No verb: the overview of the verbs, as a usage error.
        if (argv.Length == 0)
        {
            await root.Parse(new[] { "--help" }).InvokeAsync();
            return Failures.Usage;
        }
        var parse = root.Parse(argv);
        // Help and the [suggest] / [diagram] directives only read the command line.
        bool parseOnly = parse.Action is HelpWithExamplesAction || root.Directives.Any(d => parse.GetResult(d) is not null);
        if (!parseOnly && OptionLikeArguments.Find(parse) is string misspelt)
            return Fail(new UsageException(misspelt), Output(parse), VerbPath(parse));
        if (parse.Errors.Count > 0 && parse.Action is ParseErrorAction)
            return Fail(new UsageException(ParseErrorText(parse)), Output(parse), VerbPath(parse));
        // Ctrl-C is ours (first: finish the current step; second: kill), not the library's timeout.
        var invocation = new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null };
        return await parse.InvokeAsync(invocation, cts.Token);
    }

    private static async Task<int> RunVerbAsync(IVerb verb, ParseResult parse, CancellationToken cancel)
    {
        var output = Output(parse);
        try
        {
            return await verb.RunAsync(parse, output, cancel);
        }
        catch (Exception e)
        {
            return Fail(e, output, VerbPath(parse));
        }
    }

    private static CliOutput Output(ParseResult parse) =>
        new(parse.GetValue(SharedOptions.Json), parse.GetValue(SharedOptions.Quiet), parse.GetValue(SharedOptions.Verbose));

    private static string VerbPath(ParseResult parse) =>
        parse.CommandResult.Command is RootCommand ? "spiffy" : "spiffy " + parse.CommandResult.Command.Name;

    /// <summary>The parser's own error lines with its "did you mean" suggestions, without the help text.</summary>
    private static string ParseErrorText(ParseResult parse)
    {
        if (parse.Action is ParseErrorAction action)
        {
            action.ShowHelp = false;
            action.ShowTypoCorrections = true;
        }
        var text = new StringWriter();
        parse.Invoke(new InvocationConfiguration { Output = text, Error = text, EnableDefaultExceptionHandler = false });
        return text.ToString().Trim();
    }

    /// <summary>Renders a failure: the exit code and kind come from <see cref="Failures.Classify"/> only.</summary>
    private static int Fail(Exception e, CliOutput output, string verbPath)
    {
        var failure = Failures.Classify(e);
        if (output.Json)
        {
            CliOutput.WriteJson(w =>
            {
                w.WriteStartObject("error");
                w.WriteString("kind", failure.Kind);
                w.WriteNumber("exit_code", failure.ExitCode);
                w.WriteString("message", failure.Message);
                if (output.Verbose && e is not UsageException) w.WriteString("trace", e.ToString());
                w.WriteEndObject();
            });
            return failure.ExitCode;
        }
        if (failure.ExitCode == Failures.Usage)
            Console.Error.WriteLine($"{verbPath}: {failure.Message}\nRun '{verbPath} --help' for usage.");
        else if (failure.ExitCode == Failures.Cancelled)
            Console.Error.WriteLine($"{verbPath}: cancelled");
        else
            Console.Error.WriteLine($"{verbPath}: error: {failure.Message}");
        if (output.Verbose && e is not UsageException) Console.Error.WriteLine(e.ToString());
        return failure.ExitCode;
    }
}
