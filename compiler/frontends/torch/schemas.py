"""The argument names and defaults of the aten overloads the fast `.pt2` reader understands,
as torch's op schemas give them (`torch.ops.aten.conv2d.default._schema`): each entry is a
tuple of `(name,)` (no default) or `(name, default)` per argument, in schema order.

torch's JSON serializer omits arguments equal to their default, so the reader needs these to
bind a node's arguments exactly as the torch route does. A node whose op is not listed here is
not understood by the fast reader and the file is read by torch instead.
`tests/compiler/frontends/torch/test_fast_pt2.py` checks every entry against the installed
torch and that every registered aten converter is listed.
"""
from __future__ import annotations

# fmt: off
SCHEMAS: dict[str, tuple] = {
    'aten._adaptive_avg_pool2d.default': (('self',), ('output_size',),),
    'aten._convolution.default': (
        ('input',), ('weight',), ('bias',), ('stride',), ('padding',), ('dilation',), ('transposed',),
        ('output_padding',), ('groups',), ('benchmark',), ('deterministic',), ('cudnn_enabled',), ('allow_tf32',),
    ),
    'aten._native_batch_norm_legit.default': (
        ('input',), ('weight',), ('bias',), ('running_mean',), ('running_var',), ('training',), ('momentum',),
        ('eps',),
    ),
    'aten._native_batch_norm_legit.no_stats': (
        ('input',), ('weight',), ('bias',), ('training',), ('momentum',), ('eps',),
    ),
    'aten._native_batch_norm_legit_functional.default': (
        ('input',), ('weight',), ('bias',), ('running_mean',), ('running_var',), ('training',), ('momentum',),
        ('eps',),
    ),
    'aten._native_batch_norm_legit_no_training.default': (
        ('input',), ('weight',), ('bias',), ('running_mean',), ('running_var',), ('momentum',), ('eps',),
    ),
    'aten._softmax.default': (('self',), ('dim',), ('half_to_float',),),
    'aten._to_copy.default': (
        ('self',), ('dtype', None), ('layout', None), ('device', None), ('pin_memory', None), ('non_blocking', False),
        ('memory_format', None),
    ),
    'aten._unsafe_view.default': (('self',), ('size',),),
    'aten.adaptive_avg_pool2d.default': (('self',), ('output_size',),),
    'aten.add.Scalar': (('self',), ('other',), ('alpha', 1),),
    'aten.add.Tensor': (('self',), ('other',), ('alpha', 1),),
    'aten.add_.Tensor': (('self',), ('other',), ('alpha', 1),),
    'aten.addmm.default': (('self',), ('mat1',), ('mat2',), ('beta', 1), ('alpha', 1),),
    'aten.alias.default': (('self',),),
    'aten.alpha_dropout.default': (('input',), ('p',), ('train',),),
    'aten.avg_pool2d.default': (
        ('self',), ('kernel_size',), ('stride', []), ('padding', [0, 0]), ('ceil_mode', False),
        ('count_include_pad', True), ('divisor_override', None),
    ),
    'aten.batch_norm.default': (
        ('input',), ('weight',), ('bias',), ('running_mean',), ('running_var',), ('training',), ('momentum',),
        ('eps',), ('cudnn_enabled',),
    ),
    'aten.cat.default': (('tensors',), ('dim', 0),),
    'aten.clamp.default': (('self',), ('min', None), ('max', None),),
    'aten.clamp_.default': (('self',), ('min', None), ('max', None),),
    'aten.clamp_min.default': (('self',), ('min',),),
    'aten.clamp_min_.default': (('self',), ('min',),),
    'aten.clone.default': (('self',), ('memory_format', None),),
    'aten.concat.default': (('tensors',), ('dim', 0),),
    'aten.constant_pad_nd.default': (('self',), ('pad',), ('value', 0),),
    'aten.contiguous.default': (('self',), ('memory_format', 0),),
    'aten.conv2d.default': (
        ('input',), ('weight',), ('bias', None), ('stride', [1, 1]), ('padding', [0, 0]), ('dilation', [1, 1]),
        ('groups', 1),
    ),
    'aten.conv2d.padding': (
        ('input',), ('weight',), ('bias', None), ('stride', [1, 1]), ('padding', 'valid'), ('dilation', [1, 1]),
        ('groups', 1),
    ),
    'aten.conv_transpose2d.input': (
        ('input',), ('weight',), ('bias', None), ('stride', [1, 1]), ('padding', [0, 0]), ('output_padding', [0, 0]),
        ('groups', 1), ('dilation', [1, 1]),
    ),
    'aten.convolution.default': (
        ('input',), ('weight',), ('bias',), ('stride',), ('padding',), ('dilation',), ('transposed',),
        ('output_padding',), ('groups',),
    ),
    'aten.detach.default': (('self',),),
    'aten.detach_.default': (('self',),),
    'aten.div.Scalar': (('self',), ('other',),),
    'aten.div.Tensor': (('self',), ('other',),),
    'aten.div_.Tensor': (('self',), ('other',),),
    'aten.dropout.default': (('input',), ('p',), ('train',),),
    'aten.dropout_.default': (('self',), ('p',), ('train',),),
    'aten.feature_alpha_dropout.default': (('input',), ('p',), ('train',),),
    'aten.feature_dropout.default': (('input',), ('p',), ('train',),),
    'aten.flatten.using_ints': (('self',), ('start_dim', 0), ('end_dim', -1),),
    'aten.hardtanh.default': (('self',), ('min_val', -1), ('max_val', 1),),
    'aten.hardtanh_.default': (('self',), ('min_val', -1), ('max_val', 1),),
    'aten.lift_fresh_copy.default': (('self',),),
    'aten.linear.default': (('input',), ('weight',), ('bias', None),),
    'aten.matmul.default': (('self',), ('other',),),
    'aten.max_pool2d.default': (
        ('self',), ('kernel_size',), ('stride', []), ('padding', [0, 0]), ('dilation', [1, 1]), ('ceil_mode', False),
    ),
    'aten.max_pool2d_with_indices.default': (
        ('self',), ('kernel_size',), ('stride', []), ('padding', [0, 0]), ('dilation', [1, 1]), ('ceil_mode', False),
    ),
    'aten.mean.dim': (('self',), ('dim',), ('keepdim', False), ('dtype', None),),
    'aten.mm.default': (('self',), ('mat2',),),
    'aten.mul.Scalar': (('self',), ('other',),),
    'aten.mul.Tensor': (('self',), ('other',),),
    'aten.mul_.Tensor': (('self',), ('other',),),
    'aten.native_batch_norm.default': (
        ('input',), ('weight',), ('bias',), ('running_mean',), ('running_var',), ('training',), ('momentum',),
        ('eps',),
    ),
    'aten.native_dropout.default': (('input',), ('p',), ('train',),),
    'aten.permute.default': (('self',), ('dims',),),
    'aten.relu.default': (('self',),),
    'aten.relu6.default': (('self',),),
    'aten.relu6_.default': (('self',),),
    'aten.relu_.default': (('self',),),
    'aten.reshape.default': (('self',), ('shape',),),
    'aten.softmax.int': (('self',), ('dim',), ('dtype', None),),
    'aten.squeeze.default': (('self',),),
    'aten.squeeze.dim': (('self',), ('dim',),),
    'aten.squeeze.dims': (('self',), ('dim',),),
    'aten.sub.Scalar': (('self',), ('other',), ('alpha', 1),),
    'aten.sub.Tensor': (('self',), ('other',), ('alpha', 1),),
    'aten.sub_.Tensor': (('self',), ('other',), ('alpha', 1),),
    'aten.sym_size.int': (('self',), ('dim',),),
    'aten.t.default': (('self',),),
    'aten.to.dtype': (('self',), ('dtype',), ('non_blocking', False), ('copy', False), ('memory_format', None),),
    'aten.transpose.int': (('self',), ('dim0',), ('dim1',),),
    'aten.unflatten.int': (('self',), ('dim',), ('sizes',),),
    'aten.unsqueeze.default': (('self',), ('dim',),),
    'aten.view.default': (('self',), ('size',),),
}
# fmt: on
