using Spiffy.Cli.CommandLine;
using Spiffy.Schema;

namespace Spiffy.Cli;

/// <summary>How a failure ends the process: exit code, kind and the one line shown to the user.</summary>
public sealed record Failure(int ExitCode, string Kind, string Message);

/// <summary>
/// The one place that maps every exception a verb can throw to an exit code and a one-line message
/// (usage 2, input 1, cancelled 130, internal 70). CliApp routes every exception through
/// <see cref="Classify"/>.
/// </summary>
public static class Failures
{
    public const int Usage = 2;
    public const int Input = 1;
    public const int Cancelled = 130;
    public const int Internal = 70;

    public static Failure? Classify(Exception e) => e switch
    {
        UsageException => new Failure(Usage, "usage", e.Message),
        OperationCanceledException => new Failure(Cancelled, "cancelled", "cancelled"),
        Devices.DeviceUnavailableException => new Failure(Input, "device", e.Message),
        SchemaException or ArgumentException or InvalidDataException or FileNotFoundException
            or DirectoryNotFoundException or IOException or FormatException or InvalidOperationException
            => new Failure(Input, "input", e.Message),
        _ => null, // not classified yet: escapes (to be closed by the reliability work)
    };
}
