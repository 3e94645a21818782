#!/usr/bin/python3
"""Reference decoding trajectories for Dream and SDAR, written independently of the C# decoder.

A plain-PyTorch re-implementation of the authors' samplers, read from their published code (not
copied, and not from the C# code):
  - Dream, no cache:      Dream's / Fast-dLLM's `generation_utils.py` `_sample`: one region, timesteps
                          linspace(1, eps, steps + 1), step i commits int(n * (1 - s / t)) of the n masked
                          positions by confidence (the last step all), algs entropy / maskgit_plus / topk_margin.
  - Dream, prefix / dual: Fast-dLLM's `generation_utils_block.py` `_sample`: per block a full forward that
                          refreshes the cache and writes the block's first position, then steps i = 1 ..
                          steps_per_block - 1 of linspace(1, eps, steps_per_block + 1), neg-entropy confidence.
  - SDAR:                 JetAstra/SDAR `generate.py` `block_diffusion_generate`: prompt at position 0, whole
                          prompt blocks prefilled, the canvas rounded up to whole blocks, per block the even
                          split of the block length over the denoising steps (static) or SDAR's dynamic rule,
                          one K/V-storing forward after each block.
Greedy decoding (temperature 0: argmax, confidence from softmax(logits)). The forward is the float64
one of reference_forward.py (the conventions it pins); the prefix / dual caches are real K/V caches.

Tiny random checkpoints in the real layout are written next to the cases, made "peaked" (a scaled LM
head) and checked: every decision of every case (argmax token, the cut of a top-k, a threshold test)
must clear a margin far above float32 noise, otherwise the next seed is tried. The schedule's counts
are also checked to agree between torch.linspace, ATen's scalar formula and a fused multiply-add
variant (so no count depends on how a device computes linspace).

Writes vectors/sampler-<family>/{config.json, model.safetensors, cases.json}.
Regenerate:  OMP_NUM_THREADS=1 /usr/bin/python3 tests/reference/reference_sampler.py
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_forward as rf  # noqa: E402  (the independent forward and the safetensors writer)

torch.set_num_threads(1)
HERE = os.path.dirname(os.path.abspath(__file__))
LOGIT_MARGIN = 1e-3   # float32 vs float64 logits differ by ~1e-5 here
CONF_MARGIN = 1e-4    # confidences (probabilities, entropies) at a cut or a threshold
RATIO_MARGIN = 1e-3   # relative gap of the two largest p / q of a categorical draw
GEN = 16


class NearTie(Exception):
    pass


# ---------------------------------------------------------------- forward with a K/V cache

def forward_kv(family, a, w, ids, positions, ctx=None, ctx_keep=None, mask=None):
    """Forward of `ids` [1, T] at `positions` [T], attending to cached context K/V (per layer, [1, kv, C, d])
    selected by ctx_keep (bool [C]) and to its own keys under `mask` (bool [T, T], None = all).
    Returns float64 logits [1, T, V] and the fed tokens' K/V per layer."""
    embed, final, head = rf.top_names(family)
    dt = torch.float64
    h = w[embed].to(dt)[ids]
    _, t = ids.shape
    nh, nkv, d = a["heads"], a["kv"], a["head_dim"]
    group = nh // nkv
    own = torch.ones(t, t, dtype=torch.bool) if mask is None else mask
    fresh = []
    for i in range(a["layers"]):
        n = rf.names(family, i)
        W = {k: w[v].to(dt) for k, v in n.items()}
        x = rf.rms_norm(h, W["attn_norm"], a["eps"])
        q = (x @ W["q"].T + (W["qb"] if "qb" in W else 0)).view(1, t, nh, d)
        k = (x @ W["k"].T + (W["kb"] if "kb" in W else 0)).view(1, t, nkv, d)
        v = (x @ W["v"].T + (W["vb"] if "vb" in W else 0)).view(1, t, nkv, d)
        if a["qk_norm"]:
            q = rf.rms_norm(q, W["q_norm"], a["eps"])
            k = rf.rms_norm(k, W["k_norm"], a["eps"])
        q = rf.rope(q.transpose(1, 2), positions, a["theta"])
        k = rf.rope(k.transpose(1, 2), positions, a["theta"])
        v = v.transpose(1, 2)
        fresh.append((k, v))
        if ctx is not None:
            ck, cv = ctx[i]
            keys = torch.cat([ck[:, :, ctx_keep], k], dim=2)
            vals = torch.cat([cv[:, :, ctx_keep], v], dim=2)
            m = torch.cat([torch.ones(t, int(ctx_keep.sum()), dtype=torch.bool), own], dim=1)
        else:
            keys, vals, m = k, v, own
        heads = []
        for hh in range(nh):
            s = (q[:, hh] @ keys[:, hh // group].transpose(-1, -2)) / math.sqrt(d)
            heads.append(torch.softmax(s.masked_fill(~m, float("-inf")), dim=-1) @ vals[:, hh // group])
        o = torch.stack(heads, dim=1).transpose(1, 2).reshape(1, t, nh * d)
        h = h + o @ W["o"].T
        x = rf.rms_norm(h, W["mlp_norm"], a["eps"])
        h = h + (torch.nn.functional.silu(x @ W["gate"].T) * (x @ W["up"].T)) @ W["down"].T
    h = rf.rms_norm(h, w[final].to(dt), a["eps"])
    return h @ w[head].to(dt).T, fresh


# ---------------------------------------------------------------- decisions, with their margins checked

def greedy_tokens(logits, mask_id):
    """argmax per position (the mask token is never a prediction), checking the top-2 gap."""
    lg = logits.clone()
    lg[..., mask_id] = float("-inf")
    top = lg.topk(2, dim=-1)
    if (top.values[..., 0] - top.values[..., 1]).min().item() < LOGIT_MARGIN:
        raise NearTie("argmax")
    return top.indices[..., 0], torch.softmax(lg, dim=-1)


def filtered_probs(logits, mask_id, temperature, top_p, top_k, order):
    """softmax of logits / T after the authors' filters: Dream's sample_tokens applies top-p then top-k, SDAR's
    sampler top-k then top-p (the mask token is never a prediction). Checks that no filter decision is near a tie."""
    lg = logits.clone()
    lg[..., mask_id] = float("-inf")
    lg = lg / temperature

    def top_k_filter(x):
        if not top_k:
            return x
        vals = x.topk(top_k + 1, dim=-1).values
        if (vals[..., top_k - 1] - vals[..., top_k]).min().item() < LOGIT_MARGIN / temperature:
            raise NearTie("top-k filter")
        return x.masked_fill(x < vals[..., top_k - 1:top_k], float("-inf"))

    def top_p_filter(x):
        if top_p >= 1:
            return x
        srt, idx = x.sort(dim=-1, descending=True)
        cum = torch.softmax(srt, dim=-1).cumsum(-1)
        if (cum - top_p).abs().min().item() < CONF_MARGIN:
            raise NearTie("top-p filter")
        drop = cum > top_p
        drop[..., 1:] = drop[..., :-1].clone()
        drop[..., 0] = False
        return x.masked_fill(torch.zeros_like(drop).scatter(-1, idx, drop), float("-inf"))

    lg = top_k_filter(top_p_filter(lg)) if order == "dream" else top_p_filter(top_k_filter(lg))
    return torch.softmax(lg, dim=-1)


def categorical_draw(probs, gen):
    """torch.multinomial(probs, 1) as torch >= 2 computes it (what the authors and TorchSharp's libtorch 2.10 run):
    q = exponential_ over a float32 tensor shaped like probs from the generator, argmax(probs / q). (Debian's torch
    1.13 takes an older inverse-CDF path for one sample with replacement, so it is spelled out here.) Categorical
    normalizes probs first. Checks the argmax is clear of a near tie."""
    q = torch.empty(probs.shape, dtype=torch.float32).exponential_(generator=gen).double()
    ratio = (probs / probs.sum(-1, keepdim=True)) / q
    top = ratio.topk(2, dim=-1).values
    if ((top[..., 0] - top[..., 1]) / top[..., 0]).min().item() < RATIO_MARGIN:
        raise NearTie("categorical draw")
    return ratio.argmax(-1)


def alg_temp_positions(full, k, alg_temp, gen):
    """Dream's alg_temp: torch.multinomial(softmax(full_confidence / alg_temp), k) without replacement, which torch >= 2
    computes as topk(w / q, k) with q = exponential_ over the row (the same fast path as one sample). Checks the cut."""
    w = torch.softmax(full / alg_temp, dim=-1)
    q = torch.empty(full.shape, dtype=torch.float32).exponential_(generator=gen).double()
    ratio = w / q
    vals, idx = ratio.topk(min(k + 1, ratio.numel()))
    if k < vals.numel() and vals[k] > 0 and ((vals[k - 1] - vals[k]) / vals[k - 1]).item() < RATIO_MARGIN:
        raise NearTie("alg_temp cut")
    return idx[:k]


def step_tokens(logits, mask_id, sampling, gen, order):
    """A step's (x0, probs): sampled when sampling asks for a temperature, else greedy."""
    if sampling and sampling.get("temperature", 0) > 0:
        return sampled_tokens(logits, mask_id, sampling, gen, order)
    return greedy_tokens(logits, mask_id)


def sampled_tokens(logits, mask_id, s, gen, order):
    """(x0, probs) of a sampled step: s = dict(temperature, top_p, top_k)."""
    probs = filtered_probs(logits, mask_id, s["temperature"], s["top_p"], s["top_k"], order)
    return categorical_draw(probs, gen), probs


def confidence(probs, x0, alg):
    if alg == "entropy":
        return (probs * torch.log(probs + 1e-10)).sum(-1)
    if alg == "topk_margin":
        s = probs.sort(dim=-1, descending=True).values
        return s[..., 0] - s[..., 1]
    return probs.gather(-1, x0.unsqueeze(-1)).squeeze(-1)      # maskgit_plus / probability


def top_k_positions(conf, k):
    """The k most confident candidates (conf = -inf elsewhere), checking the gap at the cut."""
    if k <= 0:
        return torch.empty(0, dtype=torch.long)
    vals, idx = conf.topk(min(k + 1, conf.numel()))
    finite = vals[torch.isfinite(vals)]
    if k < finite.numel() and (finite[k - 1] - finite[k]).item() < CONF_MARGIN:
        raise NearTie("top-k cut")
    return idx[:k]


def check_threshold(conf, tau):
    c = conf[torch.isfinite(conf)]
    if c.numel() and (c - tau).abs().min().item() < CONF_MARGIN:
        raise NearTie("threshold")


def timesteps(count, eps):
    """torch.linspace(1, eps, count), float32; the counts it yields are cross-checked in check_linspace."""
    return torch.linspace(1, eps, count)


def dream_count(n, t, s, last):
    """int(n * (1 - s / t)) computed as the authors' float32 tensors do; all at the last step."""
    if last:
        return n
    return int(torch.tensor(float(n)) * (1 - s / t))


def linspace_variants(steps, eps):
    """torch.linspace, ATen's scalar formula (start + step * i up to halfway, end - step * (steps - i) after;
    what the C# uses) and the same with a fused multiply-add (a GPU may contract it)."""
    f32 = torch.float32
    step = (torch.tensor(eps, dtype=f32) - torch.tensor(1.0, dtype=f32)) / steps
    idx = torch.arange(steps + 1)
    half = (steps + 1) // 2
    scalar = torch.where(idx < half, torch.tensor(1.0, dtype=f32) + step * idx.to(f32),
                         torch.tensor(eps, dtype=f32) - step * (steps - idx).to(f32))
    fused = torch.where(idx < half, (1.0 + step.double() * idx.double()).to(f32),
                        (torch.tensor(eps, dtype=f32).double() - step.double() * (steps - idx).double()).to(f32))
    return torch.linspace(1, eps, steps + 1), scalar, fused


def check_linspace(eps=1e-3):
    """Along every schedule a block can take (n0 masks, `steps` steps, from step 0, or from step 1 with
    n0 - 1 masks as in the block version), the counts must not depend on the linspace variant. (Off the
    paths they do, for a few (n, i) pairs: n * (1 - s / t) then lies within an ulp of an integer.)"""
    def path(t, n, steps, first):
        out = []
        for i in range(first, steps):
            k = dream_count(n, t[i], t[i + 1], i == steps - 1)
            out.append(k)
            n -= k
        return out
    checked = 0
    for n0 in list(range(1, 65)) + [128, 256, 512, 1024]:
        for steps in sorted({n0, n0 // 2, n0 // 4, *range(2, min(n0, 64) + 1)} - {0}):
            vs = linspace_variants(steps, eps)
            for first, n in ((0, n0), (1, n0 - 1)):
                if first == 1 and steps < 2:
                    continue
                paths = [path(v, n, steps, first) for v in vs]
                if not paths[0] == paths[1] == paths[2]:
                    raise SystemExit(f"timestep counts depend on the linspace variant: {n0} masks, {steps} steps")
                checked += 1
    return checked


# ---------------------------------------------------------------- Dream

def dream_sample(a, w, cfg, prompt, steps, alg, eps=1e-3, sampling=None):
    """generation_utils.py _sample (one region, no cache), greedy or sampled (sampling: temperature, top_p, top_k, seed)."""
    mask_id = cfg["mask_token_id"]
    x = torch.tensor([prompt + [mask_id] * GEN])
    pos = torch.arange(x.shape[1])
    ts = timesteps(steps + 1, eps)
    gen = torch.Generator().manual_seed(sampling["seed"]) if sampling else None
    nfe = 0
    for i in range(steps):
        mask_index = x[0] == mask_id
        logits, _ = forward_kv("dream", a, w, x, pos)
        nfe += 1
        logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)[0]
        x0, probs = step_tokens(logits[mask_index], mask_id, sampling, gen, "dream")
        conf = confidence(probs, x0, alg)
        n = int(mask_index.sum())
        k = dream_count(n, ts[i], ts[i + 1], i == steps - 1)
        full = torch.full((x.shape[1],), float("-inf"), dtype=torch.float64)
        full[mask_index] = conf
        if k > 0 and sampling and sampling.get("alg_temp", 0) > 0:
            chosen = alg_temp_positions(full, k, sampling["alg_temp"], gen)
        else:
            chosen = top_k_positions(full, k)
        cand = torch.full((x.shape[1],), mask_id)
        cand[mask_index] = x0
        x[0, chosen] = cand[chosen]
    return x[0, len(prompt):].tolist(), nfe


def dream_block_sample(a, w, cfg, prompt, steps, block, dual, threshold=None, eps=1e-3, sampling=None):
    """generation_utils_block.py _sample (prefix or dual cache), greedy or sampled: entropy schedule or confidence threshold."""
    mask_id = cfg["mask_token_id"]
    x = torch.tensor([prompt + [mask_id] * GEN])
    length = x.shape[1]
    pos = torch.arange(length)
    blocks = GEN // block
    spb = steps // blocks
    ts = timesteps(spb + 1, eps)
    gen = torch.Generator().manual_seed(sampling["seed"]) if sampling else None
    nfe = 0
    for b in range(blocks):
        start = len(prompt) + b * block
        end = start + block
        logits, kv = forward_kv("dream", a, w, x, pos)              # refreshes the cache
        nfe += 1
        logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)[0]
        if sampling and sampling.get("temperature", 0) > 0:        # the authors sample every canvas position and keep one
            x0, _ = sampled_tokens(logits, mask_id, sampling, gen, "dream")
            x[0, start] = x0[start]
        else:
            x0, _ = greedy_tokens(logits[start:start + 1], mask_id)
            x[0, start] = x0[0]                                      # the block's first position, unconditionally
        i = 1
        while True:
            if dual:
                keep = torch.ones(length, dtype=torch.bool)
                keep[start:end] = False                              # the block's slots are replaced by its fresh K/V
                fed = x[:, start:end]
                out, _ = forward_kv("dream", a, w, fed, pos[start:end], kv, keep)
            else:
                keep = torch.zeros(length, dtype=torch.bool)
                keep[:start] = True
                fed = x[:, start:]
                out, _ = forward_kv("dream", a, w, fed, pos[start:], kv, keep)
            nfe += 1
            out = torch.cat([out[:, :1], out[:, :-1]], dim=1)[0]     # the shift inside the fed part
            mask_index = fed[0] == mask_id
            mask_index[block:] = False
            if threshold is not None:
                x0, probs = greedy_tokens(out[mask_index], mask_id)
                conf = confidence(probs, x0, "maskgit_plus")
                full = torch.full((fed.shape[1],), float("-inf"), dtype=torch.float64)
                full[mask_index] = conf
                check_threshold(full, threshold)
                order = top_k_positions(full, int(mask_index.sum()))
                chosen = [order[0].item()] + [p.item() for p in order[1:] if full[p] >= threshold]
            else:
                if i == spb:
                    break
                x0, probs = step_tokens(out[mask_index], mask_id, sampling, gen, "dream")
                conf = confidence(probs, x0, "entropy")
                n = int(mask_index.sum())
                k = dream_count(n, ts[i], ts[i + 1], i >= spb - 1)
                full = torch.full((fed.shape[1],), float("-inf"), dtype=torch.float64)
                full[mask_index] = conf
                if k > 0 and sampling and sampling.get("alg_temp", 0) > 0:
                    chosen = alg_temp_positions(full, k, sampling["alg_temp"], gen).tolist()
                else:
                    chosen = top_k_positions(full, k).tolist()
                i += 1
            cand = torch.full((fed.shape[1],), mask_id)
            cand[mask_index] = x0
            for p in chosen:
                x[0, start + p] = cand[p]
            if (x[0, start:end] == mask_id).sum() == 0:
                break
    return x[0, len(prompt):].tolist(), nfe


# ---------------------------------------------------------------- SDAR

def sdar_generate(a, w, cfg, prompt, steps_per_block, strategy, threshold=0.85, sampling=None, stop=None):
    """generate.py block_diffusion_generate, greedy (argmax; confidence from softmax(logits)) or sampled
    (torch.multinomial over every position of the block at every step; confidence from the scaled, filtered probabilities)."""
    mask_id = cfg["mask_token_id"]
    bl = cfg["block_size"]
    p = len(prompt)
    blocks = (p + GEN + bl - 1) // bl
    total = blocks * bl
    x = torch.full((1, total), mask_id)
    x[0, :p] = torch.tensor(prompt)
    pos = torch.arange(total)
    mask = rf.attention_mask(a, total)
    prefill_blocks = p // bl
    nfe = 1 if prefill_blocks > 0 else 0                             # the prefill forward stores whole prompt blocks
    base, rem = divmod(bl, steps_per_block)
    schedule = [base + (1 if s < rem else 0) for s in range(steps_per_block)]
    gen = torch.Generator().manual_seed(sampling["seed"]) if sampling else None
    for b in range(prefill_blocks, blocks):
        lo, hi = b * bl, (b + 1) * bl
        for step in range(steps_per_block + 1):
            cur = x[0, lo:hi]
            mask_index = cur == mask_id
            if mask_index.sum() == 0:
                nfe += 1                                             # stores the block's K/V
                break
            # The cached forward of the block equals the block-causal full forward restricted to it.
            logits, _ = forward_kv("sdar", a, w, x[:, :hi], pos[:hi], mask=mask[:hi, :hi])
            nfe += 1
            if sampling:
                x0, probs = sampled_tokens(logits[0, lo:hi], mask_id, sampling, gen, "sdar")
            else:
                x0, probs = greedy_tokens(logits[0, lo:hi], mask_id)
            x0_p = probs.gather(-1, x0.unsqueeze(-1)).squeeze(-1)
            conf = torch.where(mask_index, x0_p, torch.tensor(float("-inf"), dtype=torch.float64))
            k = schedule[step]
            high = conf > threshold
            if strategy == "dynamic":
                check_threshold(conf, threshold)
            if strategy == "dynamic" and int(high.sum()) >= k:
                chosen = high.nonzero().flatten()
            elif k > int(mask_index.sum()):
                # The share exceeds the masks left: the authors' topk over the float32 confidences (-inf where decided)
                # also returns decided positions (ties in libtorch's order), and the step rewrites them, prompt tail included.
                chosen = torch.topk(conf.float(), k).indices
            else:
                chosen = top_k_positions(conf, k)
            cur[chosen] = x0[chosen]
        if stop and any(t in x[0, p:].tolist() for t in stop):      # stopping_criteria_idx: undecided blocks stay masked
            break
    return x[0, p:].tolist(), nfe


# ---------------------------------------------------------------- cases and files

# Sampled cases: temperature alone, and with top-p and top-k (each seeds the authors' one generator).
SAMPLED = (dict(temperature=0.8, top_p=1.0, top_k=0, seed=11), dict(temperature=1.3, top_p=0.9, top_k=12, seed=12))


# Dream's alg_temp (positions drawn from softmax(confidence / alg_temp)), greedy tokens and sampled ones.
ALG_TEMP = (dict(temperature=0.0, top_p=1.0, top_k=0, seed=13, alg_temp=0.5), dict(temperature=0.8, top_p=1.0, top_k=0, seed=14, alg_temp=0.3))


def random_prompt(gen, length, vocab):
    return torch.randint(0, vocab - 3, (length,), generator=gen).tolist()


def dream_cases(a, w, cfg, gen):
    cases = []
    for steps in (GEN, GEN // 2):
        prompt = random_prompt(gen, 5, a["vocab"])
        for alg in ("entropy", "maskgit_plus", "topk_margin"):
            tokens, nfe = dream_sample(a, w, cfg, prompt, steps, alg)
            cases.append(dict(name=f"none-{alg}-steps{steps}", prompt=prompt, gen_length=GEN, block_length=GEN, steps=steps,
                              cache="none", unmasking="schedule", confidence=alg, tokens=tokens, nfe=nfe))
        for cache in ("prefix", "dual"):
            tokens, nfe = dream_block_sample(a, w, cfg, prompt, steps, 8, cache == "dual")
            cases.append(dict(name=f"{cache}-entropy-steps{steps}", prompt=prompt, gen_length=GEN, block_length=8, steps=steps,
                              cache=cache, unmasking="schedule", confidence="entropy", tokens=tokens, nfe=nfe))
    for steps, sampling in ((GEN, SAMPLED[0]), (GEN // 2, SAMPLED[1])):
        prompt = random_prompt(gen, 5, a["vocab"])
        for alg in ("entropy", "maskgit_plus"):
            tokens, nfe = dream_sample(a, w, cfg, prompt, steps, alg, sampling=sampling)
            cases.append(dict(name=f"none-{alg}-steps{steps}-sampled", prompt=prompt, gen_length=GEN, block_length=GEN, steps=steps,
                              cache="none", unmasking="schedule", confidence=alg, tokens=tokens, nfe=nfe, **sampling))
        for cache in ("prefix", "dual"):
            tokens, nfe = dream_block_sample(a, w, cfg, prompt, steps, 8, cache == "dual", sampling=sampling)
            cases.append(dict(name=f"{cache}-entropy-steps{steps}-sampled", prompt=prompt, gen_length=GEN, block_length=8, steps=steps,
                              cache=cache, unmasking="schedule", confidence="entropy", tokens=tokens, nfe=nfe, **sampling))
    prompt = random_prompt(gen, 5, a["vocab"])
    for sampling in ALG_TEMP:
        tag = f"algtemp-T{sampling['temperature']}"
        tokens, nfe = dream_sample(a, w, cfg, prompt, GEN, "entropy", sampling=sampling)
        cases.append(dict(name=f"none-entropy-{tag}", prompt=prompt, gen_length=GEN, block_length=GEN, steps=GEN,
                          cache="none", unmasking="schedule", confidence="entropy", tokens=tokens, nfe=nfe, **sampling))
        for cache in ("prefix", "dual"):
            tokens, nfe = dream_block_sample(a, w, cfg, prompt, GEN // 2, 8, cache == "dual", sampling=sampling)
            cases.append(dict(name=f"{cache}-entropy-{tag}", prompt=prompt, gen_length=GEN, block_length=8, steps=GEN // 2,
                              cache=cache, unmasking="schedule", confidence="entropy", tokens=tokens, nfe=nfe, **sampling))
    prompt = random_prompt(gen, 6, a["vocab"])
    for cache in ("prefix", "dual"):
        tokens, nfe = dream_block_sample(a, w, cfg, prompt, GEN, 8, cache == "dual", threshold=0.5)
        cases.append(dict(name=f"{cache}-threshold", prompt=prompt, gen_length=GEN, block_length=8, steps=GEN, cache=cache,
                          unmasking="threshold", threshold=0.5, confidence="maskgit_plus", tokens=tokens, nfe=nfe))
    return cases


def sdar_cases(a, w, cfg, gen):
    cases = []
    for plen in (8, 10):
        prompt = random_prompt(gen, plen, a["vocab"])
        for spb, strategy in ((4, "static"), (2, "static"), (4, "dynamic")):
            if True:
                tokens, nfe = sdar_generate(a, w, cfg, prompt, spb, strategy, threshold=0.5)
                blocks = GEN // cfg["block_size"]
                cases.append(dict(name=f"prompt{plen}-{strategy}-spb{spb}", prompt=prompt, gen_length=GEN, block_length=cfg["block_size"],
                                  steps=spb * blocks, cache="none", unmasking="schedule" if strategy == "static" else "dynamic_top_k",
                                  threshold=0.5, confidence="maskgit_plus", tokens=tokens, nfe=nfe))
        if plen == 10:
            for tail_len in (9, 11):
                p2 = random_prompt(gen, tail_len, a["vocab"])
                for sampling in (None, SAMPLED[0]):
                    tokens, nfe = sdar_generate(a, w, cfg, p2, 2, "static", threshold=0.5, sampling=sampling)
                    cases.append(dict(name=f"prompt{tail_len}-static-spb2-overfull{'-sampled' if sampling else ''}", prompt=p2, gen_length=GEN,
                                      block_length=cfg["block_size"], steps=2 * (GEN // cfg["block_size"]), cache="none", unmasking="schedule",
                                      threshold=0.5, confidence="maskgit_plus", tokens=tokens, nfe=nfe, **(sampling or {})))
            full, _ = sdar_generate(a, w, cfg, prompt, 4, "static", threshold=0.5)
            stop = [full[6]]                                           # a token of the third block: the stop cuts the rest
            tokens, nfe = sdar_generate(a, w, cfg, prompt, 4, "static", threshold=0.5, stop=stop)
            cases.append(dict(name=f"prompt{plen}-static-spb4-stop", prompt=prompt, gen_length=GEN, block_length=cfg["block_size"],
                              steps=4 * (GEN // cfg["block_size"]), cache="none", unmasking="schedule", threshold=0.5,
                              confidence="maskgit_plus", tokens=tokens, nfe=nfe, stop_tokens=stop))
        for spb, strategy, sampling in ((4, "static", SAMPLED[0]), (4, "dynamic", SAMPLED[1])):
            tokens, nfe = sdar_generate(a, w, cfg, prompt, spb, strategy, threshold=0.5, sampling=sampling)
            blocks = GEN // cfg["block_size"]
            cases.append(dict(name=f"prompt{plen}-{strategy}-spb{spb}-sampled", prompt=prompt, gen_length=GEN, block_length=cfg["block_size"],
                              steps=spb * blocks, cache="none", unmasking="schedule" if strategy == "static" else "dynamic_top_k",
                              threshold=0.5, confidence="maskgit_plus", tokens=tokens, nfe=nfe, **sampling))
    return cases


def peaked_weights(family, a, seed, scale):
    gen = torch.Generator().manual_seed(seed)
    w = rf.random_weights(family, a, gen)
    _, _, head = rf.top_names(family)
    w[head] = w[head] * scale
    return w, gen


def write(family, cfg, build_cases, first_seed, scale):
    a = rf.arch(family, cfg)
    for seed in range(first_seed, first_seed + 200):
        w, gen = peaked_weights(family, a, seed, scale)
        try:
            cases = build_cases(a, w, cfg, gen)
        except NearTie as e:
            print(f"  {family}: seed {seed} has a near tie ({e}); next seed")
            continue
        out = os.path.join(HERE, "vectors", f"sampler-{family}")
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
            f.write("\n")
        rf.save_safetensors(os.path.join(out, "model.safetensors"), w, {"format": "pt"})
        doc = dict(generator="tests/reference/reference_sampler.py", seed=seed, head_scale=scale,
                   logit_margin=LOGIT_MARGIN, confidence_margin=CONF_MARGIN, ratio_margin=RATIO_MARGIN, cases=cases)
        with open(os.path.join(out, "cases.json"), "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        for c in cases:
            print(f"  {family} {c['name']:<28} nfe {c['nfe']:>3}  tokens {c['tokens']}")
        return
    raise SystemExit(f"{family}: no seed without near ties")


def main():
    n = check_linspace()
    print(f"timestep counts agree across linspace variants on {n} schedules (masks 1..64 with steps 1..masks, 128..1024 with masks/1, /2, /4)")
    write("dream", dict(rf.CONFIGS["dream"]), dream_cases, 4004, 4.0)
    write("sdar", dict(rf.CONFIGS["sdar"]), sdar_cases, 5005, 4.0)


if __name__ == "__main__":
    main()
