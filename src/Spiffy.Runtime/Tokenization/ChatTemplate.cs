namespace Spiffy.Tokenization;

/// <summary>
/// Single-turn prompt templates of the supported model families, ending where the assistant's
/// answer starts (HF <c>apply_chat_template(..., add_generation_prompt=True)</c>).
/// </summary>
public static class ChatTemplate
{
    /// <summary>The raw message, unchanged (base models and our own small models).</summary>
    public const string None = "none";

    /// <summary>LLaDA-8B-Instruct (Llama-3 style headers).</summary>
    public const string Llada = "llada";

    /// <summary>Qwen2/Qwen3 ChatML with the default system prompt (Dream, SDAR).</summary>
    public const string Qwen = "qwen";

    /// <summary>The shipped GSM8K model's format: the question, trimmed, then a newline (as trained).</summary>
    public const string Question = "question";

    /// <summary>Every kind <see cref="Apply"/> accepts.</summary>
    public static IReadOnlyList<string> Kinds { get; } = [None, Llada, Qwen, Question];

    /// <exception cref="ArgumentException">Unknown <paramref name="kind"/>; the message lists the allowed kinds.</exception>
    public static string Apply(string kind, string userMessage)
    {
        ArgumentNullException.ThrowIfNull(kind);
        ArgumentNullException.ThrowIfNull(userMessage);
        return kind switch
        {
            None => userMessage,
            Question => userMessage.Trim() + "\n",
            Llada => "<|startoftext|><|start_header_id|>user<|end_header_id|>\n\n" + userMessage
                     + "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            Qwen => "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n" + userMessage
                    + "<|im_end|>\n<|im_start|>assistant\n",
            _ => throw new ArgumentException($"unknown chat template '{kind}'; allowed: {string.Join(", ", Kinds)}", nameof(kind)),
        };
    }
}
