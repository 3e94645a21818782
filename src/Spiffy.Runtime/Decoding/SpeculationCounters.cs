using System.Globalization;
using System.Text;

namespace Spiffy.Decoding;

/// <summary>
/// The counters of speculative decoding, one type wherever they are kept: a generation
/// (<see cref="DecodingStatistics.Speculation"/>), a bench mode and a calibration replay. They are
/// recorded by the one acceptance walk (<see cref="AcceptanceWalk"/>) and summed with <see cref="Add"/>;
/// accepted-chain mean, rows per forward and the histogram are computed here only.
/// </summary>
public sealed class SpeculationCounters
{
    private long[] _accepted = new long[4];
    private int _depths; // histogram entries in use: the longest chain recorded + 1

    /// <summary>Step forwards (plain ones included; block-start, prefill and block-end forwards are not step forwards).</summary>
    public long StepForwards { get; private set; }
    /// <summary>Rows summed over the step forwards: 1 + the sequence's own draft rows each.</summary>
    public long RowsTotal { get; private set; }
    /// <summary>Step forwards that carried at least one draft row.</summary>
    public long VerificationForwards { get; private set; }
    /// <summary>Steps taken for free (from an accepted draft's distribution).</summary>
    public long FreeSteps { get; private set; }

    /// <summary>AcceptedByDepth[d] = verification forwards whose accepted chain had length exactly d (a copy).</summary>
    public IReadOnlyList<long> AcceptedByDepth => _accepted.AsSpan(0, _depths).ToArray();

    /// <summary>Rows per step forward.</summary>
    public double RowsPerForward => StepForwards == 0 ? 0 : (double)RowsTotal / StepForwards;

    /// <summary>Mean accepted chain length per verification forward.</summary>
    public double AcceptMean
    {
        get
        {
            long n = 0, sum = 0;
            for (int d = 0; d < _depths; d++) { n += _accepted[d]; sum += d * _accepted[d]; }
            return n == 0 ? 0 : (double)sum / n;
        }
    }

    /// <summary>"0:12 1:30 2:4" (verification forwards per accepted chain length).</summary>
    public string Histogram()
    {
        var sb = new StringBuilder();
        for (int d = 0; d < _depths; d++) sb.Append(CultureInfo.InvariantCulture, $"{(d > 0 ? " " : "")}{d}:{_accepted[d]}");
        return sb.ToString();
    }

    /// <summary>A step forward of one sequence carrying its state row and <paramref name="drafts"/> draft rows.</summary>
    internal void RecordStepForward(int drafts)
    {
        StepForwards++;
        RowsTotal += 1 + drafts;
        if (drafts > 0) VerificationForwards++;
    }

    /// <summary>The walk after a verification forward accepted a chain of <paramref name="accepted"/> drafts.</summary>
    internal void RecordWalk(int accepted)
    {
        FreeSteps += accepted;
        Count(accepted, 1);
    }

    /// <summary>The oracle bound's forward: every observed formula drafted (rows unbounded,
    /// so not counted), a chain of <paramref name="accepted"/> accepted.</summary>
    internal void RecordOracleForward(int accepted)
    {
        VerificationForwards++;
        RecordWalk(accepted);
    }

    /// <summary>Adds <paramref name="other"/>'s counts to these (a bench mode over its generations, a replay over its traces).</summary>
    public void Add(SpeculationCounters other)
    {
        ArgumentNullException.ThrowIfNull(other);
        StepForwards += other.StepForwards;
        RowsTotal += other.RowsTotal;
        VerificationForwards += other.VerificationForwards;
        FreeSteps += other.FreeSteps;
        for (int d = 0; d < other._depths; d++) if (other._accepted[d] != 0) Count(d, other._accepted[d]);
    }

    private void Count(int depth, long n)
    {
        // Grows to the deepest chain once; steady state allocates nothing.
        if (depth >= _accepted.Length) Array.Resize(ref _accepted, Math.Max(depth + 1, _accepted.Length * 2));
        _accepted[depth] += n;
        if (depth >= _depths) _depths = depth + 1;
    }
}

/// <summary>
/// What the acceptance walk walks over: the decoder's live state, or a recorded trajectory in replay.
/// Implemented by structs so that the walk is generic and allocates nothing.
/// </summary>
internal interface IWalkTarget
{
    /// <summary>Whether another step is left to take in the block.</summary>
    bool StepsLeft { get; }

    /// <summary>The true current block state.</summary>
    ReadOnlySpan<long> State { get; }

    /// <summary>Takes the next step from draft row <paramref name="draft"/>, accepted at chain depth <paramref name="depth"/> + 1.</summary>
    void Take(int draft, int depth);
}

/// <summary>
/// The one acceptance walk (docs/spiffy.md, Algorithm 1): after the root's step, while steps are left,
/// find among the children of the last accepted draft the one whose state equals the true state and
/// take the next step from its distribution. Shared by the decode loop and calibration replay.
/// </summary>
internal static class AcceptanceWalk
{
    /// <summary>Walks and records the chain length in <paramref name="counters"/>; returns it.</summary>
    public static int Walk<T>(IStepSpeculator speculator, ref T target, SpeculationCounters counters) where T : struct, IWalkTarget
    {
        int node = -1, depth = 0;
        while (target.StepsLeft)
        {
            int q = speculator.Match(node, target.State);
            if (q < 0) break;
            target.Take(q, depth);
            node = q;
            depth++;
        }
        counters.RecordWalk(depth);
        return depth;
    }
}
