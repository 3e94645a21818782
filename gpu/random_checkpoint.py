#!/usr/bin/env python3
"""Writes a random LLaDA-layout bfloat16 checkpoint of about N parameters (docs/gpu.md, load measurement).
Usage: python3 gpu/random_checkpoint.py OUT_DIR [--layers 17 --hidden 2048 --mlp 5632 --vocab 32000]
Standard library only. Values are random bit patterns with the top exponent bit cleared (finite, |x| < 2):
a load measurement needs real bytes, not meaningful weights."""
import argparse, json, os, struct

ap = argparse.ArgumentParser()
ap.add_argument('out'); ap.add_argument('--layers', type=int, default=17); ap.add_argument('--hidden', type=int, default=2048)
ap.add_argument('--heads', type=int, default=16); ap.add_argument('--mlp', type=int, default=5632); ap.add_argument('--vocab', type=int, default=32000)
a = ap.parse_args()
h, m, v = a.hidden, a.mlp, a.vocab
names = [('model.transformer.wte.weight', [v, h]), ('model.transformer.ln_f.weight', [h]), ('model.transformer.ff_out.weight', [v, h])]
for i in range(a.layers):
    p = f'model.transformer.blocks.{i}.'
    names += [(p + 'attn_norm.weight', [h]), (p + 'q_proj.weight', [h, h]), (p + 'k_proj.weight', [h, h]), (p + 'v_proj.weight', [h, h]),
              (p + 'attn_out.weight', [h, h]), (p + 'ff_norm.weight', [h]), (p + 'ff_proj.weight', [m, h]), (p + 'up_proj.weight', [m, h]),
              (p + 'ff_out.weight', [h, m])]
names.sort()
header, off = {'__metadata__': {'format': 'pt'}}, 0
for n, shape in names:
    size = 2
    for d in shape: size *= d
    header[n] = {'dtype': 'BF16', 'shape': shape, 'data_offsets': [off, off + size]}; off += size
hb = json.dumps(header, separators=(',', ':')).encode(); hb += b' ' * ((8 - len(hb) % 8) % 8)
os.makedirs(a.out, exist_ok=True)
clear = bytes(b & 0xBF for b in range(256))  # clears bit 6 of every byte: the top exponent bit of each bf16's high byte
with open(os.path.join(a.out, 'model.safetensors'), 'wb') as f:
    f.write(struct.pack('<Q', len(hb))); f.write(hb)
    left = off
    while left:
        n = min(left, 64 << 20); f.write(os.urandom(n).translate(clear)); left -= n
cfg = {'architectures': ['LLaDAModelLM'], 'model_type': 'llada', 'd_model': h, 'n_layers': a.layers, 'n_heads': a.heads, 'n_kv_heads': a.heads,
       'mlp_hidden_size': m, 'vocab_size': v, 'embedding_size': v, 'max_sequence_length': 4096, 'rope_theta': 500000.0, 'rms_norm_eps': 1e-05,
       'weight_tying': False, 'include_bias': False, 'include_qkv_bias': False, 'attention_layer_norm': False, 'rope': True, 'block_type': 'llama',
       'activation_type': 'silu', 'layer_norm_type': 'rms', 'mask_token_id': v - 1, 'eos_token_id': v - 2, 'pad_token_id': v - 2,
       'bos_token_id': v - 3, 'torch_dtype': 'bfloat16'}
json.dump(cfg, open(os.path.join(a.out, 'config.json'), 'w'), indent=2)
print(f'{off // 2:,} parameters, {off / 2**30:.2f} GiB -> {a.out}')
