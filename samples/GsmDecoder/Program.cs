using GsmDecoder.SpiffyDecoders;

// Gsm8kSmallDualDecoder is generated at build time from the shipped calibrated graph
// graphs/gsm8k-small-dual.json and models/gsm8k-small.json. This sample decodes a held-out GSM8K
// question with it and checks that speculative decoding is lossless: the same tokens as plain
// decoding with the same configuration, in fewer forwards.
//   usage: GsmDecoder [path/to/models/gsm8k-small.json]
// Exit codes: 0 identical output, 1 outputs differ, 2 model or checkpoint missing, 3 wrong model.

string? modelJson = args.Length > 0 ? args[0] : FindUp(Path.Combine("models", "gsm8k-small.json"));
if (modelJson is null || !File.Exists(modelJson))
{
    Console.Error.WriteLine("models/gsm8k-small.json not found: pass its path as the first argument.");
    return 2;
}

Spiffy.SpiffyDecoder decoder;
try { decoder = Gsm8kSmallDualDecoder.Load(modelJson); }
catch (Spiffy.Compiled.ModelMismatchException e) { Console.Error.WriteLine(e.Message); return 3; }
catch (FileNotFoundException e)
{
    Console.Error.WriteLine($"The gsm8k-small checkpoint is not there yet ({e.Message}).");
    Console.Error.WriteLine("Train it first (spiffy train --model models/gsm8k-small.json ...), then rerun this sample.");
    return 2;
}
using var _ = decoder;

// A held-out GSM8K problem (the last of the training file, never trained on).
const string question = "At 30, Anika is 4/3 the age of Maddie. What would be their average age in 15 years?";
Console.WriteLine($"model {Gsm8kSmallDualDecoder.ModelName} ({Gsm8kSmallDualDecoder.NumLayers} layers, vocab {Gsm8kSmallDualDecoder.VocabSize}); "
    + $"graph {Gsm8kSmallDualDecoder.GraphName} ({(Gsm8kSmallDualDecoder.Graph.Provenance.Calibrated ? "calibrated" : "uncalibrated")}): "
    + $"{Gsm8kSmallDualDecoder.NodeCount} nodes, D* {decoder.Keep}, unrolled {Gsm8kSmallDualDecoder.IsUnrolled}");
Console.WriteLine($"options (as calibrated): {decoder.Options}");
Console.WriteLine($"question: {question}");

Console.WriteLine("answer:");
var speculative = decoder.Generate(question, text => Console.Write(text));
Console.WriteLine();
Console.WriteLine($"speculative: {speculative.Statistics}");

// The same prompt and configuration without drafts: the baseline Spiffy must reproduce exactly.
var plain = decoder.Model.Generate(decoder.Model.EncodePrompt(question), decoder.Options);
Console.WriteLine($"plain:       {plain.Statistics}");

if (!plain.TokenIds.AsSpan().SequenceEqual(speculative.TokenIds))
{
    Console.Error.WriteLine("FAILED: speculative decoding changed the output (it must be lossless).");
    return 1;
}
Console.WriteLine($"token-identical to plain decoding; forwards {plain.Statistics.Nfe} -> {speculative.Statistics.Nfe}");
return 0;

static string? FindUp(string relative)
{
    foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        for (var dir = start; dir is not null; dir = Path.GetDirectoryName(dir))
            if (File.Exists(Path.Combine(dir, relative))) return Path.Combine(dir, relative);
    return null;
}
