using System.Globalization;
using System.Text.Json;
using System.CommandLine;
using Spiffy.Cli.CommandLine;
using Spiffy.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;

namespace Spiffy.Cli.Commands;

/// <summary>`spiffy generate`: decode one prompt, streaming blocks, with Spiffy on by default.</summary>
public sealed class GenerateCommand : IVerb
{
    private readonly Option<string?> _model = SharedOptions.Model();
    private readonly Argument<string?> _promptArg = new("prompt")
    {
        Description = "the prompt text (or --prompt / --prompt-ids)", Arity = ArgumentArity.ZeroOrOne
    };
    private readonly Option<string?> _prompt = new("--prompt") { Description = "the prompt text (instead of the argument)", HelpName = "TEXT" };
    private readonly Option<string?> _promptIds = new("--prompt-ids") { Description = "JSON list of token ids instead of text", HelpName = "ids.json" };
    private readonly Option<string?> _template = SharedOptions.ChatTemplate();
    private readonly Option<string?> _graph = new("--graph")
    {
        Description = "draft graph (graphs/*.json); its decoding configuration becomes the default", HelpName = "graph.json"
    };
    private readonly Option<string?> _keep = SharedOptions.Keep("D*: drafts kept per forward (default: the graph's; auto = chosen from the forward cost "
        + "measured now and the graph's calibration profile)", allowAuto: true);
    private readonly Option<string?> _prune = SharedOptions.Renamed("--prune", "--keep");
    private readonly Option<bool> _packed = new("--packed") { Description = "no cache only: verify in one packed sequence (near-lossless, docs/spiffy.md)" };
    private readonly Option<bool> _noSpiffy = new("--no-spiffy") { Description = "plain decoding" };
    private readonly Option<bool> _compare = new("--compare")
    {
        Description = "also run the plain decoder; report identity and wall-clock speedup (exit 3 if the outputs differ)"
    };
    private readonly Option<bool> _strict = new("--strict") { Description = "a graph calibrated for another model or configuration is an error" };
    private readonly Option<int?> _threads = SharedOptions.Threads();
    private readonly Option<bool> _allowNonFinite = SharedOptions.AllowNonFinite();
    private readonly DecodingOptionSet _decoding = new();
    private readonly DeviceOptionSet _device = new();

    public GenerateCommand()
    {
        Command = new VerbCommand("generate",
            "decode a prompt (Spiffy on by default with the shipped model), print text and forwards saved",
            "Decode one prompt and print each block as it is decided, then the statistics. Spiffy (lossless speculative "
            + "decoding) is on by default: with --graph, that draft graph; otherwise a calibrated graph from the model's "
            + "graphs/ folder matching the decoding options, else the uncalibrated rank-1 chain. The forwards a plain decoder "
            + "would need follow exactly from the steps taken (every accepted draft saves one); --compare also runs the plain "
            + "decoder and checks the output token for token.",
            "spiffy generate \"Natalia sold 48 clips in April and half as many in May. How many clips did she sell in all?\" --compare",
            "spiffy generate --no-spiffy \"...\"                          # the plain decoder",
            "spiffy generate --cache dual --unmasking threshold \"...\"",
            "spiffy generate --graph graphs/gsm8k-small-schedule.json --keep auto \"...\"",
            "spiffy generate --json --threads 2 \"...\"                   # one JSON object: text, ids, NFE, acceptance")
        { _model, _promptArg, _prompt, _promptIds, _template, _graph, _keep, _prune, _packed, _noSpiffy, _compare, _strict, _threads, _allowNonFinite };
        _decoding.AddTo(Command);
        _device.AddTo(Command);
        Command.Validators.Add(r =>
        {
            int given = (r.GetValue(_promptArg) is null ? 0 : 1) + (r.GetValue(_prompt) is null ? 0 : 1) + (r.GetValue(_promptIds) is null ? 0 : 1);
            if (given != 1) r.AddError("give exactly one of a prompt text, --prompt or --prompt-ids");
            if (r.GetValue(_noSpiffy) && (r.GetValue(_graph) is not null || r.GetValue(_keep) is not null || r.GetValue(_packed)))
                r.AddError("--no-spiffy cannot be combined with --graph, --keep or --packed");
        });
    }

