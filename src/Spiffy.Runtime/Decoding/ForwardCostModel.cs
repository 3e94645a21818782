using System.Diagnostics;
using System.Globalization;
using Spiffy.Modeling;
using Spiffy.Native;
using static TorchSharp.torch;

namespace Spiffy.Decoding;

/// <summary>
/// The measured wall-clock cost of one step forward as a function of the rows it carries, for one
/// decoding configuration on this machine: cost(rows) ~ FixedMs + PerRowMs x rows (least squares
/// over the per-row-count minimum times). On a CPU a verification row costs nearly a full row, on a
/// GPU nearly nothing; D* must follow the machine, not a constant (docs/benchmarks.md). D* is chosen
/// from the measured curve (<see cref="CurveMs"/>), so the line only extends it; timings whose repeats
/// disagree by more than <see cref="MaxSpread"/>, whose cost does not grow with the rows, or where fewer
/// rows took longer than more rows beyond that spread, are noise,
/// not a machine: they carry a <see cref="Problem"/> and no D* may be chosen from them. A negative fixed
/// cost alone is not noise: a curve that bends upwards (a CPU whose wide forwards leave its caches)
/// puts the line's intercept below zero while every timing is sound.
/// </summary>
internal sealed record ForwardCost(string Configuration, double FixedMs, double PerRowMs, IReadOnlyList<(int Rows, double Ms)> Samples)
{
    /// <summary>
    /// The largest <see cref="Spread"/> whose timings still choose D*: a median more than half again its
    /// minimum means the machine's load, not the rows, set the times (the README command's timings on the
    /// 2-core build machine with nothing else running spread 13%).
    /// </summary>
    public const double MaxSpread = 0.5;

    /// <summary>The noise of the timings: the largest (median - minimum) / minimum over the row counts.</summary>
    public double Spread { get; init; }

    /// <summary>Why the fit cannot be used (null when it can).</summary>
    public string? Problem { get; init; }

    public bool Reliable => Problem is null;

    /// <summary>What a reader is told instead of a D* when the fit is unreliable.</summary>
    public string Verdict => Reliable ? "reliable"
        : string.Create(CultureInfo.InvariantCulture, $"noise: the fit is unreliable (spread {Spread * 100:F0}%; {Problem})");

    /// <summary>Predicted milliseconds of a forward with <paramref name="rows"/> rows.</summary>
    public double Ms(double rows) => FixedMs + PerRowMs * rows;

    /// <summary>
    /// Milliseconds of a forward with <paramref name="rows"/> rows read off the measured curve:
    /// piecewise linear between the samples, made non-decreasing (more rows never cost less; a dip
    /// is noise), and beyond the last sample extended with the fitted per-row cost (the fitted line
    /// when fewer than two samples). On a GPU the curve is flat until the device is busy and then
    /// rises, which one line cannot follow.
    /// </summary>
    public double CurveMs(double rows)
    {
        if (Samples.Count < 2) return Ms(rows);
        var pts = Samples.OrderBy(x => x.Rows).ToList();
        double running = double.NegativeInfinity;
        for (int k = 0; k < pts.Count; k++) { running = Math.Max(running, pts[k].Ms); pts[k] = (pts[k].Rows, running); }
        if (rows >= pts[^1].Rows) return pts[^1].Ms + PerRowMs * (rows - pts[^1].Rows);
        if (rows <= pts[0].Rows) return pts[0].Ms;
        int i = 1;
        while (rows > pts[i].Rows) i++;
        var (x0, y0) = pts[i - 1];
        var (x1, y1) = pts[i];
        return x1 == x0 ? y1 : y0 + (y1 - y0) * (rows - x0) / (x1 - x0);
    }

    /// <summary>How much a second row costs relative to a one-row forward, on the measured curve.</summary>
    public double RowCostRatio => (CurveMs(2) - CurveMs(1)) / Math.Max(1e-9, CurveMs(1));

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Configuration}: {FixedMs:F2} ms + {PerRowMs:F2} ms/row "
            + $"({string.Join(", ", Samples.Select(s => $"{s.Rows} rows {s.Ms:F2} ms"))}; spread {Spread * 100:F0}%)");
}

