using System.Globalization;
using System.Text;

namespace Spiffy.Decoding;

/// <summary>
/// The device transfers of decoding, counted alike for one sequence (<see cref="DecodingStatistics"/>), a batch
/// (<see cref="BatchStatistics"/>) and a bench's sums over generations: the one home of these counters and of
/// <see cref="SyncsPerStep"/>.
/// </summary>
public abstract class TransferCounters
{
    private protected TransferCounters() { }

    /// <summary>Forwards whose logits went through the step rule (block-start and step forwards).</summary>
    public long ScoredForwards { get; internal set; }
    /// <summary>
    /// Device-to-host copies the decoder waited for (the step rule's result). On a GPU each one is a
    /// synchronisation; the decoder makes one per scored forward.
    /// </summary>
    public long DeviceToHostCopies { get; internal set; }
    /// <summary>Host-to-device copies of token rows (the step's rows, the committed block state): small uploads.</summary>
    public long HostToDeviceCopies { get; internal set; }
    /// <summary>Device-to-host synchronisations per scored forward (1 when the step rule's one transfer is the only one).</summary>
    public double SyncsPerStep => ScoredForwards == 0 ? 0 : (double)DeviceToHostCopies / ScoredForwards;

    /// <summary>Adds <paramref name="other"/>'s counts to these (the sums of <c>DecodingStatistics.Add</c> and <c>BatchStatistics.Add</c>).</summary>
    private protected void AddTransfers(TransferCounters other)
    {
        ScoredForwards += other.ScoredForwards;
        DeviceToHostCopies += other.DeviceToHostCopies;
        HostToDeviceCopies += other.HostToDeviceCopies;
    }
}

/// <summary>
/// Counters of one generation (one sequence), or their sum over a bench mode's generations. NFE counts every
/// model call once, whatever its batch (docs/measures.md); the speculation fields stay zero for plain decoding.
/// </summary>
public sealed class DecodingStatistics : TransferCounters
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
    /// <summary>Spiffy's counters of this sequence (zero for plain decoding): step forwards, rows, acceptance.</summary>
    public SpeculationCounters Speculation { get; } = new SpeculationCounters();
    /// <summary>Forwards that carried draft rows.</summary>
    public long VerificationForwards => Speculation.VerificationForwards;
    /// <summary>Rows summed over all step forwards (a plain step forward has one).</summary>
    public long RowsTotal => Speculation.RowsTotal;
    /// <summary>Step forwards, plain and verification.</summary>
    public long StepForwards => Speculation.StepForwards;
    /// <summary>AcceptedByDepth[d] = verification forwards whose accepted chain had length exactly d.</summary>
    public IReadOnlyList<long> AcceptedByDepth => Speculation.AcceptedByDepth;
    /// <summary>Steps taken for free (from an accepted draft's distribution).</summary>
    public long FreeSteps => Speculation.FreeSteps;
    /// <summary>Managed bytes allocated on the decoding thread during the generation (a batch's total divided by its sequences).</summary>
    public long ManagedBytes { get; internal set; }
    /// <summary>The batch this sequence was decoded in (shared by its sequences; one sequence: its own forwards).</summary>
    public BatchStatistics Batch { get; internal set; } = new BatchStatistics { Sequences = 1 };
    /// <summary>Live TorchSharp tensors on the decoding thread after the first step forward's scope closed (-1 before).</summary>
    public long LiveTensorsFirstStep { get; internal set; } = -1;
    /// <summary>The most live tensors seen after any step forward's scope closed.</summary>
    public long LiveTensorsPeak { get; internal set; }
    /// <summary>Live tensors after the last step; equal to <see cref="LiveTensorsFirstStep"/> when nothing leaks across steps.</summary>
    public long LiveTensorsLastStep { get; internal set; }

    /// <summary>Tokens per forward.</summary>
    public double Tpf => Nfe == 0 ? 0 : (double)TokensCommitted / Nfe;
    /// <summary>Rows per step forward.</summary>
    public double RowsPerForward => Speculation.RowsPerForward;
    /// <summary>Mean accepted chain length per verification forward.</summary>
    public double AcceptMean => Speculation.AcceptMean;

    /// <summary>A sum of generations (a bench mode): <see cref="Add"/> fills it, its <see cref="Batch"/> starts empty.</summary>
    internal static DecodingStatistics Sum() => new DecodingStatistics { Batch = new BatchStatistics() };

    /// <summary>
    /// Adds <paramref name="other"/>'s own counts to these: forwards, steps, tokens, time, bytes, transfers and
    /// Spiffy's counters. Not its <see cref="Batch"/> (shared by a batch's sequences: the caller adds it once per
    /// generation call), nor the per-generation <see cref="StepsPerBlock"/> and live-tensor readings.
    /// </summary>
    internal void Add(DecodingStatistics other)
    {
        checked
        {
            Nfe += other.Nfe;
            Steps += other.Steps;
            TokensCommitted += other.TokensCommitted;
            ManagedBytes += other.ManagedBytes;
        }
        WallTime += other.WallTime;
        AddTransfers(other);
        Speculation.Add(other.Speculation);
    }

    /// <summary>The main figures on one line (NFE, steps, tokens per forward, time; Spiffy's acceptance when it drafted).</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"NFE {Nfe}, steps {Steps}, tokens {TokensCommitted}, tokens/forward {Tpf:F2}, {WallTime.TotalSeconds:F2} s");
        if (VerificationForwards > 0)
            sb.Append(CultureInfo.InvariantCulture,
                $", verification forwards {VerificationForwards}, rows/forward {RowsPerForward:F2}, accepted/forward {AcceptMean:F2}, free steps {FreeSteps}");
        return sb.ToString();
    }
}

