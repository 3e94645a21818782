using GsmDecoder.Spiffy;
using Spiffy.Checkpoints;
using Spiffy.Decoding;
using Spiffy.Modeling;
using Spiffy.Speculation;
using Spiffy.Tokenization;
using Spiffy.Training;

// Runs GsmSampleDecoder, generated at build time from graphs/gsm-sample.json and the shipped
// models/gsm8k-small.json, on the trained gsm8k-small checkpoint, and checks that speculative
// decoding is lossless: the same tokens as plain decoding, in fewer forwards.
//   usage: GsmDecoder [path/to/models/gsm8k-small.json]
// Exit codes: 0 identical output, 1 outputs differ, 2 model or checkpoint missing, 3 wrong model.

string? modelJson = args.Length > 0 ? args[0] : FindUp(Path.Combine("models", "gsm8k-small.json"));
if (modelJson is null || !File.Exists(modelJson))
{
    Console.Error.WriteLine("models/gsm8k-small.json not found: pass its path as the first argument.");
    return 2;
}
var description = ModelDescription.Load(modelJson);
string checkpoint = description.Checkpoint.Length == 0 ? "" : ModelDescription.ResolveRelative(modelJson, description.Checkpoint);
if (checkpoint.Length == 0 || !File.Exists(Path.Combine(checkpoint, Checkpoint.ConfigFileName)))
{
    Console.Error.WriteLine($"The gsm8k-small checkpoint is not there yet ({(checkpoint.Length == 0 ? "the description names none" : checkpoint + " has no " + Checkpoint.ConfigFileName)}).");
    Console.Error.WriteLine("Train it first (spiffy train --model models/gsm8k-small.json ...), then rerun this sample.");
    return 2;
}
if (description.Name != GsmSampleDecoder.ModelName || description.VocabSize != GsmSampleDecoder.VocabSize || description.Tokens.Mask != GsmSampleDecoder.MaskTokenId)
{
    Console.Error.WriteLine($"{modelJson} describes '{description.Name}', but GsmSampleDecoder was generated for '{GsmSampleDecoder.ModelName}'.");
    return 3;
}

using var model = Checkpoint.LoadModel(modelJson);
var tokenizer = HfTokenizer.Load(ModelDescription.ResolveRelative(modelJson, description.Tokenizer.Length > 0 ? description.Tokenizer : checkpoint));
string Detokenize(long[] ids) => tokenizer.Decode(Array.ConvertAll(ids, id => (int)id));

// A held-out GSM8K problem (the last of the training file, never trained on).
const string question = "At 30, Anika is 4/3 the age of Maddie. What would be their average age in 15 years?";
long[] prompt = Array.ConvertAll(tokenizer.Encode(PromptAnswerData.FormatPrompt(question)), id => (long)id);

// Serve the configuration the graph was calibrated for, from the generated constants.
var options = GraphFiles.ToOptions(GsmSampleDecoder.Graph.Decoding);

var decoder = new DiffusionDecoder(model);
Console.WriteLine($"model {GsmSampleDecoder.ModelName} ({GsmSampleDecoder.NumLayers} layers, vocab {GsmSampleDecoder.VocabSize}); graph {GsmSampleDecoder.GraphName}: "
    + $"{GsmSampleDecoder.NodeCount} nodes, keep {GsmSampleDecoder.DefaultKeep}, unrolled {GsmSampleDecoder.IsUnrolled}");
Console.WriteLine($"options: {options}");
Console.WriteLine($"prompt ({prompt.Length} tokens): {question}");

var plain = decoder.Generate(prompt, options, Detokenize);
Console.WriteLine($"plain:       {plain.Statistics}");
var speculative = decoder.Generate(prompt, options, Detokenize, new GsmSampleDecoder());
Console.WriteLine($"speculative: {speculative.Statistics}");
Console.WriteLine("answer:");
Console.WriteLine(speculative.Text);

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
