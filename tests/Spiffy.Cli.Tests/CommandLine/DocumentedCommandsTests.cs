using System.CommandLine.Parsing;
using System.Text;
using System.Text.RegularExpressions;
using Spiffy.Cli.CommandLine;
using Spiffy.Cli.Tests.Support;

namespace Spiffy.Cli.Tests.CommandLine;

/// <summary>
/// Every `spiffy ...` (and `dotnet run ... -- ...`) command line in the README and docs/ parses with
/// the real command tree: the rewrite kept the verbs and flags the documentation shows. Parsing only;
/// nothing runs.
/// </summary>
public class DocumentedCommandsTests
{
    /// <summary>Each occurrence with its line, so a command quoted twice is two cases (not one xunit skips as a duplicate).</summary>
    public static TheoryData<string, int, string, bool> Commands()
    {
        var data = new TheoryData<string, int, string, bool>();
        var commandLine = CommandLine();
        var files = Directory.GetFiles(Path.Combine(CliProcess.RepoRoot, "docs"), "*.md").Append(Path.Combine(CliProcess.RepoRoot, "README.md"));
        foreach (var file in files.OrderBy(f => f, StringComparer.Ordinal))
        {
            string pending = "";
            int number = 0, start = 0;
            foreach (var raw in File.ReadLines(file))
            {
                number++;
                if (pending.Length == 0) start = number;
                string line = pending + raw.Trim();
                pending = "";
                if (line.EndsWith('\\')) { pending = line[..^1] + " "; continue; }
                var m = commandLine.Match(line);
                if (!m.Success) continue;
                string command = m.Groups["args"].Value;
                int comment = command.IndexOf(" #", StringComparison.Ordinal);
                if (comment >= 0) command = command[..comment];
                command = command.Trim().TrimEnd('`');
                if (command.Contains('<') || command.Contains('|') || command.Contains('>')) continue; // a template, not a command
                data.Add(Path.GetFileName(file), start, command, m.Value.StartsWith('`'));
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void DocumentedCommand_Parses(string file, int line, string command, bool inline)
    {
        var root = CliApp.BuildRoot((_, _, _) => Task.FromResult(0));
        var parse = root.Parse(Split(command));
        // A fragment quoted in prose (`spiffy generate --json`) may leave out what a whole command needs
        // (the prompt, a required option it does not name); its verb, options and values must still be right.
        var errors = inline ? parse.Errors.Where(e => e.SymbolResult is not (CommandResult or OptionResult { IdentifierToken: null })).ToList()
            : parse.Errors.ToList();
        Assert.True(errors.Count == 0 && parse.UnmatchedTokens.Count == 0,
            $"{file}:{line}: `{command}`: {string.Join("; ", parse.Errors.Select(e => e.Message))}");
        Assert.Null(OptionLikeArguments.Find(parse));
    }

    public static TheoryData<string> HelpExamples()
    {
        var data = new TheoryData<string>();
        foreach (var verb in CliApp.Verbs())
            foreach (var example in verb.Command.Examples) data.Add(example);
        return data;
    }

    /// <summary>The examples each verb's --help prints are whole, valid command lines.</summary>
    [Theory]
    [MemberData(nameof(HelpExamples))]
    public void HelpExample_Parses(string example)
    {
        Assert.StartsWith("spiffy ", example);
        string command = example["spiffy ".Length..];
        int comment = command.IndexOf(" #", StringComparison.Ordinal);
        if (comment >= 0) command = command[..comment];
        int redirect = command.IndexOf(" > ", StringComparison.Ordinal); // the shell's, not spiffy's
        if (redirect >= 0) command = command[..redirect];
        var parse = CliApp.BuildRoot((_, _, _) => Task.FromResult(0)).Parse(Split(command.Trim()));
        Assert.True(parse.Errors.Count == 0, $"`{example}`: {string.Join("; ", parse.Errors.Select(e => e.Message))}");
        Assert.Null(OptionLikeArguments.Find(parse));
    }

    // "spiffy verb ..." or "dotnet run ... -- verb ...", at the start of a line or inside `backticks`, for every verb the
    // command tree has (a new verb's documented commands are checked without editing this test).
    private static Regex CommandLine()
    {
        string verbs = string.Join("|", CliApp.Verbs().Select(v => Regex.Escape(v.Command.Name)));
        return new Regex(@"(?:^|`)(?:spiffy|dotnet run [^`]*? --) (?<args>(?:" + verbs + @")\b[^`]*)", RegexOptions.CultureInvariant);
    }

    /// <summary>Shell-like words: spaces separate, double or single quotes group.</summary>
    private static List<string> Split(string s)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        bool any = false;
        char quote = '\0';
        foreach (char c in s)
        {
            if (quote != '\0') { if (c == quote) quote = '\0'; else word.Append(c); continue; }
            if (c is '"' or '\'') { quote = c; any = true; continue; }
            if (c == ' ') { if (any || word.Length > 0) words.Add(word.ToString()); word.Clear(); any = false; continue; }
            word.Append(c);
        }
        if (any || word.Length > 0) words.Add(word.ToString());
        return words;
    }
}
