#nullable enable
// MSBuild inline task (RoslynCodeTaskFactory). Marks one ELF version need as weak in copies of
// libLibTorchSharp.so when the machine's libstdc++ lacks that version. See LibTorchSharpGlibcFix.targets.
using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class SpiffyMarkGlibcxxNeedWeak : Task
{
    private const int PtLoad = 1, PtDynamic = 2;
    private const long DtNull = 0, DtStrTab = 5, DtVerNeed = 0x6ffffffe, DtVerNeedNum = 0x6fffffff;
    private const ushort VerFlgWeak = 2;

    [Required] public string[] Directories { get; set; } = Array.Empty<string>();
    [Required] public string VersionName { get; set; } = "";
    /// <summary>Patch even when this machine's libstdc++ has the version (published output runs elsewhere).</summary>
    public bool Force { get; set; }

    private static readonly string[] SystemLibStdCxx =
    {
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/usr/lib/aarch64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6",
    };

    public override bool Execute()
    {
        if (!Force)
        {
            string? libstdcxx = null;
            foreach (var candidate in SystemLibStdCxx)
                if (File.Exists(candidate)) { libstdcxx = candidate; break; }
            if (libstdcxx == null)
            {
                Log.LogMessage(MessageImportance.Low, "Spiffy: no system libstdc++ found; libLibTorchSharp.so left as is.");
                return true;
            }
            if (Contains(File.ReadAllBytes(libstdcxx), Encoding.ASCII.GetBytes(VersionName + "\0")))
            {
                Log.LogMessage(MessageImportance.Low, $"Spiffy: {libstdcxx} provides {VersionName}; nothing to patch.");
                return true;
            }
        }
        foreach (var dir in Directories)
        {
            if (string.IsNullOrEmpty(dir) || !Directory.Exists(dir)) continue;
            foreach (var path in Directory.GetFiles(dir, "libLibTorchSharp.so", SearchOption.AllDirectories))
            {
                try { Patch(path); }
                catch (Exception e) { Log.LogWarning($"Spiffy: could not patch {path}: {e.Message}"); }
            }
        }
        return true;
    }

    private void Patch(string path)
    {
        byte[] elf = File.ReadAllBytes(path);
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F' || elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("not a little-endian ELF64 file");
        long phoff = BitConverter.ToInt64(elf, 0x20);
        int phentsize = BitConverter.ToUInt16(elf, 0x36), phnum = BitConverter.ToUInt16(elf, 0x38);

        long dynOff = -1, dynSize = 0;
        for (int i = 0; i < phnum; i++)
        {
            int ph = checked((int)(phoff + (long)i * phentsize));
            if (BitConverter.ToUInt32(elf, ph) == PtDynamic)
            {
                dynOff = BitConverter.ToInt64(elf, ph + 8);
                dynSize = BitConverter.ToInt64(elf, ph + 32);
            }
        }
        if (dynOff < 0) throw new InvalidDataException("no PT_DYNAMIC segment");

        long strTab = -1, verNeed = -1, verNeedNum = 0;
        for (long p = dynOff; p + 16 <= dynOff + dynSize; p += 16)
        {
            long tag = BitConverter.ToInt64(elf, (int)p), val = BitConverter.ToInt64(elf, (int)p + 8);
            if (tag == DtNull) break;
            if (tag == DtStrTab) strTab = val;
            else if (tag == DtVerNeed) verNeed = val;
            else if (tag == DtVerNeedNum) verNeedNum = val;
        }
        if (strTab < 0 || verNeed < 0) { Log.LogMessage(MessageImportance.Low, $"Spiffy: {path} has no version needs."); return; }
        long strOff = VirtualToFile(elf, phoff, phentsize, phnum, strTab);
        long needOff = VirtualToFile(elf, phoff, phentsize, phnum, verNeed);

        bool changed = false, found = false;
        long need = needOff;
        for (long n = 0; n < verNeedNum; n++)
        {
            int count = BitConverter.ToUInt16(elf, (int)need + 2);
            long aux = need + BitConverter.ToUInt32(elf, (int)need + 8);
            for (int a = 0; a < count; a++)
            {
                long nameOff = strOff + BitConverter.ToUInt32(elf, (int)aux + 8);
                if (ReadCString(elf, nameOff) == VersionName)
                {
                    found = true;
                    ushort flags = BitConverter.ToUInt16(elf, (int)aux + 4);
                    if ((flags & VerFlgWeak) == 0)
                    {
                        flags |= VerFlgWeak;
                        elf[aux + 4] = (byte)(flags & 0xff);
                        elf[aux + 5] = (byte)(flags >> 8);
                        changed = true;
                    }
                }
                aux += BitConverter.ToUInt32(elf, (int)aux + 12);
            }
            need += BitConverter.ToUInt32(elf, (int)need + 12);
        }
        if (!found) { Log.LogMessage(MessageImportance.Low, $"Spiffy: {path} does not need {VersionName}."); return; }
        if (!changed) { Log.LogMessage(MessageImportance.Low, $"Spiffy: {path} already patched."); return; }

        // Write a new file and move it over the old one: a hard link into the NuGet cache is broken,
        // never written through.
        string temp = path + ".spiffy-tmp";
        File.WriteAllBytes(temp, elf);
        File.Delete(path);
        File.Move(temp, path);
        Log.LogMessage(MessageImportance.Normal, $"Spiffy: marked {VersionName} weak in {path}.");
    }

    private static long VirtualToFile(byte[] elf, long phoff, int phentsize, int phnum, long vaddr)
    {
        for (int i = 0; i < phnum; i++)
        {
            int ph = checked((int)(phoff + (long)i * phentsize));
            if (BitConverter.ToUInt32(elf, ph) != PtLoad) continue;
            long off = BitConverter.ToInt64(elf, ph + 8), va = BitConverter.ToInt64(elf, ph + 16), filesz = BitConverter.ToInt64(elf, ph + 32);
            if (vaddr >= va && vaddr < va + filesz) return vaddr - va + off;
        }
        throw new InvalidDataException($"address 0x{vaddr:x} is in no PT_LOAD segment");
    }

    private static string ReadCString(byte[] data, long offset)
    {
        long end = offset;
        while (end < data.Length && data[end] != 0) end++;
        return Encoding.ASCII.GetString(data, (int)offset, (int)(end - offset));
    }

    private static bool Contains(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j]) j++;
            if (j == needle.Length) return true;
        }
        return false;
    }
}
