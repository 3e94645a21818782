using System.Globalization;
using Spiffy.Calibration;
using Spiffy.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;
using Spiffy.Training;

namespace Spiffy.Benchmarking;

/// <summary>Settings of a held-out evaluation.</summary>
internal sealed record HeldOutEvaluationOptions
{
    /// <summary>The plain configuration (one token per step): accuracy, the oracle bound and Spiffy's ratio are against it.</summary>
    public required DecodingOptions Plain { get; init; }
    /// <summary>Spiffy's graph for <see cref="Plain"/> and its D* (0 = every node).</summary>
    public required GraphSpec Graph { get; init; }
    public DraftKeep Keep { get; init; }
    /// <summary>
    /// Run Spiffy for real and compare its output with the plain one (default); false replays the graph
    /// against the recorded plain trajectories instead, which gives the same forwards (Spiffy is lossless
    /// and its forwards are a function of the trajectory; ReplayTests checks the equality) at no model cost.
    /// </summary>
    public bool RunSpiffy { get; init; } = true;
    /// <summary>Tau of the threshold run (the share of its steps that commit more than one token is reported).</summary>
    public double Threshold { get; init; } = 0.9;
    /// <summary>The masked-token loss's settings (generation length, prompt limit, batch, mask seed, eps).</summary>
    public required TrainingOptions Loss { get; init; }
    /// <summary>z of the accuracy's Wilson interval.</summary>
    public double WilsonZ { get; init; } = 1.96;
}

/// <summary>What a held-out evaluation measured.</summary>
internal sealed record HeldOutEvaluationResult
{
    public int Problems { get; init; }
    /// <summary>The cache of every run (none = the plain decoder).</summary>
    public CacheMode Cache { get; init; }
    public int Correct { get; init; }
    public double Accuracy => Problems == 0 ? double.NaN : (double)Correct / Problems;
    public (double Low, double High) AccuracyInterval { get; init; }
    /// <summary>Masked-token loss (nats) and the number of problems within the length limits it covers.</summary>
    public double MaskedLoss { get; init; }
    public int LossProblems { get; init; }
    public long BaselineNfe { get; init; }
    public long OracleNfe { get; init; }
    public double OracleReduction => OracleNfe == 0 ? double.NaN : (double)BaselineNfe / OracleNfe;
    public long SpiffyNfe { get; init; }
    public double SpiffyReduction => SpiffyNfe == 0 ? double.NaN : (double)BaselineNfe / SpiffyNfe;
    /// <summary>Problems whose Spiffy output differs from the plain decoder's (0 when lossless; null when replayed, not run).</summary>
    public int? SpiffyMismatches { get; init; }
    public long ThresholdNfe { get; init; }
    public long ThresholdSteps { get; init; }
    public long ThresholdMultiTokenSteps { get; init; }
    public double MultiTokenShare => ThresholdSteps == 0 ? double.NaN : (double)ThresholdMultiTokenSteps / ThresholdSteps;
    /// <summary>Problems whose plain output reaches a "####" line at all.</summary>
    public int FinalLines { get; init; }
}

