using System.CommandLine;
using System.CommandLine.Parsing;

namespace Spiffy.Cli.CommandLine;

/// <summary>
/// System.CommandLine hands a token that looks like an option but matches none (generate's
/// "--cach") to an open positional argument, where its typo suggestions never see it. This finds
/// such tokens (before a "--") and names the closest options, so a misspelt flag is an error, not a prompt.
/// </summary>
public static class OptionLikeArguments
{
    /// <summary>The usage error for the first option-like argument value, or null when there is none.</summary>
    public static string? Find(ParseResult parse)
    {
        int doubleDash = -1;
        for (int i = 0; i < parse.Tokens.Count; i++)
            if (parse.Tokens[i].Type == TokenType.DoubleDash) { doubleDash = i; break; }
        foreach (var child in parse.CommandResult.Children)
        {
            if (child is not ArgumentResult argument) continue;
            foreach (var token in argument.Tokens)
            {
                if (!LooksLikeOption(token.Value)) continue;
                if (doubleDash >= 0 && IndexOf(parse.Tokens, token) > doubleDash) continue;
                var names = OptionNames(parse.CommandResult.Command).ToList();
                var close = Closest(token.Value, names);
                return $"unknown option '{token.Value}'" + (close.Count > 0 ? $"; did you mean {string.Join(" or ", close.Select(n => $"'{n}'"))}?" : "")
                    + " (a text that starts with '-' goes after '--')";
            }
        }
        return null;
    }

    private static bool LooksLikeOption(string s) => s.Length > 1 && s[0] == '-'
        && (char.IsLetter(s[1]) || (s[1] == '-' && s.Length > 2 && char.IsLetter(s[2])));

    private static int IndexOf(IReadOnlyList<Token> tokens, Token token)
    {
        for (int i = 0; i < tokens.Count; i++) if (ReferenceEquals(tokens[i], token)) return i;
        return -1;
    }

    private static IEnumerable<string> OptionNames(Command command)
    {
        for (Symbol? s = command; s is Command c; s = c.Parents.FirstOrDefault())
            foreach (var option in c.Options)
                if (ReferenceEquals(c, command) || option.Recursive)
                {
                    yield return option.Name;
                    foreach (var alias in option.Aliases) yield return alias;
                }
    }

    /// <summary>The names nearest to <paramref name="word"/> by edit distance (at most a third of its length), or sharing its start.</summary>
    private static List<string> Closest(string word, IReadOnlyList<string> names)
    {
        int limit = Math.Max(1, word.Length / 3);
        var scored = names.Distinct(StringComparer.Ordinal)
            .Select(n => (Name: n, Distance: n.StartsWith(word, StringComparison.Ordinal) ? 0 : Distance(word, n)))
            .Where(x => x.Distance <= limit).ToList();
        if (scored.Count == 0) return new List<string>();
        int best = scored.Min(x => x.Distance);
        return scored.Where(x => x.Distance == best).Select(x => x.Name).ToList();
    }

    private static int Distance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) prev[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
