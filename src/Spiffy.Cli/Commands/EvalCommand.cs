using System.CommandLine;
using System.Globalization;
using Spiffy.Benchmarking;
using Spiffy.Cli.CommandLine;
using Spiffy.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Schema.Models;
using Spiffy.Speculation;
using Spiffy.Training;

namespace Spiffy.Cli.Commands;

/// <summary>`spiffy eval`: a checkpoint measured on held-out GSM8K problems (docs/training.md table).</summary>
public sealed class EvalCommand : IVerb
{
    private static readonly TrainingOptions TrainDefaults = new();
    private readonly Option<string?> _model = SharedOptions.Model();
    private readonly Option<string> _data = new("--data")
    {
        Description = "problems (JSONL); the last --holdout of them are evaluated (a file of held-out problems only is used whole)",
        HelpName = "FILE", Required = true
    };
    private readonly Option<int?> _holdout = SharedOptions.Positive(new Option<int?>("--holdout")
    {
        Description = "the last N problems of --data are the held-out set (default 500)", HelpName = "N"
    });
    private readonly Option<int?> _skip = SharedOptions.AtLeast(new Option<int?>("--skip")
    {
        Description = "held-out problems to skip first (default 0)", HelpName = "N"
    }, 0);
    private readonly Option<int?> _count = SharedOptions.Positive(new Option<int?>("--count")
    {
        Description = "held-out problems to evaluate (default: all)", HelpName = "N"
    });
    private readonly Option<string?> _graph = new("--graph")
    {
        Description = "Spiffy's graph (default: the calibrated one-token-per-step graph of the --cache configuration in graphs/ beside the model)",
        HelpName = "FILE"
    };
    private readonly Option<string?> _keep = SharedOptions.Keep("D*, drafts per forward (default: the graph's)");
    private readonly Option<bool> _replay = new("--replay-spiffy")
    {
        Description = "replay the graph over the recorded plain trajectories instead of running Spiffy (the same forwards at no model cost; "
            + "losslessness is then not re-checked)"
    };
    private readonly Option<CacheMode?> _cache = SharedOptions.Enum<CacheMode>("--cache",
        "the cache of every run (default none, the plain decoder; dual is several times cheaper on a CPU)");
    private readonly Option<double?> _threshold = SharedOptions.Threshold("tau of the threshold run (default 0.9)");
    private readonly Option<int?> _gen = SharedOptions.GenLength("the model's, else 256");
    private readonly Option<int?> _block = SharedOptions.BlockLength("the model's, else 32");
    private readonly Option<int?> _maxPrompt = SharedOptions.Positive(new Option<int?>("--max-prompt")
    {
        Description = $"the masked loss's prompt limit in tokens (default {TrainDefaults.MaxPromptLength}, as `spiffy train`)", HelpName = "N"
    });
    private readonly Option<long?> _lossSeed = new("--loss-seed")
    {
        Description = $"the trainer seed whose validation masks the masked loss uses (default {TrainDefaults.Seed})", HelpName = "N"
    };
    private readonly Option<string?> _label = new("--label") { Description = "the checkpoint's name in the table row (default: --model)", HelpName = "TEXT" };
    private readonly Option<int?> _threads = SharedOptions.Threads();

    public EvalCommand()
    {
        Command = new VerbCommand("eval",
            "a checkpoint on held-out GSM8K problems: accuracy, masked loss, oracle bound, Spiffy, threshold",
            "Measure a checkpoint on the held-out problems the trainer never sees: exact-answer accuracy of greedy one-token-per-step "
            + "decoding with its 95% Wilson interval, the trainer's masked-token loss (its validation masks), the replay oracle bound, "
            + "Spiffy's forward reduction with the calibrated graph (run and compared token for token, or --replay-spiffy), and the "
            + "share of threshold-decoding steps that commit more than one token (docs/training.md).",
            "spiffy eval --data train.jsonl --count 16 --cache dual  # the last 500 of the file are the held-out set",
            "spiffy eval --model runs/x --data heldout.jsonl --graph graphs/gsm8k-small-schedule.json --replay-spiffy --json")
        { _model, _data, _holdout, _skip, _count, _graph, _keep, _replay, _cache, _threshold, _gen, _block, _maxPrompt, _lossSeed, _label, _threads };
    }

    public VerbCommand Command { get; }