    public VerbCommand Command { get; }

    /// <summary>The decoding options of this command (read back by the CLI fuzz target too).</summary>
    public DecodingOptionSet Decoding => _decoding;

    public Task<int> RunAsync(ParseResult parse, CliOutput output, CancellationToken cancel)
    {
        string modelPath = ModelSources.Resolve(parse.GetValue(_model));
        string? promptText = parse.GetValue(_promptArg) ?? parse.GetValue(_prompt);
        string? idsFile = parse.GetValue(_promptIds);
        string? graphPath = parse.GetValue(_graph);
        bool noSpiffy = parse.GetValue(_noSpiffy), compare = parse.GetValue(_compare), strict = parse.GetValue(_strict), json = output.Json;
        string? keepText = parse.GetValue(_keep);
        bool autoKeep = keepText == SharedOptions.Auto;
        DraftKeep? asked = keepText is not null && !autoKeep ? DraftKeep.Parse(keepText) : null;
        // Without --keep and --graph, D* follows this machine's measured forward cost (never more drafts than pay).
        bool autoByDefault = keepText is null && parse.GetValue(_graph) is null;
        bool packed = parse.GetValue(_packed);
        SharedOptions.ApplyThreads(parse, _threads);

        _device.Resolve(parse, output);
        using var model = output.Busy("loading the model", () => Spiffy.SpiffyModel.Load(modelPath, _device.RequestedDType(parse), _device.Requested(parse),
            allowNonFinite: parse.GetValue(_allowNonFinite)));
        long[] prompt = idsFile is not null ? ReadIds(idsFile) : model.EncodePrompt(promptText!, parse.GetValue(_template));

        // The graph decides the default decoding configuration (it was calibrated for it).
        GraphSpec? graph = null;
        if (!noSpiffy && graphPath is not null) graph = GraphFiles.Load(graphPath);
        var options = _decoding.Read(parse, model.Spec, graph is not null ? DecodingOptions.FromSchema(graph.Decoding) : null);
        if (packed) options = options with { Layout = VerificationLayout.Packed };
        // generate's own default: the dual cache (Fast-dLLM), whose forward is the cheapest per step, so a draft row
        // costs least next to it. The library's default stays no cache (the authors' reference decoder).
        else if (graph is null && parse.GetValue(_decoding.Cache) is null && model.Spec.Attention != Spiffy.Schema.Models.AttentionKind.BlockCausal)
            options = options with { Cache = CacheMode.Dual };
        options.Validate(model.Spec, prompt.Length);
        if (!noSpiffy && graph is null) graph = GraphCatalog.FindFor(modelPath, model.Spec, options, output);
        if (!noSpiffy && graph is null) graph = DraftGraph.Chain(GraphCatalog.DefaultChainLength, options.ToSchema(), DraftGraph.TokensPerStep(options));

        GraphSpeculator? speculator = null;
        TimeSpan? choiceTime = null; // measuring the forward cost for D*: reported apart from the decoding wall clock
        if (graph is not null)
        {
            // Hashing the weights reads the whole checkpoint: only when asked to be strict.
            string? weightsHash = strict && graph.ModelHash.Length > 0
                ? output.Busy("hashing the weights (--strict)", () => Spiffy.Calibration.ModelWeights.Sha256(modelPath)) : null;
            var mismatches = GraphFiles.Mismatches(graph, model.Spec, options, weightsHash);
            if (strict && mismatches.Count > 0) throw new ArgumentException($"graph '{graph.Name}' does not match: {string.Join("; ", mismatches)}");
            foreach (var m in mismatches) output.Warn($"graph '{graph.Name}': {m}");
            var keep = asked ?? graph.Keep;
            if (autoKeep || (autoByDefault && graph.Provenance.KeepProfile.Count > 0))
            {
                var timing = System.Diagnostics.Stopwatch.StartNew();
                keep = ChooseKeep(model, graph, options, prompt.Length, output, cancel) ?? keep;
                choiceTime = timing.Elapsed;
            }
            speculator = keep.IsNone ? null : new GraphSpeculator(new DraftGraph(graph), options.BlockLength, keep);
            if (speculator is null) graph = null;
        }

        // Text mode streams each decided block to stdout (that is the progress on a terminal); when stdout
        // is redirected, a progress bar of blocks on stderr shows rate and time left instead.
        bool streams = !json && model.Tokenizer is not null;
        if (streams && promptText is not null) Console.Out.WriteLine(promptText.TrimEnd());
        bool streamsToTerminal = streams && !Console.IsOutputRedirected;
        if (compare)
        {
            // The first generation of a process pays one-time costs (JIT tiers, first allocations) that the second does not.
            // One untimed block each was not enough: in four runs of the same decoder twice (--keep none) the first timed
            // run was 6-17% slower; after one untimed whole generation of each decoder the same runs gave 0.99x-1.16x.
            output.Busy("--compare: warming up (one untimed generation of each decoder)", () =>
            {
                if (speculator is not null) model.Generate(prompt, options, speculator, null, cancel);
                return model.Generate(prompt, options, null, null, cancel);
            });
        }
        Func<ProgressScope, (GenerationResult, GenerationResult?)> decode = progress =>
        {
            var bar = progress.Add("decoding", options.NumBlocks, "blocks");
            BlockFinished stream = (_, _, tokens) =>
            {
                bar.Advance();
                if (!streams) return;
                var ids = tokens.ToArray();
                int eos = Array.IndexOf(ids, (long)model.Spec.Tokens.Eos);
                if (options.TrimEos && eos >= 0) ids = ids[..eos];
                Console.Out.Write(model.Decode(ids));
            };
            var r = model.Generate(prompt, options, speculator, stream, cancel);
            bar.Finish();
            GenerationResult? b = null;
            if (compare)
            {
                var plainBar = progress.Add("plain decoder (--compare)", options.NumBlocks, "blocks");
                b = model.Generate(prompt, options, null, (_, _, _) => plainBar.Advance(), cancel);
                plainBar.Finish();
            }
            return (r, b);
        };
        var (result, baseline) = streamsToTerminal ? decode(ProgressScope.None) : output.WithProgress(decode);
        var s = result.Statistics;
        long plainNfe = s.Nfe + s.FreeSteps; // every accepted draft is one step a plain decoder pays a forward for
        int mismatchAt = baseline is null ? -1 : FirstDifference(result.TokenIds, baseline.TokenIds);

        if (json) WriteJson(model, result, graph, speculator, plainNfe, baseline, mismatchAt, choiceTime);
        else
        {
            var ci = CultureInfo.InvariantCulture;
            if (!streams) Console.Out.Write(result.Text);
            Console.Out.WriteLine();
            Console.Out.WriteLine();
            Console.Out.WriteLine(string.Create(ci, $"[{options}]"));
            Console.Out.WriteLine(s.ToString());
            if (speculator is not null)
            {
                Console.Out.WriteLine(string.Create(ci,
                    $"Spiffy ({graph!.Name}{(graph.Provenance.Calibrated ? "" : ", uncalibrated")}, {graph.Nodes.Count} nodes, D* {speculator.Keep}): {s.Nfe} "
                    + $"forwards instead of {plainNfe} -> {plainNfe - s.Nfe} saved, {(double)plainNfe / s.Nfe:F2}x fewer"));
                Console.Out.WriteLine("accepted chain length per verification forward: " + string.Join(" ", s.AcceptedByDepth.Select((n, d) => $"{d}:{n}")));
            }
            if (baseline is not null) WriteComparison(s, baseline.Statistics, speculator, mismatchAt, choiceTime);
        }
        return Task.FromResult(mismatchAt >= 0 ? 3 : 0);
    }

