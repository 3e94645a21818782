using System.Text.Json;
using Spiffy.Cli.CommandLine;
using Spiffy.Tokenization;

namespace Spiffy.Cli.Commands;

/// <summary>`spiffy tokenize`: text to ids (or ids to text) with a Hugging Face tokenizer.json.</summary>
public sealed class TokenizeCommand : ICommand
{
    public string Help => """
        usage: spiffy tokenize <tokenizer.json | checkpoint dir> "text" [--json]
               spiffy tokenize <tokenizer.json | checkpoint dir> --decode "[ids]" [--json]

        Prints the token ids of a text (special tokens in the text are recognised), or with --decode
        the text of a JSON list of ids: the tool to check this tokenizer against another implementation.
          --chat-template K   none | llada | qwen: wrap the text as a single user turn first
          --json              one JSON object: {"ids": [...]} or {"text": "..."}
        """;

    public IReadOnlySet<string> Flags { get; } = new HashSet<string> { "json" };

    public Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        bool json = args.Flag("json");
        string? decode = args.String("decode");
        string? template = args.String("chat-template");
        args.EnsureAllUsed(2);
        if (args.Positionals.Count < 1) throw new UsageException("expected a tokenizer.json or checkpoint directory");
        var tok = HfTokenizer.Load(args.Positionals[0]);
        if (decode is not null)
        {
            if (args.Positionals.Count != 1) throw new UsageException("--decode takes the ids as its value; no text argument");
            int[] ids;
            try { ids = JsonSerializer.Deserialize<int[]>(decode) ?? throw new UsageException("--decode expects a JSON list of ids"); }
            catch (JsonException e) { throw new UsageException($"--decode expects a JSON list of ids ({e.Message})"); }
            string text = tok.Decode(ids);
            Console.WriteLine(json ? JsonSerializer.Serialize(new Dictionary<string, string> { ["text"] = text }) : text);
            return Task.FromResult(0);
        }
        if (args.Positionals.Count != 2) throw new UsageException("expected the text to tokenize");
        string input = template is null ? args.Positionals[1] : ChatTemplate.Apply(template, args.Positionals[1]);
        var result = tok.Encode(input);
        Console.WriteLine(json ? JsonSerializer.Serialize(new Dictionary<string, int[]> { ["ids"] = result }) : string.Join(' ', result));
        return Task.FromResult(0);
    }
}
