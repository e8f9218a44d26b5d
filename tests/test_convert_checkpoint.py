"""tools/convert_prtr_checkpoint.py on state dicts with the official key
names and shapes (built from upstream's module layout)."""
import os.path as osp
import subprocess

import torch
from conftest import PYTHON, ROOT
from mmengine.config import Config
from mmpose.registry import MODELS
from torch import nn


def official_transformer_state(k, num_queries=100, d=256, ffn=2048, layers=6):
    """The DETR transformer + PRTR heads, named as `PoseTransformer`."""
    sd = {}
    for i in range(layers):
        enc = nn.TransformerEncoderLayer(d, 8, ffn)  # same parameter names
        for name, t in enc.state_dict().items():
            sd[f'transformer.encoder.layers.{i}.{name}'] = t
        dec = nn.TransformerDecoderLayer(d, 8, ffn)
        for name, t in dec.state_dict().items():
            sd[f'transformer.decoder.layers.{i}.{name}'] = t
    sd['transformer.decoder.norm.weight'] = torch.rand(d)
    sd['transformer.decoder.norm.bias'] = torch.rand(d)
    sd['class_embed.weight'] = torch.rand(k + 1, d)
    sd['class_embed.bias'] = torch.rand(k + 1)
    for j, (i, o) in enumerate([(d, d), (d, d), (d, 2)]):
        sd[f'kpt_embed.layers.{j}.weight'] = torch.rand(o, i)
        sd[f'kpt_embed.layers.{j}.bias'] = torch.rand(o)
    sd['query_embed.weight'] = torch.rand(num_queries, d)
    sd['input_proj.weight'] = torch.rand(d, 2048, 1, 1)
    sd['input_proj.bias'] = torch.rand(d)
    return sd


def official_resnet50_state():
    """torchvision ResNet-50 names up to layer4, FrozenBatchNorm buffers
    (no num_batches_tracked), under Joiner[0].body."""
    import torchvision
    net = torchvision.models.resnet50()
    sd = {}
    for name, t in net.state_dict().items():
        if name.startswith('fc.') or name.endswith('num_batches_tracked'):
            continue
        sd[f'backbone.0.body.{name}'] = torch.rand_like(t.float())
    return sd


def _convert(tmp_path, state):
    src, dst = tmp_path / 'official.pth', tmp_path / 'converted.pth'
    torch.save(state, src)
    proc = subprocess.run(
        [PYTHON, 'tools/convert_prtr_checkpoint.py',
         str(src),
         str(dst)],
        cwd=ROOT,
        capture_output=True,
        text=True)
    assert proc.returncode == 0, proc.stderr
    return torch.load(dst, weights_only=True)['state_dict']


def _model(config):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', config))
    cfg.model.backbone.init_cfg = None
    cfg.model.pop('init_cfg', None)
    return MODELS.build(cfg.model)


def test_convert_res50_model_loads_strictly(tmp_path):
    official = {**official_resnet50_state(), **official_transformer_state(17)}
    converted = _convert(tmp_path, official)
    model = _model('prtr_res50_4xb32-200e_coco-384x288.py')
    missing, unexpected = model.load_state_dict(converted, strict=False)
    assert missing == [] and unexpected == []
    # values carried over, e.g. a fused in_proj and the final decoder norm
    assert torch.equal(
        model.head.transformer.encoder.layers[3].self_attn.attn.in_proj_weight,
        official['transformer.encoder.layers.3.self_attn.in_proj_weight'])
    assert torch.equal(
        model.head.transformer.decoder.layers[5].cross_attn.attn.out_proj.
        weight,
        official['transformer.decoder.layers.5.multihead_attn.out_proj.weight']
    )
    assert torch.equal(model.head.transformer.decoder.post_norm.weight,
                       official['transformer.decoder.norm.weight'])
    assert torch.equal(model.backbone.layer4[2].bn3.running_var,
                       official['backbone.0.body.layer4.2.bn3.running_var'])