/// <summary>
/// Measures a checkpoint on held-out GSM8K problems: exact-answer accuracy of the plain decoder
/// (greedy, one token per step, "#### N" compared with the reference) with a Wilson interval; the
/// masked-token loss of the training objective with the trainer's fixed validation masks; the replay
/// oracle bound (the fewest forwards any graph within the graph's limits could reach) from the plain
/// decoder's recorded trajectories; Spiffy's forwards with the given graph, run for real and checked
/// token for token against the plain output; and the share of steps in which threshold decoding
/// commits more than one token.
/// </summary>
internal static class HeldOutEvaluation
{
    public static HeldOutEvaluationResult Run(SpiffyModel model, IReadOnlyList<PromptAnswer> problems, HeldOutEvaluationOptions o,
        Action<string>? progress = null, CancellationToken cancel = default)
    {
        if (problems.Count == 0) throw new ArgumentException("no problems to evaluate");
        if (model.Tokenizer is null) throw new ArgumentException($"model {model.Spec.Name} has no tokenizer: held-out evaluation needs text");
        var plain = o.Plain;
        var threshold = plain with { Unmasking = UnmaskingRule.Threshold, Threshold = o.Threshold };
        var limits = o.Graph.Limits;
        var plainHeader = TraceRecorder.HeaderFor(plain, model.Spec.Tokens.Mask, limits.MaxPositionRank, limits.MaxTokenRank, model.Spec.Name);
        var plainRecorder = new TraceRecorder(plainHeader);
        var thresholdRecorder = new TraceRecorder(TraceRecorder.HeaderFor(threshold, model.Spec.Tokens.Mask, 1, 1, model.Spec.Name));
        var speculator = new GraphSpeculator(new DraftGraph(o.Graph), plain.BlockLength, o.Keep);

        var traces = new List<SequenceTrace>(problems.Count);
        int correct = 0, mismatches = 0, finals = 0;
        long spiffyNfe = 0, thresholdNfe = 0, thresholdSteps = 0, multi = 0;
        for (int i = 0; i < problems.Count; i++)
        {
            cancel.ThrowIfCancellationRequested();
            var prompt = model.EncodePrompt(PromptAnswerData.FormatPrompt(problems[i].Prompt));
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var trace = plainRecorder.Record(model.Decoder, new[] { prompt }, plain, i, cancel)[0];
            var plainTime = watch.Elapsed;
            traces.Add(trace);
            var ids = OutputOf(trace, plain, model.Spec.Tokens.Eos);
            string text = model.Decode(TrimAtEos(ids, model.Spec.Tokens.Eos));
            if (text.Contains("####", StringComparison.Ordinal)) finals++;
            if (GsmAnswer.Matches(text, problems[i].Answer)) correct++;

            long thisSpiffy = -1;
            if (o.RunSpiffy)
            {
                var spiffy = model.Generate(prompt, plain, speculator, null, cancel);
                thisSpiffy = spiffy.Statistics.Nfe;
                spiffyNfe += thisSpiffy;
                if (!spiffy.TokenIds.AsSpan().SequenceEqual(ids)) mismatches++;
            }

            var spiffyTime = watch.Elapsed - plainTime;
            var th = thresholdRecorder.Record(model.Decoder, new[] { prompt }, threshold, i, cancel)[0];
            thresholdNfe += th.BaselineNfe;
            for (int s = 0; s < th.StepCount; s++)
            {
                thresholdSteps++;
                if (th.CommitStart[s + 1] - th.CommitStart[s] > 1) multi++;
            }
            progress?.Invoke(string.Create(CultureInfo.InvariantCulture,
                $"problem {i + 1}/{problems.Count}: {(GsmAnswer.Matches(text, problems[i].Answer) ? "right" : "wrong")}, plain NFE {trace.BaselineNfe}, spiffy "
                    + $"NFE {(o.RunSpiffy ? thisSpiffy.ToString(CultureInfo.InvariantCulture) : "replayed")}, threshold NFE {th.BaselineNfe} "
                    + $"({plainTime.TotalSeconds:F1} / {spiffyTime.TotalSeconds:F1} / {(watch.Elapsed - plainTime - spiffyTime).TotalSeconds:F1} s)"));
        }
        progress?.Invoke("decoding done; oracle, replay and masked loss");
        var set = new TraceSet(plainHeader, traces);
        var oracle = BenchOracle.FromTraces(set, limits);
        if (!o.RunSpiffy) spiffyNfe = new TraceReplay(set).Replay(speculator).Nfe;

        var tokenized = new List<TokenizedExample>();
        foreach (var p in problems)
        {
            var prompt = model.Tokenizer.Encode(PromptAnswerData.FormatPrompt(p.Prompt));
            var answer = model.Tokenizer.Encode(p.Answer);
            if (prompt.Length <= o.Loss.MaxPromptLength && answer.Length <= o.Loss.GenLength) tokenized.Add(new TokenizedExample(prompt, answer));
        }
        double loss = new MaskedDiffusionObjective(model.Transformer, o.Loss).MeanLoss(tokenized, MaskedDiffusionTrainer.ValidationSeed(o.Loss), cancel);

        return new HeldOutEvaluationResult
        {
            Problems = problems.Count, Cache = plain.Cache, Correct = correct, AccuracyInterval = Wilson(correct, problems.Count, o.WilsonZ),
            MaskedLoss = loss, LossProblems = tokenized.Count,
            BaselineNfe = set.BaselineNfe, OracleNfe = oracle.Nfe, SpiffyNfe = spiffyNfe, SpiffyMismatches = o.RunSpiffy ? mismatches : null,
            ThresholdNfe = thresholdNfe, ThresholdSteps = thresholdSteps, ThresholdMultiTokenSteps = multi, FinalLines = finals,
        };
    }

