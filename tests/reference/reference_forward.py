#!/usr/bin/python3
"""Reference logits for tiny LLaDA / Dream / SDAR models, written independently of the C# runtime.

A plain-PyTorch forward pass implemented from docs (shared/reference/model-conventions.md), not from
the C# code: it exists so the C# transformer can be checked against an independent reading of the
authors' conventions. For each family it draws a tiny random config and random weights (seeded),
runs two random token sequences of length 12 at positions 0..11 in float64, and writes

    vectors/<family>/config.json          the family's Hugging Face config layout
    vectors/<family>/model.safetensors    weights under the checkpoint names (float32)
    vectors/<family>/io.safetensors       input_ids [2, 12] int64, logits [2, 12, vocab] float32

plus vectors/dtypes.safetensors (the same values stored as every supported dtype), to pin the byte
layout of BF16/F16 independently. The safetensors writer below is hand-written on purpose (no
safetensors package), with the same conventions as the C# writer, so the C# tests can also compare
bytes. Regenerate with:  /usr/bin/python3 tests/reference/reference_forward.py
"""
import json
import math
import os
import struct

import torch

SEQ_LEN = 12
BATCH = 2
HERE = os.path.dirname(os.path.abspath(__file__))

# Tiny configs in each family's Hugging Face layout. rope_theta is small so every rotary frequency
# turns noticeably over 12 positions (a wrong RoPE layout must change the logits). SDAR's explicit
# head_dim (12) differs from hidden / heads (8) on purpose.
CONFIGS = {
    "llada": {
        "architectures": ["LLaDAModelLM"], "model_type": "llada",
        "d_model": 32, "n_layers": 2, "n_heads": 4, "n_kv_heads": None, "mlp_hidden_size": 64,
        "vocab_size": 50, "embedding_size": 50, "max_sequence_length": 64,
        "rope_theta": 10000.0, "rms_norm_eps": 1e-5, "weight_tying": False, "include_bias": False,
        "include_qkv_bias": False, "attention_layer_norm": False, "rope": True, "block_type": "llama",
        "activation_type": "silu", "layer_norm_type": "rms",
        "mask_token_id": 49, "eos_token_id": 48, "pad_token_id": 48, "bos_token_id": 47, "torch_dtype": "float32",
    },
    "dream": {
        "architectures": ["DreamModel"], "model_type": "Dream",
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "vocab_size": 50, "max_position_embeddings": 64, "rope_theta": 1000.0,
        "rope_scaling": None, "rms_norm_eps": 1e-6, "tie_word_embeddings": False, "use_sliding_window": False,
        "hidden_act": "silu", "mask_token_id": 49, "pad_token_id": 48, "bos_token_id": 48, "eos_token_id": 48,
        "torch_dtype": "float32",
    },
    "sdar": {
        "architectures": ["SDARForCausalLM"], "model_type": "sdar",
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 12, "attention_bias": False, "block_size": 4,
        "vocab_size": 50, "max_position_embeddings": 64, "rope_theta": 100.0, "rope_scaling": None,
        "rms_norm_eps": 1e-6, "tie_word_embeddings": False, "hidden_act": "silu",
        "mask_token_id": 49, "bos_token_id": 48, "eos_token_id": 48, "pad_token_id": 48, "torch_dtype": "float32",
    },
}
SEEDS = {"llada": 1001, "dream": 2002, "sdar": 3003}


def arch(family, c):
    """The numbers the forward pass needs, read the way each family's config defines them."""
    if family == "llada":
        h, nh = c["d_model"], c["n_heads"]
        nkv = c["n_kv_heads"] if c["n_kv_heads"] is not None else nh
        vocab = c["embedding_size"] or c["vocab_size"]
        return dict(hidden=h, layers=c["n_layers"], heads=nh, kv=nkv, head_dim=h // nh, mlp=c["mlp_hidden_size"],
                    vocab=vocab, theta=c["rope_theta"], eps=c["rms_norm_eps"], bias=c["include_qkv_bias"], qk_norm=False, block=None)
    h, nh = c["hidden_size"], c["num_attention_heads"]
    sdar = family == "sdar"
    return dict(hidden=h, layers=c["num_hidden_layers"], heads=nh, kv=c["num_key_value_heads"],
                head_dim=c["head_dim"] if sdar else h // nh, mlp=c["intermediate_size"], vocab=c["vocab_size"],
                theta=c["rope_theta"], eps=c["rms_norm_eps"], bias=not sdar, qk_norm=sdar, block=c["block_size"] if sdar else None)


