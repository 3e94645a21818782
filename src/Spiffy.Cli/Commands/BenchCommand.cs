using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Spiffy.Files;
using Spiffy.Benchmarking;
using Spiffy.Calibration;
using Spiffy.Checkpoints;
using Spiffy.Cli.Bench;
using Spiffy.Cli.CommandLine;
using Spiffy.Decoding;
using Spiffy.Schema.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;
using Spiffy.Training;

namespace Spiffy.Cli.Commands;

/// <summary>`spiffy bench`: every base decoder with and without Spiffy, on the same prompts, in one process.</summary>
public sealed partial class BenchCommand : IVerb
{
    public const string DefaultProblems = "bench/problems/gsm-style.jsonl";
    private const string AutoSuffix = "@auto";
    private const string PaperMode = "spiffy-paper";
    private const string PackedMode = "spiffy-packed";

    /// <summary>The base modes, in the order of the report; each has a Spiffy twin (<see cref="SpiffyName"/>).</summary>
    private static readonly (string Name, bool Threshold, CacheMode Cache)[] Bases =
    {
        (BenchRunner.BaselineName, false, CacheMode.None),
        ("threshold", true, CacheMode.None),
        ("prefix-cache", false, CacheMode.Prefix),
        ("prefix-cache+threshold", true, CacheMode.Prefix),
        ("dual-cache", false, CacheMode.Dual),
        ("dual-cache+threshold", true, CacheMode.Dual),
    };

    private readonly Option<string?> _model = SharedOptions.Model();
    private readonly Option<string?> _prompts = new("--prompts")
    {
        Description = $"GSM8K-format JSONL (question/answer) (default: {DefaultProblems} beside models/)", HelpName = "FILE"
    };
    private readonly Option<int?> _skip = SharedOptions.AtLeast(new Option<int?>("--skip")
    {
        Description = "problems to skip first (default 0)", HelpName = "N"
    }, 0);
    private readonly Option<int?> _count = SharedOptions.Positive(new Option<int?>("--count") { Description = "problems to run (default 8)", HelpName = "N" });
    private readonly Option<string?> _modes = new("--modes")
    {
        Description = "run only these modes (their bases are added); checked before anything is loaded", HelpName = "a,b,..."
    };
    private readonly Option<string?> _keep = SharedOptions.KeepList("--keep",
        "D* values of the spiffy@D*=k modes over the baseline's graph (default 1,2,3,4,6,8; all = every node; \"\" = none)");
    private readonly Option<string?> _sweep = SharedOptions.Renamed("--sweep", "--keep");
    private readonly Option<string?> _paper = new("--paper-graph")
    {
        Description = "the paper's configuration graph (default graphs/paper/<model>-degree1.json)", HelpName = "FILE"
    };
    private readonly Option<double?> _threshold = SharedOptions.Threshold("tau of the threshold modes (default 0.9)");
    private readonly Option<int?> _gen = SharedOptions.GenLength("256");
    private readonly Option<int?> _block = SharedOptions.BlockLength("32");
    private readonly Option<bool> _noOracle = new("--no-oracle") { Description = "skip the replay oracle bound (it decodes each prompt once more)" };
    private readonly Option<string?> _out = new("--out")
    {
        Description = "write the report between the bench markers of this Markdown file (atomic)", HelpName = "FILE.md"
    };
    private readonly Option<string?> _chart = new("--chart") { Description = "write the chart (atomic)", HelpName = "FILE.svg" };
    private readonly Option<int?> _threads = SharedOptions.Threads();
    private readonly DeviceOptionSet _device = new();
    private readonly Option<string?> _rowCurve = SharedOptions.IntList("--row-curve",
        "instead of the modes: step-forward time by rows (e.g. 1,2,4,8,16,32) with the dual cache and with no cache (docs/gpu.md)", 1);
    private readonly Option<int?> _promptLength = SharedOptions.Positive(new Option<int?>("--prompt-length")
    {
        Description = "--row-curve: prompt of the measured generation (default 256)", HelpName = "N"
    });
    private readonly Option<int?> _repeats = SharedOptions.Positive(new Option<int?>("--repeats")
    {
        Description = "--row-curve: timed forwards per row count (default 5; the minimum is used)", HelpName = "N"
    });
    private readonly Option<bool> _randomWeights = new("--random-weights")
    {
        Description = "--row-curve: --model is a description (models/*.json); random weights are made on the device, no file"
    };
    private readonly Option<string?> _graph = new("--graph")
    {
        Description = "--row-curve: pick D* for this graph's calibration profile from each measured curve", HelpName = "graph.json"
    };
    private readonly Option<bool> _allowNonFinite = SharedOptions.AllowNonFinite();
    private readonly Option<string?> _batch = SharedOptions.IntList("--batch",
        "instead of the mode table: tokens/s with the prompts decoded in batches of each size (e.g. 1,4,16; batch 1 always runs and every output must equal "
        + "it; default modes baseline, spiffy, dual-cache and its twin; --count defaults to the largest size)", 1);