/// <summary>Measures <see cref="ForwardCost"/> with the decoder's own forward code (ForwardRunner).</summary>
internal static class ForwardCostModel
{
    /// <summary>Timed forwards per row count (after one warm-up each); the estimate is their minimum.</summary>
    public const int DefaultRepeats = 5;

    /// <summary>The row counts worth timing for forwards of up to <paramref name="maxRows"/> rows: 1, 2, 4, 8, ... and maxRows.</summary>
    public static List<int> RowCounts(int maxRows)
    {
        var rows = new List<int>();
        for (int r = 1; r < Math.Max(2, maxRows); r *= 2) rows.Add(r);
        rows.Add(Math.Max(2, maxRows));
        return rows;
    }

    /// <summary>Forwards one <see cref="Measure"/> runs (warm-ups included), for a progress display.</summary>
    public static int Forwards(int rowCounts, int repeats) => rowCounts * (Math.Max(1, repeats) + 1);

    /// <summary>
    /// Times step forwards of each row count at the middle block of a generation with a prompt of
    /// <paramref name="promptLength"/> tokens: one warm-up per row count, then <paramref name="repeats"/>
    /// rounds, each timing every row count once in a rotated order (so drift and bursts of load hit every
    /// row count alike). <paramref name="progress"/> is called after each forward. Each timing covers what
    /// a decode step does with that many rows before its host-side walk: the forward and the step rule's
    /// scoring of every row, with the <paramref name="topTokenRanks"/> top tokens a speculator drafts from
    /// (its <see cref="IStepSpeculator.TopTokenRanks"/>; 0 without one), copied to the host: what a step pays
    /// per row on the device, not the forward alone.
    /// </summary>
    public static ForwardCost Measure(DiffusionTransformer model, DecodingOptions options, int promptLength, IReadOnlyList<int> rowCounts,
        int repeats = DefaultRepeats, CancellationToken cancel = default, Action? progress = null, int topTokenRanks = 0)
    {
        if (rowCounts.Count == 0) throw new ArgumentException("no row counts to measure");
        foreach (int rows in rowCounts)
            if (rows < 1) throw new ArgumentException($"row count {rows} must be positive");
        var spec = model.Spec;
        options.Validate(spec, promptLength);
        // The canvas the decoder would build for this prompt, so the timed forwards are the decoder's.
        var (region, length) = Canvas.For(spec, promptLength, options.GenLength);
        int b = options.BlockLength;
        var tokens = new long[length];
        var positions = new long[length];
        for (int i = 0; i < length; i++)
        {
            // Ordinary ids for the prompt (their values do not change the cost), masks for the generation.
            tokens[i] = i < region ? 2 + i % Math.Max(1, spec.VocabSize - 2) : spec.Tokens.Mask;
            positions[i] = i;
        }
        int start = region + (length - region) / b / 2 * b; // the middle block: average prefix and suffix lengths
        using var inference = inference_mode();
        using var runner = new ForwardRunner(model, options, tensor(tokens, new long[] { 1, length }).to(model.Device),
            tensor(positions, new long[] { 1, length }).to(model.Device), ones(new long[] { 1, 1, 1, length }, ScalarType.Bool, model.Device), region);
        runner.Prefill();
        using (TensorArena.Open()) runner.BeginBlock(start);
        // The decoder's own scoring, with host buffers for the widest forward (the rule copies its results to
        // the host, which also waits for the device).
        int maxRows = rowCounts.Max(), j = Math.Max(0, topTokenRanks);
        using var rule = new StepRule(options, spec.Tokens.Mask, region, length);
        rule.Reserve(maxRows, j);
        var stepIndex = new long[maxRows];
        var x0 = new long[maxRows * b];
        var confidence = new double[maxRows * b];
        var topProbs = new double[maxRows * b * j];
        var topTokens = new long[maxRows * b * j];
        var block = new long[maxRows * b];
        Array.Fill(block, (long)spec.Tokens.Mask);
        using var allRows = tensor(block, new long[] { maxRows, b }).to(model.Device); // each timing feeds its first rows

        double Time(int rows)
        {
            cancel.ThrowIfCancellationRequested();
            int n = rows * b;
            using var scope = NewDisposeScope();
            using var arena = TensorArena.Open();
            var rowT = allRows.narrow(0, 0, rows);
            var watch = Stopwatch.StartNew();
            var logits = runner.Step(start, rowT);
            rule.Score(logits, stepIndex.AsSpan(0, rows), x0.AsSpan(0, n), confidence.AsSpan(0, n),
                topProbs.AsSpan(0, n * j), topTokens.AsSpan(0, n * j), j, block.AsSpan(0, n));
            double ms = watch.Elapsed.TotalMilliseconds;
            progress?.Invoke();
            return ms;
        }

        foreach (int rows in rowCounts) Time(rows); // warm-up, not counted
        int n = Math.Max(1, repeats);
        var timings = rowCounts.Select(r => (r, new double[n])).ToList();
        for (int round = 0; round < n; round++)
            for (int k = 0; k < timings.Count; k++)
            {
                var (rows, times) = timings[(k + round) % timings.Count];
                times[round] = Time(rows);
            }
        return FromTimings(Describe(options), timings);
    }