    /// <summary>D* from this machine's forward cost and the graph's calibration profile; null = keep the graph's.</summary>
    private static DraftKeep? ChooseKeep(Spiffy.SpiffyModel model, GraphSpec graph, DecodingOptions options, int promptLength,
        CliOutput output, CancellationToken cancel)
    {
        if (graph.Provenance.KeepProfile.Count == 0)
        {
            output.Warn($"graph '{graph.Name}' has no calibration profile (keep_profile); --keep auto keeps the graph's D* {graph.Keep}");
            return null;
        }
        var rows = ForwardCostModel.RowCounts(graph.Nodes.Count + 1);
        int topTokenRanks = new DraftGraph(graph).TopTokenRanks;
        ForwardCost Time(string label) => output.WithProgress(progress =>
        {
            var bar = progress.Add(label, ForwardCostModel.Forwards(rows.Count, ForwardCostModel.DefaultRepeats), "forwards");
            return ForwardCostModel.Measure(model.Transformer, options, promptLength, rows, cancel: cancel, progress: () => bar.Advance(),
                topTokenRanks: topTokenRanks);
        });
        var cost = Time("--keep auto: timing forwards");
        if (!cost.Reliable)
        {
            // A burst of load is usually over by the time a second timing runs; noise twice keeps the graph's D*.
            output.Log($"--keep auto: {cost}; {cost.Verdict}: timing again");
            cost = Time("--keep auto: timing forwards again");
        }
        var choice = KeepChooser.Choose(graph, cost);
        if (choice is null)
        {
            output.Warn($"--keep auto: {cost}; {cost.Verdict}: keeping the graph's D* {graph.Keep}");
            return null;
        }
        output.Log(string.Create(CultureInfo.InvariantCulture,
            $"--keep auto: {cost}; D* = {choice.Keep}{(choice.Keep.IsNone ? " (no drafts: plain decoding is faster here)" : "")}, "
                + $"predicted {choice.PredictedSpeedup:F2}x on the step forwards"));
        return choice.Keep;
    }

