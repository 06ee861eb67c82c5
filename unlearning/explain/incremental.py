"""Incremental evaluation of a model's local leading layers on LIME's perturbations.

A perturbed image differs from the original only in which superpixels show their mean colour. If the model's
leading layers are *local* (convolutions, pooling, pointwise layers) an activation at output position p depends only
on the input pixels in p's receptive field, and so only on the on/off bits of the superpixels that field touches.
Colour the superpixels so that two superpixels touched by one receptive field never share a colour: then for every
position p and every perturbation z, one of the 2**colours *probe images* (superpixel s on iff bit colour(s) of the
probe number is set) agrees with z on every superpixel p sees, and the prefix's activation at p under z equals the
probe's. The leading layers run on 2**colours probes instead of ``num_samples`` perturbations (16 instead of 1000
for a grid whose cells are at least as wide as the receptive field), and the rest of the model reads the gathered
activations. This is the incremental inference of Krypton (Nakandala et al., SIGMOD 2019) applied to LIME's
sampling; it evaluates the same function, so the coefficients agree with the black-box path to float rounding.

When the modules right after the prefix are affine (average pooling, flatten, linear, eval-mode batch norm,
dropout), they are folded too: their output is J a + b with J their Jacobian, so each position group adds a
per-probe vector and a perturbation's output is a sum of ``groups`` looked-up vectors instead of a pass over the
whole activation map. A leading convolution is linear in its input, so it runs on 1 + colours images (the fill, and
image minus fill on each colour's superpixels) and the probes' first-layer outputs are mixed from those.

Applies to an ``nn.Sequential`` (nested ones are flattened, exact module types only, no hooks) whose first modules
are local; any other model, a segmentation whose superpixels need too many colours, or a cheap prefix with nothing
foldable after it (gathering every perturbation's maps would cost more than it saves) uses the black-box path (every
perturbed image through the whole model). :func:`plan_for` says which path a model gets and why.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ._inputs import check_logits
from .segmentation import _check_segment_ids

# Pointwise modules (output at p depends on the input at p only) in eval mode.
_POINTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
              nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Softplus, nn.Identity,
              nn.Dropout, nn.Dropout2d)
# Affine modules that may follow the prefix and be folded into per-group lookups.
_AFFINE = (nn.Flatten, nn.Linear, nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.Identity, nn.Dropout, nn.Dropout2d,
           nn.BatchNorm1d, nn.BatchNorm2d)
_MIN_GATHER_MACS = 100
"""Without a fold, a prefix is used only if it costs at least this many multiply-adds per output element: gathering an
element costs about as much as 50 multiply-adds of a convolution on CPU, and the margin of 2 covers the gathered
maps' extra copies (a 3x3 convolution over 3 channels, 27, is refused; two such layers over 16 channels pass)."""
_MAX_JACOBIAN = 2 ** 25
"""Largest Jacobian (outputs x activation elements) of the folded affine modules; beyond it the head runs on maps."""


def _flatten(model: nn.Module) -> list[nn.Module] | str:
    """The modules a plain ``nn.Sequential`` applies in order (nested ones expanded), or why it is not one."""
    if type(model).forward is not nn.Sequential.forward:
        return f"{type(model).__name__} is not a plain nn.Sequential (it has its own forward)"
    modules: list[nn.Module] = []
    for child in model:
        if isinstance(child, nn.Sequential):
            inner = _flatten(child)
            if isinstance(inner, str):
                return inner
            modules.extend(inner)
        else:
            modules.append(child)
    return modules


def _has_hooks(model: nn.Module) -> bool:
    """Whether a forward (pre-)hook could change what the model computes: the plan calls modules out of order."""
    hooks = nn.modules.module
    if hooks._global_forward_hooks or hooks._global_forward_pre_hooks:
        return True
    return any(module._forward_hooks or module._forward_pre_hooks for module in model.modules())


def _uses_running_stats(module: nn.Module) -> bool:
    return getattr(module, "track_running_stats", False) and getattr(module, "running_mean", None) is not None


def _is_affine(module: nn.Module) -> bool:
    """Whether ``module`` (in eval mode) is an affine map that can be folded after the prefix."""
    if type(module) in (nn.BatchNorm1d, nn.BatchNorm2d):
        return _uses_running_stats(module)
    return type(module) in _AFFINE


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


_BITS = 63
"""Superpixels per int64 word of the footprint bitmasks (the sign bit is left alone)."""


