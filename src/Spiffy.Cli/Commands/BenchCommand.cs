using System.Globalization;
using Spiffy.Benchmarking;
using Spiffy.Calibration;
using Spiffy.Checkpoints;
using Spiffy.Cli.CommandLine;
using Spiffy.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;
using Spiffy.Training;

namespace Spiffy.Cli.Commands;

/// <summary>`spiffy bench`: every base decoder with and without Spiffy, on the same prompts, in one process.</summary>
public sealed class BenchCommand : ICommand
{
    public const string DefaultProblems = "bench/problems/gsm-style.jsonl";

    public string Help => $"""
        usage: spiffy bench [--model <model.json | checkpoint dir>] [options]

        Runs every mode on the same prompts in one process (a warm-up per mode, then the modes
        interleaved per prompt) and reports NFE, tokens per forward, tokens/s, acceptance, rows per
        forward, managed bytes per step, ratios against `baseline` and against each mode's own base,
        and the outputs that differ from that base (0 for every lossless mode). Spiffy modes use the
        calibrated graph in graphs/ for their configuration (else the uncalibrated chain), at the
        graph's D*; `<mode>@auto` rows use the D* chosen from the forward cost measured here.
          --model M           (default: {ModelSources.DefaultModel})
          --prompts FILE      GSM8K-format JSONL (question/answer) (default: {DefaultProblems} beside models/)
          --skip N            problems to skip first (default 0)
          --count N           problems to run (default 8)
          --modes a,b,...     run only these modes (their bases are added)
          --sweep 1,2,4,...   D* values for the spiffy@D*=k sweep, "all" for every node (default 1,2,3,4,6,8; empty = none)
          --paper-graph FILE  the paper's configuration graph (default graphs/paper/<model>-degree1.json)
          --threshold X       tau of the threshold modes (default 0.9)
          --gen-length N      (default 256)   --block-length N (default 32)
          --no-oracle         skip the replay oracle bound (it decodes each prompt once more)
          --json              print one JSON object instead of the table
          --out FILE.md       write the report between the bench markers of this Markdown file (atomic)
          --chart FILE.svg    write the chart (atomic)
        """;

    public IReadOnlySet<string> Flags { get; } = new HashSet<string> { "json", "no-oracle", "allow-non-finite" };

