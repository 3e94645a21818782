using System.Text.Json;

namespace Spiffy.Training;

/// <summary>One training or evaluation problem: the prompt (never masked) and its answer.</summary>
internal sealed record PromptAnswer(string Prompt, string Answer, int Line);

/// <summary>
/// Reads JSONL files of prompt/answer pairs. Accepts GSM8K's field names (question/answer) and
/// prompt/answer. A malformed line is an error naming the file and line; nothing is skipped silently.
/// </summary>
internal static class PromptAnswerData
{
    public static List<PromptAnswer> Read(string path)
    {
        using var reader = new StreamReader(Spiffy.Checkpoints.InputFile.OpenRead(path, Spiffy.Checkpoints.InputFile.MaxDataBytes, "data file"),
            new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true));
        var result = new List<PromptAnswer>();
        int lineNo = 0;
        while (ReadLine(reader, path, lineNo + 1) is { } line)
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

    /// <summary>Longest line accepted: a problem is a few kilobytes; a file without newlines is not JSONL.</summary>
    public const int MaxLineChars = 1 << 20;

    // One line, bounded: ReadLine would buffer a newline-free file whole.
    private static string? ReadLine(StreamReader reader, string path, int lineNo)
    {
        var sb = new System.Text.StringBuilder();
        try
        {
            while (true)
            {
                int c = reader.Read();
                if (c < 0) return sb.Length == 0 ? null : sb.ToString();
                if (c == '\n') return sb.Length > 0 && sb[^1] == '\r' ? sb.ToString(0, sb.Length - 1) : sb.ToString();
                if (sb.Length >= MaxLineChars) throw new InvalidDataException($"{path}:{lineNo}: line longer than {MaxLineChars} characters");
                sb.Append((char)c);
            }
        }
        catch (System.Text.DecoderFallbackException) { throw new InvalidDataException($"{path}:{lineNo}: not valid UTF-8"); }
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