/// <summary>
/// Counters of one <c>DiffusionDecoder.Generate</c> call as the device saw it: the forwards actually
/// run for the whole batch and the rows they carried, including the rows of sequences riding along
/// (a decided block, fewer drafts than the widest sequence, an early stop). Every sequence of the call
/// shares this object; per-sequence counts are in <see cref="DecodingStatistics"/>, which equal
/// decoding that prompt alone. Its transfers (<see cref="TransferCounters"/>) are the batch's: one
/// device-to-host copy serves every sequence.
/// </summary>
public sealed class BatchStatistics : TransferCounters
{
    /// <summary>Sequences decoded together.</summary>
    public int Sequences { get; internal set; }
    /// <summary>Model calls of the whole batch (prefill, block start, step and block-end forwards).</summary>
    public int Forwards { get; internal set; }
    /// <summary>Step forwards of the whole batch.</summary>
    public int StepForwards { get; internal set; }
    /// <summary>Rows the step forwards carried: Sequences x (1 + the most drafts of any sequence), summed over step forwards.</summary>
    public long RowsFed { get; internal set; }
    /// <summary>
    /// Managed bytes the decoding thread allocated from the end of the first step forward to the end of
    /// the last (block starts and ends in between included): what a step costs in steady state.
    /// </summary>
    public long SteadyStateBytes { get; internal set; }
    /// <summary>TorchSharp tensor wrappers created over the same span (each a managed object; the decode loop makes none).</summary>
    public long SteadyStateTensors { get; internal set; }
    /// <summary>Native tensors the decode loop's operations created over the same span (<c>Spiffy.Native.TensorArena</c>: no managed object each).</summary>
    internal long SteadyStateNativeTensors { get; set; }
    /// <summary>Step forwards over which <see cref="SteadyStateBytes"/> was measured.</summary>
    public int SteadyStateStepForwards { get; internal set; }
    /// <summary>Steady-state managed bytes per step forward of the batch (0: the decode loop allocates nothing per step, docs/decoding.md).</summary>
    public double AllocBytesPerStepForward => PerSteadyStep(SteadyStateBytes);
    /// <summary>Rows per step forward of the batch.</summary>
    public double RowsPerForward => StepForwards == 0 ? 0 : (double)RowsFed / StepForwards;
    /// <summary>Steady-state TorchSharp tensor wrappers per step forward (0: the decode loop makes none).</summary>
    internal double TensorsPerStepForward => PerSteadyStep(SteadyStateTensors);
    /// <summary>Steady-state native tensors (libtorch results held by handle, no managed object) per step forward.</summary>
    internal double NativeTensorsPerStepForward => PerSteadyStep(SteadyStateNativeTensors);

    private double PerSteadyStep(long count) => SteadyStateStepForwards == 0 ? 0 : (double)count / SteadyStateStepForwards;

    /// <summary>Adds <paramref name="other"/>'s counts to these (a bench summing the batches of its generation calls).</summary>
    internal void Add(BatchStatistics other)
    {
        checked
        {
            Sequences += other.Sequences;
            Forwards += other.Forwards;
            StepForwards += other.StepForwards;
            RowsFed += other.RowsFed;
            SteadyStateBytes += other.SteadyStateBytes;
            SteadyStateTensors += other.SteadyStateTensors;
            SteadyStateNativeTensors += other.SteadyStateNativeTensors;
            SteadyStateStepForwards += other.SteadyStateStepForwards;
        }
        AddTransfers(other);
    }
}

/// <summary>The output of one sequence.</summary>
/// <param name="Text">The generated text up to the first EOS (when the options trim it); "" without a tokenizer.</param>
/// <param name="TokenIds">Every generated position's token id.</param>
/// <param name="Statistics">What the generation cost.</param>
/// <param name="Options">The options it was decoded with.</param>
public sealed record GenerationResult(string Text, long[] TokenIds, DecodingStatistics Statistics, DecodingOptions Options);