    public Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        string modelPath = ModelSources.Resolve(args.String("model"));
        string repoRoot = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath))!, ".."));
        string problems = args.String("prompts") ?? Path.Combine(repoRoot, DefaultProblems);
        int skip = args.Int("skip", 0, 0), count = args.Int("count", 8, 1);
        string? only = args.String("modes");
        string sweepText = args.String("sweep") ?? "1,2,3,4,6,8";
        string? paperPath = args.String("paper-graph");
        double tau = args.Double("threshold", 0.9);
        int gen = args.Int("gen-length", 256, 1), block = args.Int("block-length", 32, 1);
        bool json = args.Flag("json"), oracle = !args.Flag("no-oracle");
        string? outMd = args.String("out"), chart = args.String("chart");
        bool allowNonFinite = args.Flag("allow-non-finite");
        args.EnsureAllUsed(0);
        bool sweepAll = sweepText.Split(',', StringSplitOptions.TrimEntries).Contains("all");
        var sweep = ParseList(sweepText.Replace("all", "", StringComparison.Ordinal), "--sweep");
        void Log(string m) => Console.Error.WriteLine("[bench] " + m);

        using var model = SpiffyModel.Load(modelPath, allowNonFinite: allowNonFinite);
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
        var threshold = plain with { Unmasking = UnmaskingRule.Threshold, Threshold = tau };
        GraphSpec GraphFor(DecodingOptions o) => GraphCatalog.FindFor(modelPath, model.Spec, o)
            ?? DraftGraph.Chain(GraphCatalog.DefaultChainLength, GraphFiles.FromOptions(o), DraftGraph.TokensPerStep(o));

        // Base configurations and their Spiffy twins, in the order of the report.
        var bases = new (string Name, DecodingOptions Options)[]
        {
            (BenchRunner.BaselineName, plain),
            ("threshold", threshold),
            ("prefix-cache", plain with { Cache = CacheMode.Prefix }),
            ("prefix-cache+threshold", threshold with { Cache = CacheMode.Prefix }),
            ("dual-cache", plain with { Cache = CacheMode.Dual }),
            ("dual-cache+threshold", threshold with { Cache = CacheMode.Dual }),
        };
        var modes = new List<BenchMode>();
        var graphs = new Dictionary<string, GraphSpec>(StringComparer.Ordinal);
        foreach (var (name, o) in bases)
        {
            var g = GraphFor(o);
            graphs[name] = g;
            modes.Add(new BenchMode(name, o));
            string spiffyName = name == BenchRunner.BaselineName ? "spiffy" : name + "+spiffy";
            modes.Add(new BenchMode(spiffyName, o, g, g.Keep, name, Note: g.Provenance.Calibrated ? "" : "uncalibrated chain"));
        }
        string paperFile = paperPath ?? Path.Combine(repoRoot, "graphs", "paper", model.Spec.Name + "-degree1.json");
        if (File.Exists(paperFile))
        {
            var paper = GraphFiles.Load(paperFile);
            modes.Add(new BenchMode("spiffy-paper", plain, paper, paper.Keep, BenchRunner.BaselineName, Note: "degree-1 accumulation, D = " + paper.Nodes.Count.ToString(CultureInfo.InvariantCulture)));
        }
        else if (paperPath is not null) throw new FileNotFoundException($"paper graph not found: {paperFile}");
        else Log($"no paper graph at {paperFile}; spiffy-paper skipped");
        var baseGraph = graphs[BenchRunner.BaselineName];
        foreach (int k in sweep)
            if (k < baseGraph.Nodes.Count && k != baseGraph.Keep)
                modes.Add(new BenchMode(string.Create(CultureInfo.InvariantCulture, $"spiffy@D*={k}"), plain, baseGraph, k, BenchRunner.BaselineName));
        if (sweepAll && baseGraph.Keep != 0)
            modes.Add(new BenchMode("spiffy@D*=all", plain, baseGraph, 0, BenchRunner.BaselineName));
        modes.Add(new BenchMode("spiffy-packed", plain with { Layout = VerificationLayout.Packed }, baseGraph, baseGraph.Keep, BenchRunner.BaselineName,
            Lossless: false, Note: "near-lossless packed layout"));

        // The machine's cost of a forward by rows, per verification layout: D* follows it.
        int maxRows = 1;
        foreach (var m in modes) if (m.Graph is not null) maxRows = Math.Max(maxRows, 1 + (m.Keep == 0 ? m.Graph.Nodes.Count : m.Keep));
        var rowCounts = new List<int>();
        foreach (int r in new[] { 1, 2, 3, 4, 6, 8, 12, 16 }) if (r <= Math.Max(4, maxRows)) rowCounts.Add(r);
        int typical = (int)prompts.Average(p => p.Length);
        var costs = new Dictionary<string, ForwardCost>(StringComparer.Ordinal);
        foreach (var (key, o) in new[] { ("none", plain), ("prefix", plain with { Cache = CacheMode.Prefix }), ("dual", plain with { Cache = CacheMode.Dual }), ("packed", plain with { Layout = VerificationLayout.Packed }) })
        {
            costs[key] = ForwardCostModel.Measure(model.Transformer, o, typical, rowCounts, cancel: cancel);
            Log(costs[key].ToString());
        }
        foreach (var m in modes.ToArray())
        {
            if (m.Graph is null || m.Name.Contains('@', StringComparison.Ordinal) || m.Name == "spiffy-paper") continue;
            string key = m.Options.Layout == VerificationLayout.Packed ? "packed" : m.Options.Cache.ToString().ToLowerInvariant();
            var choice = KeepChooser.Choose(m.Graph, costs[key]);
            if (choice is null) continue;
            int keep = choice.Keep >= m.Graph.Nodes.Count ? 0 : choice.Keep;
            if (keep == m.Keep) continue;
            string note = string.Create(CultureInfo.InvariantCulture, $"D* chosen by the cost model (predicted {choice.PredictedSpeedup:F2}x on the step forwards)");
            modes.Add(choice.Keep == 0
                ? new BenchMode(m.Name + "@auto", m.Options, null, 0, m.Base, m.Lossless, note + ": no drafts")
                : new BenchMode(m.Name + "@auto", m.Options, m.Graph, keep, m.Base, m.Lossless, note));
        }
        if (only is not null) modes = Filter(modes, only);

        Log(string.Create(CultureInfo.InvariantCulture, $"{modes.Count} modes x {prompts.Count} prompts from {problems} (skip {skip})"));
        var results = BenchRunner.Run(model, prompts, modes, Log, cancel);
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
        var oracles = new Dictionary<string, ReplayResult>(StringComparer.Ordinal);
        if (oracle)
            foreach (var (name, o) in bases)
                if (modes.Any(m => m.Base == name && m.Graph is not null))
                {
                    oracles[name] = BenchOracle.Compute(model, prompts, o, graphs[name].Limits, cancel);
                    Log($"oracle for {name}: {oracles[name]}");
                }

        var report = new BenchReport
        {
            Model = model.Spec.Name,
            PromptSource = string.Create(CultureInfo.InvariantCulture, $"{Path.GetFileName(problems)}[{skip}:{skip + prompts.Count}]"),
            Prompts = prompts.Count, GenLength = gen, BlockLength = block,
            Command = "spiffy bench " + string.Join(' ', Environment.GetCommandLineArgs().Skip(2)),
            Modes = results, Costs = costs.Values.ToList(), Oracles = oracles,
        };
        if (json)
        {
            using var stdout = Console.OpenStandardOutput();
            report.WriteJson(stdout);
            Console.WriteLine();
        }
        else
        {
            Console.WriteLine(report.ToMarkdownTable());
            Console.WriteLine(report.CostTable());
            if (oracles.Count > 0) Console.WriteLine(report.OracleTable());
        }
        if (chart is not null) AtomicFile.WriteAllText(chart, BenchChart.ToSvg(report));
        if (outMd is not null) BenchMarkdown.WriteSection(outMd, report, chart);
        int failures = results.Count(r => r.Mode.Lossless && r.Mismatches > 0);
        if (failures > 0) Console.Error.WriteLine($"error: {failures} lossless mode(s) changed the output");
        return Task.FromResult(failures > 0 ? 3 : 0);
    }

    private static List<int> ParseList(string text, string option)
    {
        var list = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v < 1)
                throw new UsageException($"{option} expects positive integers separated by commas, got \"{part}\"");
            list.Add(v);
        }
        return list;
    }

    private static List<BenchMode> Filter(List<BenchMode> modes, string only)
    {
        var wanted = new HashSet<string>(only.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), StringComparer.Ordinal);
        foreach (var w in wanted)
            if (!modes.Any(m => m.Name == w)) throw new UsageException($"unknown mode \"{w}\"; modes: {string.Join(", ", modes.Select(m => m.Name))}");
        foreach (var m in modes.ToArray()) if (wanted.Contains(m.Name) && m.Base is not null) wanted.Add(m.Base);
        if (modes.Any(m => m.Name == BenchRunner.BaselineName)) wanted.Add(BenchRunner.BaselineName);
        return modes.Where(m => wanted.Contains(m.Name)).ToList();
    }
}
