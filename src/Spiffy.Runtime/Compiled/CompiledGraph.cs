using System.Globalization;
using Spiffy.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Schema.Models;

namespace Spiffy.Compiled;

/// <summary>
/// The model a generated decoder was compiled for, as the generator saw it in models/*.json: the
/// facts that must match for its token ids, block layout and graph to mean anything.
/// </summary>
public sealed record CompiledModel(
    string Name, string Family, int HiddenSize, int NumLayers, int NumHeads, int NumKvHeads, int HeadDim,
    int IntermediateSize, int VocabSize, int MaxSequenceLength, int MaskTokenId, int EosTokenId)
{
    /// <summary>Every difference between this compiled model and a loaded one ("field: compiled X, loaded Y").</summary>
    public IReadOnlyList<string> Differences(ModelSpec loaded)
    {
        ArgumentNullException.ThrowIfNull(loaded);
        var list = new List<string>();
        void Cmp<T>(string field, T compiled, T actual)
        {
            if (!EqualityComparer<T>.Default.Equals(compiled, actual))
                list.Add(string.Format(CultureInfo.InvariantCulture, "{0}: compiled {1}, loaded {2}", field, compiled, actual));
        }
        Cmp("name", Name, loaded.Name);
        Cmp("family", Family, loaded.Family);
        Cmp("hidden_size", HiddenSize, loaded.HiddenSize);
        Cmp("num_layers", NumLayers, loaded.NumLayers);
        Cmp("num_heads", NumHeads, loaded.NumHeads);
        Cmp("num_kv_heads", NumKvHeads, loaded.NumKvHeads);
        Cmp("head_dim", HeadDim, loaded.HeadDim);
        Cmp("intermediate_size", IntermediateSize, loaded.IntermediateSize);
        Cmp("vocab_size", VocabSize, loaded.VocabSize);
        Cmp("max_sequence_length", MaxSequenceLength, loaded.MaxSequenceLength);
        Cmp("tokens.mask", MaskTokenId, loaded.Tokens.Mask);
        Cmp("tokens.eos", EosTokenId, loaded.Tokens.Eos);
        return list;
    }
}

/// <summary>
/// What a generated decoder class hands to <see cref="SpiffyDecoder"/>: the model it was compiled
/// for, its draft graph (which carries the decoding configuration it was calibrated for) and a
/// factory for its speculator (one per generation: speculators hold per-step buffers).
/// </summary>
public sealed record CompiledGraph(CompiledModel Model, GraphSpec Graph, Func<int, IStepSpeculator> CreateSpeculator);

/// <summary>A loaded model is not the model a generated decoder was compiled for.</summary>
public sealed class ModelMismatchException : ArgumentException
{
    /// <summary>A mismatch; <paramref name="message"/> names every difference.</summary>
    /// <param name="message">One line for the user.</param>
    public ModelMismatchException(string message) : base(message) { }
}
