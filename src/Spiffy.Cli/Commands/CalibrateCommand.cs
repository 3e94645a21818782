using System.Diagnostics;
using System.Globalization;
using Spiffy.Calibration;
using System.CommandLine;
using Spiffy.Cli.CommandLine;
using Spiffy.Decoding;
using Spiffy.Schema.Graphs;

namespace Spiffy.Cli.Commands;

/// <summary>`spiffy calibrate`: record baseline trajectories, count draft formulas, select and write a graph.</summary>
public sealed class CalibrateCommand : IVerb
{
    private readonly Option<string?> _model = SharedOptions.Model();
    private readonly DeviceOptionSet _device = new();
    private readonly Option<string?> _prompts = new("--prompts")
    {
        Description = "JSONL problems (question/answer or prompt/answer); the question is the prompt", HelpName = "FILE"
    };
    private readonly Option<int?> _count = SharedOptions.Positive(new Option<int?>("--count") { Description = "problems to use (default 50)", HelpName = "N" });
    private readonly Option<int?> _skip = SharedOptions.AtLeast(new Option<int?>("--skip")
    {
        Description = "skip the first N problems (default 0)", HelpName = "N"
    }, 0);
    private readonly Option<string?> _template = SharedOptions.ChatTemplate();
    private readonly Option<int?> _nodes = SharedOptions.AtLeast(new Option<int?>("--nodes")
    {
        Description = "draft nodes to select (default 10)", HelpName = "D"
    }, 1);
    private readonly Option<string?> _keep = SharedOptions.Keep("D*: drafts kept per forward by dynamic pruning, stored in the graph (default all)");
    private readonly Option<int?> _positionRank = SharedOptions.AtLeast(new Option<int?>("--max-position-rank")
    {
        Description = "highest position rank a node may use (default 8, at most the block length)", HelpName = "I"
    }, 1);
    private readonly Option<int?> _tokenRank = SharedOptions.AtLeast(new Option<int?>("--max-token-rank")
    {
        Description = "highest token rank a node may use (default 4)", HelpName = "J"
    }, 1);
    private readonly Option<int?> _maxDepth = SharedOptions.AtLeast(new Option<int?>("--max-depth")
    {
        Description = "deepest node, in steps ahead (default 8)", HelpName = "d"
    }, 1);
    private readonly Option<string?> _objective = new("--objective")
    {
        Description = "how nodes are selected (default replay-greedy)", HelpName = string.Join('|', SelectionObjectives.All.Select(SelectionObjectives.Name))
    };
    private readonly Option<string?> _name = new("--name") { Description = "graph name (default: the output file's name)", HelpName = "NAME" };
    private readonly Option<string?> _traces = new("--traces")
    {
        Description = "reuse the trajectories in FILE when it exists, else record them and save them there", HelpName = "FILE"
    };
    private readonly Option<int?> _batch = SharedOptions.Positive(new Option<int?>("--batch")
    {
        Description = "problems decoded together while recording (default 1: the exact rows a Spiffy run computes)", HelpName = "N"
    });
    private readonly Option<bool> _compare = new("--compare-objectives")
    {
        Description = "also print a Markdown table: every objective x --compare-nodes x --compare-keep, replayed on held-out problems, against the oracle bound"
    };
    private readonly Option<string?> _evalPrompts = new("--eval-prompts")
    {
        Description = "held-out problems (default: --prompts, the problems after the calibration range)", HelpName = "FILE"
    };
    private readonly Option<int?> _evalCount = SharedOptions.Positive(new Option<int?>("--eval-count")
    {
        Description = "held-out problems to use (default 30)", HelpName = "N"
    });
    private readonly Option<int?> _evalSkip = SharedOptions.AtLeast(new Option<int?>("--eval-skip")
    {
        Description = "skip the first N held-out problems (default: after the calibration range, or 0)", HelpName = "N"
    }, 0);
    private readonly Option<string?> _evalTraces = new("--eval-traces") { Description = "like --traces, for the held-out problems", HelpName = "FILE" };
    private readonly Option<string?> _compareNodes = SharedOptions.IntList("--compare-nodes", "D values to compare (default 3,5,10,16)", 1);
    private readonly Option<string?> _compareKeep = SharedOptions.KeepList("--compare-keep", "D* values to compare (default all,3)");
    private readonly Option<string?> _output = new("--output", "-o")
    {
        Description = "the graph file (.json), written atomically (optional with --compare-objectives)", HelpName = "graph.json"
    };
    private readonly Option<int?> _threads = SharedOptions.Threads();
    private readonly Option<bool> _allowNonFinite = SharedOptions.AllowNonFinite();
    private readonly DecodingOptionSet _decoding = new();

