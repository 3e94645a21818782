using System.Text;
using Spiffy.Files;
using Spiffy.Checkpoints;
using Spiffy.Schema.Decoding;
using Spiffy.Schema.Graphs;

namespace Spiffy.Calibration;

/// <summary>
/// The trace file (docs/calibration.md): little-endian binary, magic "SPIFFYTR" and a format version,
/// the header, then each sequence's arrays with their lengths. Probabilities are stored as float64
/// bit for bit, so replay ranks positions exactly as the live decoder did. Written atomically.
/// </summary>
public static class TraceFile
{
    private static readonly byte[] Magic = Encoding.ASCII.GetBytes("SPIFFYTR");
    /// <summary>3: the decoding header also carries the sampler, top-k, top-p and stop tokens (2: schedule, eps and block start; a sequence carries the
    /// prompt's tail in block 0, SDAR).</summary>
    internal const int Version = 3;

    /// <summary>Writes <paramref name="traces"/> to <paramref name="path"/> atomically.</summary>
    /// <param name="traces">The trajectories.</param>
    /// <param name="path">The trace file.</param>
    public static void Save(TraceSet traces, string path)
        => AtomicFile.Write(path, fs =>
        {
            using var w = new BinaryWriter(fs, new UTF8Encoding(false), leaveOpen: true);
            w.Write(Magic);
            w.Write(Version);
            var h = traces.Header;
            w.Write(h.ModelName);
            w.Write(h.ModelHash);
            var d = h.Decoding;
            w.Write(d.GenLength); w.Write(d.BlockLength); w.Write(d.Steps); w.Write(DecodingNames.Unmasking.Name(d.Unmasking)); w.Write(
                DecodingNames.Confidence.Name(d.Confidence));
            w.Write(d.Threshold); w.Write(d.Factor); w.Write(d.K); w.Write(d.Temperature); w.Write(DecodingNames.Cache.Name(d.Cache));
            w.Write(DecodingNames.Schedule.Name(d.Schedule)); w.Write(d.Eps); w.Write(DecodingNames.BlockStart.Name(d.BlockStart));
            w.Write(DecodingNames.Sampler.Name(d.Sampler)); w.Write(d.TopK); w.Write(d.TopP); w.Write(d.AlgTemp); w.Write(d.OverfullTopK);
            w.Write(h.Seed); w.Write(h.EarlyStop); w.Write(h.MaskId); w.Write(h.PositionRanks); w.Write(h.TokenRanks);
            w.Write(h.PromptSource); w.Write(h.PromptSkip); w.Write(h.PromptDigest); w.Write(h.StopTokens);
            w.Write(traces.Sequences.Count);
            foreach (var s in traces.Sequences)
            {
                w.Write(s.PromptIndex);
                w.Write(s.BaselineNfe);
                Ints(w, s.BlockStepStart);
                Ints(w, s.BlockFixedForwards);
                w.Write(s.BlockStartForward.Length);
                foreach (bool b in s.BlockStartForward) w.Write(b);
                Ints(w, s.CommitStart); Ints(w, s.CommitPos); Ints(w, s.CommitTok);
                Ints(w, s.RankStart); Ints(w, s.RankPos);
                w.Write(s.RankProb.Length);
                foreach (double p in s.RankProb) w.Write(p);
                Ints(w, s.RankTok);
                Ints(w, s.Head);
            }
            w.Flush();
        });

