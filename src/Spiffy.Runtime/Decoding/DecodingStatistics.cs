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
    public int Nfe { get; set; }
    /// <summary>Decoding steps taken (state transitions); a plain decoder takes one per step forward.</summary>
    public int Steps { get; set; }
    /// <summary>Positions decided by the decoder (the generation length unless it stopped early).</summary>
    public int TokensCommitted { get; set; }
    public List<int> StepsPerBlock { get; } = new List<int>();
    public TimeSpan WallTime { get; set; }
    /// <summary>Forwards that carried draft rows.</summary>
    public int VerificationForwards { get; set; }
    /// <summary>Rows summed over all step forwards (a plain step forward has one).</summary>
    public long RowsTotal { get; set; }
    /// <summary>Forwards whose rows were built from draft states (rows &gt; 1) plus plain step forwards.</summary>
    public int StepForwards { get; set; }
    /// <summary>AcceptedByDepth[d] = verification forwards whose accepted chain had length exactly d.</summary>
    public List<int> AcceptedByDepth { get; } = new List<int>();
    /// <summary>Steps taken for free (from an accepted draft's distribution).</summary>
    public int FreeSteps { get; set; }
    public long ManagedBytes { get; set; }
    /// <summary>The batch this sequence was decoded in (shared by its sequences; one sequence: its own forwards).</summary>
    public BatchStatistics Batch { get; internal set; } = new BatchStatistics { Sequences = 1 };
    /// <summary>Live TorchSharp tensors on the decoding thread after the first step forward's scope closed (-1 before).</summary>
    public long LiveTensorsFirstStep { get; set; } = -1;
    /// <summary>The most live tensors seen after any step forward's scope closed.</summary>
    public long LiveTensorsPeak { get; set; }
    /// <summary>Live tensors after the last step; equal to <see cref="LiveTensorsFirstStep"/> when nothing leaks across steps.</summary>
    public long LiveTensorsLastStep { get; set; }

    /// <summary>Forwards whose logits went through the step rule (block-start and step forwards).</summary>
    public int ScoredForwards { get; set; }
    /// <summary>
    /// Device-to-host copies the decoder waited for (the step rule's result). On a GPU each one is a
    /// synchronisation; the decoder makes one per scored forward.
    /// </summary>
    public long DeviceToHostCopies { get; set; }
    /// <summary>Host-to-device copies of token rows (the step's rows, the committed block state): small uploads.</summary>
    public long HostToDeviceCopies { get; set; }
    /// <summary>Device-to-host synchronisations per scored forward (1 when the step rule's one transfer is the only one).</summary>
    public double SyncsPerStep => ScoredForwards == 0 ? 0 : (double)DeviceToHostCopies / ScoredForwards;

    /// <summary>Tokens per forward.</summary>
    public double Tpf => Nfe == 0 ? 0 : (double)TokensCommitted / Nfe;
    public double RowsPerForward => StepForwards == 0 ? 0 : (double)RowsTotal / StepForwards;
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

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"NFE {Nfe}, steps {Steps}, tokens {TokensCommitted}, tokens/forward {Tpf:F2}, {WallTime.TotalSeconds:F2} s");
        if (VerificationForwards > 0)
            sb.Append(CultureInfo.InvariantCulture, $", verification forwards {VerificationForwards}, rows/forward {RowsPerForward:F2}, accepted/forward {AcceptMean:F2}, free steps {FreeSteps}");
        return sb.ToString();
    }
}

/// <summary>
/// Counters of one <c>DiffusionDecoder.Generate</c> call as the device saw it: the forwards actually
/// run for the whole batch and the rows they carried, including the rows of sequences riding along
/// (a decided block, fewer drafts than the widest sequence, an early stop). Every sequence of the call
/// shares this object; per-sequence counts are in <see cref="DecodingStatistics"/>, which equal
/// decoding that prompt alone.
/// </summary>
public sealed class BatchStatistics
{
    /// <summary>Sequences decoded together.</summary>
    public int Sequences { get; internal set; }
    /// <summary>Model calls of the whole batch (prefill, block start, step and block-end forwards).</summary>
    public int Forwards { get; internal set; }
    /// <summary>Step forwards of the whole batch.</summary>
    public int StepForwards { get; internal set; }
    /// <summary>Rows the step forwards carried: Sequences x (1 + the most drafts of any sequence), summed over step forwards.</summary>
    public long RowsFed { get; internal set; }
    /// <summary>Forwards whose logits went through the step rule.</summary>
    public int ScoredForwards { get; internal set; }
    /// <summary>Device-to-host copies the batch waited for (each a synchronisation on a GPU).</summary>
    public long DeviceToHostCopies { get; internal set; }
    /// <summary>Host-to-device copies of token rows made for the batch.</summary>
    public long HostToDeviceCopies { get; internal set; }
    /// <summary>Device-to-host synchronisations per scored forward of the batch (1: one transfer serves every sequence).</summary>
    public double SyncsPerStep => ScoredForwards == 0 ? 0 : (double)DeviceToHostCopies / ScoredForwards;
    /// <summary>Rows per step forward of the batch.</summary>
    public double RowsPerForward => StepForwards == 0 ? 0 : (double)RowsFed / StepForwards;
}

/// <summary>The output of one sequence.</summary>
public sealed record GenerationResult(string Text, long[] TokenIds, DecodingStatistics Statistics, DecodingOptions Options);
