using Spiffy.Decoding;
using Spiffy.Modeling;
using Spiffy.Tests.Checkpoints;

namespace Spiffy.Tests.Decoding;

/// <summary><see cref="DecodingOptions.ForModel"/>: the one rule for what a model decodes with when nothing else is given.</summary>
public class DecodingOptionsTests
{
    [Fact]
    public void ForModel_TakesTheDescriptionsLengths_AndItsFamilysSampler()
    {
        var dream = ModelDescription.Load(CheckpointTestSupport.RealModelFile("dream"));
        var o = DecodingOptions.ForModel(dream);
        Assert.Equal(dream.Defaults.GenLength, o.GenLength);
        Assert.Equal(dream.Defaults.BlockLength, o.BlockLength);
        Assert.Equal(ScheduleKind.Timesteps, o.Schedule);
        Assert.Equal(BlockStartRule.FirstPosition, o.BlockStart);
        Assert.Equal(SamplerKind.MaskedCategorical, o.Sampler);
    }

    [Fact]
    public void ForModel_BlockCausal_DecodesInItsAttentionBlocks()
    {
        var sdar = ModelDescription.Load(CheckpointTestSupport.RealModelFile("sdar"));
        var narrow = sdar with { AttentionBlockSize = 4, Defaults = sdar.Defaults with { BlockLength = 16 } };
        Assert.Equal(4, DecodingOptions.ForModel(narrow).BlockLength);
    }

    [Fact]
    public void ForModel_WithoutDefaults_UsesTheRecordsOwn()
    {
        var llada = ModelDescription.Load(CheckpointTestSupport.RealModelFile("llada"));
        var bare = llada with { Defaults = llada.Defaults with { GenLength = 0, BlockLength = 0 } };
        var o = DecodingOptions.ForModel(bare);
        Assert.Equal(new DecodingOptions().GenLength, o.GenLength);
        Assert.Equal(new DecodingOptions().BlockLength, o.BlockLength);
    }
}
