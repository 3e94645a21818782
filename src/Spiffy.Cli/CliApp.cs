using Spiffy.Cli.CommandLine;
using Spiffy.Cli.Commands;
using Spiffy.Schema;

namespace Spiffy.Cli;

/// <summary>The `spiffy` command: verb dispatch, error reporting and Ctrl-C handling.</summary>
public static class CliApp
{
    private const string Usage = """
        spiffy - lossless speculative decoding for diffusion LMs

        usage: spiffy <verb> [options]

        verbs:
          generate   decode a prompt (Spiffy on by default with the shipped model), print text and forwards saved
          inspect    print a model's architecture, parameter count, memory and tensor names
          tokenize   print token ids of a text (or --decode ids)
          logits     write raw float32 logits of a forward over given ids (safetensors)
          train      train a LLaDA-style diffusion LM with the masked-diffusion objective
          eval       a checkpoint on held-out GSM8K problems: accuracy, masked loss, oracle, Spiffy, threshold
          augment    numeric-perturbation variants of GSM8K training problems (held-out never used)
          calibrate  record baseline trajectories and select a calibrated draft graph (graphs/*.json)
          graph      draw a draft graph (Graphviz) or replay it against recorded trajectories
          bench      every decoder with and without Spiffy on the same prompts: NFE, speed, losslessness

        'spiffy <verb> --help' shows a verb's options.
        """;

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
        if (argv.Length == 0 || argv[0] is "-h" or "--help" or "help")
        {
            Console.WriteLine(Usage);
            return argv.Length == 0 ? 2 : 0;
        }
        string verb = argv[0];
        var rest = argv[1..];
        ICommand? command = verb switch
        {
            "inspect" => new InspectCommand(),
            "generate" => new GenerateCommand(),
            "tokenize" => new TokenizeCommand(),
            "logits" => new LogitsCommand(),
            "train" => new TrainCommand(),
            "augment" => new AugmentCommand(),
            "eval" => new EvalCommand(),
            "calibrate" => new CalibrateCommand(),
            "graph" => new GraphCommand(),
            "bench" => new BenchCommand(),
            _ => null,
        };
        if (command is null)
        {
            Console.Error.WriteLine($"spiffy: unknown verb '{verb}'\n");
            Console.Error.WriteLine(Usage);
            return 2;
        }
        if (rest.Contains("--help") || rest.Contains("-h"))
        {
            Console.WriteLine(command.Help);
            return 0;
        }
        try
        {
            var args = new Args(rest, command.Flags);
            return await command.RunAsync(args, cts.Token);
        }
        catch (Exception e) when (Failures.Classify(e) is { } failure)
        {
            if (failure.ExitCode == Failures.Usage)
            {
                Console.Error.WriteLine($"spiffy {verb}: {failure.Message}\n");
                Console.Error.WriteLine(command.Help);
            }
            else if (failure.ExitCode == Failures.Cancelled)
                Console.Error.WriteLine($"spiffy {verb}: cancelled");
            else
                Console.Error.WriteLine($"spiffy {verb}: error: {failure.Message}");
            return failure.ExitCode;
        }
    }
}

/// <summary>One verb of the CLI.</summary>
public interface ICommand
{
    string Help { get; }
    IReadOnlySet<string> Flags { get; }
    Task<int> RunAsync(Args args, CancellationToken cancel);
}
