using System.Diagnostics;
using System.Globalization;
using Spiffy.Calibration;
using Spiffy.Cli.CommandLine;
using Spiffy.Decoding;
using Spiffy.Training;

namespace Spiffy.Cli.Commands;

/// <summary>`spiffy calibrate`: record baseline trajectories, count draft formulas, select and write a graph.</summary>
public sealed class CalibrateCommand : ICommand
{
    public string Help => $"""
        usage: spiffy calibrate [--model M] --prompts <problems.jsonl> -o graphs/<name>.json [options]

        Runs the plain decoder, with exactly the decoding configuration the graph will be served with,
        on --count problems; records each step (the tokens committed and the top ranks of the
        distribution that produced the state); counts every step's true future states as draft
        formulas relative to the drafting distribution; connects them by the parent rule and selects
        --nodes root-connected nodes. Replaying the recorded trajectories gives the exact forwards
        Spiffy needs with any graph, so selection and comparisons need no further model calls.
        Deterministic: the same model, problems and options give a byte-identical graph file.
          --model M               model description or checkpoint dir (default: {ModelSources.DefaultModel})
          --prompts FILE          JSONL problems (question/answer or prompt/answer); the question is the prompt
          --count N               problems to use (default 50)
          --skip N                skip the first N problems (default 0)
          --chat-template K       none | llada | qwen (default: the model's)
          --nodes D               draft nodes to select (default 10)
          --keep N                D*: drafts kept per forward by dynamic pruning, stored in the graph (default 0 = all)
          --max-position-rank I   highest position rank a node may use (default 8, at most the block length)
          --max-token-rank J      highest token rank a node may use (default 4)
          --max-depth d           deepest node, in steps ahead (default 8)
          --objective O           degree1 | frequency | ancestors | replay-greedy (default replay-greedy)
          --name NAME             graph name (default: the output file's name)
          --traces FILE           reuse the trajectories in FILE when it exists, else record them and save them there
          --batch N               problems decoded together while recording (default 1: the exact rows a Spiffy run computes)
          --compare-objectives    also print a Markdown table: every objective x --compare-nodes x --compare-keep,
                                  replayed on held-out problems, against the oracle bound
          --eval-prompts FILE     held-out problems (default: --prompts, the problems after the calibration range)
          --eval-count N          held-out problems to use (default 30)
          --eval-skip N           skip the first N held-out problems (default: after the calibration range, or 0)
          --eval-traces FILE      like --traces, for the held-out problems
          --compare-nodes LIST    D values to compare (default 3,5,10,16)
          --compare-keep LIST     D* values to compare, 0 = all (default 0,3)
          -o FILE                 the graph file, written atomically (optional with --compare-objectives)
        {DecoderArgs.Help}
        """;

    public IReadOnlySet<string> Flags { get; } = new HashSet<string> { "compare-objectives", "early-stop", "no-trim", "allow-non-finite" };

