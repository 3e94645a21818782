using System.Globalization;
using System.Text.Json;
using Spiffy.Cli.CommandLine;
using Spiffy.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;

namespace Spiffy.Cli.Commands;

/// <summary>`spiffy generate`: decode one prompt, streaming blocks, with Spiffy on by default.</summary>
public sealed class GenerateCommand : ICommand
{
    public string Help => $"""
        usage: spiffy generate [--model <model.json | checkpoint dir>] ("prompt text" | --prompt-ids <ids.json>) [options]

        Decodes one prompt and prints each block as it is decided, then the statistics. Spiffy
        (lossless speculative decoding) is on by default: with --graph, that draft graph; otherwise a
        calibrated graph from the model's graphs/ folder matching the decoding options, else the
        uncalibrated rank-1 chain. The forwards a plain decoder would need follow exactly from the
        steps taken (every accepted draft saves one); --compare also runs the plain decoder and checks
        the output token for token.
          --model M             model description or checkpoint dir (default: {ModelSources.DefaultModel})
          --prompt-ids FILE     JSON list of token ids instead of text
          --chat-template K     none | llada | qwen (default: the model's)
          --graph FILE          draft graph (graphs/*.json)
          --prune N|auto        D*: drafts kept per forward (default: the graph's; 0 = all; auto = chosen from
                                the forward cost measured now and the graph's calibration profile)
          --packed              no cache only: verify in one packed sequence (near-lossless, docs/spiffy.md)
          --no-spiffy           plain decoding
          --compare             also run the plain decoder; report identity and wall-clock speedup
          --strict              a graph calibrated for another model or configuration is an error
          --json                one JSON object instead of text
        {DecoderArgs.Help}
        """;

    public IReadOnlySet<string> Flags { get; } = new HashSet<string> { "json", "no-spiffy", "compare", "strict", "early-stop", "no-trim", "packed", "allow-non-finite" };

    public Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        string modelPath = ModelSources.Resolve(args.String("model"));
        string? promptText = args.String("prompt");
        string? idsFile = args.String("prompt-ids");
        string? template = args.String("chat-template");
        string? graphPath = args.String("graph");
        bool noSpiffy = args.Flag("no-spiffy"), compare = args.Flag("compare"), strict = args.Flag("strict"), json = args.Flag("json");
        bool autoPrune = args.String("prune") == "auto";
        int? prune = args.Has("prune") && !autoPrune ? args.Int("prune", 0, 0) : null;
        bool packed = args.Flag("packed");
        if (promptText is null && args.Positionals.Count == 1) promptText = args.Positionals[0];
        if ((promptText is null) == (idsFile is null)) throw new UsageException("give exactly one of a prompt text or --prompt-ids");
        if (noSpiffy && (graphPath is not null || prune is not null || autoPrune || packed)) throw new UsageException("--no-spiffy cannot be combined with --graph or --prune");

        using var model = Spiffy.SpiffyModel.Load(modelPath, allowNonFinite: args.Flag("allow-non-finite"));
        long[] prompt = idsFile is not null ? ReadIds(idsFile) : model.EncodePrompt(promptText!, template);

        // The graph decides the default decoding configuration (it was calibrated for it).
        GraphSpec? graph = null;
        if (!noSpiffy && graphPath is not null) graph = GraphFiles.Load(graphPath);
        var options = DecoderArgs.Read(args, model.Spec, graph is not null ? GraphFiles.ToOptions(graph.Decoding) : null);
        args.EnsureAllUsed(promptText is not null && args.Positionals.Count == 1 ? 1 : 0);
        if (packed) options = options with { Layout = VerificationLayout.Packed };
        options.Validate(model.Spec, prompt.Length);
        if (!noSpiffy && graph is null) graph = GraphCatalog.FindFor(modelPath, model.Spec, options);
        if (!noSpiffy && graph is null) graph = DraftGraph.Chain(GraphCatalog.DefaultChainLength, GraphFiles.FromOptions(options), DraftGraph.TokensPerStep(options));