def test_converted_transformer_computes_like_torch_layers(tmp_path):
    """Same weights, same input: mmdet's layers == nn.Transformer*Layer
    (post-norm, ReLU), which is what the official DETR layers compute."""
    torch.manual_seed(0)
    official = official_transformer_state(17, layers=1)
    enc = nn.TransformerEncoderLayer(256, 8, 2048, dropout=0.0)
    enc.load_state_dict({
        k[len('transformer.encoder.layers.0.'):]: v
        for k, v in official.items()
        if k.startswith('transformer.encoder.layers.0.')
    })
    converted = _convert(tmp_path, official)
    head = MODELS.build(
        dict(
            type='PRTRHead',
            transformer=dict(
                encoder=dict(
                    num_layers=1,
                    layer_cfg=dict(
                        self_attn_cfg=dict(embed_dims=256, num_heads=8),
                        ffn_cfg=dict(
                            embed_dims=256, feedforward_channels=2048))),
                decoder=dict(
                    num_layers=1,
                    layer_cfg=dict(
                        self_attn_cfg=dict(embed_dims=256, num_heads=8),
                        cross_attn_cfg=dict(embed_dims=256, num_heads=8),
                        ffn_cfg=dict(
                            embed_dims=256, feedforward_channels=2048))))))
    head.load_state_dict({
        k[len('head.'):]: v
        for k, v in converted.items()
    },
                         strict=True)
    x = torch.randn(2, 12, 256)
    pos = torch.randn(2, 12, 256)
    ours = head.transformer.encoder(
        query=x, query_pos=pos, key_padding_mask=None)
    # DETR adds pos to q and k only; emulate with nn's layer pieces
    q = k = x + pos
    attn = enc.self_attn(
        q.transpose(0, 1), k.transpose(0, 1),
        x.transpose(0, 1))[0].transpose(0, 1)
    y = enc.norm1(x + attn)
    ref = enc.norm2(y + enc.linear2(torch.relu(enc.linear1(y))))
    assert torch.allclose(ours, ref, atol=1e-5)


def test_convert_hrnet_imagenet_weights(tmp_path):
    """hrnetv2_w32_imagenet_pretrained.pth: backbone + neck, fc dropped."""
    model = _model('prtr_hrnet-w32_4xb16-200e_coco-384x288.py')
    ours = model.state_dict()
    official = {}
    for key, t in ours.items():
        if key.startswith('backbone.'):
            official[key[len('backbone.'):]] = torch.rand_like(t.float())
        elif key.startswith('neck.'):
            official[key[len('neck.'):]] = torch.rand_like(t.float())
    official['classifier.weight'] = torch.rand(1000, 2048)
    official['classifier.bias'] = torch.rand(1000)
    converted = _convert(tmp_path, official)
    missing, unexpected = model.load_state_dict(converted, strict=False)
    assert unexpected == []
    assert all(k.startswith('head.') for k in missing)
    assert torch.equal(model.neck.final_layer[0].weight,
                       official['final_layer.0.weight'])


def test_convert_rejects_unknown_keys(tmp_path):
    src = tmp_path / 'odd.pth'
    torch.save(
        {
            'backbone.0.body.conv1.weight': torch.rand(1),
            'transformer.something.else': torch.rand(1)
        }, src)
    proc = subprocess.run([
        PYTHON, 'tools/convert_prtr_checkpoint.py',
        str(src),
        str(tmp_path / 'o.pth')
    ],
                          cwd=ROOT,
                          capture_output=True,
                          text=True)
    assert proc.returncode != 0
    assert 'transformer.something.else' in proc.stderr
    assert 'Traceback' not in proc.stderr


