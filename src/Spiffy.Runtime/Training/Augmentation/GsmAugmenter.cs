using System.Text;
using System.Text.Json;
using Spiffy.Checkpoints;

namespace Spiffy.Training.Augmentation;

/// <summary>What an augmentation run produced and why the rest was discarded.</summary>
internal sealed record AugmentationReport(
    int SourceProblems, int TrainingProblems, int HeldOutProblems, int Written,
    IReadOnlyDictionary<UnsupportedReason, int> Unsupported, IReadOnlyDictionary<RejectReason, int> Rejected,
    IReadOnlyList<int> VariantsPerProblemHistogram, int Attempts);

/// <summary>
/// Builds an augmented training file from a prompt/answer JSONL file: the training part (all but the
/// last <see cref="AugmentationOptions.HoldOut"/> problems) with each problem followed by its numeric
/// variants; the held-out problems are never read for variants, a training problem whose question is
/// also a held-out question is dropped, and the held-out part can be written to its own file for
/// validation. Each output line carries "source" (1-based line in the source file) and "variant"
/// (0 = the original).
/// </summary>
internal static class GsmAugmenter
{
    public static AugmentationReport Run(string sourcePath, string outPath, string? heldOutPath, AugmentationOptions options)
    {
        var all = PromptAnswerData.Read(sourcePath);
        var (train, heldOut) = PromptAnswerData.Split(all, options.HoldOut);
        var (problems, report) = Generate(train, heldOut, options);
        AtomicFile.WriteAllText(outPath, ToJsonl(problems));
        if (heldOutPath is not null)
            AtomicFile.WriteAllText(heldOutPath, ToJsonl(heldOut.Select(p => new AugmentedProblem(p.Prompt, p.Answer, p.Line, 0))));
        return report with { SourceProblems = all.Count };
    }

    /// <summary>The originals of <paramref name="train"/>, each followed by its variants.</summary>
    public static (List<AugmentedProblem> Problems, AugmentationReport Report) Generate(
        IReadOnlyList<PromptAnswer> train, IReadOnlyList<PromptAnswer> heldOut, AugmentationOptions options)
    {
        var heldOutQuestions = new HashSet<string>(heldOut.Select(p => Normalize(p.Prompt)), StringComparer.Ordinal);
        var perturb = new NumericPerturbation(options);
        var unsupported = new Dictionary<UnsupportedReason, int>();
        var rejected = new Dictionary<RejectReason, int>();
        var histogram = new int[options.VariantsPerProblem + 1];
        var output = new List<AugmentedProblem>();
        int attempts = 0;
        foreach (var p in train)
        {
            if (heldOutQuestions.Contains(Normalize(p.Prompt)))
            {
                unsupported[UnsupportedReason.SameAsHeldOut] = unsupported.GetValueOrDefault(UnsupportedReason.SameAsHeldOut) + 1;
                continue;
            }
            output.Add(new AugmentedProblem(p.Prompt, p.Answer, p.Line, 0));
            var template = perturb.Prepare(p.Prompt, p.Answer);
            if (template.Unsupported is UnsupportedReason why)
            {
                unsupported[why] = unsupported.GetValueOrDefault(why) + 1;
                histogram[0]++;
                continue;
            }
            int rejectsBefore = rejected.Values.Sum();
            var variants = perturb.Variants(template, p.Line, rejected);
            attempts += variants.Count + rejected.Values.Sum() - rejectsBefore;
            histogram[variants.Count]++;
            for (int k = 0; k < variants.Count; k++)
                output.Add(new AugmentedProblem(variants[k].Question, variants[k].Answer, p.Line, k + 1));
        }
        var report = new AugmentationReport(train.Count + heldOut.Count, train.Count, heldOut.Count, output.Count, unsupported, rejected, histogram, attempts);
        return (output, report);
    }

    private static string Normalize(string question) => PromptAnswerData.NormalizeQuestion(question);

    private static string ToJsonl(IEnumerable<AugmentedProblem> problems)
    {
        var sb = new StringBuilder();
        foreach (var p in problems)
            sb.Append(JsonSerializer.Serialize(new { question = p.Question, answer = p.Answer, source = p.SourceLine, variant = p.Variant })).Append('\n');
        return sb.ToString();
    }
}