        GraphSpeculator? speculator = null;
        if (graph is not null)
        {
            // Hashing the weights reads the whole checkpoint: only when asked to be strict.
            string? weightsHash = strict && graph.ModelHash.Length > 0 ? Spiffy.Calibration.ModelWeights.Sha256(modelPath) : null;
            var mismatches = GraphFiles.Mismatches(graph, model.Spec, options, weightsHash);
            if (strict && mismatches.Count > 0) throw new ArgumentException($"graph '{graph.Name}' does not match: {string.Join("; ", mismatches)}");
            foreach (var m in mismatches) Console.Error.WriteLine($"warning: graph '{graph.Name}': {m}");
            int keep = prune ?? graph.Keep;
            if (autoPrune)
            {
                var choice = ChooseKeep(model, graph, options, prompt.Length, cancel);
                if (choice is not null) keep = choice.Value;
            }
            speculator = keep < 0 ? null : new GraphSpeculator(new DraftGraph(graph), options.BlockLength, keep);
            if (speculator is null) graph = null;
        }

        BlockFinished? stream = null;
        if (!json)
        {
            if (promptText is not null) Console.WriteLine(promptText.TrimEnd());
            stream = (_, _, tokens) =>
            {
                if (model.Tokenizer is null) return;
                var ids = tokens.ToArray();
                int eos = Array.IndexOf(ids, (long)model.Spec.Tokens.Eos);
                if (options.TrimEos && eos >= 0) ids = ids[..eos];
                Console.Write(model.Decode(ids));
            };
        }
        var result = model.Generate(prompt, options, speculator, stream, cancel);
        GenerationResult? baseline = compare ? model.Generate(prompt, options, null, null, cancel) : null;
        var s = result.Statistics;
        int plainNfe = s.Nfe + s.FreeSteps; // every accepted draft is one step a plain decoder pays a forward for
        int mismatchAt = baseline is null ? -1 : FirstDifference(result.TokenIds, baseline.TokenIds);

