using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Spiffy.Checkpoints;
using Spiffy.Modeling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Spiffy.Training;

/// <summary>Progress of a training run, reported every few steps.</summary>
internal sealed record TrainingProgress(int Step, int TotalSteps, double Loss, double TokensPerSecond, TimeSpan Elapsed, TimeSpan Eta,
    double LearningRate, double? ValidationLoss);

/// <summary>
/// Trains a diffusion LM with LLaDA's supervised fine-tuning objective (<see cref="MaskedDiffusionObjective"/>). Resumable: model, optimizer moments and the
/// step are checkpointed atomically; data order and masks derive from (seed, step), so a resumed
/// run sees the same batches as an uninterrupted one. Trains on the model's device.
/// </summary>
internal sealed class MaskedDiffusionTrainer
{
    private readonly DiffusionTransformer _model;
    private readonly TrainingOptions _options;
    private readonly IReadOnlyList<TokenizedExample> _train;
    private readonly IReadOnlyList<TokenizedExample> _validation;
    private readonly string _runDir;
    private readonly MaskedDiffusionObjective _objective;

    public MaskedDiffusionTrainer(DiffusionTransformer model, TrainingOptions options, IReadOnlyList<TokenizedExample> train,
        IReadOnlyList<TokenizedExample> validation, string runDir)
    {
        _model = model; _options = options; _train = train; _validation = validation; _runDir = runDir;
        _objective = new MaskedDiffusionObjective(model, options);
        foreach (var set in new[] { train, validation })
            foreach (var ex in set)
            {
                if (ex.Answer.Length > options.GenLength)
                    throw new ArgumentException($"an answer of {ex.Answer.Length} tokens exceeds the generation length {options.GenLength}; filter "
                        + $"or truncate before training");
                if (ex.Prompt.Length > options.MaxPromptLength)
                    throw new ArgumentException($"a prompt of {ex.Prompt.Length} tokens exceeds the maximum prompt length {options.MaxPromptLength}");
            }
        if (train.Count < options.BatchSize) throw new ArgumentException($"{train.Count} training problems are fewer than one batch of {options.BatchSize}");
    }


    /// <summary>Runs until <see cref="TrainingOptions.Steps"/> (resuming from the run folder if it holds a checkpoint).</summary>
    public void Run(Action<TrainingProgress> report, CancellationToken cancel = default)
    {
        Directory.CreateDirectory(_runDir);
        var spec = _model.Spec;
        var opt = torch.optim.AdamW(_model.parameters(), _options.LearningRate, 0.9, 0.95, 1e-8, _options.WeightDecay);
        int step = 0;
        var folder = new RunFolder(_runDir);
        folder.CleanUp(); // what a killed save left behind
        if (folder.FindResume() is { } resume)
        {
            using (var checkpoint = Checkpoint.Open(resume.ModelDirectory)) checkpoint.LoadInto(_model);
            if (resume.OptimizerPath is not null) opt.load_state_dict(resume.OptimizerPath);
            step = resume.Step;
            report(new TrainingProgress(step, _options.Steps, double.NaN, 0, TimeSpan.Zero, TimeSpan.Zero, 0, resume.ValidationLoss));
        }

        var watch = Stopwatch.StartNew();
        long tokensSeen = 0;
        double lossEma = double.NaN;
        int startStep = step;
        _model.train();
        while (step < _options.Steps && !cancel.IsCancellationRequested)
        {
            if (_options.TimeLimit > TimeSpan.Zero && watch.Elapsed > _options.TimeLimit) break;
            double lr = LearningRateAt(step);
            foreach (var group in opt.ParamGroups) group.LearningRate = lr;
            double loss;
            using (var scope = NewDisposeScope())
            {
                var batch = BatchAt(step);
                using var lossT = _objective.Loss(batch, MaskGenerator(step));
                opt.zero_grad();
                lossT.backward();
                torch.nn.utils.clip_grad_norm_(_model.parameters(), _options.GradClip);
                opt.step();
                loss = lossT.item<float>();
                tokensSeen += batch.Tokens.NumberOfElements;
            }
            step++;
            lossEma = double.IsNaN(lossEma) ? loss : 0.95 * lossEma + 0.05 * loss;
            double? val = null;
            if (step % _options.EvalEvery == 0 || step == _options.Steps)
            {
                double v = ValidationLoss();
                val = double.IsFinite(v) ? v : null; // NaN without validation problems (--eval-problems 0)
            }
            if (step % _options.CheckpointEvery == 0 || step == _options.Steps) Save(folder, opt, step, val);
            if (step % _options.LogEvery == 0 || val.HasValue)
            {
                double secs = watch.Elapsed.TotalSeconds;
                double perStep = secs / Math.Max(1, step - startStep);
                report(new TrainingProgress(step, _options.Steps, lossEma, tokensSeen / Math.Max(secs, 1e-9), watch.Elapsed,
                    TimeSpan.FromSeconds(perStep * (_options.Steps - step)), lr, val));
            }
        }
        if (step % _options.CheckpointEvery != 0 && step != _options.Steps) Save(folder, opt, step, null);
    }

