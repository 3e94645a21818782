using System.Globalization;
using Spiffy.Calibration;
using Spiffy.Cli.CommandLine;
using Spiffy.Speculation;

namespace Spiffy.Cli.Commands;

/// <summary>`spiffy graph`: draw a draft graph (Graphviz), or replay it against recorded trajectories.</summary>
public sealed class GraphCommand : ICommand
{
    public string Help => """
        usage: spiffy graph <graph.json> [-o picture.svg | picture.png | picture.pdf | graph.dot] [--traces FILE [--keep N]]

        Draws a draft graph by depth, the root on top, each node labelled with its (position rank,
        token rank) pairs and calibration count. A .dot output is Graphviz source (no Graphviz
        needed); .svg, .png and .pdf are rendered with Graphviz's `dot` (Debian/Ubuntu:
        apt-get install -y graphviz). Without -o (and without --traces) the DOT source is printed.
          -o FILE        picture or DOT file, written atomically
          --traces FILE  replay the graph against trajectories recorded by `spiffy calibrate --traces`
                         and print its exact forwards, acceptance and rows per forward
          --keep N       D* for the replay (default: the graph's; 0 = all)
        """;

    public IReadOnlySet<string> Flags { get; } = new HashSet<string>();

    public Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        string? output = args.String("output");
        string? tracesPath = args.String("traces");
        int? keep = args.Has("keep") ? args.Int("keep", 0, 0) : null;
        args.EnsureAllUsed(1);
        if (args.Positionals.Count != 1) throw new UsageException("give one graph file");
        if (keep is not null && tracesPath is null) throw new UsageException("--keep only applies to a replay (--traces)");
        var graph = GraphFiles.Load(args.Positionals[0]);

        if (output is not null)
        {
            string ext = Path.GetExtension(output).TrimStart('.').ToLowerInvariant();
            switch (ext)
            {
                case "dot":
                case "gv":
                    GraphDot.WriteDot(graph, output);
                    break;
                case "svg":
                case "png":
                case "pdf":
                    GraphDot.Render(GraphDot.ToDot(graph), output, ext);
                    break;
                default:
                    throw new UsageException($"cannot tell the picture format from \"{output}\" (use .svg, .png, .pdf or .dot)");
            }
            Console.WriteLine($"wrote {output} ({graph.Nodes.Count} nodes, depth {graph.MaxDepth})");
        }
        if (tracesPath is not null)
        {
            var traces = TraceFile.Load(tracesPath);
            if (traces.Header.Decoding != graph.Decoding)
                Console.Error.WriteLine($"warning: graph '{graph.Name}' was calibrated for another decoding configuration than the traces were recorded with");
            int d = keep ?? graph.Keep;
            var r = new TraceReplay(traces).Replay(graph, d);
            var ci = CultureInfo.InvariantCulture;
            Console.WriteLine(string.Create(ci, $"{graph.Name} on {traces.Header.PromptSource} ({traces.Sequences.Count} problems), D* {(d == 0 ? "all" : d.ToString(ci))}: {r}"));
            Console.WriteLine("accepted chain length per verification forward: " + r.Histogram());
        }
        if (output is null && tracesPath is null) Console.Write(GraphDot.ToDot(graph));
        return Task.FromResult(0);
    }
}