def names(family, i):
    """Checkpoint tensor names (conventions doc). LLaDA's ff_proj is the gate; its ff_out is the down projection."""
    if family == "llada":
        b = f"model.transformer.blocks.{i}."
        return dict(attn_norm=b + "attn_norm.weight", q=b + "q_proj.weight", k=b + "k_proj.weight", v=b + "v_proj.weight",
                    o=b + "attn_out.weight", mlp_norm=b + "ff_norm.weight", gate=b + "ff_proj.weight", up=b + "up_proj.weight",
                    down=b + "ff_out.weight")
    b = f"model.layers.{i}."
    n = dict(attn_norm=b + "input_layernorm.weight", q=b + "self_attn.q_proj.weight", k=b + "self_attn.k_proj.weight",
             v=b + "self_attn.v_proj.weight", o=b + "self_attn.o_proj.weight", mlp_norm=b + "post_attention_layernorm.weight",
             gate=b + "mlp.gate_proj.weight", up=b + "mlp.up_proj.weight", down=b + "mlp.down_proj.weight")
    if family == "dream":
        n.update(qb=b + "self_attn.q_proj.bias", kb=b + "self_attn.k_proj.bias", vb=b + "self_attn.v_proj.bias")
    if family == "sdar":
        n.update(q_norm=b + "self_attn.q_norm.weight", k_norm=b + "self_attn.k_norm.weight")
    return n


def top_names(family):
    if family == "llada":
        return "model.transformer.wte.weight", "model.transformer.ln_f.weight", "model.transformer.ff_out.weight"
    return "model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"


def random_weights(family, a, gen):
    def randn(*shape, std=1.0, mean=0.0):
        return (torch.randn(*shape, generator=gen, dtype=torch.float32) * std + mean)
    h, q, kv, d = a["hidden"], a["heads"] * a["head_dim"], a["kv"] * a["head_dim"], a["head_dim"]
    embed, final, head = top_names(family)
    w = {embed: randn(a["vocab"], h), final: randn(h, std=0.2, mean=1.0), head: randn(a["vocab"], h, std=2.0 / math.sqrt(h))}
    for i in range(a["layers"]):
        n = names(family, i)
        w[n["attn_norm"]] = randn(h, std=0.2, mean=1.0)
        w[n["mlp_norm"]] = randn(h, std=0.2, mean=1.0)
        w[n["q"]] = randn(q, h, std=1.5 / math.sqrt(h))
        w[n["k"]] = randn(kv, h, std=1.5 / math.sqrt(h))
        w[n["v"]] = randn(kv, h, std=1.0 / math.sqrt(h))
        w[n["o"]] = randn(h, q, std=1.0 / math.sqrt(q))
        w[n["gate"]] = randn(a["mlp"], h, std=1.0 / math.sqrt(h))
        w[n["up"]] = randn(a["mlp"], h, std=1.0 / math.sqrt(h))
        w[n["down"]] = randn(h, a["mlp"], std=1.0 / math.sqrt(a["mlp"]))
        if "qb" in n:
            w[n["qb"]], w[n["kb"]], w[n["vb"]] = randn(q, std=0.5), randn(kv, std=0.5), randn(kv, std=0.5)
        if "q_norm" in n:
            w[n["q_norm"]], w[n["k_norm"]] = randn(d, std=0.3, mean=1.0), randn(d, std=0.3, mean=1.0)
    return w