    /// <summary>Cosine decay after a linear warmup.</summary>
    public double LearningRateAt(int step)
    {
        if (step < _options.WarmupSteps) return _options.LearningRate * (step + 1) / _options.WarmupSteps;
        double progress = (double)(step - _options.WarmupSteps) / Math.Max(1, _options.Steps - _options.WarmupSteps);
        return _options.MinLearningRate + 0.5 * (_options.LearningRate - _options.MinLearningRate) * (1 + Math.Cos(Math.PI * Math.Min(1, progress)));
    }

    /// <summary>Masked-token loss on the validation problems with fixed masks (comparable across runs and steps).</summary>
    public double ValidationLoss()
    {
        int n = Math.Min(_options.EvalProblems, _validation.Count);
        return _objective.MeanLoss(_validation.Take(n).ToList(), ValidationSeed(_options));
    }

    /// <summary>The seed of the validation masks: held-out evaluation uses the same one to report the same quantity.</summary>
    public static ulong ValidationSeed(TrainingOptions options) => (ulong)(options.Seed ^ 0x5eed);

    private Generator MaskGenerator(int step) => new Generator((ulong)(_options.Seed * 1_000_003 + step), CPU);

    private MaskedDiffusionObjective.Batch BatchAt(int step)
    {
        int perEpoch = _train.Count / _options.BatchSize;
        int epoch = step / perEpoch, within = step % perEpoch;
        if (_epochOrder is null || _epochOrderFor != epoch) { _epochOrder = EpochOrder(epoch); _epochOrderFor = epoch; }
        var items = new List<TokenizedExample>(_options.BatchSize);
        for (int j = 0; j < _options.BatchSize; j++) items.Add(_train[_epochOrder[within * _options.BatchSize + j]]);
        return _objective.Collate(items);
    }

    private int[]? _epochOrder;
    private int _epochOrderFor = -1;

    /// <summary>
    /// The example order of an epoch, a function of (seed, epoch) only so a resumed run sees the same
    /// batches. Shuffled, then sorted by prompt length inside windows of 32 batches (less left padding),
    /// then the batches themselves shuffled.
    /// </summary>
    private int[] EpochOrder(int epoch)
    {
        var rng = new Random(unchecked((int)_options.Seed * 31 + epoch));
        var order = new int[_train.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        rng.Shuffle(order);
        int window = _options.BatchSize * 32;
        for (int w = 0; w < order.Length; w += window)
        {
            int len = Math.Min(window, order.Length - w);
            Array.Sort(order, w, len, Comparer<int>.Create((a, b) => _train[a].Prompt.Length != _train[b].Prompt.Length
                ? _train[a].Prompt.Length.CompareTo(_train[b].Prompt.Length) : a.CompareTo(b)));
        }
        int batches = order.Length / _options.BatchSize;
        var batchOrder = new int[batches];
        for (int i = 0; i < batches; i++) batchOrder[i] = i;
        rng.Shuffle(batchOrder);
        var result = new int[batches * _options.BatchSize];
        for (int i = 0; i < batches; i++)
            Array.Copy(order, batchOrder[i] * _options.BatchSize, result, i * _options.BatchSize, _options.BatchSize);
        return result;
    }

    private void Save(RunFolder folder, OptimizerHelper opt, int step, double? val)
    {
        var meta = new Dictionary<string, string>
        {
            ["step"] = step.ToString(CultureInfo.InvariantCulture),
            ["objective"] = "llada-sft-masked-diffusion",
        };
        folder.Save(step, val, _options.ToString(), dir => Checkpoint.Save(_model, dir, meta), path => opt.save_state_dict(path));
    }
}