    /// <summary>--compare: forwards and wall clock of this run and the plain decoder, side by side.</summary>
    private static void WriteComparison(DecodingStatistics s, DecodingStatistics plain, GraphSpeculator? speculator, int mismatchAt, TimeSpan? choiceTime)
    {
        var ci = CultureInfo.InvariantCulture;
        string label = speculator is null ? "this run (no drafts)" : $"spiffy (D* {speculator.Keep})";
        int width = Math.Max(label.Length, "plain decoder".Length);
        Console.Out.WriteLine();
        Console.Out.WriteLine(string.Create(ci, $"{"".PadRight(width)}  {"forwards",8}  {"wall clock",10}  {"tokens/s",9}"));
        void Row(string name, DecodingStatistics x) => Console.Out.WriteLine(string.Create(ci,
            $"{name.PadRight(width)}  {x.Nfe,8}  {x.WallTime.TotalSeconds,8:F2} s  {x.TokensCommitted / x.WallTime.TotalSeconds,9:F1}"));
        Row(label, s);
        Row("plain decoder", plain);
        Console.Out.WriteLine(string.Create(ci,
            $"{"ratio".PadRight(width)}  {(double)plain.Nfe / s.Nfe,7:F2}x  {plain.WallTime.TotalSeconds / s.WallTime.TotalSeconds,9:F2}x  "
                + $"output {(mismatchAt < 0 ? "identical token for token" : $"DIFFERS from position {mismatchAt}")}"));
        if (choiceTime is TimeSpan t)
            Console.Out.WriteLine(string.Create(ci, $"(choosing D* timed forwards for {t.TotalSeconds:F2} s before decoding; not in the wall clock above)"));
    }

