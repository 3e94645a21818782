using System.Text.Json;

namespace Spiffy.Training;

/// <summary>One training or evaluation problem: the prompt (never masked) and its answer.</summary>
public sealed record PromptAnswer(string Prompt, string Answer, int Line);

/// <summary>
/// Reads JSONL files of prompt/answer pairs. Accepts GSM8K's field names (question/answer) and
/// prompt/answer. A malformed line is an error naming the file and line; nothing is skipped silently.
/// </summary>
public static class PromptAnswerData
{
    public static List<PromptAnswer> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"data file not found: {path}", path);
        var result = new List<PromptAnswer>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonDocument doc;
            try { doc = JsonDocument.Parse(line); }
            catch (JsonException e) { throw new InvalidDataException($"{path}:{lineNo}: malformed JSON: {e.Message}"); }
            using (doc)
            {
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}:{lineNo}: expected a JSON object");
                string prompt = Field(doc.RootElement, path, lineNo, "question", "prompt");
                string answer = Field(doc.RootElement, path, lineNo, "answer", "response");
                result.Add(new PromptAnswer(prompt, answer, lineNo));
            }
        }
        if (result.Count == 0) throw new InvalidDataException($"{path}: no problems in the file");
        return result;
    }

    private static string Field(JsonElement obj, string path, int line, string name, string alternative)
    {
        if (obj.TryGetProperty(name, out var v) || obj.TryGetProperty(alternative, out v))
        {
            if (v.ValueKind != JsonValueKind.String) throw new InvalidDataException($"{path}:{line}: field '{name}' must be a string, found {v.ValueKind}");
            return v.GetString()!;
        }
        throw new InvalidDataException($"{path}:{line}: missing field '{name}' (or '{alternative}')");
    }

    /// <summary>Splits off the last <paramref name="holdout"/> problems (never trained on).</summary>
    public static (List<PromptAnswer> Train, List<PromptAnswer> HeldOut) Split(List<PromptAnswer> all, int holdout)
    {
        if (holdout < 0 || holdout >= all.Count) throw new ArgumentOutOfRangeException(nameof(holdout), $"cannot hold out {holdout} of {all.Count} problems");
        return (all.GetRange(0, all.Count - holdout), all.GetRange(all.Count - holdout, holdout));
    }

    /// <summary>
    /// Throws (naming both files and lines) when a validation question also appears among the training
    /// questions, compared with whitespace and case normalized.
    /// </summary>
    public static void EnsureDisjoint(IReadOnlyList<PromptAnswer> train, string trainFile, IReadOnlyList<PromptAnswer> validation, string validationFile)
    {
        var lines = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in validation) lines.TryAdd(NormalizeQuestion(p.Prompt), p.Line);
        foreach (var p in train)
            if (lines.TryGetValue(NormalizeQuestion(p.Prompt), out int v))
                throw new InvalidDataException($"{trainFile}:{p.Line}: the question of {validationFile}:{v} is in the training data");
    }

    /// <summary>A question with runs of whitespace collapsed and lower-cased (how duplicates are recognised).</summary>
    public static string NormalizeQuestion(string question)
        => string.Join(' ', question.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)).ToLowerInvariant();

    /// <summary>The prompt text the shipped GSM8K model is trained and queried with.</summary>
    public static string FormatPrompt(string question) => Spiffy.Tokenization.ChatTemplate.Apply(Spiffy.Tokenization.ChatTemplate.Question, question);
}