def rms_norm(x, weight, eps):
    # Statistics in (at least) float32, normalized value cast back to the input dtype, then the weight.
    stat_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    xf = x.to(stat_dtype)
    normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return normed.to(x.dtype) * weight


def rope(x, positions, theta, interleaved=False):
    """Rotate-half (NeoX) RoPE over the full head dim: x * cos + rotate_half(x) * sin."""
    d = x.shape[-1]
    inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    angles = positions.to(torch.float64)[:, None] * inv_freq[None, :]      # [T, d/2]
    if interleaved:  # the GPT-J / Meta layout: rotates pairs (2i, 2i+1); only for the sensitivity check
        cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
        xe, xo = x[..., 0::2], x[..., 1::2]
        return torch.stack([xe * cos - xo * sin, xe * sin + xo * cos], dim=-1).flatten(-2)
    emb = torch.cat([angles, angles], dim=-1)                               # [T, d]
    cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
    rotated = torch.cat([-x[..., d // 2:], x[..., : d // 2]], dim=-1)
    return x * cos + rotated * sin


def attention_mask(a, t):
    """bool [T, T], True = query i may see key j."""
    if a["block"] is None:
        return torch.ones(t, t, dtype=torch.bool)
    blk = torch.arange(t) // a["block"]
    return blk[None, :] <= blk[:, None]


def forward(family, a, w, ids, positions, variant=""):
    """variant (sensitivity check only) swaps in a wrong convention: rope_interleaved, gqa_modulo,
    no_mask, qk_norm_after_rope, swap_gate_up, shift_logits."""
    embed, final, head = top_names(family)
    dt = torch.float64
    h = w[embed].to(dt)[ids]                                                 # [B, T, H]
    bsz, t = ids.shape
    nh, nkv, d = a["heads"], a["kv"], a["head_dim"]
    group = nh // nkv
    mask = attention_mask(a, t) if variant != "no_mask" else torch.ones(t, t, dtype=torch.bool)
    inter = variant == "rope_interleaved"
    for i in range(a["layers"]):
        n = names(family, i)
        W = {k: w[v].to(dt) for k, v in n.items()}
        x = rms_norm(h, W["attn_norm"], a["eps"])
        q = x @ W["q"].T + (W["qb"] if "qb" in W else 0)
        k = x @ W["k"].T + (W["kb"] if "kb" in W else 0)
        v = x @ W["v"].T + (W["vb"] if "vb" in W else 0)
        q = q.view(bsz, t, nh, d)
        k = k.view(bsz, t, nkv, d)
        v = v.view(bsz, t, nkv, d)
        if a["qk_norm"] and variant != "qk_norm_after_rope":  # per-head RMSNorm over head_dim, before RoPE
            q = rms_norm(q, W["q_norm"], a["eps"])
            k = rms_norm(k, W["k_norm"], a["eps"])
        q = rope(q.transpose(1, 2), positions, a["theta"], inter)           # [B, nh, T, d]
        k = rope(k.transpose(1, 2), positions, a["theta"], inter)           # [B, nkv, T, d]
        if a["qk_norm"] and variant == "qk_norm_after_rope":
            q = rms_norm(q, W["q_norm"], a["eps"])
            k = rms_norm(k, W["k_norm"], a["eps"])
        v = v.transpose(1, 2)
        heads = []
        for hh in range(nh):
            kvh = hh // group if variant != "gqa_modulo" else hh % nkv       # GQA: query head h reads kv head h // (H / Hkv)
            scores = (q[:, hh] @ k[:, kvh].transpose(-1, -2)) / math.sqrt(d)
            scores = scores.masked_fill(~mask, float("-inf"))
            heads.append(torch.softmax(scores, dim=-1) @ v[:, kvh])
        o = torch.stack(heads, dim=1).transpose(1, 2).reshape(bsz, t, nh * d)
        h = h + o @ W["o"].T
        x = rms_norm(h, W["mlp_norm"], a["eps"])
        gate, up = (W["gate"], W["up"]) if variant != "swap_gate_up" else (W["up"], W["gate"])
        h = h + (torch.nn.functional.silu(x @ gate.T) * (x @ up.T)) @ W["down"].T
    h = rms_norm(h, w[final].to(dt), a["eps"])
    logits = h @ w[head].to(dt).T                                            # plain logits: no shift (Dream shifts in the sampler)
    if variant == "shift_logits":
        logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
    return logits


def check_sensitivity(family, a, w, ids, positions, logits):
    """Each wrong convention must move the logits far beyond the C# tolerance (1e-4), or the vectors pin nothing."""
    variants = ["rope_interleaved", "swap_gate_up"]
    if a["kv"] != a["heads"]:
        variants.append("gqa_modulo")
    if family == "dream":
        variants.append("shift_logits")
    if family == "sdar":
        variants += ["no_mask", "qk_norm_after_rope"]
    for v in variants:
        diff = (forward(family, a, w, ids, positions, v).to(torch.float32) - logits).abs().max().item()
        print(f"  {family}: wrong convention {v:<20} moves the logits by up to {diff:.3f}")
        assert diff > 0.1, f"{family}: the vectors do not distinguish {v}"


DTYPE_NAMES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
               torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL"}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret the 2-byte words
        t = t.view(torch.int16)
    data = t.numpy()
    return data.astype(data.dtype.newbyteorder("<"), copy=False).tobytes()


def save_safetensors(path, tensors, metadata=None):
    """Hand-written safetensors writer: names sorted, compact JSON, header padded with spaces to 8 bytes."""
    header = {}
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name]
        b = tensor_bytes(t)
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def write_family(family, out_root):
    cfg = CONFIGS[family]
    a = arch(family, cfg)
    gen = torch.Generator().manual_seed(SEEDS[family])
    w = random_weights(family, a, gen)
    ids = torch.randint(0, a["vocab"], (BATCH, SEQ_LEN), generator=gen, dtype=torch.int64)
    ids[0, 5] = cfg["mask_token_id"]  # a few mask tokens, as in real decoding inputs
    ids[1, 9:] = cfg["mask_token_id"]
    positions = torch.arange(SEQ_LEN, dtype=torch.int64)
    logits = forward(family, a, w, ids, positions).to(torch.float32)
    check_sensitivity(family, a, w, ids, positions, logits)
    out = os.path.join(out_root, family)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    save_safetensors(os.path.join(out, "model.safetensors"), w, {"format": "pt"})
    save_safetensors(os.path.join(out, "io.safetensors"), {"input_ids": ids, "logits": logits},
                     {"generator": "tests/reference/reference_forward.py", "positions": "0..11", "seed": str(SEEDS[family])})
    print(f"{family}: logits {tuple(logits.shape)}, |logits| max {logits.abs().max().item():.3f}, "
          f"files {sum(os.path.getsize(os.path.join(out, x)) for x in os.listdir(out))} bytes")


def write_dtypes(out_root):
    values = torch.arange(-8, 8, dtype=torch.float64) / 4  # exactly representable in every float format
    tensors = {
        "f64": values.view(4, 4), "f32": values.float().view(4, 4), "f16": values.half().view(4, 4),
        "bf16": values.bfloat16().view(4, 4), "i64": (torch.arange(-8, 8) * 1_000_003).view(4, 4),
        "i32": (torch.arange(-8, 8, dtype=torch.int32) * 1003).view(4, 4),
        "u8": (torch.arange(16) * 16 + 1).to(torch.uint8).view(4, 4), "bool": (torch.arange(16) % 3 == 0).view(4, 4),
    }
    save_safetensors(os.path.join(out_root, "dtypes.safetensors"), tensors)


def main():
    out_root = os.path.join(HERE, "vectors")
    os.makedirs(out_root, exist_ok=True)
    for family in CONFIGS:
        write_family(family, out_root)
    write_dtypes(out_root)


if __name__ == "__main__":
    main()
