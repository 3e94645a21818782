using BenchmarkDotNet.Attributes;
using Spiffy.Decoding;
using Spiffy.Microbenchmarks.Generated;
using Spiffy.Speculation;

namespace Spiffy.Microbenchmarks;

/// <summary>
/// A whole short generation (64 tokens, block 32, one token per step: the configuration of
/// graphs/bench-dag.json) without speculation, with the interpreted <see cref="GraphSpeculator"/> and
/// with the generated <see cref="BenchDagDecoder"/>. Interpreted and generated run the same forwards
/// with the same rows, so their difference is host-side work; the memory diagnoser shows managed
/// bytes per generation (almost all of it TorchSharp wrappers per forward, docs/decoding.md).
/// </summary>
[MemoryDiagnoser]
public class GenerationBenchmarks
{
    public const string Plain = "plain", Interpreted = "interpreted", Generated = "generated";

    private SpiffyModel _model = null!;
    private long[] _prompt = null!;
    private DecodingOptions _options = null!;
    private IStepSpeculator? _speculator;
    private static readonly Dictionary<CacheMode, long[]> PlainOutputs = new();

    [Params(Plain, Interpreted, Generated)]
    public string Speculator { get; set; } = Plain;

    [Params(CacheMode.None, CacheMode.Dual)]
    public CacheMode Cache { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Niceness.Restore(); // before any torch call: torch's worker threads inherit the caller's priority
        _model = BenchModel.Load(out bool trained);
        // A random model has no tokenizer: 100 fixed random ids stand in for the prompt.
        _prompt = _model.Tokenizer is null ? RandomPrompt(_model.Spec.VocabSize) : _model.EncodePrompt(BenchModel.Question);
        _options = GraphFiles.ToOptions(BenchDagDecoder.Graph.Decoding) with { Cache = Cache };
        // One speculator per benchmark case, as a server would keep one: buffers are sized once.
        _speculator = Speculator switch
        {
            Plain => null,
            Interpreted => BenchDagDecoder.CreateInterpreted(BenchDagDecoder.DefaultKeep),
            Generated => new BenchDagDecoder(BenchDagDecoder.DefaultKeep),
            _ => throw new ArgumentException($"unknown speculator '{Speculator}'"),
        };

        // Losslessness check and the forward counts the timings stand for. The plain output is
        // computed once per cache mode: every case runs in this process, and it saves minutes.
        if (!PlainOutputs.TryGetValue(Cache, out var plain))
            PlainOutputs[Cache] = plain = _model.Decoder.Generate(_prompt, _options).TokenIds;
        var result = _model.Decoder.Generate(_prompt, _options, speculator: _speculator);
        if (!plain.AsSpan().SequenceEqual(result.TokenIds))
            throw new InvalidOperationException($"{Speculator} changed the output: speculative decoding must be lossless");
        Console.WriteLine($"// {BenchModel.Describe(_model, trained)}; prompt {_prompt.Length} tokens; {_options}");
        Console.WriteLine($"// {Speculator}: {result.Statistics}");
    }

    [Benchmark]
    public int Generate() => _model.Decoder.Generate(_prompt, _options, speculator: _speculator).Statistics.Nfe;

    [GlobalCleanup]
    public void Cleanup() => _model.Dispose();

    private static long[] RandomPrompt(int vocab)
    {
        var random = new Random(8);
        var ids = new long[100];
        for (int i = 0; i < ids.Length; i++) ids[i] = random.Next(2, vocab);
        return ids;
    }
}
