using Spiffy.Compiled;
using Spiffy.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;

namespace Spiffy;

/// <summary>
/// A whole speculative decoder: a loaded model, a draft graph and the decoding configuration the
/// graph was calibrated for (cache, unmasking rule, block length, D*). Generated decoder classes
/// create one with their static <c>Load</c> methods (docs/library.md); it works the same for any
/// <see cref="CompiledGraph"/>.
/// </summary>
/// <remarks>
/// Threading: one generation runs at a time per instance; concurrent calls wait for each other.
/// Use one decoder (and one model) per thread for parallel work.
/// </remarks>
public sealed class SpiffyDecoder : IDisposable
{
    private readonly CompiledGraph _compiled;
    private readonly bool _ownsModel;
    private readonly Lock _gate = new();
    private bool _disposed;

    private SpiffyDecoder(SpiffyModel model, CompiledGraph compiled, DraftKeep keep, bool ownsModel)
    {
        Model = model;
        _compiled = compiled;
        Keep = keep.For(compiled.Graph.Nodes.Count);
        _ownsModel = ownsModel;
        Options = DecodingOptions.FromSchema(compiled.Graph.Decoding);
    }

    /// <summary>The model this decoder runs (owned, and disposed with it, when it was loaded by <see cref="Load"/>).</summary>
    public SpiffyModel Model { get; }

    /// <summary>The draft graph the decoder was generated from.</summary>
    public GraphSpec Graph => _compiled.Graph;

    /// <summary>D*: drafts kept per forward (<see cref="DraftKeep.None"/> decodes plainly).</summary>
    public DraftKeep Keep { get; }

    /// <summary>The decoding configuration the graph was calibrated for; every generation uses it.</summary>
    public DecodingOptions Options { get; }

    /// <summary>Loads a model description that names a checkpoint, or a checkpoint directory, and checks it against <paramref name="compiled"/>.</summary>
    /// <exception cref="ModelMismatchException">The model is not the one the decoder was compiled for.</exception>
    public static SpiffyDecoder Load(string modelPathOrCheckpoint, CompiledGraph compiled, DraftKeep keep)
    {
        ArgumentNullException.ThrowIfNull(modelPathOrCheckpoint);
        var model = SpiffyModel.Load(modelPathOrCheckpoint);
        try { return Create(model, compiled, keep, ownsModel: true); }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Wraps an already loaded model (for example one loaded onto a device); the caller keeps ownership unless <paramref name="ownsModel"/>.</summary>
    /// <exception cref="ModelMismatchException">The model is not the one the decoder was compiled for.</exception>
    public static SpiffyDecoder Create(SpiffyModel model, CompiledGraph compiled, DraftKeep keep, bool ownsModel = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(compiled);
        var differences = compiled.Model.Differences(model.Spec);
        if (differences.Count > 0)
            throw new ModelMismatchException($"{model.Source} is model '{model.Spec.Name}', but decoder '{compiled.Graph.Name}' was generated for model "
                + $"'{compiled.Model.Name}' ({string.Join("; ", differences)})");
        return new SpiffyDecoder(model, compiled, keep, ownsModel);
    }

    /// <summary>
    /// Decodes one prompt: applies the model's chat template, tokenizes, decodes with the calibrated
    /// configuration and Spiffy, and detokenizes. <paramref name="onText"/> receives the text as
    /// blocks become final (the pieces concatenate to the result's text).
    /// </summary>
    /// <exception cref="InvalidOperationException">The model has no tokenizer (use the token-id overload).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancel"/> was cancelled (checked between steps).</exception>
    public GenerationResult Generate(string prompt, Action<string>? onText = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        long[] ids = Model.EncodePrompt(prompt);
        if (onText is null) return Generate(ids, null, cancel);
        var stream = new TextStream(Model, Options.TrimEos, Options.NumBlocks - 1, onText);
        return Generate(ids, stream.OnBlock, cancel);
    }

    /// <summary>Decodes token ids (already templated); <paramref name="onBlock"/> sees each finished block's ids.</summary>
    public GenerationResult Generate(long[] promptIds, BlockFinished? onBlock = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(promptIds);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            // A speculator keeps per-step buffers: a fresh one per generation. D* none drafts nothing: the plain decoder.
            var speculator = Keep.IsNone ? null : _compiled.CreateSpeculator(Keep);
            return Model.Generate(promptIds, Options, speculator, onBlock, cancel);
        }
    }

    /// <summary>Disposes the model when this decoder owns it (it was loaded by <see cref="Load"/>).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            if (_ownsModel) Model.Dispose();
        }
    }

    /// <summary>Turns finished blocks into text deltas: decodes everything so far, emits
    /// only what is new (byte-level tokens may split a character across blocks).</summary>
    private sealed class TextStream(SpiffyModel model, bool trimEos, int lastBlock, Action<string> onText)
    {
        private readonly List<long> _ids = new();
        private string _sent = "";
        private bool _ended;

        public void OnBlock(int sequence, int block, ReadOnlySpan<long> tokens)
        {
            if (_ended) return;
            foreach (long id in tokens)
            {
                if (trimEos && id == model.Spec.Tokens.Eos) { _ended = true; break; }
                _ids.Add(id);
            }
            string text = model.Decode(_ids.ToArray());
            // A trailing replacement character is an incomplete UTF-8 sequence: wait for the next block.
            int stable = !_ended && block < lastBlock && text.EndsWith('\uFFFD') ? text.TrimEnd('\uFFFD').Length : text.Length;
            if (stable > _sent.Length && text.StartsWith(_sent, StringComparison.Ordinal))
            {
                onText(text[_sent.Length..stable]);
                _sent = text[..stable];
            }
        }
    }
}
