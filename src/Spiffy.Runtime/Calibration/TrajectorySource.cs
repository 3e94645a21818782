using System.Globalization;
using Spiffy.Decoding;
using Spiffy.Speculation;
using Spiffy.Training;

namespace Spiffy.Calibration;

/// <summary>
/// Baseline trajectories for calibration: read from a trace file when one was recorded the same way,
/// else recorded with the model's plain decoder from a problem file (JSONL, question/answer or
/// prompt/answer) and saved. A trace file recorded differently (another model, weights, decoding
/// configuration, fewer ranks or other problems) is refused, never silently reused.
/// </summary>
/// <remarks>
/// Recording runs the exact configuration the graph will be served with: calibration counts the
/// states that configuration produces. With <c>batch</c> 1 (the default) each problem is decoded
/// alone, the exact rows a Spiffy run computes.
/// </remarks>
public sealed class TrajectorySource
{
    private readonly SpiffyModel _model;
    private readonly string _weightsSha256;
    private readonly DecodingOptions _options;
    private readonly string? _chatTemplate;
    private readonly FormulaLimits _limits;
    private readonly int _batch;

    /// <summary>A source recording with <paramref name="model"/> and <paramref name="options"/>.</summary>
    /// <param name="model">The model whose plain decoder produces the trajectories.</param>
    /// <param name="options">The decoding configuration the graph will be served with.</param>
    /// <param name="limits">The ranks and depth calibration may use; the traces keep that much of each distribution.</param>
    /// <param name="weightsSha256">The weights' SHA-256, recorded as provenance and compared with a reused trace file ("" when unknown).</param>
    /// <param name="chatTemplate">The chat template applied to each problem (null: the model's).</param>
    /// <param name="batch">Problems decoded together while recording.</param>
    public TrajectorySource(SpiffyModel model, DecodingOptions options, FormulaLimits limits, string weightsSha256 = "",
        string? chatTemplate = null, int batch = 1)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(limits);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        limits.Check();
        if (limits.MaxPositionRank > options.BlockLength)
            throw new ArgumentException($"max position rank {limits.MaxPositionRank} exceeds the block length {options.BlockLength}");
        _model = model; _options = options; _limits = limits; _weightsSha256 = weightsSha256; _chatTemplate = chatTemplate; _batch = batch;
    }

    /// <summary>Receives a warning (a problem skipped because it does not fit the model's context, fewer problems than asked for).</summary>
    public Action<string>? Warning { get; set; }

    /// <summary>Receives (problems recorded, problems to record, steps recorded) after each recorded batch.</summary>
    public Action<int, int, long>? Progress { get; set; }

    /// <summary>Index one past the last problem used by the latest call that read a problem file.</summary>
    public int LastEnd { get; private set; }

    /// <summary>
    /// The trajectories of problems <paramref name="skip"/> .. (up to <paramref name="count"/> usable ones) of
    /// <paramref name="problemsPath"/>: loaded from <paramref name="tracesPath"/> when that file exists (and was
    /// recorded the same way), else recorded and, when <paramref name="tracesPath"/> is given, saved there atomically.
    /// </summary>
    /// <param name="problemsPath">The JSONL problem file; null to use <paramref name="tracesPath"/> alone.</param>
    /// <param name="skip">Problems skipped at the start of the file.</param>
    /// <param name="count">Usable problems to record.</param>
    /// <param name="tracesPath">A trace file to reuse or to create; null records without saving.</param>
    /// <param name="cancel">Checked between decoding steps.</param>
    /// <exception cref="ArgumentException">Nothing to record from, or the trace file was recorded differently.</exception>
    public TraceSet Obtain(string? problemsPath, int skip, int count, string? tracesPath = null, CancellationToken cancel = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(skip);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        List<long[]>? prompts = null;
        string source = "", digest = "";
        if (problemsPath is not null)
        {
            (prompts, source) = ReadPrompts(problemsPath, skip, count);
            digest = ModelWeights.FileSha256(problemsPath);
        }
        if (tracesPath is not null && File.Exists(tracesPath))
        {
            var loaded = TraceFile.Load(tracesPath);
            var problems = Mismatches(loaded.Header, prompts is null ? null : source, digest);
            if (problems.Count > 0)
                throw new ArgumentException($"{tracesPath} was recorded differently ({string.Join("; ", problems)}); delete it or use another trace file");
            return loaded;
        }
        if (prompts is null) throw new ArgumentException("no problem file to record the trajectories from (and no existing trace file)");
        var traces = Record(prompts, source, skip, digest, cancel);
        if (tracesPath is not null) TraceFile.Save(traces, tracesPath);
        return traces;
    }

    private TraceSet Record(List<long[]> prompts, string source, int skip, string digest, CancellationToken cancel)
    {
        var header = TraceRecorder.HeaderFor(_options, _model.Spec.Tokens.Mask, _limits.MaxPositionRank, _limits.MaxTokenRank,
            _model.Spec.Name, _weightsSha256, source, skip, digest);
        var recorder = new TraceRecorder(header);
        var sequences = new List<SequenceTrace>();
        long steps = 0;
        for (int i = 0; i < prompts.Count; i += _batch)
        {
            var chunk = prompts.GetRange(i, Math.Min(_batch, prompts.Count - i));
            foreach (var s in recorder.Record(_model.Decoder, chunk, _options, i, cancel))
            {
                sequences.Add(s);
                steps += s.StepCount;
            }
            Progress?.Invoke(sequences.Count, prompts.Count, steps);
        }
        return new TraceSet(header, sequences);
    }

    private List<string> Mismatches(TraceHeader h, string? source, string digest)
    {
        var list = new List<string>();
        if (h.ModelName != _model.Spec.Name) list.Add($"model '{h.ModelName}', not '{_model.Spec.Name}'");
        if (h.ModelHash.Length > 0 && _weightsSha256.Length > 0 && h.ModelHash != _weightsSha256) list.Add("other weights");
        if (h.Decoding != _options.ToSchema() || h.Seed != _options.Seed || h.EarlyStop != _options.EarlyStop
            || h.StopTokens != _options.StopTokensText)
            list.Add("another decoding configuration");
        if (h.PositionRanks < _limits.MaxPositionRank) list.Add($"only {h.PositionRanks} position ranks kept (max position rank {_limits.MaxPositionRank})");
        if (h.TokenRanks < _limits.MaxTokenRank) list.Add($"only {h.TokenRanks} token ranks kept (max token rank {_limits.MaxTokenRank})");
        if (source is not null && h.PromptSource != source) list.Add($"problems {h.PromptSource}, not {source}");
        if (digest.Length > 0 && h.PromptDigest.Length > 0 && h.PromptDigest != digest) list.Add("the problem file changed (sha256 differs)");
        return list;
    }

    /// <summary>
    /// The first <paramref name="count"/> usable problems after <paramref name="skip"/>, encoded; a problem too long
    /// for the model's context with this generation length is skipped with a warning. Source: "file[first:end]".
    /// </summary>
    private (List<long[]>, string) ReadPrompts(string path, int skip, int count)
    {
        var all = PromptAnswerData.Read(path);
        if (skip >= all.Count) throw new ArgumentException($"skipping {skip} problems leaves none in {path} ({all.Count} problems)");
        var prompts = new List<long[]>();
        int i = skip;
        for (; i < all.Count && prompts.Count < count; i++)
        {
            var ids = _model.EncodePrompt(PromptAnswerData.FormatPrompt(all[i].Prompt), _chatTemplate);
            try { _options.Validate(_model.Spec, ids.Length); }
            catch (ArgumentException e)
            {
                Warning?.Invoke($"{path}:{all[i].Line}: skipped: {e.Message}");
                continue;
            }
            prompts.Add(ids);
        }
        if (prompts.Count == 0) throw new ArgumentException($"no usable problems in {path}");
        if (prompts.Count < count) Warning?.Invoke($"{path}: only {prompts.Count} usable problems after skipping {skip} (asked for {count})");
        LastEnd = i;
        return (prompts, string.Create(CultureInfo.InvariantCulture, $"{Path.GetFileName(path)}[{skip}:{i}]"));
    }
}
