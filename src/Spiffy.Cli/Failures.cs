using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using Spiffy.Checkpoints;
using Spiffy.Cli.CommandLine;
using Spiffy.Schema;
using Spiffy.Schema.Json;

namespace Spiffy.Cli;

/// <summary>
/// How a failure ends the process: exit code, kind ("usage", "input", "cancelled", "internal"), the
/// message shown to the user and the exception behind it (its trace is for --verbose only).
/// </summary>
public sealed record Failure(int ExitCode, string Kind, string Message, Exception? Exception = null)
{
    /// <summary>The full exception with its stack trace, shown only on request (--verbose).</summary>
    public string Trace => Exception?.ToString() ?? "";
}

/// <summary>
/// The one place that maps every exception a verb can throw to an exit code and a message
/// (usage 2, input 1, cancelled 130, internal 70). Total: every exception gets a failure, so
/// nothing escapes as an unhandled exception with a trace. Input errors carry their own message
/// (it names the file, field or tensor); internal errors are bugs and say so, with a "please report" line.
/// </summary>
public static class Failures
{
    public const int Usage = 2;
    public const int Input = 1;
    public const int Cancelled = 130;
    public const int Internal = 70;

    /// <summary>Where internal errors are reported.</summary>
    public const string ReportLine = "this is a bug in spiffy: please report it with the command line (rerun with --verbose for the trace)";

    public static Failure Classify(Exception e)
    {
        e = Unwrap(e);
        return e switch
        {
            UsageException => new Failure(Usage, "usage", e.Message, e),
            OperationCanceledException => new Failure(Cancelled, "cancelled", "cancelled", e),
            // A device that is not there, or a libtorch that cannot be loaded: the message names what was looked for.
            Devices.DeviceUnavailableException => new Failure(Input, "device", e.Message, e),
            // Bad input: the message already names the file (and field, tensor or line).
            SchemaException or CheckpointException or JsonSyntaxException or InvalidDataException or FormatException
                or JsonException or IOException or ArgumentException or InvalidOperationException or NotSupportedException
                => new Failure(Input, "input", OneMessage(e), e),
            UnauthorizedAccessException => new Failure(Input, "input", $"permission denied or not a regular file: {e.Message}", e),
            RegexMatchTimeoutException t => new Failure(Input, "input",
                $"a regular expression from the input took longer than {t.MatchTimeout.TotalSeconds:0.###} s (catastrophic backtracking): /{t.Pattern}/", e),
            // Resources: the estimate's message says what would fit; a native allocation failure has only torch's words.
            InsufficientMemoryException => new Failure(Input, "input", e.Message, e),
            OutOfMemoryException => new Failure(Input, "input", $"out of memory: {e.Message}", e),
            ExternalException when IsAllocationFailure(e.Message) => new Failure(Input, "input", $"out of memory: {FirstLine(e.Message)}", e),
            _ => new Failure(Internal, "internal", $"internal error ({e.GetType().Name}: {FirstLine(e.Message)}); {ReportLine}", e),
        };
    }

    // Wrappers say nothing a user can act on: report the exception inside them.
    private static Exception Unwrap(Exception e)
    {
        for (int i = 0; i < 16; i++)
        {
            Exception? inner = e switch
            {
                AggregateException { InnerExceptions.Count: > 0 } a => a.InnerExceptions[0], // parallel work: the first failure
                TargetInvocationException { InnerException: { } t } => t,
                TypeInitializationException { InnerException: { } t } => t,
                _ => null,
            };
            if (inner is null) return e;
            e = inner;
        }
        return e;
    }

    private static bool IsAllocationFailure(string message)
        => message.Contains("DefaultCPUAllocator", StringComparison.Ordinal) || message.Contains("out of memory", StringComparison.OrdinalIgnoreCase)
           || message.Contains("Out of memory", StringComparison.Ordinal);

    // Native (torch) messages carry a C++ backtrace after the first line; ours are kept whole
    // (a multi-problem message lists one problem per line).
    private static string OneMessage(Exception e) => e is ExternalException ? FirstLine(e.Message) : e.Message;

    private static string FirstLine(string s)
    {
        int nl = s.IndexOf('\n');
        return (nl < 0 ? s : s[..nl]).TrimEnd();
    }
}
