using BenchmarkDotNet.Attributes;
using Spiffy.Decoding;
using static TorchSharp.torch;

namespace Spiffy.Microbenchmarks;

/// <summary>
/// Wall-clock cost of one verification forward as a function of its rows (the current state plus
/// R - 1 drafts), for each cache mode, through <see cref="ForwardRunner.Step"/>: exactly the forward
/// the decoder runs. This is the cost model that choosing D* needs (issue 8): a draft is worth a row
/// only if the steps it saves cost more than the row.
/// Shapes: prompt 100, generation 256, block 32, one sequence; the block is the 4th of 8, so prefix
/// rows feed 160 tokens (block + suffix), near the 144 averaged over a generation's blocks.
/// </summary>
public class ForwardBenchmarks
{
    private const int PromptLength = 100, GenLength = 256, BlockLength = 32, BlockIndex = 3;
    private const int Start = PromptLength + BlockIndex * BlockLength;

    private SpiffyModel _model = null!;
    private ForwardRunner _runner = null!;
    private Tensor _rows = null!;

    /// <summary>None: full-sequence rows. Prefix: block + suffix rows on the cached prefix. Dual: block-only rows on the cached sequence.</summary>
    [Params(CacheMode.None, CacheMode.Prefix, CacheMode.Dual)]
    public CacheMode Cache { get; set; }

    [Params(1, 2, 4, 8, 16)]
    public int Rows { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Niceness.Restore(); // before any torch call: torch's worker threads inherit the caller's priority
        _model = BenchModel.Load(out bool trained);
        Console.WriteLine($"// {BenchModel.Describe(_model, trained)}; cache {Cache}, rows {Rows}");
        var spec = _model.Spec;
        var options = new DecodingOptions { GenLength = GenLength, BlockLength = BlockLength, Cache = Cache };
        options.Validate(spec, PromptLength);

        // Token values do not change the cost of dense compute: decided tokens are random ids,
        // the current block and everything after it masked, as in the middle of a generation.
        var random = new Random(8);
        int length = PromptLength + GenLength, mask = spec.Tokens.Mask;
        var tokens = new long[length];
        var positions = new long[length];
        for (int i = 0; i < length; i++)
        {
            tokens[i] = i < Start ? random.Next(2, spec.VocabSize) : mask;
            positions[i] = i;
        }
        var valid = new bool[length];
        Array.Fill(valid, true);
        // Draft rows differ from the state in a few positions; values again only matter for realism.
        var rows = new long[Rows * BlockLength];
        Array.Fill(rows, mask);
        for (int r = 0; r < Rows; r++)
            for (int k = 0; k < Math.Min(r, BlockLength); k++) rows[r * BlockLength + k] = random.Next(2, spec.VocabSize);

        // The decoder builds its runner (and cache) under inference mode; so do we, or the cache's
        // tensors would be of another kind than in real decoding.
        using var _ = inference_mode();
        var dev = _model.Transformer.Device;
        _runner = new ForwardRunner(_model.Transformer, options, tensor(tokens, new long[] { 1, length }).to(dev),
            tensor(positions, new long[] { 1, length }).to(dev), tensor(valid, new long[] { 1, 1, 1, length }).to(dev), PromptLength);
        // Prefix/dual: the block-start forward fills the cache that every step of the block reads.
        using (Spiffy.Native.TensorArena.Open()) _runner.BeginBlock(Start);
        _rows = tensor(rows, new long[] { Rows, BlockLength }).to(dev);
    }

    [Benchmark]
    public long StepForward()
    {
        using var _ = inference_mode();
        using var arena = Spiffy.Native.TensorArena.Open();
        return _runner.Step(Start, _rows).Size(0);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _rows.Dispose();
        _runner.Dispose();
        _model.Dispose();
    }
}
