using System.Globalization;
using System.Text;

namespace Spiffy.Decoding;

/// <summary>
/// Counters of one generation (one sequence). NFE counts every model call once, whatever its
/// batch (docs/measures.md); the speculation fields stay zero for plain decoding.
/// </summary>
public sealed class DecodingStatistics
{
    /// <summary>Model forward calls.</summary>
    public int Nfe { get; internal set; }
    /// <summary>Decoding steps taken (state transitions); a plain decoder takes one per step forward.</summary>
    public int Steps { get; internal set; }
    /// <summary>Positions decided by the decoder (the generation length unless it stopped early).</summary>
    public int TokensCommitted { get; internal set; }
    /// <summary>Steps taken in each block, in block order.</summary>
    public List<int> StepsPerBlock { get; } = new List<int>();
    /// <summary>Wall-clock time of the whole generation (a batch shares one).</summary>
    public TimeSpan WallTime { get; internal set; }
    /// <summary>Forwards that carried draft rows.</summary>
    public int VerificationForwards { get; internal set; }
    /// <summary>Rows summed over all step forwards (a plain step forward has one).</summary>
    public long RowsTotal { get; internal set; }
    /// <summary>Forwards whose rows were built from draft states (rows &gt; 1) plus plain step forwards.</summary>
    public int StepForwards { get; internal set; }
    /// <summary>AcceptedByDepth[d] = verification forwards whose accepted chain had length exactly d.</summary>
    public List<int> AcceptedByDepth { get; } = new List<int>();
    /// <summary>Steps taken for free (from an accepted draft's distribution).</summary>
    public int FreeSteps { get; internal set; }
    /// <summary>Managed bytes allocated on the decoding thread during the generation (a batch's total divided by its sequences).</summary>
    public long ManagedBytes { get; internal set; }
    /// <summary>Live TorchSharp tensors on the decoding thread after the first step forward's scope closed (-1 before).</summary>
    public long LiveTensorsFirstStep { get; internal set; } = -1;
    /// <summary>The most live tensors seen after any step forward's scope closed.</summary>
    public long LiveTensorsPeak { get; internal set; }
    /// <summary>Live tensors after the last step; equal to <see cref="LiveTensorsFirstStep"/> when nothing leaks across steps.</summary>
    public long LiveTensorsLastStep { get; internal set; }

    /// <summary>Forwards whose logits went through the step rule (block-start and step forwards).</summary>
    public int ScoredForwards { get; internal set; }
    /// <summary>
    /// Device-to-host copies the decoder waited for (the step rule's result). On a GPU each one is a
    /// synchronisation; the decoder makes one per scored forward.
    /// </summary>
    public long DeviceToHostCopies { get; internal set; }
    /// <summary>Host-to-device copies of token rows (the step's rows, the committed block state): small uploads.</summary>
    public long HostToDeviceCopies { get; internal set; }
    /// <summary>Device-to-host synchronisations per scored forward (1 when the step rule's one transfer is the only one).</summary>
    public double SyncsPerStep => ScoredForwards == 0 ? 0 : (double)DeviceToHostCopies / ScoredForwards;

    /// <summary>Tokens per forward.</summary>
    public double Tpf => Nfe == 0 ? 0 : (double)TokensCommitted / Nfe;
    /// <summary>Rows per step forward: 1 for plain decoding, 1 + drafts with Spiffy.</summary>
    public double RowsPerForward => StepForwards == 0 ? 0 : (double)RowsTotal / StepForwards;
    /// <summary>Mean accepted chain length per verification forward.</summary>
    public double AcceptMean
    {
        get
        {
            long n = 0, sum = 0;
            for (int d = 0; d < AcceptedByDepth.Count; d++) { n += AcceptedByDepth[d]; sum += (long)d * AcceptedByDepth[d]; }
            return n == 0 ? 0 : (double)sum / n;
        }
    }

    internal void RecordAccepted(int depth)
    {
        while (AcceptedByDepth.Count <= depth) AcceptedByDepth.Add(0);
        AcceptedByDepth[depth]++;
    }

    /// <summary>The main figures on one line (NFE, steps, tokens per forward, time; Spiffy's acceptance when it drafted).</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"NFE {Nfe}, steps {Steps}, tokens {TokensCommitted}, tokens/forward {Tpf:F2}, {WallTime.TotalSeconds:F2} s");
        if (VerificationForwards > 0)
            sb.Append(CultureInfo.InvariantCulture, $", verification forwards {VerificationForwards}, rows/forward {RowsPerForward:F2}, accepted/forward {AcceptMean:F2}, free steps {FreeSteps}");
        return sb.ToString();
    }
}

/// <summary>The output of one sequence.</summary>
/// <param name="Text">The generated text up to the first EOS (when the options trim it); "" without a tokenizer.</param>
/// <param name="TokenIds">Every generated position's token id.</param>
/// <param name="Statistics">What the generation cost.</param>
/// <param name="Options">The options it was decoded with.</param>
public sealed record GenerationResult(string Text, long[] TokenIds, DecodingStatistics Statistics, DecodingOptions Options);
