using System.Globalization;
using System.Text.Json;
using Spiffy.Benchmarking;
using Spiffy.Cli.CommandLine;
using Spiffy.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;
using Spiffy.Training;

namespace Spiffy.Cli.Commands;

/// <summary>`spiffy eval`: a checkpoint measured on held-out GSM8K problems (docs/training.md table).</summary>
public sealed class EvalCommand : ICommand
{
    public string Help => $"""
        usage: spiffy eval --data <file.jsonl> [--model <model.json | checkpoint dir>] [options]

        Measures a checkpoint on the last --holdout problems of --data (the held-out problems the
        trainer never sees; a file of only held-out problems, e.g. from `spiffy augment --heldout-out`,
        is used whole): exact-answer accuracy of greedy plain decoding with its Wilson interval,
        the trainer's masked-token loss (same fixed masks as its validation), the replay oracle bound,
        Spiffy's forward reduction with the calibrated graph (run for real, checked token for token),
        and the share of threshold-decoding steps that commit more than one token.
          --model M          (default: {ModelSources.DefaultModel})
          --holdout N        the last N problems of --data are the held-out set (default 500)
          --skip N           held-out problems to skip first (default 0)
          --count N          held-out problems to evaluate (default: all)
          --graph FILE       Spiffy's graph (default: the calibrated graph for plain decoding in graphs/ beside the model)
          --keep N           D* (default: the graph's)
          --replay-spiffy    replay the graph over the recorded plain trajectories instead of running
                             Spiffy (the same forwards at no model cost; losslessness is then not re-checked)
          --threshold X      tau of the threshold run (default 0.9)
          --cache C          none | prefix | dual: the cache of every run (default none, the plain decoder;
                             dual is several times cheaper on a CPU, its graph is the dual one)
          --gen-length N     (default: the model's, else 256)   --block-length N (default: the model's, else 32)
          --max-prompt N     the loss's prompt limit in tokens (default 160, as `spiffy train`)
          --loss-seed N      the trainer seed whose validation masks the loss uses (default 1234)
          --label TEXT       the checkpoint's name in the table row (default: --model)
          --json             print one JSON object instead of the table row
        """;

    public IReadOnlySet<string> Flags { get; } = new HashSet<string> { "json", "replay-spiffy" };

    public Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        string modelPath = ModelSources.Resolve(args.String("model"));
        string data = args.Required("data");
        int holdout = args.Int("holdout", 500, 1), skip = args.Int("skip", 0, 0), count = args.Int("count", int.MaxValue, 1);
        string? graphPath = args.String("graph");
        int? keep = args.Has("keep") ? args.Int("keep", 0, 0) : null;
        double tau = args.Double("threshold", 0.9);
        var spec = ModelSources.LoadSpec(modelPath);
        var defaults = new TrainingOptions();
        var plain = new DecodingOptions
        {
            GenLength = args.Int("gen-length", ModelGenLength(spec), 1),
            BlockLength = args.Int("block-length", ModelBlockLength(spec), 1),
            Cache = args.Enum("cache", CacheMode.None),
        };
        var loss = defaults with { GenLength = plain.GenLength, MaxPromptLength = args.Int("max-prompt", defaults.MaxPromptLength, 1), Seed = args.Long("loss-seed", defaults.Seed) };
        string label = args.String("label") ?? modelPath;
        bool json = args.Flag("json"), replay = args.Flag("replay-spiffy");
        args.EnsureAllUsed(0);

        var all = PromptAnswerData.Read(data);
        var heldOut = all.Count <= holdout ? all : PromptAnswerData.Split(all, holdout).HeldOut;
        if (skip >= heldOut.Count) throw new UsageException($"--skip {skip} leaves none of the {heldOut.Count} held-out problems");
        var problems = heldOut.Skip(skip).Take(count).ToList();
        GraphSpec graph = graphPath is not null ? GraphFiles.Load(graphPath)
            : GraphCatalog.FindFor(modelPath, spec, plain)
              // A graph calibrated at the model's own lengths still serves other lengths losslessly (warned below).
              ?? GraphCatalog.FindFor(modelPath, spec, plain with { GenLength = ModelGenLength(spec), BlockLength = ModelBlockLength(spec) })
              ?? throw new UsageException($"no calibrated graph for one-token-per-step decoding (cache {plain.Cache}) of {spec.Name} beside {modelPath}; give --graph");
        void Log(string m) => Console.Error.WriteLine("[eval] " + m);
        // Any graph stays lossless; a graph calibrated for other weights or settings only drafts worse (reported, not refused).
        foreach (var m in GraphFiles.Mismatches(graph, spec, plain, graph.ModelHash.Length > 0 ? Spiffy.Calibration.ModelWeights.Sha256(modelPath) : null))
            Log($"warning: graph {graph.Name}: {m}");
        Log(string.Create(CultureInfo.InvariantCulture, $"{problems.Count} held-out problems (lines {problems[0].Line}-{problems[^1].Line} of {data}); cache {plain.Cache}; graph {graph.Name} (calibrated for {graph.ModelName}), D* {keep ?? graph.Keep}"));

        using var model = SpiffyModel.Load(modelPath);
        var options = new HeldOutEvaluationOptions { Plain = plain, Graph = graph, Keep = keep ?? graph.Keep, Threshold = tau, Loss = loss, RunSpiffy = !replay };
        var r = HeldOutEvaluation.Run(model, problems, options, Log, cancel);
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                checkpoint = label, cache = r.Cache.ToString().ToLowerInvariant(), problems = r.Problems, correct = r.Correct, accuracy = r.Accuracy,
                accuracy_low = r.AccuracyInterval.Low, accuracy_high = r.AccuracyInterval.High,
                masked_loss = r.MaskedLoss, loss_problems = r.LossProblems,
                baseline_nfe = r.BaselineNfe, oracle_nfe = r.OracleNfe, oracle_reduction = r.OracleReduction,
                spiffy_nfe = r.SpiffyNfe, spiffy_reduction = r.SpiffyReduction, spiffy_mismatches = r.SpiffyMismatches,
                threshold = tau, threshold_nfe = r.ThresholdNfe, threshold_steps = r.ThresholdSteps,
                threshold_multi_token_steps = r.ThresholdMultiTokenSteps, multi_token_share = r.MultiTokenShare, final_lines = r.FinalLines,
            }, new JsonSerializerOptions { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
        }
        else
        {
            Console.WriteLine(HeldOutEvaluation.MarkdownHeader);
            Console.WriteLine(HeldOutEvaluation.MarkdownRow(label, r));
        }
        if (r.SpiffyMismatches > 0) Console.Error.WriteLine($"error: Spiffy changed the output of {r.SpiffyMismatches} problem(s)");
        return Task.FromResult(r.SpiffyMismatches > 0 ? 3 : 0);
    }

    private static int ModelGenLength(Spiffy.Schema.Models.ModelSpec spec) => spec.Defaults.GenLength > 0 ? spec.Defaults.GenLength : new DecodingOptions().GenLength;
    private static int ModelBlockLength(Spiffy.Schema.Models.ModelSpec spec) => spec.Defaults.BlockLength > 0 ? spec.Defaults.BlockLength : new DecodingOptions().BlockLength;
}
