using System.CommandLine;
using System.Globalization;
using Spiffy.Calibration;
using Spiffy.Schema.Graphs;
using Spiffy.Cli.CommandLine;
using Spiffy.Speculation;

namespace Spiffy.Cli.Commands;

/// <summary>`spiffy graph`: draw a draft graph (Graphviz), or replay it against recorded trajectories.</summary>
public sealed class GraphCommand : IVerb
{
    private static readonly string[] Formats = { "svg", "png", "pdf", "dot", "gv" };

    private readonly Argument<string> _graph = new("graph") { Description = "draft graph file (graphs/*.json)", HelpName = "graph.json" };
    private readonly Option<string?> _output = new("--output", "-o")
    {
        Description = "picture (.svg, .png, .pdf: rendered with Graphviz's dot) or DOT source (.dot, .gv: no Graphviz needed), written atomically",
        HelpName = "FILE"
    };
    private readonly Option<string?> _traces = new("--traces")
    {
        Description = "replay the graph against trajectories recorded by `spiffy calibrate --traces` and print its exact forwards, acceptance and rows "
            + "per forward", HelpName = "FILE"
    };
    private readonly Option<string?> _keep = SharedOptions.Keep("D* for the replay (default: the graph's)");

    public GraphCommand()
    {
        _output.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is string file && !Formats.Contains(Extension(file)))
                r.AddError($"cannot tell the picture format from \"{file}\" (use .svg, .png, .pdf or .dot)");
        });
        Command = new VerbCommand("graph",
            "draw a draft graph (Graphviz) or replay it against recorded trajectories",
            "Draw a draft graph by depth, the root on top, each node labelled with its (position rank, token rank) pairs and "
            + "calibration count; without -o (and without --traces) the DOT source is printed. Pictures need Graphviz's `dot` "
            + "on PATH (Debian/Ubuntu: apt-get install -y graphviz; macOS: brew install graphviz).",
            "spiffy graph graphs/gsm8k-small-schedule.json -o schedule.svg     # needs Graphviz",
            "spiffy graph graphs/gsm8k-small-schedule.json -o schedule.dot     # DOT source, no Graphviz",
            "spiffy graph graphs/gsm8k-small-schedule.json --traces runs/cal.trace --keep 3")
        { _graph, _output, _traces, _keep };
        Command.Validators.Add(r =>
        {
            if (r.GetValue(_keep) is not null && r.GetValue(_traces) is null) r.AddError("--keep only applies to a replay (--traces)");
        });
    }

    public VerbCommand Command { get; }

    public Task<int> RunAsync(ParseResult parse, CliOutput output, CancellationToken cancel)
    {
        string? outFile = parse.GetValue(_output), tracesPath = parse.GetValue(_traces);
        var graph = GraphFiles.Load(parse.GetValue(_graph)!);
        var ci = CultureInfo.InvariantCulture;
        ReplayResult? replay = null;
        var keep = parse.GetValue(_keep) is string keepText ? DraftKeep.Parse(keepText) : graph.Keep;
        string? dotText = outFile is null && tracesPath is null ? GraphDot.ToDot(graph) : null;

        if (outFile is not null)
        {
            string ext = Extension(outFile);
            if (ext is "dot" or "gv") GraphDot.WriteDot(graph, outFile);
            else GraphDot.Render(GraphDot.ToDot(graph), outFile, ext);
            output.Result(string.Create(ci, $"wrote {outFile} ({graph.Nodes.Count} nodes, depth {graph.MaxDepth})"));
        }
        string source = "";
        if (tracesPath is not null)
        {
            var traces = output.Busy("reading the trajectories", () => TraceFile.Load(tracesPath));
            if (traces.Header.Decoding != graph.Decoding)
                output.Warn($"graph '{graph.Name}' was calibrated for another decoding configuration than the traces were recorded with");
            replay = output.Busy("replaying", () => new TraceReplay(traces).Replay(graph, keep));
            source = string.Create(ci, $"{traces.Header.PromptSource} ({traces.Count} problems)");
            output.Result(string.Create(ci, $"{graph.Name} on {source}, D* {keep}: {replay}"));
            output.Result("accepted chain length per verification forward: " + replay.Speculation.Histogram());
        }
        if (output.Json)
            CliOutput.WriteJson(w =>
            {
                w.WriteString("graph", graph.Name);
                w.WriteNumber("nodes", graph.Nodes.Count);
                w.WriteNumber("depth", graph.MaxDepth);
                if (outFile is not null) w.WriteString("output", outFile);
                if (dotText is not null) w.WriteString("dot", dotText);
                if (replay is not null)
                {
                    w.WriteStartObject("replay");
                    w.WriteString("traces", source);
                    w.WriteString("keep", keep.ToString());
                    JsonFields.Replay(w, replay);
                    w.WriteEndObject();
                }
            });
        else if (dotText is not null) Console.Out.Write(dotText);
        return Task.FromResult(0);
    }

    private static string Extension(string file) => Path.GetExtension(file).TrimStart('.').ToLowerInvariant();
}
