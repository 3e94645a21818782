namespace Spiffy.Training;

/// <summary>Settings of a masked-diffusion fine-tuning run (LLaDA SFT objective).</summary>
internal sealed record TrainingOptions
{
    public int GenLength { get; init; } = 256;
    public int MaxPromptLength { get; init; } = 160;
    public int BatchSize { get; init; } = 16;
    public int Steps { get; init; } = 10000;
    public double LearningRate { get; init; } = 2e-3;
    public double MinLearningRate { get; init; } = 1e-4;
    public int WarmupSteps { get; init; } = 200;
    public double WeightDecay { get; init; } = 0.1;
    public double GradClip { get; init; } = 1.0;
    public long Seed { get; init; } = 1234;
    public int EvalEvery { get; init; } = 250;
    public int EvalProblems { get; init; } = 100;
    public int CheckpointEvery { get; init; } = 250;
    public int LogEvery { get; init; } = 10;
    /// <summary>Lower bound of the per-example mask ratio t ~ U(eps, 1) (LLaDA uses 1e-3).</summary>
    public double MinMaskRatio { get; init; } = 1e-3;
    /// <summary>Stop after this much wall time (0 = no limit); the run checkpoints first.</summary>
    public TimeSpan TimeLimit { get; init; } = TimeSpan.Zero;
}

/// <summary>A tokenized problem: prompt ids and answer ids (without padding).</summary>
internal sealed record TokenizedExample(int[] Prompt, int[] Answer);
