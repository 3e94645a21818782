using Spiffy.Decoding;

namespace Spiffy.Schema.Models;

/// <summary>How positions attend to each other.</summary>
public enum AttentionKind
{
    /// <summary>Every position sees every position (LLaDA, Dream).</summary>
    Bidirectional,

    /// <summary>Bidirectional inside a block, causal across blocks (SDAR): query i sees key j iff j / B &lt;= i / B.</summary>
    BlockCausal,
}

/// <summary>The special token ids decoding needs. Bos and end-of-turn are optional (-1 when absent).</summary>
public sealed record SpecialTokens(int Mask, int Eos, int Pad, int Bos, int EndOfTurn);

/// <summary>
/// Checkpoint tensor names. Per-layer names contain "{i}" for the layer index. Bias and q/k-norm
/// names are empty when the architecture has none.
/// </summary>
public sealed record TensorNames(
    string Embed, string FinalNorm, string LmHead,
    string AttnNorm, string QProj, string KProj, string VProj, string OProj,
    string QBias, string KBias, string VBias, string QNorm, string KNorm,
    string MlpNorm, string GateProj, string UpProj, string DownProj);

/// <summary>
/// Decoding defaults a model file may carry (used when the CLI is not told otherwise), including the
/// details of the family's own sampler: schedule, eps, block start, confidence, sampler and SDAR's overfull top-k.
/// </summary>
public sealed record DecodingDefaults(int GenLength, int BlockLength, string ChatTemplate,
    ScheduleKind Schedule = ScheduleKind.Even, double Eps = Graphs.GraphDecoding.DefaultEps, BlockStartRule BlockStart = BlockStartRule.Step,
    ConfidenceKind Confidence = ConfidenceKind.Probability, SamplerKind Sampler = SamplerKind.Gumbel, bool OverfullTopK = false)
{
    /// <summary>
    /// The sampler details of a family's authors (docs/decoding.md): Dream's timesteps, first-position block start,
    /// entropy and Categorical draws over the masked positions; SDAR's multinomial draws over the whole block.
    /// </summary>
    public static DecodingDefaults ForFamily(string family, int genLength, int blockLength, string chatTemplate) => family switch
    {
        "dream" => new DecodingDefaults(genLength, blockLength, chatTemplate, ScheduleKind.Timesteps, Graphs.GraphDecoding.DefaultEps,
            BlockStartRule.FirstPosition, ConfidenceKind.NegativeEntropy, SamplerKind.MaskedCategorical),
        "sdar" => new DecodingDefaults(genLength, blockLength, chatTemplate, Sampler: SamplerKind.BlockMultinomial, OverfullTopK: true),
        _ => new DecodingDefaults(genLength, blockLength, chatTemplate),
    };
}

/// <summary>
/// Everything that differs between diffusion LMs of the supported families, as read from
/// <c>models/*.json</c> (see docs/model-schema.md). Plain values only, so specs compare by value
/// (the generator caches on them).
/// </summary>
public sealed record ModelSpec(
    string Name,
    string Family,
    int HiddenSize,
    int NumLayers,
    int NumHeads,
    int NumKvHeads,
    int HeadDim,
    int IntermediateSize,
    int VocabSize,
    int MaxSequenceLength,
    double RopeTheta,
    double NormEps,
    bool QkvBias,
    bool QkNorm,
    AttentionKind Attention,
    int AttentionBlockSize,
    int LogitShift,
    bool TieEmbeddings,
    SpecialTokens Tokens,
    string DType,
    string Checkpoint,
    string Tokenizer,
    DecodingDefaults Defaults,
    TensorNames Names)
{
    /// <summary>Query heads per key/value head (grouped-query attention).</summary>
    public int GroupSize => NumHeads / NumKvHeads;

    /// <summary>Total parameter count implied by the description; <see cref="System.OverflowException"/> when it exceeds a long.</summary>
    public long ParameterCount
    {
        get
        {
            // Checked: an absurd description (vocab 2^31 x hidden 2^31 x ...) must not wrap around into a small count.
            checked
            {
                long h = HiddenSize, q = (long)NumHeads * HeadDim, kv = (long)NumKvHeads * HeadDim;
                long attn = h * q + 2 * h * kv + q * h + (QkvBias ? q + 2 * kv : 0) + (QkNorm ? 2L * HeadDim : 0);
                long mlp = 3 * h * IntermediateSize;
                long layer = attn + mlp + 2 * h;
                long embed = (long)VocabSize * h;
                return embed + (TieEmbeddings ? 0 : embed) + NumLayers * layer + h;
            }
        }
    }
}