    /// <summary>
    /// The cost model from repeated timings per row count: the minimum of each (noise only ever adds
    /// time), a least-squares line through the minima, the spread of the repeats, and the verdict
    /// (<see cref="ForwardCost"/> says what is noise).
    /// </summary>
    public static ForwardCost FromTimings(string configuration, IReadOnlyList<(int Rows, double[] Ms)> timings)
    {
        if (timings.Count < 2) throw new ArgumentException("the cost of a row needs timings of at least two row counts");
        var samples = new List<(int, double)>();
        double spread = 0;
        foreach (var (rows, ms) in timings)
        {
            if (ms.Length == 0) throw new ArgumentException($"no timings for {rows} rows");
            var sorted = ms.Order().ToArray();
            double min = sorted[0], median = sorted[sorted.Length / 2];
            samples.Add((rows, min));
            if (min > 0) spread = Math.Max(spread, (median - min) / min);
        }
        var (a, slope) = Fit(samples);
        var ordered = samples.OrderBy(x => x.Item1).ToList();
        // More rows never cost less: a narrower forward slower than a wider one by more than the repeats' own spread
        // was hit by load in every repeat (seen here: 1 row 27.81 ms against 2 rows 14.01 ms).
        int dip = Enumerable.Range(1, ordered.Count - 1).FirstOrDefault(k => ordered[k - 1].Item2 > ordered[k].Item2 * (1 + spread));
        string? problem = spread > ForwardCost.MaxSpread
                ? string.Create(CultureInfo.InvariantCulture, $"repeats differ by more than {ForwardCost.MaxSpread * 100:F0}%")
            : slope <= 0 || ordered[^1].Item2 <= ordered[0].Item2 ? "the cost does not increase with the rows"
            : dip > 0 ? string.Create(CultureInfo.InvariantCulture,
                $"{ordered[dip - 1].Item1} rows took longer than {ordered[dip].Item1} rows ({ordered[dip - 1].Item2:F2} ms against {ordered[dip].Item2:F2} ms)")
            : null;
        return new ForwardCost(configuration, a, slope, samples) { Spread = spread, Problem = problem };
    }

    /// <summary>Least-squares line through (rows, ms), unclamped: <see cref="FromTimings"/> judges it.</summary>
    public static (double FixedMs, double PerRowMs) Fit(IReadOnlyList<(int Rows, double Ms)> samples)
    {
        double n = samples.Count, sx = 0, sy = 0, sxx = 0, sxy = 0;
        foreach (var (x, y) in samples) { sx += x; sy += y; sxx += (double)x * x; sxy += x * y; }
        double den = n * sxx - sx * sx;
        double slope = den == 0 ? 0 : (n * sxy - sx * sy) / den;
        double a = (sy - slope * sx) / n;
        return (a, slope);
    }

    /// <summary>"cache none", "cache dual", "cache none, packed layout".</summary>
    public static string Describe(DecodingOptions o) =>
        $"cache {o.Cache.ToString().ToLowerInvariant()}{(o.Layout == VerificationLayout.Packed ? ", packed layout" : "")}";
}
