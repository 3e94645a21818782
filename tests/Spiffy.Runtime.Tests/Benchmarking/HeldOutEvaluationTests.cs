using Spiffy.Benchmarking;
using Spiffy.Calibration;
using Spiffy.Decoding;
using static Spiffy.Tests.Decoding.DecodingTestSupport;

namespace Spiffy.Tests.Benchmarking;

public class HeldOutEvaluationTests
{
    [Theory]
    [InlineData("llada", false)]
    [InlineData("llada", true)]
    public void OutputRebuiltFromTheTrace_IsTheDecodersOutput(string family, bool earlyStop)
    {
        var model = Model(family, layers: 1);
        var options = Options(model.Spec, o => o with { EarlyStop = earlyStop });
        var decoder = new DiffusionDecoder(model);
        var recorder = new TraceRecorder(TraceRecorder.HeaderFor(options, model.Spec.Tokens.Mask, 4, 2));
        foreach (var prompt in Prompts(3, 11))
        {
            var trace = recorder.Record(decoder, new[] { prompt }, options, 0)[0];
            var expected = decoder.Generate(prompt, options).TokenIds;
            Assert.Equal(expected, HeldOutEvaluation.OutputOf(trace, options, model.Spec.Tokens.Eos));
        }
    }

    [Fact]
    public void Wilson_MatchesTheClosedForm()
    {
        // 0 of n: [0, z^2 / (n + z^2)].
        var (lo, hi) = HeldOutEvaluation.Wilson(0, 500, 1.96);
        Assert.Equal(0, lo);
        Assert.Equal(1.96 * 1.96 / (500 + 1.96 * 1.96), hi, 12);
        // Symmetric around 1/2 at half successes, and contains the observed share.
        var (l2, h2) = HeldOutEvaluation.Wilson(10, 20, 1.96);
        Assert.Equal(1 - h2, l2, 12);
        var (l3, h3) = HeldOutEvaluation.Wilson(3, 40, 1.96);
        Assert.InRange(3 / 40.0, l3, h3);
        Assert.True(l3 > 0 && h3 < 0.25);
    }
}