    /// <summary>The modes --batch measures when --modes is not given.</summary>
    private static readonly string[] DefaultBatchModes = { BenchRunner.BaselineName, "spiffy", "dual-cache", "dual-cache+spiffy" };

    public BenchCommand()
    {
        _modes.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is not string text) return;
            var names = ModeList(text);
            if (names.Count == 0) r.AddError("--modes is empty");
            foreach (var name in names)
                if (!IsModeName(name)) r.AddError($"unknown mode \"{name}\"; modes: {string.Join(", ", ModeNamePatterns())}");
        });
        Command = new VerbCommand("bench",
            "every decoder with and without Spiffy on the same prompts: NFE, speed, losslessness",
            "Run every mode on the same prompts in one process (a warm-up per mode, then the modes interleaved per prompt) and "
            + "report NFE, tokens per forward, tokens/s, acceptance, rows per forward, managed bytes per step, ratios against "
            + "`baseline` and against each mode's own base, and the outputs that differ from that base (0 for every lossless "
            + "mode). Spiffy modes use the calibrated graph in graphs/ for their configuration (else the uncalibrated chain), at "
            + "the graph's D*; `<mode>@auto` rows use the D* chosen from the forward cost measured here (interleaved repeated "
            + "timings, minimum of each; no row when the fit is noise).",
            "spiffy bench                                            # every mode on the repository's problems",
            "spiffy bench --modes spiffy,dual-cache+spiffy --count 2 --no-oracle --threads 2",
            "spiffy bench --modes spiffy@auto --json > bench.json",
            "spiffy bench --prompts gsm8k/test.jsonl --count 16 --out docs/benchmarks.md --chart docs/img/benchmarks.svg")
        { _model, _prompts, _skip, _count, _modes, _keep, _sweep, _paper, _threshold, _gen, _block, _noOracle, _out, _chart, _threads,
          _rowCurve, _promptLength, _repeats, _randomWeights, _graph, _allowNonFinite, _batch };
        _device.AddTo(Command);
    }

    public VerbCommand Command { get; }

    public Task<int> RunAsync(ParseResult parse, CliOutput output, CancellationToken cancel)
    {
        string modelPath = ModelSources.Resolve(parse.GetValue(_model));
        string repoRoot = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath))!, ".."));
        string problems = parse.GetValue(_prompts) ?? Path.Combine(repoRoot, DefaultProblems);
        var batchSizes = parse.GetValue(_batch) is string batchText ? SharedOptions.ParseIntList(batchText) : null;
        if (batchSizes is { Count: 0 }) throw new UsageException("--batch needs at least one batch size");
        if (batchSizes is not null && parse.GetValue(_rowCurve) is not null)
            throw new UsageException("--batch and --row-curve are separate measurements; give one");
        int skip = parse.GetValue(_skip) ?? 0, count = parse.GetValue(_count) ?? (batchSizes is null ? 8 : batchSizes.Max());
        var only = parse.GetValue(_modes) is string m ? ModeList(m) : null;
        string sweepText = parse.GetValue(_keep) ?? "1,2,3,4,6,8";
        string? paperPath = parse.GetValue(_paper);
        var defaults = new DecodingOptions(); // bench's lengths and tau are the record's defaults, whatever the model's
        double tau = parse.GetValue(_threshold) ?? defaults.Threshold;
        int gen = parse.GetValue(_gen) ?? defaults.GenLength, block = parse.GetValue(_block) ?? defaults.BlockLength;
        bool oracle = !parse.GetValue(_noOracle);
        string? outMd = parse.GetValue(_out), chart = parse.GetValue(_chart);
        var sweep = SharedOptions.ParseKeepList(sweepText);
        SharedOptions.ApplyThreads(parse, _threads);
        void Log(string message) => output.Log("[bench] " + message);
        if (parse.GetValue(_rowCurve) is string curveText)
            return Task.FromResult(RowCurve(parse, output, modelPath, SharedOptions.ParseIntList(curveText), gen, block, cancel));
        if (parse.GetValue(_randomWeights)) throw new UsageException("--random-weights needs --row-curve (decoding random weights measures nothing)");

        _device.Resolve(parse, output);
        using var model = output.Busy("loading the model", () => SpiffyModel.Load(modelPath, _device.RequestedDType(parse), _device.Requested(parse),
            allowNonFinite: parse.GetValue(_allowNonFinite)));
        var all = PromptAnswerData.Read(problems);
        if (skip >= all.Count) throw new UsageException($"--skip {skip} leaves no problems in {problems} ({all.Count})");
        var prompts = new List<long[]>();
        var answers = new List<string>();
        for (int i = skip; i < Math.Min(all.Count, skip + count); i++)
        {
            prompts.Add(model.EncodePrompt(PromptAnswerData.FormatPrompt(all[i].Prompt)));
            answers.Add(all[i].Answer);
        }

        var plain = new DecodingOptions { GenLength = gen, BlockLength = block };
        GraphSpec GraphFor(DecodingOptions o) => GraphCatalog.FindFor(modelPath, model.Spec, o, output)
            ?? DraftGraph.Chain(GraphCatalog.DefaultChainLength, o.ToSchema(), DraftGraph.TokensPerStep(o));

        // Base configurations and their Spiffy twins, in the order of the report.
        var bases = Bases.Select(b => (b.Name, Options: (b.Threshold ? plain with { Unmasking = UnmaskingRule.Threshold, Threshold = tau } : plain) with
        {
            Cache = b.Cache
        })).ToList();
        var modes = new List<BenchMode>();
        var graphs = new Dictionary<string, GraphSpec>(StringComparer.Ordinal);
        foreach (var (name, o) in bases)
        {
            var g = GraphFor(o);
            graphs[name] = g;
            modes.Add(new BenchMode(name, o));
            modes.Add(new BenchMode(SpiffyName(name), o, g, g.Keep, name, Note: g.Provenance.Calibrated ? "" : "uncalibrated chain"));
        }
        string paperFile = paperPath ?? Path.Combine(repoRoot, "graphs", "paper", model.Spec.Name + "-degree1.json");
        if (File.Exists(paperFile))
        {
            var paper = GraphFiles.Load(paperFile);
            modes.Add(new BenchMode(PaperMode, plain, paper, paper.Keep, BenchRunner.BaselineName,
                Note: "degree-1 accumulation, D = " + paper.Nodes.Count.ToString(CultureInfo.InvariantCulture)));
        }
        else if (paperPath is not null) throw new FileNotFoundException($"paper graph not found: {paperFile}");
        else Log($"no paper graph at {paperFile}; {PaperMode} skipped");
        var baseGraph = graphs[BenchRunner.BaselineName];
        // A count of at least the node count is all; the graph's own D* is the spiffy mode itself.
        var swept = new HashSet<DraftKeep> { baseGraph.Keep.For(baseGraph.Nodes.Count) };
        foreach (var k in sweep.Select(k => k.For(baseGraph.Nodes.Count)).OrderBy(k => k.IsAll ? int.MaxValue : k.Count ?? 0))
            if (swept.Add(k))
                modes.Add(new BenchMode($"spiffy@D*={k}", plain, baseGraph, k, BenchRunner.BaselineName));
        modes.Add(new BenchMode(PackedMode, plain with { Layout = VerificationLayout.Packed }, baseGraph, baseGraph.Keep, BenchRunner.BaselineName,
            Lossless: false, Note: "near-lossless packed layout"));

        // Every named mode must exist before minutes of timing start.
        bool Autoable(BenchMode x) => x.Graph is not null && !x.Name.Contains('@', StringComparison.Ordinal) && x.Name != PaperMode;
        if (only is not null)
            foreach (var w in only)
            {
                string target = w.EndsWith(AutoSuffix, StringComparison.Ordinal) ? w[..^AutoSuffix.Length] : w;
                if (!modes.Any(x => x.Name == target && (target == w || Autoable(x))))
                    throw new UsageException($"mode \"{w}\" is not available with this model and options; "
                        + $"available: {string.Join(", ", modes.Select(x => x.Name))} and <spiffy mode>{AutoSuffix}");
            }
        if (batchSizes is not null) return Task.FromResult(Batches(output, model, prompts, modes, only, batchSizes, problems, skip, gen, block, cancel));
        var autoCandidates = modes.Where(x => Autoable(x) && (only is null || only.Contains(x.Name + AutoSuffix))).ToList();
        var selected = only is null ? modes : modes.Where(x => only.Contains(x.Name)).ToList();

        // The machine's cost of a forward by rows, only for the layouts the chosen modes verify with: D* follows it.
        int maxRows = 1;
        foreach (var x in selected.Concat(autoCandidates))
            if (x.Graph is not null) maxRows = Math.Max(maxRows, 1 + x.Keep.Drafts(x.Graph.Nodes.Count));
        var rowCounts = ForwardCostModel.RowCounts(Math.Max(4, maxRows));
        int typical = (int)prompts.Average(p => p.Length);
        // The timed steps score their rows as the drafting modes do: with the most top tokens any of their graphs drafts from.
        int topTokenRanks = selected.Concat(autoCandidates).Where(x => x.Graph is not null).Select(x => new DraftGraph(x.Graph!).TopTokenRanks)
            .DefaultIfEmpty(0).Max();
        var layouts = selected.Concat(autoCandidates).Where(x => x.Graph is not null).Select(x => plain with
        {
            Cache = x.Options.Cache,
            Layout = x.Options.Layout
        })
            .Select(o => (Key: LayoutKey(o), Options: o)).DistinctBy(l => l.Key).ToList();
        var costs = new Dictionary<string, ForwardCost>(StringComparer.Ordinal);
        output.WithProgress(progress =>
        {
            var bars = layouts.Select(l => progress.Add("timing forwards, " + ForwardCostModel.Describe(l.Options),
                ForwardCostModel.Forwards(rowCounts.Count, ForwardCostModel.DefaultRepeats), "forwards")).ToList();
            for (int i = 0; i < layouts.Count; i++)
            {
                costs[layouts[i].Key] = ForwardCostModel.Measure(model.Transformer, layouts[i].Options, typical, rowCounts, cancel: cancel,
                    progress: () => bars[i].Advance(), topTokenRanks: topTokenRanks);
                bars[i].Finish();
                Log(costs[layouts[i].Key].ToString() + (costs[layouts[i].Key].Reliable ? "" : "; " + costs[layouts[i].Key].Verdict));
            }
        });
        foreach (var x in autoCandidates)
        {
            var cost = costs[LayoutKey(x.Options)];
            bool asked = only is not null;
            if (!cost.Reliable)
            {
                (asked ? (Action<string>)output.Warn : Log)($"{x.Name}{AutoSuffix}: no D* chosen for {cost.Configuration}: {cost.Verdict}");
                continue;
            }
            var choice = KeepChooser.Choose(x.Graph!, cost);
            if (choice is null)
            {
                (asked ? (Action<string>)output.Warn : Log)($"{x.Name}{AutoSuffix}: graph '{x.Graph!.Name}' has no calibration profile (keep_profile)");
                continue;
            }
            var keep = choice.Keep;
            if (keep == x.Keep.For(x.Graph!.Nodes.Count) && !asked) continue; // the same row as the mode itself
            string note = string.Create(CultureInfo.InvariantCulture,
                $"D* chosen by the cost model (predicted {choice.PredictedSpeedup:F2}x on the step forwards)");
            modes.Add(keep.IsNone
                ? new BenchMode(x.Name + AutoSuffix, x.Options, null, DraftKeep.None, x.Base, x.Lossless, note + ": no drafts")
                : new BenchMode(x.Name + AutoSuffix, x.Options, x.Graph, keep, x.Base, x.Lossless, note));
        }
        if (only is not null) modes = Filter(modes, only);
        if (modes.Count == 0) throw new UsageException("no mode left to run");

        Log(string.Create(CultureInfo.InvariantCulture, $"{modes.Count} modes x {prompts.Count} prompts from {problems} (skip {skip})"));
        var (results, oracles) = output.WithProgress(progress =>
        {
            int total = BenchRunner.Generations(prompts.Count, modes.Count), done = 0;
            var bar = progress.Add($"{modes.Count} modes x {prompts.Count} prompts", total, "generations");
            var watch = Stopwatch.StartNew();
            void Milestone(string message) => Log(message + (done == 0 ? "" : string.Create(CultureInfo.InvariantCulture,
                $" ({watch.Elapsed.TotalMinutes:F1} min elapsed, about {watch.Elapsed.TotalMinutes / done * (total - done):F1} min left)")));
            var results = BenchRunner.Run(model, prompts, modes, Milestone, cancel, () => { done++; bar.Advance(); });
            var oracleBases = oracle ? bases.Where(b => modes.Any(x => x.Base == b.Name && x.Graph is not null)).ToList() : new();
            var oracles = new Dictionary<string, ReplayResult>(StringComparer.Ordinal);
            if (oracleBases.Count > 0)
            {
                var oracleBar = progress.Add("oracle bound (replay)", oracleBases.Count, "base modes");
                foreach (var (name, o) in oracleBases)
                {
                    oracles[name] = BenchOracle.Compute(model, prompts, o, graphs[name].Limits, cancel);
                    oracleBar.Advance();
                    Log($"oracle for {name}: {oracles[name]}");
                }
            }
            return (results, oracles);
        });
        if (model.Tokenizer is not null)
            foreach (var r in results)
            {
                int right = 0;
                for (int p = 0; p < prompts.Count; p++)
                {
                    var ids = r.Outputs[p];
                    int eos = Array.IndexOf(ids, (long)model.Spec.Tokens.Eos);
                    if (GsmAnswer.Matches(model.Decode(eos >= 0 ? ids[..eos] : ids), answers[p])) right++;
                }
                r.Accuracy = (double)right / prompts.Count;
            }

        var report = new BenchReport
        {
            Model = model.Spec.Name,
            PromptSource = string.Create(CultureInfo.InvariantCulture, $"{Path.GetFileName(problems)}[{skip}:{skip + prompts.Count}]"),
            Prompts = prompts.Count, GenLength = gen, BlockLength = block,
            Command = "spiffy bench " + string.Join(' ', Environment.GetCommandLineArgs().Skip(2).Select(ShellWord)),
            Modes = results, Costs = layouts.Select(l => costs[l.Key]).ToList(), Oracles = oracles,
            Device = model.DeviceName, DType = Checkpoint.DTypeName(model.Transformer.DType),
        };
        if (output.Json)
        {
            Console.Out.Flush();
            using (var stdout = Console.OpenStandardOutput()) report.WriteJson(stdout);
            Console.Out.WriteLine();
        }
        else
        {
            output.Result(report.ToMarkdownTable());
            if (report.Costs.Count > 0) output.Result(report.CostTable());
            if (oracles.Count > 0) output.Result(report.OracleTable());
        }
        if (chart is not null) AtomicFile.WriteAllText(chart, BenchChart.ToSvg(report));
        if (outMd is not null) BenchMarkdown.WriteSection(outMd, report, chart);
        int failures = results.Count(r => r.Mode.Lossless && r.Mismatches > 0);
        if (failures > 0) Console.Error.WriteLine($"error: {failures} lossless mode(s) changed the output");
        return Task.FromResult(failures > 0 ? 3 : 0);
    }

    /// <summary>--row-curve: the step-forward cost by rows for the dual-cache and no-cache layouts, and D* picked from each curve.</summary>
    private int RowCurve(ParseResult parse, CliOutput output, string modelPath, List<int> rowCounts, int gen, int block, CancellationToken cancel)
    {
        if (rowCounts.Count == 0) throw new UsageException("--row-curve needs at least one row count");
        bool random = parse.GetValue(_randomWeights);
        int promptLength = parse.GetValue(_promptLength) ?? 256, repeats = parse.GetValue(_repeats) ?? ForwardCostModel.DefaultRepeats;
        var graph = parse.GetValue(_graph) is string g ? GraphFiles.Load(g) : null;
        var device = _device.Resolve(parse, output);
        var dtype = _device.RequestedDType(parse);
        Spiffy.Modeling.DiffusionTransformer model;
        if (random)
        {
            if (Directory.Exists(modelPath)) throw new UsageException("--random-weights takes a model description (models/*.json), not a checkpoint directory");
            var spec = Spiffy.Modeling.ModelDescription.Load(modelPath);
            var chosen = dtype ?? Devices.ComputeDevice.DefaultDType(device, Checkpoint.ParseDType(spec.DType));
            output.Log($"[bench] {spec.Name}: {spec.ParameterCount:N0} parameters, random {Checkpoint.DTypeName(chosen)} weights "
                + $"on {Devices.ComputeDevice.Name(device)}");
            model = output.Busy("making random weights", () => RowCostBench.RandomModel(spec, chosen, device, seed: 1));
        }
        else
        {
            model = output.Busy("loading the model", () => Checkpoint.LoadModel(modelPath, dtype, device));
            model.eval();
        }
        using (model)
        {
            var spec = model.Spec;
            var options = new DecodingOptions { GenLength = gen, BlockLength = block };
            var curves = output.Busy("timing forwards", () => RowCostBench.Measure(model, options, promptLength, rowCounts,
                o => graph ?? GraphCatalog.FindFor(modelPath, spec, o, output), repeats, m => output.Log("[bench] " + m), cancel));
            if (output.Json)
            {
                Console.Out.Flush();
                using var stdout = Console.OpenStandardOutput();
                RowCostBench.WriteJson(stdout, spec, model, random, options, promptLength, curves, graph?.Name);
                stdout.Flush();
                Console.WriteLine();
            }
            else
            {
                output.Result(string.Create(CultureInfo.InvariantCulture,
                    $"{spec.Name} on {Devices.ComputeDevice.Name(device)} ({Checkpoint.DTypeName(model.DType)}{(random ? ", random weights" : "")}), "
                        + $"prompt {promptLength}, generation {gen}, block {block}; minimum of {repeats}"));
                output.Result(RowCostBench.ToMarkdown(curves));
            }
        }
        return 0;
    }

    /// <summary>--batch: the chosen modes at each batch size; exit 3 when an output differs from batch 1.</summary>
    private static int Batches(CliOutput output, SpiffyModel model, List<long[]> prompts, List<BenchMode> modes, List<string>? only,
        List<int> sizes, string problems, int skip, int gen, int block, CancellationToken cancel)
    {
        if (only is not null && only.Any(w => w.EndsWith(AutoSuffix, StringComparison.Ordinal)))
            throw new UsageException($"--batch measures fixed modes; {AutoSuffix} chooses D* from the forward cost (run it without --batch)");
        var chosen = Filter(modes, only ?? DefaultBatchModes.ToList());
        if (chosen.Count == 0) throw new UsageException("no mode left to run");
        output.Log(string.Create(CultureInfo.InvariantCulture,
            $"[bench] {chosen.Count} modes x batch sizes {string.Join(",", sizes)} x {prompts.Count} prompts from {problems} (skip {skip})"));
        var results = output.Busy("decoding in batches", () => BatchBench.Run(model, prompts, chosen, sizes, m => output.Log("[bench] " + m), cancel));
        if (output.Json)
        {
            Console.Out.Flush();
            using (var stdout = Console.OpenStandardOutput())
            using (var w = new System.Text.Json.Utf8JsonWriter(stdout, new System.Text.Json.JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteString("model", model.Spec.Name);
                w.WriteNumber("prompts", prompts.Count);
                w.WriteString("prompt_source", string.Create(CultureInfo.InvariantCulture, $"{Path.GetFileName(problems)}[{skip}:{skip + prompts.Count}]"));
                w.WriteNumber("gen_length", gen);
                w.WriteNumber("block_length", block);
                w.WriteString("machine", BenchReport.DescribeMachine());
                w.WriteString("device", model.DeviceName);
                w.WriteString("dtype", Checkpoint.DTypeName(model.Transformer.DType));
                w.WriteString("date", DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture));
                BatchBench.WriteJson(w, results);
                w.WriteEndObject();
            }
            Console.Out.WriteLine();
        }
        else output.Result(BatchBench.ToMarkdown(results));
        int failures = results.Count(r => r.Mismatches > 0);
        if (failures > 0) Console.Error.WriteLine($"error: {failures} batch run(s) changed an output against batch 1");
        return failures > 0 ? 3 : 0;
    }

    private static string SpiffyName(string baseName) => baseName == BenchRunner.BaselineName ? "spiffy" : baseName + "+spiffy";

    private static string LayoutKey(DecodingOptions o) => o.Layout == VerificationLayout.Packed ? DecodingNames.Layout.Name(o.Layout)
        : DecodingNames.Cache.Name(o.Cache);

    private static List<string> ModeList(string text) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct(StringComparer.Ordinal).ToList();

    /// <summary>Whether <paramref name="name"/> is a mode bench can build (whether it exists also depends on the model's graphs).</summary>
    private static bool IsModeName(string name)
    {
        string stem = name.EndsWith(AutoSuffix, StringComparison.Ordinal) ? name[..^AutoSuffix.Length] : name;
        bool auto = stem.Length != name.Length;
        bool spiffy = stem == PackedMode || Bases.Any(b => SpiffyName(b.Name) == stem);
        if (auto) return spiffy;
        return spiffy || stem == PaperMode || Bases.Any(b => b.Name == stem) || SweepName().IsMatch(stem);
    }

    private static IEnumerable<string> ModeNamePatterns() =>
        Bases.Select(b => b.Name).Concat(Bases.Select(b => SpiffyName(b.Name))).Append(PaperMode).Append(PackedMode)
            .Append("spiffy@D*=<k>").Append("spiffy@D*=all").Append("<spiffy mode>" + AutoSuffix);

    [GeneratedRegex(@"^spiffy@D\*=([1-9][0-9]*|all)$")]
    private static partial Regex SweepName();

    private static List<BenchMode> Filter(List<BenchMode> modes, IReadOnlyCollection<string> only)
    {
        var wanted = new HashSet<string>(only.Where(w => modes.Any(x => x.Name == w)), StringComparer.Ordinal);
        foreach (var x in modes.ToArray()) if (wanted.Contains(x.Name) && x.Base is not null) wanted.Add(x.Base);
        if (wanted.Count > 0 && modes.Any(x => x.Name == BenchRunner.BaselineName)) wanted.Add(BenchRunner.BaselineName);
        return modes.Where(x => wanted.Contains(x.Name)).ToList();
    }

    /// <summary>An argument as a shell reads it back: empty or blank-containing ones quoted, so the recorded command reruns.</summary>
    private static string ShellWord(string arg)
        => arg.Length > 0 && arg.All(c => char.IsLetterOrDigit(c) || "-_./,:=@+%".Contains(c)) ? arg
            : "\"" + arg.Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