    /// <summary>Wilson score interval of a binomial proportion (sensible at 0 successes, unlike the normal approximation).</summary>
    public static (double Low, double High) Wilson(int successes, int n, double z)
    {
        if (n <= 0) return (double.NaN, double.NaN);
        double p = (double)successes / n, z2 = z * z;
        double centre = (p + z2 / (2 * n)) / (1 + z2 / n);
        double half = z / (1 + z2 / n) * Math.Sqrt(p * (1 - p) / n + z2 / (4.0 * n * n));
        return (Math.Max(0, centre - half), Math.Min(1, centre + half));
    }

    /// <summary>
    /// The plain decoder's output rebuilt from its trace (each step's commits at their block offsets;
    /// blocks after an early stop are EOS), so accuracy and the oracle come from one decode.
    /// </summary>
    public static long[] OutputOf(SequenceTrace trace, DecodingOptions options, long eos)
    {
        var ids = new long[options.GenLength];
        Array.Fill(ids, eos);
        int b = options.BlockLength;
        for (int blk = 0; blk < trace.BlockCount; blk++)
            for (int s = trace.BlockStepStart[blk]; s < trace.BlockStepStart[blk + 1]; s++)
                for (int c = trace.CommitStart[s]; c < trace.CommitStart[s + 1]; c++)
                    ids[blk * b + trace.CommitPos[c]] = trace.CommitTok[c];
        return ids;
    }

    private static long[] TrimAtEos(long[] ids, long eos)
    {
        int at = Array.IndexOf(ids, eos);
        return at >= 0 ? ids[..at] : ids;
    }

    /// <summary>The docs/training.md table row of a result.</summary>
    public static string MarkdownRow(string checkpoint, HeldOutEvaluationResult r)
    {
        var ci = CultureInfo.InvariantCulture;
        return string.Create(ci,
            $"| {checkpoint} | {r.Cache.ToString().ToLowerInvariant()} | {r.Problems} | {r.Correct}/{r.Problems} = {100 * r.Accuracy:F1}% "
                + $"[{100 * r.AccuracyInterval.Low:F1}, {100 * r.AccuracyInterval.High:F1}] | {r.MaskedLoss:F3} ({r.LossProblems}) | {r.OracleReduction:F2}x "
                + $"| {r.SpiffyReduction:F2}x ({(r.SpiffyMismatches is int m ? $"run, {m} mismatches" : "replayed")}) | {100 * r.MultiTokenShare:F1}% "
                + $"| {r.FinalLines}/{r.Problems} |");
    }

    public const string MarkdownHeader =
        "| checkpoint | cache | problems | exact answer (95% Wilson) | masked loss (problems) | oracle bound | spiffy | threshold 0.9 steps with >1 "
            + "token | outputs with `####` |\n" +
        "|---|---|---|---|---|---|---|---|---|";
}
