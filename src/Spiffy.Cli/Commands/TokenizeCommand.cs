using System.CommandLine;
using System.Text.Json;
using Spiffy.Cli.CommandLine;
using Spiffy.Tokenization;

namespace Spiffy.Cli.Commands;

/// <summary>`spiffy tokenize`: text to ids (or ids to text) with a Hugging Face tokenizer.json.</summary>
public sealed class TokenizeCommand : IVerb
{
    private readonly Argument<string> _source = new("tokenizer")
    {
        Description = "tokenizer.json or a checkpoint directory holding one", HelpName = "tokenizer.json|checkpoint-dir"
    };
    private readonly Argument<string?> _text = new("text")
    {
        Description = "the text to tokenize (special tokens in it are recognised)", Arity = ArgumentArity.ZeroOrOne
    };
    private readonly Option<string?> _decode = new("--decode") { Description = "print the text of these ids instead (a JSON list)", HelpName = "[ids]" };
    private readonly Option<string?> _template = SharedOptions.ChatTemplate("wrap the text as a single user turn first");

    public TokenizeCommand()
    {
        Command = new VerbCommand("tokenize",
            "print token ids of a text (or --decode ids)",
            "Print the token ids of a text, or with --decode the text of a JSON list of ids: the tool to check this tokenizer "
            + "against another implementation.",
            "spiffy tokenize checkpoints/gsm8k-small \"48/2 = 24\"",
            "spiffy tokenize checkpoints/gsm8k-small --decode \"[52, 17, 9]\"",
            "spiffy tokenize checkpoints/gsm8k-small \"What is 2+2?\" --chat-template llada --json")
        { _source, _text, _decode, _template };
        Command.Validators.Add(r =>
        {
            bool hasText = r.GetValue(_text) is not null, hasDecode = r.GetValue(_decode) is not null;
            if (hasText == hasDecode)
                r.AddError(hasText ? "--decode takes the ids as its value; give no text argument with it"
                    : "give the text to tokenize (or --decode \"[ids]\")");
        });
    }

    public VerbCommand Command { get; }

    public Task<int> RunAsync(ParseResult parse, CliOutput output, CancellationToken cancel)
    {
        var tok = HfTokenizer.Load(parse.GetValue(_source)!);
        if (parse.GetValue(_decode) is string decode)
        {
            int[] ids;
            try { ids = JsonSerializer.Deserialize<int[]>(decode) ?? throw new UsageException("--decode expects a JSON list of ids"); }
            catch (JsonException e) { throw new UsageException($"--decode expects a JSON list of ids ({e.Message})"); }
            string text = tok.Decode(ids);
            if (output.Json) CliOutput.WriteJson(w => w.WriteString("text", text));
            else output.Result(text);
            return Task.FromResult(0);
        }
        string? template = parse.GetValue(_template);
        string input = template is null ? parse.GetValue(_text)! : ChatTemplate.Apply(template, parse.GetValue(_text)!);
        var result = tok.Encode(input);
        if (output.Json)
            CliOutput.WriteJson(w =>
            {
                JsonFields.Numbers(w, "ids", result);
            });
        else output.Result(string.Join(' ', result));
        return Task.FromResult(0);
    }
}