    private static int FirstDifference(long[] a, long[] b)
    {
        int n = Math.Min(a.Length, b.Length);
        for (int i = 0; i < n; i++) if (a[i] != b[i]) return i;
        return a.Length == b.Length ? -1 : n;
    }

    internal static long[] ReadIds(string file)
    {
        var text = Spiffy.Files.InputFile.ReadAllText(file, Spiffy.Files.InputFile.MaxJsonBytes, "prompt ids file");
        try
        {
            var ids = JsonSerializer.Deserialize<long[]>(text) ?? throw new InvalidDataException($"{file}: expected a JSON list of token ids");
            if (ids.Length == 0) throw new InvalidDataException($"{file}: the prompt is empty");
            return ids;
        }
        catch (JsonException e) { throw new InvalidDataException($"{file}: expected a JSON list of token ids ({e.Message})"); }
    }

    private static void WriteJson(Spiffy.SpiffyModel model, GenerationResult r, GraphSpec? graph, GraphSpeculator? speculator, long plainNfe,
        GenerationResult? baseline, int mismatchAt, TimeSpan? choiceTime) =>
        CliOutput.WriteJson(w =>
        {
            var s = r.Statistics;
            w.WriteString("text", r.Text);
            JsonFields.Numbers(w, "token_ids", r.TokenIds);
            w.WriteNumber("tokens", r.TokenIds.Length);
            w.WriteNumber("nfe", s.Nfe);
            w.WriteNumber("steps", s.Steps);
            w.WriteNumber("tpf", s.Tpf);
            JsonFields.Numbers(w, "steps_per_block", s.StepsPerBlock);
            w.WriteNumber("wall_ms", s.WallTime.TotalMilliseconds);
            w.WriteNumber("managed_bytes", s.ManagedBytes);
            DeviceOptionSet.WriteJson(w, model.Device, model.Transformer.DType);
            w.WriteNumber("device_to_host_copies", s.DeviceToHostCopies);
            w.WriteNumber("host_to_device_copies", s.HostToDeviceCopies);
            w.WriteNumber("syncs_per_step", s.SyncsPerStep);
            JsonFields.Options(w, r.Options);
            if (speculator is not null && graph is not null)
            {
                w.WriteStartObject("spiffy");
                w.WriteString("graph", graph.Name);
                w.WriteBoolean("calibrated", graph.Provenance.Calibrated);
                w.WriteNumber("nodes", graph.Nodes.Count);
                w.WriteString("keep", speculator.Keep.ToString());
                w.WriteNumber("verification_forwards", s.VerificationForwards);
                w.WriteNumber("rows_per_forward", s.RowsPerForward);
                w.WriteNumber("accept_mean", s.AcceptMean);
                JsonFields.Numbers(w, "accept_histogram", s.AcceptedByDepth);
                w.WriteNumber("free_steps", s.FreeSteps);
                w.WriteNumber("plain_nfe", plainNfe);
                w.WriteNumber("nfe_saved", plainNfe - s.Nfe);
                if (choiceTime is TimeSpan t) w.WriteNumber("keep_choice_ms", t.TotalMilliseconds);
                w.WriteEndObject();
            }
            if (baseline is not null)
            {
                w.WriteStartObject("compare");
                w.WriteNumber("baseline_nfe", baseline.Statistics.Nfe);
                w.WriteNumber("baseline_wall_ms", baseline.Statistics.WallTime.TotalMilliseconds);
                w.WriteBoolean("identical", mismatchAt < 0);
                w.WriteNumber("first_difference", mismatchAt);
                w.WriteNumber("speedup", baseline.Statistics.WallTime.TotalSeconds / s.WallTime.TotalSeconds);
                w.WriteEndObject();
            }
        });
}
