using Spiffy.Checkpoints;
using Spiffy.Decoding;
using Spiffy.Devices;
using Spiffy.Modeling;
using Spiffy.Schema.Models;
using Spiffy.Tokenization;
using static TorchSharp.torch;

namespace Spiffy;

/// <summary>
/// The public entry point: a loaded model (description + weights + tokenizer when it has one) that
/// generates text with any base decoder, with or without a Spiffy speculator.
/// </summary>
public sealed class SpiffyModel : IDisposable
{
    private SpiffyModel(ModelSpec spec, DiffusionTransformer transformer, HfTokenizer? tokenizer, string source)
    {
        Spec = spec;
        Transformer = transformer;
        Tokenizer = tokenizer;
        Source = source;
        Decoder = new DiffusionDecoder(transformer);
    }

    /// <summary>The model description: architecture, special tokens, decoding defaults (docs/model-schema.md).</summary>
    public ModelSpec Spec { get; }
    internal DiffusionTransformer Transformer { get; }
    /// <summary>The checkpoint's tokenizer, or null when it has none (then pass token ids).</summary>
    public HfTokenizer? Tokenizer { get; }
    internal DiffusionDecoder Decoder { get; }
    /// <summary>The model description file or checkpoint directory it was loaded from.</summary>
    public string Source { get; }

    /// <summary>The device the weights live on and every forward runs on.</summary>
    public Device Device => Transformer.Device;

    /// <summary>The user-facing name of <see cref="Device"/> ("cpu", "cuda:0").</summary>
    public string DeviceName => ComputeDevice.Name(Transformer.Device);

    /// <summary>
    /// Loads a model description that names a checkpoint, or a checkpoint directory, onto
    /// <paramref name="device"/> (default: the CPU; <see cref="ComputeDevice.Auto"/> picks CUDA when
    /// present). The weights go from the file straight to the device in <paramref name="dtype"/>
    /// (default: bfloat16 on CUDA, the checkpoint's dtype on the CPU).
    /// </summary>
    /// <param name="allowNonFinite">Load NaN or infinite weights instead of refusing them.</param>
    /// <param name="modelJsonOrCheckpointDir">A <c>models/*.json</c> that names its checkpoint, or a checkpoint directory.</param>
    /// <param name="dtype">The weights' dtype on the device; null: bfloat16 on CUDA, the checkpoint's on the CPU.</param>
    /// <param name="device">Where the weights live and forwards run; null: the CPU.</param>
    public static SpiffyModel Load(string modelJsonOrCheckpointDir, ScalarType? dtype = null, ComputeDevice? device = null, bool allowNonFinite = false)
    {
        var resolved = (device ?? ComputeDevice.Cpu).Resolve();
        var transformer = Checkpoint.LoadModel(modelJsonOrCheckpointDir, dtype, resolved, allowNonFinite);
        transformer.eval();
        HfTokenizer? tokenizer = null;
        string? tokPath = null;
        if (Directory.Exists(modelJsonOrCheckpointDir)) tokPath = Path.Combine(modelJsonOrCheckpointDir, "tokenizer.json");
        else
        {
            var spec = transformer.Spec;
            if (spec.Tokenizer.Length > 0) tokPath = ModelDescription.ResolveRelative(modelJsonOrCheckpointDir, spec.Tokenizer);
            else if (spec.Checkpoint.Length > 0)
                tokPath = Path.Combine(ModelDescription.ResolveRelative(modelJsonOrCheckpointDir, spec.Checkpoint), "tokenizer.json");
        }
        if (tokPath is not null && File.Exists(tokPath)) tokenizer = HfTokenizer.Load(tokPath);
        return new SpiffyModel(transformer.Spec, transformer, tokenizer, modelJsonOrCheckpointDir);
    }

    /// <summary>Wraps an already built transformer (tests, training).</summary>
    internal static SpiffyModel FromTransformer(DiffusionTransformer transformer, HfTokenizer? tokenizer = null)
        => new SpiffyModel(transformer.Spec, transformer, tokenizer, "(in memory)");

    /// <summary>Token ids of a prompt, after the model's chat template (or <paramref name="chatTemplate"/>).</summary>
    /// <param name="text">The prompt.</param>
    /// <param name="chatTemplate">A template name from <see cref="ChatTemplate"/> ("none" for the text as is); null: the model's.</param>
    /// <exception cref="InvalidOperationException">The model has no tokenizer.</exception>
    public long[] EncodePrompt(string text, string? chatTemplate = null)
    {
        if (Tokenizer is null) throw new InvalidOperationException($"{Source} has no tokenizer.json; pass token ids instead");
        string templated = ChatTemplate.Apply(chatTemplate ?? Spec.Defaults.ChatTemplate, text);
        var ids = Tokenizer.Encode(templated);
        var result = new long[ids.Length];
        for (int i = 0; i < ids.Length; i++) result[i] = ids[i];
        return result;
    }

    /// <summary>The text of token ids, special tokens left out; "" when the model has no tokenizer.</summary>
    public string Decode(long[] ids)
    {
        if (Tokenizer is null) return "";
        var ints = new int[ids.Length];
        for (int i = 0; i < ids.Length; i++) ints[i] = (int)ids[i];
        return Tokenizer.Decode(ints, Tokenizer.SpecialTokenIds);
    }

    /// <summary>Decodes token ids into text, or null when the model has no tokenizer.</summary>
    public Func<long[], string>? Detokenizer => Tokenizer is null ? null : Decode;

    /// <summary>
    /// Decodes one prompt (token ids, already templated) with <paramref name="options"/>; with a
    /// <paramref name="speculator"/> Spiffy drafts and verifies, and the tokens stay those of the plain decoder.
    /// </summary>
    /// <param name="promptIds">The prompt's token ids.</param>
    /// <param name="options">The decoding configuration; validated against the model and prompt length.</param>
    /// <param name="speculator">A Spiffy speculator (a <c>GraphSpeculator</c> or a
    /// generated decoder), one per generation in flight; null decodes plainly.</param>
    /// <param name="onBlock">Sees each block's token ids as it becomes final.</param>
    /// <param name="cancel">Checked between decoding steps.</param>
    /// <exception cref="ArgumentException">The options do not fit the model or the prompt.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancel"/> was cancelled.</exception>
    public GenerationResult Generate(long[] promptIds, DecodingOptions options, IStepSpeculator? speculator = null,
        BlockFinished? onBlock = null, CancellationToken cancel = default)
        => Decoder.Generate(promptIds, options, Detokenizer, speculator, onBlock, cancel);

    /// <summary>
    /// Decodes several prompts as one batch with the plain decoder (prompts may differ in length; each row
    /// decodes exactly as it would alone). <paramref name="onBlock"/>'s sequence index is the prompt's index.
    /// </summary>
    /// <param name="prompts">The prompts' token ids.</param>
    /// <param name="options">The decoding configuration; validated against the model and each prompt's length.</param>
    /// <param name="onBlock">Sees each block's token ids as it becomes final.</param>
    /// <param name="cancel">Checked between decoding steps.</param>
    /// <exception cref="ArgumentException">No prompts, or the options do not fit the model or a prompt.</exception>
    public IReadOnlyList<GenerationResult> Generate(IReadOnlyList<long[]> prompts, DecodingOptions options,
        BlockFinished? onBlock = null, CancellationToken cancel = default)
        => Decoder.Generate(prompts, options, Detokenizer, null, onBlock, cancel);

    /// <summary>Frees the weights' tensors.</summary>
    public void Dispose() => Transformer.Dispose();
}