    public Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        string modelPath = ModelSources.Resolve(args.String("model"));
        string? promptsPath = args.String("prompts");
        int count = args.Int("count", 50, 1);
        int skip = args.Int("skip", 0, 0);
        string? template = args.String("chat-template");
        int nodes = args.Int("nodes", 10, 1, 4096);
        int keep = args.Int("keep", 0, 0, 4096);
        int? positionRank = args.Has("max-position-rank") ? args.Int("max-position-rank", 8, 1, 4096) : null;
        int tokenRank = args.Int("max-token-rank", 4, 1, 4096), maxDepth = args.Int("max-depth", 8, 1, 4096);
        SelectionObjective objective;
        try { objective = SelectionObjectives.Parse(args.String("objective") ?? "replay-greedy"); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
        string? output = args.String("output");
        string? name = args.String("name");
        string? tracesPath = args.String("traces");
        int batch = args.Int("batch", 1, 1);
        bool compare = args.Flag("compare-objectives");
        string? evalPrompts = args.String("eval-prompts");
        int evalCount = args.Int("eval-count", 30, 1);
        int? evalSkip = args.Has("eval-skip") ? args.Int("eval-skip", 0, 0) : null;
        string? evalTraces = args.String("eval-traces");
        var compareNodes = IntList(args.String("compare-nodes") ?? "3,5,10,16", "compare-nodes", 1);
        var compareKeep = IntList(args.String("compare-keep") ?? "0,3", "compare-keep", 0);
        if (output is null && !compare) throw new UsageException("give -o <graph.json> (or --compare-objectives)");
        if (promptsPath is null && (tracesPath is null || !File.Exists(tracesPath))) throw new UsageException("missing required option --prompts (or an existing --traces file)");
        if (output is not null && !output.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) throw new UsageException("the graph file name must end in .json");

        using var model = Spiffy.SpiffyModel.Load(modelPath, allowNonFinite: args.Flag("allow-non-finite"));
        var options = DecoderArgs.Read(args, model.Spec);
        args.EnsureAllUsed(0);
        var limits = new FormulaLimits(positionRank ?? Math.Min(8, options.BlockLength), tokenRank, maxDepth);
        limits.Check();
        if (limits.MaxPositionRank > options.BlockLength) throw new UsageException($"--max-position-rank {limits.MaxPositionRank} exceeds the block length {options.BlockLength}");

        Console.WriteLine($"hashing the weights of {modelPath} ...");
        string hash = ModelWeights.Sha256(modelPath);
        var source = new TraceSource(model, hash, options, template, limits, batch);

        var traces = source.Obtain(promptsPath, skip, count, tracesPath, "calibration", cancel);
        var calibration = new Calibrator(traces, limits);
        var ci = CultureInfo.InvariantCulture;
        var oracle = calibration.Oracle();
        Console.WriteLine(string.Create(ci, $"{traces.Sequences.Count} problems, {calibration.StepsObserved} draftable steps, {calibration.Dag.NodeCount} distinct formulas observed (position rank <= {limits.MaxPositionRank}, token rank <= {limits.MaxTokenRank}, depth <= {limits.MaxDepth})"));
        Console.WriteLine(string.Create(ci, $"plain decoder: {oracle.BaselineNfe} forwards; oracle bound: {oracle.Nfe} ({oracle.Speedup:F2}x fewer)"));

        if (output is not null)
        {
            string graphName = name ?? Path.GetFileNameWithoutExtension(output);
            var watch = Stopwatch.StartNew();
            var graph = calibration.Calibrate(graphName, objective, nodes, keep, cancel: cancel);
            var replay = calibration.Replay.Replay(graph, keep);
            GraphFileWriter.Write(graph, output);
            Console.WriteLine(string.Create(ci, $"selected {graph.Nodes.Count} nodes by {SelectionObjectives.Name(objective)} in {watch.Elapsed.TotalSeconds:F1} s; D* {(keep == 0 ? "all" : keep.ToString(ci))}"));
            Console.WriteLine($"replayed on the calibration problems: {replay}");
            Console.WriteLine("accepted chain length per verification forward: " + replay.Histogram());
            Console.WriteLine($"wrote {output}");
        }

        if (compare)
        {
            string? heldOutFile = evalPrompts ?? promptsPath;
            int heldOutSkip = evalSkip ?? (evalPrompts is null ? source.LastEnd : 0);
            if (heldOutFile is null && (evalTraces is null || !File.Exists(evalTraces))) throw new UsageException("--compare-objectives needs --eval-prompts (or an existing --eval-traces file)");
            if (evalPrompts is null && evalSkip is null && promptsPath is null) throw new UsageException("--compare-objectives needs --eval-prompts when calibrating from --traces alone");
            var heldOut = source.Obtain(heldOutFile, heldOutSkip, evalCount, evalTraces, "held-out", cancel);
            Console.WriteLine();
            var table = ObjectiveComparison.Run(calibration, heldOut, SelectionObjectives.All, compareNodes, compareKeep, line => Console.WriteLine("  " + line), cancel);
            Console.WriteLine();
            Console.WriteLine(string.Create(ci, $"Calibrated on {traces.Header.PromptSource} ({traces.Sequences.Count} problems), measured on {heldOut.Header.PromptSource} ({heldOut.Sequences.Count} problems); [{options}]"));
            Console.WriteLine();
            Console.Write(table.ToMarkdown());
        }
        return Task.FromResult(0);
    }