def official_deformable_state(k=17,
                              d=256,
                              ffn=2048,
                              layers=6,
                              levels=4,
                              points=4,
                              heads=8):
    """`DeformablePoseTransformer` names (upstream deformable_transformer.py:
    MSDeformAttn, decoder norm2 after self-attn and norm1 after
    cross-attn, heads shared by the decoder layers)."""
    sd = {}

    def linear(name, o, i):
        sd[f'{name}.weight'] = torch.rand(o, i)
        sd[f'{name}.bias'] = torch.rand(o)

    def msda(prefix):
        linear(f'{prefix}.sampling_offsets', heads * levels * points * 2, d)
        linear(f'{prefix}.attention_weights', heads * levels * points, d)
        linear(f'{prefix}.value_proj', d, d)
        linear(f'{prefix}.output_proj', d, d)

    for i in range(layers):
        e = f'transformer.encoder.layers.{i}'
        msda(f'{e}.self_attn')
        linear(f'{e}.linear1', ffn, d)
        linear(f'{e}.linear2', d, ffn)
        for n in (1, 2):
            linear(f'{e}.norm{n}', d, 1)
            sd[f'{e}.norm{n}.weight'] = torch.rand(d)
        dd = f'transformer.decoder.layers.{i}'
        msda(f'{dd}.cross_attn')
        sd[f'{dd}.self_attn.in_proj_weight'] = torch.rand(3 * d, d)
        sd[f'{dd}.self_attn.in_proj_bias'] = torch.rand(3 * d)
        linear(f'{dd}.self_attn.out_proj', d, d)
        linear(f'{dd}.linear1', ffn, d)
        linear(f'{dd}.linear2', d, ffn)
        for n in (1, 2, 3):
            linear(f'{dd}.norm{n}', d, 1)
            sd[f'{dd}.norm{n}.weight'] = torch.rand(d)
    sd['transformer.level_embed'] = torch.rand(levels, d)
    linear('transformer.reference_points', 2, d)
    for lvl, (c, ks) in enumerate([(512, 1), (1024, 1), (2048, 1), (2048, 3)]):
        sd[f'input_proj.{lvl}.0.weight'] = torch.rand(d, c, ks, ks)
        sd[f'input_proj.{lvl}.0.bias'] = torch.rand(d)
        sd[f'input_proj.{lvl}.1.weight'] = torch.rand(d)
        sd[f'input_proj.{lvl}.1.bias'] = torch.rand(d)
    cls_w, cls_b = torch.rand(k + 1, d), torch.rand(k + 1)
    mlp = {
        f'layers.{j}.{p}': torch.rand(*((o, i) if p == 'weight' else (o, )))
        for j, (i, o) in enumerate([(d, d), (d, d), (d, 2)])
        for p in ('weight', 'bias')
    }
    for i in range(layers):  # ModuleList of the same module
        sd[f'class_embed.{i}.weight'], sd[f'class_embed.{i}.bias'] = \
            cls_w, cls_b
        for name, t in mlp.items():
            sd[f'kpt_embed.{i}.{name}'] = t
    sd['query_embed.weight'] = torch.rand(100, 2 * d)
    return sd


def test_convert_deformable_model_loads_strictly(tmp_path):
    official = {**official_resnet50_state(), **official_deformable_state()}
    converted = _convert(tmp_path, official)
    model = _model('prtr_deform-res50_4xb16-100e_coco-384x288.py')
    missing, unexpected = model.load_state_dict(converted, strict=False)
    assert missing == [] and unexpected == []
    layer = model.head.transformer.decoder.layers[2]
    assert torch.equal(layer.norms[0].weight,
                       official['transformer.decoder.layers.2.norm2.weight'])
    assert torch.equal(layer.norms[1].weight,
                       official['transformer.decoder.layers.2.norm1.weight'])
    assert torch.equal(
        layer.cross_attn.sampling_offsets.weight, official[
            'transformer.decoder.layers.2.cross_attn.sampling_offsets.weight'])
    assert torch.equal(model.head.class_embed.weight,
                       official['class_embed.3.weight'])