    public Task<int> RunAsync(ParseResult parse, CliOutput output, CancellationToken cancel)
    {
        string modelPath = ModelSources.Resolve(parse.GetValue(_model));
        string data = parse.GetValue(_data)!;
        int holdout = parse.GetValue(_holdout) ?? 500, skip = parse.GetValue(_skip) ?? 0, count = parse.GetValue(_count) ?? int.MaxValue;
        var spec = ModelSources.LoadSpec(modelPath);
        var modelLengths = DecodingOptions.ForModel(spec);
        var plain = new DecodingOptions
        {
            GenLength = parse.GetValue(_gen) ?? modelLengths.GenLength,
            BlockLength = parse.GetValue(_block) ?? modelLengths.BlockLength,
            Cache = parse.GetValue(_cache) ?? CacheMode.None,
        };
        var loss = TrainDefaults with
        {
            GenLength = plain.GenLength,
            MaxPromptLength = parse.GetValue(_maxPrompt) ?? TrainDefaults.MaxPromptLength,
            Seed = parse.GetValue(_lossSeed) ?? TrainDefaults.Seed
        };
        string label = parse.GetValue(_label) ?? modelPath;
        SharedOptions.ApplyThreads(parse, _threads);

        var all = PromptAnswerData.Read(data);
        var heldOut = all.Count <= holdout ? all : PromptAnswerData.Split(all, holdout).HeldOut;
        if (skip >= heldOut.Count) throw new UsageException($"--skip {skip} leaves none of the {heldOut.Count} held-out problems");
        var problems = heldOut.Skip(skip).Take(count).ToList();
        GraphSpec graph = parse.GetValue(_graph) is string graphPath ? GraphFiles.Load(graphPath)
            : GraphCatalog.FindFor(modelPath, spec, plain, output)
              // A graph calibrated at the model's own lengths still serves other lengths losslessly (warned below).
              ?? GraphCatalog.FindFor(modelPath, spec, plain with { GenLength = modelLengths.GenLength, BlockLength = modelLengths.BlockLength }, output)
              ?? throw new UsageException($"no calibrated graph for one-token-per-step decoding (cache {SharedOptions.Kebab(plain.Cache)}) of {spec.Name} "
                  + $"beside {modelPath}; give --graph");
        void Log(string m) => output.Log("[eval] " + m);
        // Any graph stays lossless; one calibrated for other weights or settings only drafts worse (warned, not refused).
        string? hash = graph.ModelHash.Length > 0 ? output.Busy("hashing weights", () => Spiffy.Calibration.ModelWeights.Sha256(modelPath)) : null;
        foreach (var m in GraphFiles.Mismatches(graph, spec, plain, hash)) output.Warn($"graph {graph.Name}: {m}");
        var keep = parse.GetValue(_keep) is string keepText ? DraftKeep.Parse(keepText) : graph.Keep;
        Log(string.Create(CultureInfo.InvariantCulture,
            $"{problems.Count} held-out problems (lines {problems[0].Line}-{problems[^1].Line} of {data}); cache {SharedOptions.Kebab(plain.Cache)}; "
            + $"graph {graph.Name} (calibrated for {graph.ModelName}), D* {keep}"));

        using var model = output.Busy("loading the model", () => SpiffyModel.Load(modelPath));
        var options = new HeldOutEvaluationOptions
        {
            Plain = plain, Graph = graph, Keep = keep, Threshold = parse.GetValue(_threshold) ?? 0.9, Loss = loss, RunSpiffy = !parse.GetValue(_replay)
        };
        var r = output.WithProgress(progress =>
        {
            var bar = progress.Add("evaluating", problems.Count, "problems");
            return HeldOutEvaluation.Run(model, problems, options, m =>
            {
                bar.Advance(m.StartsWith("problem ", StringComparison.Ordinal) ? 1 : 0); if (!output.ShowsProgress) Log(m);
            }, cancel);
        });
        if (output.Json)
            CliOutput.WriteJson(w =>
            {
                w.WriteString("checkpoint", label);
                w.WriteString("cache", SharedOptions.Kebab(r.Cache));
                w.WriteNumber("problems", r.Problems);
                w.WriteNumber("correct", r.Correct);
                w.WriteNumber("accuracy", r.Accuracy);
                w.WriteNumber("accuracy_low", r.AccuracyInterval.Low);
                w.WriteNumber("accuracy_high", r.AccuracyInterval.High);
                if (double.IsFinite(r.MaskedLoss)) w.WriteNumber("masked_loss", r.MaskedLoss); else w.WriteNull("masked_loss");
                w.WriteNumber("loss_problems", r.LossProblems);
                w.WriteNumber("baseline_nfe", r.BaselineNfe);
                w.WriteNumber("oracle_nfe", r.OracleNfe);
                w.WriteNumber("oracle_reduction", r.OracleReduction);
                w.WriteNumber("spiffy_nfe", r.SpiffyNfe);
                w.WriteNumber("spiffy_reduction", r.SpiffyReduction);
                if (r.SpiffyMismatches is int mm) w.WriteNumber("spiffy_mismatches", mm); else w.WriteNull("spiffy_mismatches");
                w.WriteNumber("threshold", options.Threshold);
                w.WriteNumber("threshold_nfe", r.ThresholdNfe);
                w.WriteNumber("threshold_steps", r.ThresholdSteps);
                w.WriteNumber("threshold_multi_token_steps", r.ThresholdMultiTokenSteps);
                w.WriteNumber("multi_token_share", r.MultiTokenShare);
                w.WriteNumber("final_lines", r.FinalLines);
            });
        else
        {
            output.Result(HeldOutEvaluation.MarkdownHeader);
            output.Result(HeldOutEvaluation.MarkdownRow(label, r));
        }
        if (r.SpiffyMismatches > 0)
        {
            output.Warn($"Spiffy changed the output of {r.SpiffyMismatches} problem(s)");
            return Task.FromResult(3);
        }
        return Task.FromResult(0);
    }

}