def _window(size: int, kernel: int, stride: int, before: int, after: int, dilation: int, ceil_mode: bool) -> int:
    """Output length of a convolution/pooling window along one axis (PyTorch's formula)."""
    span = size + before + after - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + before:  # the last window must start inside the input
        out -= 1
    return out


def _paddings(module: nn.Module, kernel: tuple[int, int], dilation: tuple[int, int]) -> list[tuple[int, int]]:
    """(before, after) zero padding per axis, PyTorch's split for ``padding="same"`` (the odd pixel after)."""
    if module.padding == "valid":
        return [(0, 0), (0, 0)]
    if module.padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return [(total // 2, total - total // 2) for total in totals]
    return [(side, side) for side in _pair(module.padding)]


def _touch(module: nn.Module, touched: Tensor) -> Tensor | None:
    """Which superpixels each output position of a local ``module`` sees, or None if it is not local.

    Args:
        touched: (words, H, W) int64 bitmasks on the module's input grid: bit f % 63 of word f // 63 is set where
            superpixel f reaches that position.

    Returns:
        (words, H', W') int64 bitmasks on the output grid: the OR over each position's window.
    """
    # exact types: a subclass may compute something else in its own forward (weight standardisation, padding)
    kind = type(module)
    if kind in _POINTWISE or (kind is nn.BatchNorm2d and _uses_running_stats(module)):
        return touched
    if kind is nn.Conv2d:
        if module.padding_mode != "zeros":  # reflect/replicate/circular read pixels outside the window
            return None
        kernel, stride, dilation = module.kernel_size, module.stride, module.dilation
        ceil_mode = False
    elif kind in (nn.MaxPool2d, nn.AvgPool2d):
        if getattr(module, "return_indices", False):
            return None
        kernel, stride = _pair(module.kernel_size), _pair(module.stride or module.kernel_size)
        dilation = _pair(getattr(module, "dilation", 1))
        ceil_mode = module.ceil_mode
    else:
        return None
    (top, bottom), (left, right) = _paddings(module, kernel, dilation)
    words, height, width = touched.shape
    out_h = _window(height, kernel[0], stride[0], top, bottom, dilation[0], ceil_mode)
    out_w = _window(width, kernel[1], stride[1], left, right, dilation[1], ceil_mode)
    if out_h < 1 or out_w < 1:
        return None
    # zero-pad (padding and ceil-mode overhang see no superpixel) and OR the strided window offsets
    rows = max(height + top + bottom, (out_h - 1) * stride[0] + dilation[0] * (kernel[0] - 1) + 1)
    cols = max(width + left + right, (out_w - 1) * stride[1] + dilation[1] * (kernel[1] - 1) + 1)
    padded = torch.zeros((words, rows, cols), dtype=torch.int64)
    padded[:, top:top + height, left:left + width] = touched
    out = torch.zeros((words, out_h, out_w), dtype=torch.int64)
    for u in range(kernel[0]):
        for v in range(kernel[1]):
            row, col = u * dilation[0], v * dilation[1]
            out |= padded[:, row:row + (out_h - 1) * stride[0] + 1:stride[0],
                          col:col + (out_w - 1) * stride[1] + 1:stride[1]]
    return out


def _colour(conflicts: np.ndarray) -> np.ndarray:
    """Greedy colouring: superpixels that share a receptive field get different colours."""
    colours = np.full(len(conflicts), -1, dtype=np.int64)
    for segment in range(len(conflicts)):
        used = set(colours[conflicts[segment] & (colours >= 0)].tolist())
        colours[segment] = next(c for c in range(len(conflicts) + 1) if c not in used)
    return colours


@dataclass
class IncrementalPlan:
    """How the fast backend evaluates a model on one segmentation's perturbations."""

    prefix: nn.Sequential
    """The local leading modules, run on the probe images."""
    head: nn.Sequential
    """The rest of the model (after ``folded`` when that is not None)."""
    folded: nn.Sequential | None
    """Affine modules after the prefix folded into per-group lookups, or None."""
    colours: np.ndarray
    """(F,) colour of each superpixel; probe k shows superpixel f iff bit colours[f] of k is set."""
    codes: Tensor
    """(F, G) int64: probe number of position group g under z is z @ codes[:, g]."""
    groups: Tensor
    """(P,) int64 group of each prefix output position (positions that see the same superpixels)."""
    _configurations: tuple | None = field(default=None, repr=False)

    @property
    def num_colours(self) -> int:
        return int(self.colours.max()) + 1

    @property
    def num_probes(self) -> int:
        return 2 ** self.num_colours

    def configurations(self) -> tuple[list[tuple[Tensor, Tensor, Tensor]], Tensor]:
        """Which probes a position really needs: a position that sees m superpixels takes only 2**m distinct values
        over the probes (the bits of the other colours do not reach it).

        Returns:
            (classes, expansion). One class per m, a tuple (positions, numbers, groups): the (n,) prefix output
            positions that see m superpixels, ``numbers[p, r]`` (n, 2**m) the probe that shows position p its
            configuration r (bit i of r = on/off of the position's superpixel with its i-th smallest colour), and
            the (n,) group of each position. ``expansion[g, k]`` (G, K) is the configuration r group g sees in
            probe k.
        """
        if self._configurations is None:
            sees = self.codes > 0                                                          # (F, G)
            sizes = sees.sum(dim=0)
            colour_of = torch.from_numpy(self.colours)
            expansion = torch.zeros((sees.shape[1], self.num_probes), dtype=torch.int64)
            probes = torch.arange(self.num_probes)
            classes = []
            for size in sorted(set(sizes.tolist())):
                members = torch.nonzero(sizes == size)[:, 0]                               # groups with m = size
                group_colours = torch.stack([torch.sort(colour_of[sees[:, g]]).values for g in members.tolist()])
                bit = torch.arange(size)
                configs = torch.arange(2 ** size)
                numbers = (((configs[None, :, None] >> bit) & 1) << group_colours[:, None, :]).sum(dim=2)
                expansion[members] = (((probes[None, :, None] >> group_colours[:, None, :]) & 1) << bit).sum(dim=2)
                slot = torch.full((sees.shape[1],), -1, dtype=torch.int64)
                slot[members] = torch.arange(len(members))
                positions = torch.nonzero(slot[self.groups] >= 0)[:, 0]
                classes.append((positions, numbers[slot[self.groups[positions]]], self.groups[positions]))
            self._configurations = (classes, expansion)
        return self._configurations

    def describe(self) -> str:
        names = ", ".join(type(m).__name__ for m in self.prefix)
        tail = (f"; affine {', '.join(type(m).__name__ for m in self.folded)} folded into "
                f"{self.codes.shape[1]} position groups (if their Jacobian fits)" if self.folded is not None else "")
        colours = f"{self.num_colours} colour{'s' if self.num_colours > 1 else ''}"
        return (f"incremental: prefix [{names}] on {self.num_probes} probe images per image "
                f"({colours} for {len(self.colours)} superpixel ids){tail}")


def plan_for(model: nn.Module, segments: np.ndarray, num_samples: int) -> IncrementalPlan | str:
    """The incremental plan for one (H, W) label map, or the reason the black-box path is used.

    The prefix is the longest run of local leading modules (with at least one convolution or pooling layer) whose
    superpixels need at most log2(num_samples / 2) colours and, when no affine module follows it, that costs at
    least ``_MIN_GATHER_MACS`` multiply-adds per output element (else gathering each perturbation's maps costs more
    than the prefix saves). The affine modules after it are folded at evaluation time if their Jacobian has at most
    2**25 entries, else they run on the gathered maps. The plan describes the model in eval mode (``explain`` runs
    it so): dropout as identity, batch norm with its running statistics.
    """
    _check_segment_ids(segments)
    modules = _flatten(model)
    if isinstance(modules, str):
        return modules
    if _has_hooks(model):
        return "the model or one of its modules has forward hooks, which the plan would skip or reorder"
    num_segments = int(segments.max()) + 1
    labels = torch.from_numpy(np.ascontiguousarray(segments, dtype=np.int64))
    word_of = torch.arange((num_segments + _BITS - 1) // _BITS)[:, None, None]
    touched = torch.where(labels // _BITS == word_of, torch.ones((), dtype=torch.int64) << (labels % _BITS), 0)
    candidates: list[tuple[int, Tensor, float]] = []  # (prefix length, footprint bitmasks after it, MACs per output)
    spatial, macs, channels, stopped = False, 0, None, None
    for length, module in enumerate(modules, start=1):
        touched = _touch(module, touched)
        if touched is None:
            stopped = module
            break
        if type(module) is nn.Conv2d:
            kernel = module.kernel_size[0] * module.kernel_size[1]
            macs += module.out_channels * touched[0].numel() * module.in_channels // module.groups * kernel
            channels = module.out_channels
        spatial = spatial or type(module) in (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
        if spatial:
            candidates.append((length, touched, macs / (touched[0].numel() * channels) if channels else 0.0))
    if not candidates:
        return ("the model does not start with local layers: a plain Conv2d (zero padding), MaxPool2d or AvgPool2d, "
                f"after pointwise ones only; its first other module is {stopped!r}")
    most_colours = int(np.log2(max(num_samples // 2, 1)))
    fewest = None
    bits = torch.arange(num_segments)
    for length, touched, macs_per_output in reversed(candidates):
        rest = modules[length:]
        affine = next((count for count, module in enumerate(rest) if not _is_affine(module)), len(rest))
        if not affine and macs_per_output < _MIN_GATHER_MACS:
            continue  # without a fold every perturbation's map is gathered: worth it only for a costly prefix
        masks, groups = torch.unique(touched.reshape(len(touched), -1), dim=1, return_inverse=True)  # (words, G)
        sees = ((masks[bits // _BITS] >> (bits % _BITS)[:, None]) & 1).bool()      # (F, G) superpixels per group
        overlap = sees.to(torch.float32) @ sees.to(torch.float32).T
        colours = _colour((overlap > 0).numpy())
        needed = int(colours.max()) + 1  # the plan's num_colours
        fewest = needed if fewest is None else min(fewest, needed)
        if needed > most_colours:
            continue
        codes = sees.to(torch.int64) << torch.from_numpy(colours)[:, None]
        prefix = nn.Sequential(*modules[:length])
        folded = nn.Sequential(*rest[:affine]) if affine else None
        return IncrementalPlan(prefix=prefix, head=nn.Sequential(*rest[affine:]), folded=folded,
                               colours=colours, codes=codes, groups=groups)
    if fewest is None:
        return (f"nothing after the local prefix can be folded, and the prefix costs under {_MIN_GATHER_MACS} "
                "multiply-adds per output element: gathering its output per perturbation would cost more")
    return (f"the superpixels need {fewest} colours (2**{fewest} probe images) for every local prefix worth "
            f"using; {num_samples} samples allow at most {most_colours}")


def _fold(folded: nn.Sequential, activation_shape: tuple[int, ...],
          device: torch.device) -> tuple[Tensor, Tensor, tuple[int, ...]] | None:
    """Jacobian (outputs, activation elements; float32) and bias (float64) of the affine modules, or None if the
    Jacobian is too large (or cannot be taken).

    An affine map's Jacobian is read off exactly, on a float64 copy: from its outputs on the basis vectors when it
    has no more inputs than outputs, else from one backward pass per output (outside inference mode, which forbids
    autograd).
    """
    inputs = int(np.prod(activation_shape))
    exact = copy.deepcopy(folded).to(torch.float64)
    zero = torch.zeros((1, *activation_shape), dtype=torch.float64, device=device)
    bias = exact(zero)[0]
    if bias.numel() * inputs > _MAX_JACOBIAN:
        return None
    flat_bias = bias.reshape(-1)
    if inputs <= bias.numel():
        step = max(1, _MAX_JACOBIAN // (8 * max(inputs, bias.numel())))
        columns = []
        for start in range(0, inputs, step):
            basis = F.one_hot(torch.arange(start, min(inputs, start + step), device=device), inputs)
            columns.append(exact(basis.to(torch.float64).view(-1, *activation_shape)).reshape(len(basis), -1)
                           - flat_bias)
        return torch.cat(columns).T.to(torch.float32).contiguous(), flat_bias, tuple(bias.shape)
    try:
        with torch.inference_mode(False), torch.enable_grad():
            probe = torch.zeros((1, *activation_shape), dtype=torch.float64, device=device, requires_grad=True)
            output = exact(probe)[0].reshape(-1)
            rows = [torch.autograd.grad(output[j], probe, retain_graph=True)[0].reshape(-1)
                    for j in range(output.numel())]
    except RuntimeError as error:  # parameters made under inference mode: run the modules on the maps instead
        if "inference" not in str(error).lower():
            raise
        return None
    return torch.stack(rows).to(torch.float32), flat_bias, tuple(bias.shape)


_MAX_CHUNK_ELEMENTS = 2 ** 24
"""Bound on probe-image and activation elements held at once (per chunk of images)."""


def _in_batches(fn, inputs: Tensor, batch_size: int) -> Tensor:
    """``fn`` over ``inputs`` in chunks of ``batch_size`` rows, concatenated (no copy for a single chunk)."""
    if len(inputs) <= batch_size:
        return fn(inputs)
    return torch.cat([fn(inputs[start:start + batch_size]) for start in range(0, len(inputs), batch_size)])


def _probe_activations(plan: IncrementalPlan, images: Tensor, fill: Tensor, segments: Tensor,
                       batch_size: int) -> Tensor:
    """The prefix's output on every probe image of every image: (b * K, C', H', W').

    When the prefix starts with a convolution, its output is linear in the input: on probe k it is
    conv(fill) + sum over colours c set in k of conv((image - fill) on the superpixels of colour c), so the first
    layer runs on 1 + colours images instead of 2**colours probes (and the probes are never built).
    """
    batch, channels, height, width = images.shape
    device = images.device
    probes, colours = plan.num_probes, plan.num_colours
    colour_map = torch.from_numpy(plan.colours).to(device)[segments]                      # (H, W)
    first = plan.prefix[0]
    if type(first) is not nn.Conv2d:
        keep = ((torch.arange(probes, device=device)[:, None, None] >> colour_map) & 1).bool()  # (K, H, W)
        probe_images = torch.where(keep[None, :, None], images[:, None], fill[:, None])
        return _in_batches(plan.prefix, probe_images.reshape(-1, channels, height, width), batch_size)
    masks = colour_map == torch.arange(colours, device=device)[:, None, None]             # (colours, H, W)
    parts = torch.cat([fill[:, None], (images - fill)[:, None] * masks[None, :, None]], dim=1)
    parts = parts.reshape(-1, channels, height, width)                                    # (b * (1 + colours), ...)
    responses = _in_batches(lambda chunk: first._conv_forward(chunk, first.weight, None), parts, batch_size)
    map_shape = responses.shape[1:]
    bits = (torch.arange(probes, device=device)[:, None] >> torch.arange(colours, device=device)) & 1
    mixing = torch.cat([torch.ones((probes, 1), device=device), bits.to(images.dtype)], dim=1)   # (K, 1 + colours)
    outputs = torch.matmul(mixing, responses.reshape(batch, 1 + colours, -1))           # (b, K, C1 * H1 * W1)
    outputs = outputs.view(batch * probes, *map_shape)
    if first.bias is not None:
        outputs += first.bias[:, None, None]
    return _in_batches(plan.prefix[1:], outputs, batch_size)


def incremental_logits(plan: IncrementalPlan, images: Tensor, fill: Tensor, segments: Tensor, z: Tensor,
                       batch_size: int, fold_cache: dict | None = None) -> Tensor:
    """Logits of every perturbation of images that share one segmentation, through ``plan``.

    Args:
        images, fill: (B, C, H, W) float32 on the model's device: the images and their superpixel mean colours.
        segments: (H, W) int64 label map on the same device (the plan's).
        z: (B, S, F) bool on the same device, the perturbation matrices.
        batch_size: probe images per prefix call and perturbations per head call.
        fold_cache: a dict kept across the calls of one explanation (one plan per label map under SLIC), so the
            folded modules' Jacobian is computed once.

    Returns:
        (B, S, K) float logits.
    """
    batch, channels, height, width = images.shape
    num_samples = z.shape[1]
    device = images.device
    probes = plan.num_probes
    codes = plan.codes.to(device=device, dtype=torch.float32)                            # exact below 2**24
    groups = plan.groups.to(device)
    num_groups = codes.shape[1]
    # the largest map the prefix holds per probe, and its output shape (clone: an in-place first module)
    widest_map, activation = channels * height * width, images[:1].clone()
    for module in plan.prefix:
        activation = module(activation)
        widest_map = max(widest_map, activation.numel())
    activation_shape = tuple(activation.shape[1:])
    positions = activation_shape[1] * activation_shape[2]
    fold = None
    if plan.folded is not None:
        key = (tuple(id(module) for module in plan.folded), activation_shape)
        if fold_cache is not None and key in fold_cache:
            fold = fold_cache[key]
        else:
            fold = _fold(plan.folded, activation_shape, device)
            if fold_cache is not None:
                fold_cache[key] = fold
    per_image = probes * widest_map
    if fold is not None:  # the looked-up (S, G, J) vectors and the (P, K, J) table of each image
        per_image = max(per_image, len(fold[1]) * max(num_samples * num_groups, positions * probes))
    chunk = max(1, _MAX_CHUNK_ELEMENTS // per_image)
    outputs = []
    for first in range(0, batch, chunk):
        last = min(batch, first + chunk)
        activations = _probe_activations(plan, images[first:last], fill[first:last], segments, batch_size)
        activations = activations.reshape(last - first, probes, activation_shape[0], positions)
        chosen_z = z[first:last, :, :codes.shape[0]].to(torch.float32)                     # (b, S, F)
        if fold is not None:
            outputs.append(_folded_logits(plan, fold, activations, chosen_z, codes, batch_size))
            continue
        with torch.autocast(device.type, enabled=False):  # probe numbers are integers: no reduced precision
            numbers = (chosen_z @ codes).to(torch.int64)                                  # (b, S, G)
        for image in range(last - first):
            logits = []
            for start in range(0, num_samples, batch_size):
                chosen = numbers[image, start:start + batch_size][:, groups]                # (n, P) probe numbers
                gathered = activations[image][chosen, :, torch.arange(positions, device=device)]  # (n, P, C')
                maps = gathered.permute(0, 2, 1).reshape(len(chosen), *activation_shape)
                middle = plan.folded(maps) if plan.folded is not None else maps
                logits.append(check_logits(plan.head(middle), len(chosen)))
            outputs.append(torch.cat(logits)[None])
    return torch.cat(outputs)


def _folded_logits(plan: IncrementalPlan, fold: tuple[Tensor, Tensor, tuple[int, ...]], activations: Tensor,
                   chosen_z: Tensor, codes: Tensor, batch_size: int) -> Tensor:
    """(b, S, K) logits when the affine modules after the prefix are folded: per-group tables and lookups.

    Args:
        activations: (b, K, C', P) the prefix's output on each image's probes.
        chosen_z: (b, S, F) float32 perturbations.
    """
    jacobian, bias, out_shape = fold
    images, probes, channels, positions = activations.shape
    num_samples = chosen_z.shape[1]
    num_groups = codes.shape[1]
    device = activations.device
    jacobian = jacobian.view(len(bias), channels, positions)
    classes, expansion = plan.configurations()
    widest = expansion.max().item() + 1
    configured = torch.zeros((images, num_groups, widest, len(bias)), dtype=torch.float64, device=device)
    for positions_m, numbers_m, groups_m in classes:  # (b, G, 2**m, J): each group's sum per configuration
        positions_m, numbers_m = positions_m.to(device), numbers_m.to(device)
        seen = activations[:, numbers_m, :, positions_m[:, None]]                         # (n, R, b, C')
        weights = jacobian[:, :, positions_m].permute(2, 1, 0)                             # (n, C', J)
        contribution = torch.matmul(seen.reshape(len(positions_m), -1, channels), weights)
        contribution = contribution.view(len(positions_m), numbers_m.shape[1], images, -1)
        configured[:, :, :numbers_m.shape[1]].index_add_(
            1, groups_m.to(device), contribution.permute(2, 0, 1, 3).to(torch.float64))
    table = configured[:, torch.arange(num_groups, device=device)[:, None], expansion.to(device)]  # (b, G, K, J)
    # a sample's output = bias + sum over groups of its probe's entry; the entries of probe 0 are summed in
    # float64 and only the differences to them are looked up (float32 embedding_bag, the fast kernel)
    base = table[:, :, 0].sum(dim=1) + bias                                                   # (b, J)
    deltas = (table - table[:, :, :1]).to(torch.float32).view(-1, len(bias))
    # row of (image, group, probe) in deltas = z @ codes + group * K + image * G * K, one fused matmul; float32
    # holds these integers exactly below 2**24 (autocast off: bf16 would round them)
    exact = torch.float32 if len(deltas) < 2 ** 24 else torch.float64
    with torch.autocast(device.type, enabled=False):
        offsets = (torch.arange(num_groups, device=device, dtype=exact) * probes
                   + torch.arange(images, device=device, dtype=exact)[:, None, None] * (num_groups * probes))
        rows = torch.baddbmm(offsets, chosen_z.to(exact), codes.to(exact).expand(images, -1, -1))
    rows = rows.to(torch.int32 if exact == torch.float32 else torch.int64)
    looked_up = F.embedding_bag(rows.view(-1, num_groups), deltas, mode="sum")             # (b*S, J)
    middle = looked_up.view(images, num_samples, -1) + base[:, None].to(activations.dtype)
    middle = middle.view(-1, *out_shape)                                                     # (b*S, ...)
    logits = _in_batches(lambda chunk: check_logits(plan.head(chunk), len(chunk)), middle, batch_size)
    return logits.view(images, num_samples, -1)