    /// <summary>Reads and checks a trace file.</summary>
    /// <param name="path">The trace file.</param>
    /// <exception cref="InvalidDataException">The file is damaged or of another version; the message names it.</exception>
    public static TraceSet Load(string path)
    {
        using var fs = Spiffy.Files.InputFile.OpenRead(path, Spiffy.Files.InputFile.MaxDataBytes, "trace file");
        using var r = new BinaryReader(fs, new UTF8Encoding(false));
        try
        {
            var magic = r.ReadBytes(Magic.Length);
            if (!magic.AsSpan().SequenceEqual(Magic)) throw new InvalidDataException($"{path}: not a Spiffy trace file");
            int version = r.ReadInt32();
            if (version != Version) throw new InvalidDataException($"{path}: trace format version {version}, this build reads {Version}");
            string modelName = r.ReadString(), modelHash = r.ReadString();
            // Enums are stored by their file spelling, so the trace format does not depend on enum order.
            T Spelled<T>(EnumSpelling<T> spelling) where T : struct, Enum
            {
                string name = r.ReadString();
                return spelling.TryParse(name, out var value) ? value
                    : throw new InvalidDataException($"{path}: invalid header (\"{name}\" is not one of: {string.Join(", ", spelling.Names)})");
            }
            var decoding = new GraphDecoding(r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), Spelled(DecodingNames.Unmasking), Spelled(DecodingNames.Confidence),
                r.ReadDouble(), r.ReadDouble(), r.ReadInt32(), r.ReadDouble(), Spelled(DecodingNames.Cache), Spelled(DecodingNames.Schedule), r.ReadDouble(),
                Spelled(DecodingNames.BlockStart), Spelled(DecodingNames.Sampler), r.ReadInt32(), r.ReadDouble(), r.ReadDouble(), r.ReadBoolean());
            var header = new TraceHeader(modelName, modelHash, decoding, r.ReadInt64(), r.ReadBoolean(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(),
                r.ReadString(), r.ReadInt32(), r.ReadString(), r.ReadString());
            if (header.BlockLength < 1 || header.PositionRanks < 1 || header.TokenRanks < 1) throw new InvalidDataException($"{path}: invalid header");
            int count = Count(r, fs);
            var sequences = new List<SequenceTrace>(count);
            for (int i = 0; i < count; i++)
            {
                int prompt = r.ReadInt32(), nfe = r.ReadInt32();
                var blockStepStart = Ints(r, fs);
                var blockFixed = Ints(r, fs);
                var blockStart = new bool[Count(r, fs)];
                for (int b = 0; b < blockStart.Length; b++) blockStart[b] = r.ReadBoolean();
                var commitStart = Ints(r, fs); var commitPos = Ints(r, fs); var commitTok = Ints(r, fs);
                var rankStart = Ints(r, fs); var rankPos = Ints(r, fs);
                var probs = new double[Count(r, fs)];
                for (int k = 0; k < probs.Length; k++) probs[k] = r.ReadDouble();
                var rankTok = Ints(r, fs);
                var head = Ints(r, fs);
                if (commitStart.Length == 0 || blockStepStart.Length == 0) throw new InvalidDataException($"{path}: sequence {i} is empty");
                sequences.Add(new SequenceTrace(prompt, nfe, blockStepStart, blockFixed, blockStart, commitStart, commitPos, commitTok,
                    rankStart, rankPos, probs, rankTok, head));
            }
            if (fs.Position != fs.Length) throw new InvalidDataException($"{path}: trailing bytes after the last sequence");
            return new TraceSet(header, sequences);
        }
        catch (EndOfStreamException) { throw new InvalidDataException($"{path}: the trace file is truncated"); }
        catch (InvalidDataException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal)) { throw new InvalidDataException($"{path}: {e.Message}"); }
    }

    private static void Ints(BinaryWriter w, int[] a)
    {
        w.Write(a.Length);
        foreach (int v in a) w.Write(v);
    }

    private static int Count(BinaryReader r, Stream s)
    {
        int n = r.ReadInt32();
        // A length can never exceed the bytes left: guards against huge allocations from a damaged file.
        if (n < 0 || n > s.Length - s.Position) throw new InvalidDataException("a length field is out of range");
        return n;
    }

    private static int[] Ints(BinaryReader r, Stream s)
    {
        var a = new int[Count(r, s)];
        for (int i = 0; i < a.Length; i++) a[i] = r.ReadInt32();
        return a;
    }
}