    public CalibrateCommand()
    {
        _objective.AcceptOnlyFromAmong(SelectionObjectives.All.Select(SelectionObjectives.Name).ToArray());
        _output.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is string f && !f.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
                r.AddError("the graph file name must end in .json");
        });
        Command = new VerbCommand("calibrate",
            "record baseline trajectories and select a calibrated draft graph (graphs/*.json)",
            "Run the plain decoder, with exactly the decoding configuration the graph will be served with, on --count problems; "
            + "record each step (the tokens committed and the top ranks of the distribution that produced the state); count "
            + "every step's true future states as draft formulas relative to the drafting distribution; connect them by the "
            + "parent rule and select --nodes root-connected nodes. Replaying the recorded trajectories gives the exact forwards "
            + "Spiffy needs with any graph, so selection and comparisons need no further model calls. Deterministic: the same "
            + "model, problems and options give a byte-identical graph file.",
            "spiffy calibrate --prompts gsm8k/train.jsonl --count 50 --nodes 10 --keep 3 --cache dual --unmasking threshold -o "
                + "graphs/gsm8k-small-dual-threshold.json",
            "spiffy calibrate --prompts gsm8k/train.jsonl --traces runs/cal.trace --compare-objectives --eval-count 30")
        {
            _model, _prompts, _count, _skip, _template, _nodes, _keep, _positionRank, _tokenRank, _maxDepth, _objective, _name, _traces, _batch,
            _compare, _evalPrompts, _evalCount, _evalSkip, _evalTraces, _compareNodes, _compareKeep, _output, _threads, _allowNonFinite,
        };
        _decoding.AddTo(Command);
        _device.AddTo(Command);
        Command.Validators.Add(r =>
        {
            if (r.GetValue(_output) is null && !r.GetValue(_compare)) r.AddError("give -o <graph.json> (or --compare-objectives)");
            if (r.GetValue(_prompts) is null && r.GetValue(_traces) is null) r.AddError("missing --prompts (or an existing --traces file)");
        });
    }

    public VerbCommand Command { get; }

    public Task<int> RunAsync(ParseResult parse, CliOutput output, CancellationToken cancel)
    {
        string modelPath = ModelSources.Resolve(parse.GetValue(_model));
        string? promptsPath = parse.GetValue(_prompts);
        int count = parse.GetValue(_count) ?? 50, skip = parse.GetValue(_skip) ?? 0;
        string? template = parse.GetValue(_template);
        int nodes = parse.GetValue(_nodes) ?? 10;
        var keep = parse.GetValue(_keep) is string keepText ? DraftKeep.Parse(keepText) : DraftKeep.All;
        if (keep.IsNone) throw new UsageException("--keep none would store a graph that never drafts: give all or a count");
        int? positionRank = parse.GetValue(_positionRank);
        int tokenRank = parse.GetValue(_tokenRank) ?? 4, maxDepth = parse.GetValue(_maxDepth) ?? 8;
        var objective = SelectionObjectives.Parse(parse.GetValue(_objective) ?? "replay-greedy");
        string? outFile = parse.GetValue(_output), name = parse.GetValue(_name), tracesPath = parse.GetValue(_traces);
        int batch = parse.GetValue(_batch) ?? 1;
        bool compare = parse.GetValue(_compare);
        string? evalPrompts = parse.GetValue(_evalPrompts), evalTraces = parse.GetValue(_evalTraces);
        int evalCount = parse.GetValue(_evalCount) ?? 30;
        int? evalSkip = parse.GetValue(_evalSkip);
        var compareNodes = SharedOptions.ParseIntList(parse.GetValue(_compareNodes) ?? "3,5,10,16");
        var compareKeep = SharedOptions.ParseKeepList(parse.GetValue(_compareKeep) ?? "all,3");
        if (promptsPath is null && (tracesPath is null || !File.Exists(tracesPath)))
            throw new UsageException("missing required option --prompts (or an existing --traces file)");
        SharedOptions.ApplyThreads(parse, _threads);

        _device.Resolve(parse, output);
        using var model = output.Busy("loading the model", () => Spiffy.SpiffyModel.Load(modelPath, _device.RequestedDType(parse), _device.Requested(parse),
            allowNonFinite: parse.GetValue(_allowNonFinite)));
        var options = _decoding.Read(parse, model.Spec);
        var limits = new FormulaLimits(positionRank ?? Math.Min(8, options.BlockLength), tokenRank, maxDepth);
        if (limits.MaxPositionRank > options.BlockLength)
            throw new UsageException($"--max-position-rank {limits.MaxPositionRank} exceeds the block length {options.BlockLength}");

        output.Log($"hashing the weights of {modelPath} ...");
        string hash = output.Busy("hashing the weights", () => ModelWeights.Sha256(modelPath));
        var source = new TrajectorySource(model, options, limits, hash, template, batch);

        var traces = Obtain(source, promptsPath, skip, count, tracesPath, "calibration", output, cancel);
        var calibration = new Calibrator(traces, limits);
        var ci = CultureInfo.InvariantCulture;
        var oracle = calibration.Oracle();
        output.Result(string.Create(ci,
            $"{traces.Count} problems, {calibration.StepsObserved} draftable steps, {calibration.Dag.NodeCount} distinct formulas observed (position rank "
            + $"<= {limits.MaxPositionRank}, token rank <= {limits.MaxTokenRank}, depth <= {limits.MaxDepth})"));
        output.Result(string.Create(ci, $"plain decoder: {oracle.BaselineNfe} forwards; oracle bound: {oracle.Nfe} ({oracle.Speedup:F2}x fewer)"));

        Spiffy.Schema.Graphs.GraphSpec? graph = null;
        ReplayResult? replay = null;
        double seconds = 0;
        if (outFile is not null)
        {
            string graphName = name ?? Path.GetFileNameWithoutExtension(outFile);
            var watch = Stopwatch.StartNew();
            graph = output.Busy($"selecting {nodes} nodes by {SelectionObjectives.Name(objective)}",
                () => calibration.Calibrate(graphName, objective, nodes, keep, cancel: cancel));
            seconds = watch.Elapsed.TotalSeconds;
            replay = calibration.Replay.Replay(graph, keep);
            GraphFileWriter.Write(graph, outFile);
            output.Result(string.Create(ci, $"selected {graph.Nodes.Count} nodes by {SelectionObjectives.Name(objective)} in {seconds:F1} s; D* {keep}"));
            output.Result($"replayed on the calibration problems: {replay}");
            output.Result("accepted chain length per verification forward: " + replay.Speculation.Histogram());
            output.Result($"wrote {outFile}");
        }

        ObjectiveComparison? table = null;
        TraceSet? heldOut = null;
        if (compare)
        {
            string? heldOutFile = evalPrompts ?? promptsPath;
            int heldOutSkip = evalSkip ?? (evalPrompts is null ? source.LastEnd : 0);
            if (heldOutFile is null && (evalTraces is null || !File.Exists(evalTraces)))
                throw new UsageException("--compare-objectives needs --eval-prompts (or an existing --eval-traces file)");
            if (evalPrompts is null && evalSkip is null && promptsPath is null)
                throw new UsageException("--compare-objectives needs --eval-prompts when calibrating from --traces alone");
            heldOut = Obtain(source, heldOutFile, heldOutSkip, evalCount, evalTraces, "held-out", output, cancel);
            var held = heldOut;
            table = output.WithProgress(progress =>
            {
                var bar = progress.Add("comparing objectives", SelectionObjectives.All.Length * compareNodes.Count * compareKeep.Count, "graphs");
                return ObjectiveComparison.Run(calibration, held, SelectionObjectives.All, compareNodes, compareKeep, line =>
                {
                    bar.Advance(); output.Log("  " + line);
                }, cancel);
            });
            output.Result("");
            output.Result(string.Create(ci,
                $"Calibrated on {traces.Header.PromptSource} ({traces.Count} problems), measured on {heldOut.Header.PromptSource} "
                + $"({heldOut.Count} problems); [{options}]"));
            output.Result("");
            if (!output.Json) Console.Out.Write(table.ToMarkdown());
        }
        if (output.Json)
            CliOutput.WriteJson(w =>
            {
                w.WriteString("model", model.Spec.Name);
                w.WriteString("prompt_source", traces.Header.PromptSource);
                w.WriteNumber("problems", traces.Count);
                w.WriteNumber("steps_observed", calibration.StepsObserved);
                w.WriteNumber("formulas", calibration.Dag.NodeCount);
                w.WriteStartObject("limits");
                w.WriteNumber("max_position_rank", limits.MaxPositionRank);
                w.WriteNumber("max_token_rank", limits.MaxTokenRank);
                w.WriteNumber("max_depth", limits.MaxDepth);
                w.WriteEndObject();
                JsonFields.Options(w, options);
                w.WriteStartObject("oracle");
                JsonFields.Replay(w, oracle);
                w.WriteEndObject();
                if (graph is not null && replay is not null)
                {
                    w.WriteStartObject("graph");
                    w.WriteString("output", outFile);
                    w.WriteString("name", graph.Name);
                    w.WriteString("objective", SelectionObjectives.Name(objective));
                    w.WriteNumber("nodes", graph.Nodes.Count);
                    w.WriteString("keep", keep.ToString());
                    w.WriteNumber("seconds", seconds);
                    w.WriteStartObject("replay");
                    JsonFields.Replay(w, replay);
                    w.WriteEndObject();
                    w.WriteEndObject();
                }
                if (table is not null && heldOut is not null)
                {
                    w.WriteStartObject("comparison");
                    w.WriteString("prompt_source", heldOut.Header.PromptSource);
                    w.WriteNumber("problems", heldOut.Count);
                    w.WriteStartObject("oracle");
                    JsonFields.Replay(w, table.Oracle);
                    w.WriteEndObject();
                    w.WriteStartArray("rows");
                    foreach (var row in table.Rows)
                    {
                        w.WriteStartObject();
                        w.WriteString("objective", SelectionObjectives.Name(row.Objective));
                        w.WriteNumber("nodes", row.Nodes);
                        w.WriteString("keep", row.Keep.ToString());
                        JsonFields.Replay(w, row.Result);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                    w.WriteEndObject();
                }
            });
        return Task.FromResult(0);
    }

    /// <summary>
    /// The trajectories from <see cref="TrajectorySource"/> (which reuses or records them), with a progress
    /// display and log lines; <paramref name="what"/> names the set ("calibration", "held-out").
    /// </summary>
    private static TraceSet Obtain(TrajectorySource source, string? promptsPath, int skip, int count, string? tracesPath, string what, CliOutput output,
        CancellationToken cancel)
    {
        bool reuse = tracesPath is not null && File.Exists(tracesPath);
        if (promptsPath is null && !reuse) throw new UsageException($"no problems to record the {what} trajectories from");
        source.Warning = output.Warn;
        var traces = output.WithProgress(progress =>
        {
            var bar = reuse ? progress.Busy($"reading the {what} trajectories") : progress.Add($"recording {what} trajectories", count, "problems");
            int shown = 0;
            source.Progress = (done, total, steps) =>
            {
                bar.Advance(done - shown);
                shown = done;
                if (!output.ShowsProgress)
                    output.Log(string.Create(CultureInfo.InvariantCulture, $"recording {what} trajectories: {done}/{total} problems, {steps} steps"));
            };
            return source.Obtain(promptsPath, skip, count, tracesPath, cancel);
        });
        if (reuse) output.Log($"using {traces.Count} recorded {what} trajectories from {tracesPath} ({traces.Header.PromptSource})");
        else if (tracesPath is not null) output.Log($"saved the {what} trajectories to {tracesPath}");
        return traces;
    }
}