    private static List<int> IntList(string s, string option, int min)
    {
        var list = new List<int>();
        foreach (var part in s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < min)
                throw new UsageException($"--{option} expects a comma-separated list of integers >= {min}, got \"{s}\"");
            list.Add(v);
        }
        if (list.Count == 0) throw new UsageException($"--{option} is empty");
        return list;
    }

    /// <summary>Loads trajectories from a trace file or records them with the model, with a progress display.</summary>
    private sealed class TraceSource
    {
        private readonly Spiffy.SpiffyModel _model;
        private readonly string _hash;
        private readonly DecodingOptions _options;
        private readonly string? _template;
        private readonly FormulaLimits _limits;
        private readonly int _batch;

        public TraceSource(Spiffy.SpiffyModel model, string hash, DecodingOptions options, string? template, FormulaLimits limits, int batch)
        {
            _model = model; _hash = hash; _options = options; _template = template; _limits = limits; _batch = batch;
        }

        /// <summary>Index one past the last problem used by the latest <see cref="Obtain"/> that read a problem file.</summary>
        public int LastEnd { get; private set; }

        public TraceSet Obtain(string? promptsPath, int skip, int count, string? tracesPath, string what, CancellationToken cancel)
        {
            List<long[]>? prompts = null;
            string source = "", digest = "";
            if (promptsPath is not null)
            {
                (prompts, source) = ReadPrompts(promptsPath, skip, count);
                digest = ModelWeights.FileSha256(promptsPath);
            }
            if (tracesPath is not null && File.Exists(tracesPath))
            {
                var loaded = TraceFile.Load(tracesPath);
                var problems = Mismatches(loaded.Header, prompts is null ? null : source, digest);
                if (problems.Count > 0)
                    throw new ArgumentException($"{tracesPath} was recorded differently ({string.Join("; ", problems)}); delete it or pass another --traces file");
                Console.WriteLine($"using {loaded.Sequences.Count} recorded {what} trajectories from {tracesPath} ({loaded.Header.PromptSource})");
                return loaded;
            }
            if (prompts is null) throw new UsageException($"no problems to record the {what} trajectories from");
            var header = TraceRecorder.HeaderFor(_options, _model.Spec.Tokens.Mask, _limits.MaxPositionRank, _limits.MaxTokenRank, _model.Spec.Name, _hash, source, skip, digest);
            var recorder = new TraceRecorder(header);
            var sequences = new List<SequenceTrace>();
            var progress = new ProgressLine($"recording {what} trajectories", prompts.Count);
            long steps = 0;
            for (int i = 0; i < prompts.Count; i += _batch)
            {
                var chunk = prompts.GetRange(i, Math.Min(_batch, prompts.Count - i));
                foreach (var s in recorder.Record(_model.Decoder, chunk, _options, i, cancel))
                {
                    sequences.Add(s);
                    steps += s.StepCount;
                }
                progress.Report(sequences.Count, steps);
            }
            progress.Done();
            var traces = new TraceSet(header, sequences);
            if (tracesPath is not null)
            {
                TraceFile.Save(traces, tracesPath);
                Console.WriteLine($"saved the {what} trajectories to {tracesPath}");
            }
            return traces;
        }

        private List<string> Mismatches(TraceHeader h, string? source, string digest)
        {
            var list = new List<string>();
            if (h.ModelName != _model.Spec.Name) list.Add($"model '{h.ModelName}', not '{_model.Spec.Name}'");
            if (h.ModelHash.Length > 0 && _hash.Length > 0 && h.ModelHash != _hash) list.Add("other weights");
            if (h.Decoding != Spiffy.Speculation.GraphFiles.FromOptions(_options) || h.Seed != _options.Seed || h.EarlyStop != _options.EarlyStop)
                list.Add("another decoding configuration");
            if (h.PositionRanks < _limits.MaxPositionRank) list.Add($"only {h.PositionRanks} position ranks kept (--max-position-rank {_limits.MaxPositionRank})");
            if (h.TokenRanks < _limits.MaxTokenRank) list.Add($"only {h.TokenRanks} token ranks kept (--max-token-rank {_limits.MaxTokenRank})");
            if (source is not null && h.PromptSource != source) list.Add($"problems {h.PromptSource}, not {source}");
            if (digest.Length > 0 && h.PromptDigest.Length > 0 && h.PromptDigest != digest) list.Add("the problem file changed (sha256 differs)");
            return list;
        }

        /// <summary>
        /// The first <paramref name="count"/> usable problems after <paramref name="skip"/>, encoded; a problem too long
        /// for the model's context with this generation length is skipped with a warning. Source: "file[first:end]".
        /// </summary>
        private (List<long[]>, string) ReadPrompts(string path, int skip, int count)
        {
            var all = PromptAnswerData.Read(path);
            if (skip >= all.Count) throw new UsageException($"--skip {skip} leaves no problems in {path} ({all.Count} problems)");
            var prompts = new List<long[]>();
            int i = skip;
            for (; i < all.Count && prompts.Count < count; i++)
            {
                var ids = _model.EncodePrompt(PromptAnswerData.FormatPrompt(all[i].Prompt), _template);
                try { _options.Validate(_model.Spec, ids.Length); }
                catch (ArgumentException e)
                {
                    Console.Error.WriteLine($"warning: {path}:{all[i].Line}: skipped: {e.Message}");
                    continue;
                }
                prompts.Add(ids);
            }
            if (prompts.Count < count) Console.Error.WriteLine($"warning: {path}: only {prompts.Count} usable problems after --skip {skip} (asked for {count})");
            if (prompts.Count == 0) throw new UsageException($"no usable problems in {path}");
            LastEnd = i;
            return (prompts, string.Create(CultureInfo.InvariantCulture, $"{Path.GetFileName(path)}[{skip}:{i}]"));
        }
    }

    /// <summary>Prompts done, steps, elapsed and ETA: one rewritten line on a terminal, plain lines when redirected.</summary>
    private sealed class ProgressLine
    {
        private readonly string _what;
        private readonly int _total;
        private readonly bool _interactive = !Console.IsOutputRedirected;
        private readonly Stopwatch _watch = Stopwatch.StartNew();
        private int _width;

        public ProgressLine(string what, int total)
        {
            _what = what;
            _total = total;
            if (!_interactive) Console.WriteLine($"{what}: {total} problems");
        }

        public void Report(int done, long steps)
        {
            var elapsed = _watch.Elapsed;
            var eta = done == 0 ? TimeSpan.Zero : TimeSpan.FromTicks(elapsed.Ticks / done * (_total - done));
            string line = string.Create(CultureInfo.InvariantCulture,
                $"{_what}: {done}/{_total} problems, {steps} steps, {Format(elapsed)} elapsed, ETA {Format(eta)}");
            if (_interactive)
            {
                Console.Write("\r" + line.PadRight(_width));
                _width = line.Length;
            }
            else Console.WriteLine(line);
        }

        public void Done()
        {
            if (_interactive) Console.WriteLine();
        }

        private static string Format(TimeSpan t) => t.TotalHours >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours}:{t.Minutes:D2}:{t.Seconds:D2}")
            : string.Create(CultureInfo.InvariantCulture, $"{t.Minutes}:{t.Seconds:D2}");
    }
}
