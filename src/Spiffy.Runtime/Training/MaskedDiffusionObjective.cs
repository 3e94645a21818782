using Spiffy.Modeling;
using static TorchSharp.torch;

namespace Spiffy.Training;

/// <summary>
/// LLaDA's SFT objective, shared by the trainer and held-out evaluation so both measure the same
/// quantity: the prompt is never masked; the answer, padded with EOS to the generation length, has
/// each position masked with probability t ~ U(eps, 1) drawn per example; the loss is the
/// cross-entropy over masked positions weighted by 1/t and divided by the answer region's length.
/// </summary>
internal sealed class MaskedDiffusionObjective
{
    private readonly DiffusionTransformer _model;
    private readonly TrainingOptions _options;

    public MaskedDiffusionObjective(DiffusionTransformer model, TrainingOptions options) { _model = model; _options = options; }

    internal sealed record Batch(Tensor Tokens, Tensor Positions, Tensor KeyMask, Tensor AnswerMask, Tensor Targets);

    /// <summary>
    /// Masked-token loss (nats) over <paramref name="problems"/> in batches, with masks drawn from a
    /// generator seeded by <paramref name="seed"/>: fixed masks make it comparable across runs and steps.
    /// </summary>
    public double MeanLoss(IReadOnlyList<TokenizedExample> problems, ulong seed, CancellationToken cancel = default)
    {
        if (problems.Count == 0) return double.NaN;
        bool training = _model.training;
        _model.eval();
        try
        {
            using var _ = no_grad();
            double total = 0;
            int batches = 0;
            var gen = new Generator(seed, CPU);
            for (int i = 0; i < problems.Count; i += _options.BatchSize)
            {
                cancel.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var items = new List<TokenizedExample>();
                for (int j = i; j < Math.Min(problems.Count, i + _options.BatchSize); j++) items.Add(problems[j]);
                total += Loss(Collate(items), gen).item<float>();
                batches++;
            }
            return total / batches;
        }
        finally { if (training) _model.train(); }
    }

    /// <summary>
    /// Left-pads prompts to the batch's longest (pad keys masked out, positions counted from the
    /// first real token, as at inference), then appends each answer padded with EOS to the generation length.
    /// </summary>
    internal Batch Collate(IReadOnlyList<TokenizedExample> items)
    {
        var spec = _model.Spec;
        int maxPrompt = 0;
        foreach (var ex in items) maxPrompt = Math.Max(maxPrompt, ex.Prompt.Length);
        int gen = _options.GenLength, len = maxPrompt + gen, b = items.Count;
        var tokens = new long[b * len];
        var positions = new long[b * len];
        var keyMask = new bool[b * len];
        var answerMask = new bool[b * len];
        for (int r = 0; r < b; r++)
        {
            var ex = items[r];
            int pad = maxPrompt - ex.Prompt.Length, o = r * len;
            for (int i = 0; i < len; i++)
            {
                int tok;
                if (i < pad) tok = spec.Tokens.Pad;
                else if (i < maxPrompt) tok = ex.Prompt[i - pad];
                else { int a = i - maxPrompt; tok = a < ex.Answer.Length ? ex.Answer[a] : spec.Tokens.Eos; answerMask[o + i] = true; }
                tokens[o + i] = tok;
                positions[o + i] = Math.Max(0, i - pad);
                keyMask[o + i] = i >= pad;
            }
        }
        // Built on the host, then moved once to the model's device (the CPU: no copy).
        var dev = _model.Device;
        var tokT = tensor(tokens, new long[] { b, len }).to(dev);
        return new Batch(tokT, tensor(positions, new long[] { b, len }).to(dev), tensor(keyMask, new long[] { b, 1, 1, len }).to(dev),
            tensor(answerMask, new long[] { b, len }).to(dev), tokT);
    }

    internal Tensor Loss(Batch batch, Generator gen)
    {
        var spec = _model.Spec;
        long b = batch.Tokens.shape[0], len = batch.Tokens.shape[1];
        double eps = _options.MinMaskRatio;
        // Masks come from the CPU generator on every device, so a run draws the same masks on CUDA as on the CPU.
        var t = rand(new long[] { b, 1 }, generator: gen).mul(1 - eps).add(eps).to(_model.Device);          // t ~ U(eps, 1)
        var masked = rand(new long[] { b, len }, generator: gen).to(_model.Device).lt(t).logical_and(batch.AnswerMask);
        var noisy = batch.Tokens.masked_fill(masked, spec.Tokens.Mask);
        var logits = _model.Forward(ForwardRequest.Full(noisy, batch.Positions, batch.KeyMask));
        var ce = TorchSharp.torch.nn.functional.cross_entropy(logits.view(-1, spec.VocabSize), batch.Targets.view(-1),
            reduction: nn.Reduction.None).view(b, len);
        var answerLen = batch.AnswerMask.sum(1, keepdim: true, type: float32);
        var weighted = ce.div(t).div(answerLen).mul(masked.to(float32));
        return weighted.sum().div(b);
    }
}