        if (json) WriteJson(result, graph, speculator, plainNfe, baseline, mismatchAt);
        else
        {
            var ci = CultureInfo.InvariantCulture;
            Console.WriteLine();
            Console.WriteLine();
            Console.WriteLine(string.Create(ci, $"[{options}]"));
            Console.WriteLine(s.ToString());
            if (speculator is not null)
            {
                Console.WriteLine(string.Create(ci, $"Spiffy ({graph!.Name}{(graph.Provenance.Calibrated ? "" : ", uncalibrated")}, {graph.Nodes.Count} nodes, D* {speculator.Keep}): {s.Nfe} forwards instead of {plainNfe} -> {plainNfe - s.Nfe} saved, {(double)plainNfe / s.Nfe:F2}x fewer"));
                Console.WriteLine("accepted chain length per verification forward: " + string.Join(" ", s.AcceptedByDepth.Select((n, d) => $"{d}:{n}")));
            }
            if (baseline is not null)
            {
                Console.WriteLine(string.Create(ci, $"plain decoder: NFE {baseline.Statistics.Nfe}, {baseline.Statistics.WallTime.TotalSeconds:F2} s; output {(mismatchAt < 0 ? "identical token for token" : $"DIFFERS from position {mismatchAt}")}; wall-clock speedup {baseline.Statistics.WallTime.TotalSeconds / s.WallTime.TotalSeconds:F2}x"));
            }
        }
        return Task.FromResult(mismatchAt >= 0 ? 3 : 0);
    }

    /// <summary>D* from this machine's forward cost and the graph's calibration profile; -1 = no drafts; null = no profile.</summary>
    private static int? ChooseKeep(Spiffy.SpiffyModel model, GraphSpec graph, DecodingOptions options, int promptLength, CancellationToken cancel)
    {
        if (graph.Provenance.KeepProfile.Count == 0)
        {
            Console.Error.WriteLine($"warning: graph '{graph.Name}' has no calibration profile (keep_profile); --prune auto keeps the graph's D* {graph.Keep}");
            return null;
        }
        var rows = new List<int>();
        foreach (int r in new[] { 1, 2, 4, 8, 16 }) if (r <= graph.Nodes.Count + 1) rows.Add(r);
        if (rows.Count < 2) rows.Add(2);
        var cost = ForwardCostModel.Measure(model.Transformer, options, promptLength, rows, repeats: 3, cancel: cancel);
        var choice = KeepChooser.Choose(graph, cost)!;
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"--prune auto: {cost}; D* = {(choice.Keep == 0 ? "0 (no drafts: plain decoding is faster here)" : choice.Keep.ToString(CultureInfo.InvariantCulture))}, predicted {choice.PredictedSpeedup:F2}x on the step forwards"));
        if (choice.Keep == 0) return -1;
        return choice.Keep >= graph.Nodes.Count ? 0 : choice.Keep;
    }

    private static int FirstDifference(long[] a, long[] b)
    {
        int n = Math.Min(a.Length, b.Length);
        for (int i = 0; i < n; i++) if (a[i] != b[i]) return i;
        return a.Length == b.Length ? -1 : n;
    }

    internal static long[] ReadIds(string file)
    {
        var text = Spiffy.Checkpoints.InputFile.ReadAllText(file, Spiffy.Checkpoints.InputFile.MaxJsonBytes, "prompt ids file");
        try
        {
            var ids = JsonSerializer.Deserialize<long[]>(text) ?? throw new InvalidDataException($"{file}: expected a JSON list of token ids");
            if (ids.Length == 0) throw new InvalidDataException($"{file}: the prompt is empty");
            return ids;
        }
        catch (JsonException e) { throw new InvalidDataException($"{file}: expected a JSON list of token ids ({e.Message})"); }
    }

    private static void WriteJson(GenerationResult r, GraphSpec? graph, GraphSpeculator? speculator, int plainNfe, GenerationResult? baseline, int mismatchAt)
    {
        var s = r.Statistics;
        var o = r.Options;
        using var stream = Console.OpenStandardOutput();
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        w.WriteStartObject();
        w.WriteString("text", r.Text);
        w.WriteStartArray("token_ids");
        foreach (var id in r.TokenIds) w.WriteNumberValue(id);
        w.WriteEndArray();
        w.WriteNumber("tokens", r.TokenIds.Length);
        w.WriteNumber("nfe", s.Nfe);
        w.WriteNumber("steps", s.Steps);
        w.WriteNumber("tpf", s.Tpf);
        w.WriteStartArray("steps_per_block");
        foreach (var n in s.StepsPerBlock) w.WriteNumberValue(n);
        w.WriteEndArray();
        w.WriteNumber("wall_ms", s.WallTime.TotalMilliseconds);
        w.WriteNumber("managed_bytes", s.ManagedBytes);
        w.WriteStartObject("options");
        w.WriteNumber("gen_length", o.GenLength);
        w.WriteNumber("block_length", o.BlockLength);
        w.WriteNumber("steps", o.EffectiveSteps);
        w.WriteString("unmasking", o.Unmasking.ToString());
        w.WriteNumber("threshold", o.Threshold);
        w.WriteNumber("factor", o.Factor);
        w.WriteNumber("k", o.MinTokensPerStep);
        w.WriteString("confidence", o.Confidence.ToString());
        w.WriteNumber("temperature", o.Temperature);
        w.WriteNumber("seed", o.Seed);
        w.WriteString("cache", o.Cache.ToString());
        w.WriteBoolean("early_stop", o.EarlyStop);
        w.WriteEndObject();
        if (speculator is not null && graph is not null)
        {
            w.WriteStartObject("spiffy");
            w.WriteString("graph", graph.Name);
            w.WriteBoolean("calibrated", graph.Provenance.Calibrated);
            w.WriteNumber("nodes", graph.Nodes.Count);
            w.WriteNumber("keep", speculator.Keep);
            w.WriteNumber("verification_forwards", s.VerificationForwards);
            w.WriteNumber("rows_per_forward", s.RowsPerForward);
            w.WriteNumber("accept_mean", s.AcceptMean);
            w.WriteStartArray("accept_histogram");
            foreach (var n in s.AcceptedByDepth) w.WriteNumberValue(n);
            w.WriteEndArray();
            w.WriteNumber("free_steps", s.FreeSteps);
            w.WriteNumber("plain_nfe", plainNfe);
            w.WriteNumber("nfe_saved", plainNfe - s.Nfe);
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
        w.WriteEndObject();
        w.Flush();
        Console.WriteLine();
    }
}
