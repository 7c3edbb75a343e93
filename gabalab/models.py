"""Dual-task models: a shared trunk feeding an RUL regression head and a health classifier.

Every model here has exactly two head modules, ``rul_head`` (output ``(B,)``, RUL in the units
of the target) and ``health_head`` (output ``(B, 3)`` logits); every other parameter belongs to
the shared trunk.  :func:`parameter_counts` splits the count accordingly.

* :class:`DualTaskModel` - the course's model: Conv1d feature extractor, bidirectional LSTM,
  attention pooling over time, a fully connected funnel to a 32-d shared feature vector, then
  the two small MLP heads.  With the default sizes the shared trunk has 3,396,161 parameters
  (the source material quotes about 3.4M) and the two heads 1,124 together (3,397,285 in total).
* :class:`TinyDualHead` - a few Linear layers, for demonstrations and fast tests.

Both constructors take ``seed``: when given, the weights are initialised from that seed inside
:func:`torch.random.fork_rng`, so the global torch RNG is left as it was.

The initial weights are the same on every CPU. PyTorch's own initialisation
(``tensor.uniform_(-b, b)``) computes ``u * 2b - b`` with a fused multiply-add in its AVX2 and
AVX-512 kernels and with two roundings in its baseline kernel, so about half the weights of a
seeded model differed by an ulp on a CPU (or under ``ATEN_CPU_CAPABILITY``) that picks the
baseline. :func:`redraw_default_init` draws the same random numbers and rounds once, in
exact float64 arithmetic: the weights are PyTorch's default initialisation, bit for bit, as
its vectorised kernels give it, whatever kernels the machine picks.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from gabalab._checks import as_list, check_int, check_real, check_tensor
from gabalab.constants import N_HEALTH_CLASSES
from gabalab.scoped import seeded

__all__ = ["DualTaskModel", "TinyDualHead", "AttentionPooling", "parameter_counts",
           "redraw_default_init", "HEADS"]

#: Attribute names of the two heads.
HEADS: tuple[str, str] = ("rul_head", "health_head")


def _uniform_fused(shape: torch.Size, bound: float) -> torch.Tensor:
    """float32 draws of ``uniform_(-bound, bound)`` as a fused multiply-add rounds them.

    ``torch.rand`` gives ``u = k / 2**24`` (the same random numbers, and the same count drawn,
    as ``uniform_``); ``u * (hi - lo)`` then has at most 48 significant bits and adding
    ``lo`` at most 47, so both steps are exact in float64 and the only rounding is the final
    one to float32, which is what the fused kernel computes.
    """
    low = torch.tensor(-bound, dtype=torch.float32)
    span = (torch.tensor(bound, dtype=torch.float32) - low).double()
    u = torch.rand(shape, dtype=torch.float32).double()
    return (u * span + low.double()).float()


def redraw_default_init(module: nn.Module) -> None:
    """Redraw ``module``'s parameters as PyTorch's default initialisation, on any CPU.

    Replays the draws of the default ``reset_parameters`` of every layer in ``module`` (in
    the order of :meth:`torch.nn.Module.modules`, which is their construction order when
    each layer is built where it is registered) from torch's current random state:
    ``kaiming_uniform_(a=sqrt(5))`` weights and ``uniform(-1/sqrt(fan_in), 1/sqrt(fan_in))``
    biases for Linear and Conv layers, ``uniform(-1/sqrt(hidden), 1/sqrt(hidden))`` for every
    LSTM parameter. Each value is the fused-multiply-add result of PyTorch's AVX2 and
    AVX-512 kernels, computed without depending on them (see the module notes), and the
    random state advances as the default initialisation advances it.

    Parameters
    ----------
    module : torch.nn.Module
        float32 layers, just built (the random state must be the one their construction
        started from).

    Raises
    ------
    TypeError
        If ``module`` is not a module, holds a parameter that is not float32, or holds a
        layer with parameters other than Linear, Conv1d/2d/3d and LSTM.

    Examples
    --------
    >>> with seeded(0):
    ...     a = nn.Linear(3, 2)
    >>> b = nn.Linear(3, 2)
    >>> with seeded(0):
    ...     redraw_default_init(b)
    >>> bool(torch.allclose(a.weight, b.weight,
    ...                     rtol=0, atol=1e-7))  # equal where fused
    True
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    layers = [m for m in module.modules() if next(m.parameters(recurse=False), None) is not None]
    for layer in layers:
        if not isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.LSTM)):
            raise TypeError(f"module: cannot redraw the parameters of a {type(layer).__name__} "
                            "layer (Linear, Conv1d/2d/3d and LSTM only)")
        for name, p in layer.named_parameters(recurse=False):
            if p.dtype != torch.float32:
                raise TypeError(f"module: parameter {name} of a {type(layer).__name__} is "
                                f"{p.dtype}, expected torch.float32 (convert after drawing)")
    with torch.no_grad():
        for layer in layers:
            if isinstance(layer, nn.LSTM):
                stdv = 1.0 / math.sqrt(layer.hidden_size)
                for p in layer.parameters():
                    p.copy_(_uniform_fused(p.shape, stdv))
                continue
            assert isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))
            weight: torch.Tensor = layer.weight
            bias: torch.Tensor | None = layer.bias
            fan_in = weight.shape[1] * math.prod(weight.shape[2:])
            slope = math.sqrt(5)  # as nn.Linear and nn.Conv*d call kaiming_uniform_
            gain = math.sqrt(2.0 / (1 + slope**2))
            weight.copy_(_uniform_fused(weight.shape, math.sqrt(3.0) * (gain / math.sqrt(fan_in))))
            if bias is not None:
                bias.copy_(_uniform_fused(bias.shape, 1 / math.sqrt(fan_in)))


def _check_sizes(name: str, sizes: Sequence[int]) -> tuple[int, ...]:
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"{name} must be a sequence of positive integers")
    return tuple(check_int(f"{name}[{i}]", s, minimum=1) for i, s in enumerate(sizes))


def _check_dropout(dropout: float) -> float:
    dropout = check_real("dropout", dropout, nonnegative=True)
    if dropout >= 1:
        raise ValueError(f"dropout must be < 1, got {dropout}")
    return dropout


def _checked_config(
    n_features: int, conv_channels: Sequence[int], kernel_size: int, lstm_hidden: int,
    lstm_layers: int, attention_hidden: int, funnel: Sequence[int], feature_dim: int,
    head_hidden: Sequence[int], n_classes: int, dropout: float, seed: int | None,
) -> dict[str, Any]:
    """The checked configuration of a :class:`DualTaskModel` (its ``config`` attribute)."""
    n_features = check_int("n_features", n_features, minimum=1)
    conv_channels = _check_sizes("conv_channels", conv_channels)
    kernel_size = check_int("kernel_size", kernel_size, minimum=1)
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd (same padding), got {kernel_size}")
    lstm_hidden = check_int("lstm_hidden", lstm_hidden, minimum=1)
    lstm_layers = check_int("lstm_layers", lstm_layers, minimum=1)
    attention_hidden = check_int("attention_hidden", attention_hidden, minimum=1)
    funnel = _check_sizes("funnel", funnel)
    feature_dim = check_int("feature_dim", feature_dim, minimum=1)
    head_hidden = _check_sizes("head_hidden", head_hidden)
    n_classes = check_int("n_classes", n_classes, minimum=2)
    dropout = _check_dropout(dropout)
    return {
        "n_features": n_features,
        "conv_channels": list(conv_channels),
        "kernel_size": kernel_size,
        "lstm_hidden": lstm_hidden,
        "lstm_layers": lstm_layers,
        "attention_hidden": attention_hidden,
        "funnel": list(funnel),
        "feature_dim": feature_dim,
        "head_hidden": list(head_hidden),
        "n_classes": n_classes,
        "dropout": dropout,
        "seed": seed,
    }


def _mlp(n_in: int, hidden: Sequence[int], n_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(n_in, width), nn.ReLU()]
        n_in = width
    layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


def _check_input(
    name: str, x: object, ndim: int | tuple[int, ...], n_features: object, layer: nn.Module,
    shape: str,
) -> torch.Tensor:
    """A model input: a tensor of ``layer``'s dtype, of the given rank and feature count.

    Under :func:`torch.autocast` the layers run in a lower precision than their parameters,
    so there any floating dtype passes. A 3-D input ``(B, T, F)`` needs ``T >= 1``: over an
    empty time axis attention pooling returns zeros and the last step does not exist.
    """
    x = check_tensor(name, x, floating=True)
    if not torch.is_autocast_enabled(x.device.type):
        check_tensor(name, x, dtype=next(layer.parameters()).dtype)
    wanted = (ndim,) if isinstance(ndim, int) else ndim
    if x.dim() not in wanted or x.shape[-1] != n_features:
        raise ValueError(f"{name} must have shape {shape.format(n_features)}, got "
                         f"{tuple(x.shape)}")
    if x.dim() == 3 and x.shape[1] == 0:
        raise ValueError(f"{name} has an empty time axis (shape {tuple(x.shape)}): a window "
                         "needs at least one time step")
    return x


class AttentionPooling(nn.Module):
    """Additive attention pooling over time: ``sum_t softmax_t(v . tanh(W h_t + b)) h_t``.

    Parameters
    ----------
    n_features : int
        Size of each time step's vector.
    n_hidden : int
        Size of the scoring layer.

    Examples
    --------
    >>> pool = AttentionPooling(8, 4)
    >>> tuple(pool(torch.zeros(2, 5, 8)).shape)
    (2, 8)
    """

    def __init__(self, n_features: int, n_hidden: int) -> None:
        super().__init__()
        n_features = check_int("n_features", n_features, minimum=1)
        n_hidden = check_int("n_hidden", n_hidden, minimum=1)
        self.n_features = n_features
        self.score = nn.Sequential(
            nn.Linear(n_features, n_hidden), nn.Tanh(), nn.Linear(n_hidden, 1)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Pool ``h`` of shape ``(B, T, n_features)`` to ``(B, n_features)``.

        Raises
        ------
        TypeError
            If ``h`` is not a tensor of the layer's dtype.
        ValueError
            If ``h`` is not 3-D with ``n_features`` in its last axis (a 2-D input would be
            pooled over its features instead of over time), or its time axis is empty.
        """
        _check_input("h", h, 3, self.n_features, self.score, "(B, T, {})")
        weights = torch.softmax(self.score(h), dim=1)  # (B, T, 1)
        return (weights * h).sum(dim=1)


class DualTaskModel(nn.Module):
    """Conv1d -> BiLSTM -> attention pooling -> FC funnel -> RUL head and health head.

    Trunk: ``len(conv_channels)`` Conv1d layers (kernel ``kernel_size``, same padding, ReLU)
    over time, dropout, a ``lstm_layers``-layer bidirectional LSTM with ``lstm_hidden`` units
    per direction (dropout between layers), additive attention pooling over time, then Linear +
    ReLU + dropout layers through ``funnel`` and a final Linear + ReLU to ``feature_dim``, the
    shared feature vector.  Heads: ``rul_head`` is an MLP ``feature_dim -> head_hidden -> 1``
    (output squeezed to ``(B,)``), ``health_head`` an MLP ``feature_dim -> head_hidden -> 3``
    (logits).

    Parameters
    ----------
    n_features : int
        Input features per time step (14 informative sensors).
    conv_channels : sequence of int
        Output channels of the Conv1d layers.
    kernel_size : int
        Odd Conv1d kernel size.
    lstm_hidden : int
        LSTM units per direction.
    lstm_layers : int
        Number of stacked bidirectional LSTM layers.
    attention_hidden : int
        Width of the attention scoring layer.
    funnel : sequence of int
        Widths of the fully connected layers between the pooled vector and the features.
    feature_dim : int
        Size of the shared feature vector (32).
    head_hidden : sequence of int
        Hidden widths of each head's MLP.
    n_classes : int
        Number of health classes.
    dropout : float
        Dropout probability in the trunk, in ``[0, 1)``.
    seed : int or None
        Initialise the weights from this seed without touching the global RNG; ``None`` uses
        (and advances) the global torch RNG.

    Raises
    ------
    ValueError, TypeError
        On invalid sizes, naming the argument.

    Examples
    --------
    >>> model = DualTaskModel(conv_channels=(8,), lstm_hidden=8,
    ...                       lstm_layers=1, attention_hidden=4,
    ...                       funnel=(16,), seed=0)
    >>> rul, logits = model(torch.zeros(5, 30, 14))
    >>> tuple(rul.shape), tuple(logits.shape)
    ((5,), (5, 3))
    """

    def __init__(
        self,
        n_features: int = 14,
        *,
        conv_channels: Sequence[int] = (64, 128),
        kernel_size: int = 3,
        lstm_hidden: int = 256,
        lstm_layers: int = 2,
        attention_hidden: int = 128,
        funnel: Sequence[int] = (1024, 352, 128),
        feature_dim: int = 32,
        head_hidden: Sequence[int] = (16,),
        n_classes: int = N_HEALTH_CLASSES,
        dropout: float = 0.2,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.config = _checked_config(
            n_features, conv_channels, kernel_size, lstm_hidden, lstm_layers, attention_hidden,
            funnel, feature_dim, head_hidden, n_classes, dropout, seed,
        )
        n_features, kernel_size = self.config["n_features"], self.config["kernel_size"]
        conv_channels, funnel = self.config["conv_channels"], self.config["funnel"]
        lstm_hidden, lstm_layers = self.config["lstm_hidden"], self.config["lstm_layers"]
        attention_hidden, feature_dim = self.config["attention_hidden"], self.config["feature_dim"]
        head_hidden, n_classes = self.config["head_hidden"], self.config["n_classes"]
        dropout = self.config["dropout"]
        with seeded(seed):
            start = torch.get_rng_state()
            convs: list[nn.Module] = []
            n_in = n_features
            for width in conv_channels:
                convs += [nn.Conv1d(n_in, width, kernel_size, padding=kernel_size // 2), nn.ReLU()]
                n_in = width
            self.conv = nn.Sequential(*convs)
            self.conv_dropout = nn.Dropout(dropout)
            self.lstm = nn.LSTM(
                n_in,
                lstm_hidden,
                num_layers=lstm_layers,
                batch_first=True,
                bidirectional=True,
                dropout=dropout if lstm_layers > 1 else 0.0,
            )
            self.attention = AttentionPooling(2 * lstm_hidden, attention_hidden)
            layers: list[nn.Module] = []
            n_in = 2 * lstm_hidden
            for width in funnel:
                layers += [nn.Linear(n_in, width), nn.ReLU(), nn.Dropout(dropout)]
                n_in = width
            layers += [nn.Linear(n_in, feature_dim), nn.ReLU()]
            self.funnel = nn.Sequential(*layers)
            self.rul_head = _mlp(feature_dim, head_hidden, 1)
            self.health_head = _mlp(feature_dim, head_hidden, n_classes)
            torch.set_rng_state(start)
            redraw_default_init(self)

    @classmethod
    def check_options(cls, **options: Any) -> dict[str, Any]:
        """Check keyword arguments of the constructor without building the model.

        The same checks as the constructor, in the same order and with the same messages, and
        none of its cost (no layer is created, no random number drawn): a command line can
        refuse bad model options before it reads data or builds anything.

        Parameters
        ----------
        **options
            Keyword arguments of :class:`DualTaskModel` (``n_features``, ``conv_channels``,
            ..., ``seed``); those left out take the constructor's defaults.

        Returns
        -------
        dict
            The configuration the model would have (its ``config`` attribute).

        Raises
        ------
        TypeError
            If an option is not a keyword of the constructor (naming it and the valid
            ones), or a value has the wrong type.
        ValueError
            If a value is out of range, naming the option.

        Examples
        --------
        >>> DualTaskModel.check_options(lstm_hidden=8)["lstm_hidden"]
        8
        >>> DualTaskModel.check_options(lstm_hidden=-1)
        Traceback (most recent call last):
        ...
        ValueError: lstm_hidden must be >= 1, got -1
        """
        parameters = dict(inspect.signature(cls.__init__).parameters)
        parameters.pop("self", None)
        unknown = sorted(set(options) - set(parameters))
        if unknown:
            raise TypeError(f"unknown keyword{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(map(repr, unknown))}; {cls.__name__} takes "
                            f"{', '.join(parameters)}")
        values = {name: options.get(name, p.default) for name, p in parameters.items()}
        return _checked_config(**values)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Shared feature vector of shape ``(B, feature_dim)`` for ``x`` of shape ``(B, T, F)``.

        Raises
        ------
        TypeError
            If ``x`` is not a tensor of the model's dtype (float32 unless converted).
        ValueError
            If ``x`` is not 3-D with ``n_features`` in its last axis, or its time axis is
            empty.
        """
        _check_input("x", x, 3, self.config["n_features"], self.funnel, "(B, T, {})")
        h = self.conv(x.transpose(1, 2)).transpose(1, 2)  # (B, T, C)
        h, _ = self.lstm(self.conv_dropout(h))  # (B, T, 2H)
        return self.funnel(self.attention(h))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(rul, logits)`` of shapes ``(B,)`` and ``(B, n_classes)``."""
        z = self.features(x)
        return self.rul_head(z).squeeze(-1), self.health_head(z)


class TinyDualHead(nn.Module):
    """A small dual-head model: Linear + ReLU trunk, one Linear layer per head.

    It accepts ``(B, n_features)`` or windows ``(B, T, n_features)``; windows are reduced to
    their last time step before the trunk.

    Parameters
    ----------
    n_features : int
        Input features.
    hidden : sequence of int
        Widths of the trunk layers (the last one is the shared feature size).
    n_classes : int
        Number of health classes.
    seed : int or None
        Initialise from this seed without touching the global RNG.

    Examples
    --------
    >>> model = TinyDualHead(seed=0)
    >>> [name for name, _ in model.named_children()]
    ['trunk', 'rul_head', 'health_head']
    >>> rul, logits = model(torch.zeros(4, 14))
    >>> tuple(rul.shape), tuple(logits.shape)
    ((4,), (4, 3))
    """

    def __init__(
        self,
        n_features: int = 14,
        hidden: Sequence[int] = (32, 16),
        n_classes: int = N_HEALTH_CLASSES,
        *,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        n_features = check_int("n_features", n_features, minimum=1)
        hidden = _check_sizes("hidden", hidden)
        if not hidden:
            raise ValueError("hidden must list at least one layer width")
        n_classes = check_int("n_classes", n_classes, minimum=2)
        self.config = {"n_features": n_features, "hidden": list(hidden), "n_classes": n_classes,
                       "seed": seed}
        with seeded(seed):
            start = torch.get_rng_state()
            layers: list[nn.Module] = []
            n_in = n_features
            for width in hidden:
                layers += [nn.Linear(n_in, width), nn.ReLU()]
                n_in = width
            self.trunk = nn.Sequential(*layers)
            self.rul_head = nn.Linear(n_in, 1)
            self.health_head = nn.Linear(n_in, n_classes)
            torch.set_rng_state(start)
            redraw_default_init(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Shared features ``(B, hidden[-1])``.

        Raises
        ------
        TypeError
            If ``x`` is not a tensor of the model's dtype.
        ValueError
            If ``x`` is not ``(B, n_features)`` or ``(B, T, n_features)`` with ``T >= 1``.
        """
        n = self.config["n_features"]
        _check_input("x", x, (2, 3), n, self.trunk, "(B, {0}) or (B, T, {0})")
        if x.dim() == 3:
            x = x[:, -1, :]
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(rul, logits)`` of shapes ``(B,)`` and ``(B, n_classes)``."""
        z = self.features(x)
        return self.rul_head(z).squeeze(-1), self.health_head(z)


def parameter_counts(model: nn.Module, heads: Sequence[str] = HEADS) -> dict[str, int]:
    """Count parameters of the shared trunk, of each head, and in total.

    A parameter belongs to a head when a component of its dotted name equals one of ``heads``
    (e.g. ``rul_head.0.weight``); everything else is shared.  Frozen parameters are counted.

    Parameters
    ----------
    model : torch.nn.Module
        The model.
    heads : sequence of str
        Head attribute names.

    Returns
    -------
    dict
        ``{"shared": ..., "<head>": ... for each head, "heads": ..., "total": ...}``.

    Raises
    ------
    TypeError
        If ``model`` is not a module or ``heads`` is not a sequence of strings.
    ValueError
        If ``heads`` is empty (every parameter would count as shared, and the model as
        having no head) or a head name matches no parameter.

    Examples
    --------
    >>> for part, n in parameter_counts(TinyDualHead(seed=0)).items():
    ...     print(part, n)
    shared 1008
    rul_head 17
    health_head 51
    heads 68
    total 1076
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(heads, str):
        raise TypeError("heads must be a sequence of strings, not one string")
    heads = as_list("heads", heads)
    if not all(isinstance(h, str) for h in heads):
        raise TypeError("heads must be a sequence of strings")
    if not heads:
        raise ValueError("heads is empty: name the model's head modules, e.g. "
                         f"{HEADS}")
    counts = {h: 0 for h in heads}
    shared = 0
    for name, param in model.named_parameters():
        parts = name.split(".")
        owner = next((h for h in heads if h in parts), None)
        if owner is None:
            shared += param.numel()
        else:
            counts[owner] += param.numel()
    empty = [h for h, n in counts.items() if n == 0]
    if empty:
        raise ValueError(f"heads: {empty} match no parameter of the model")
    total_heads = sum(counts.values())
    return {"shared": shared, **counts, "heads": total_heads, "total": shared + total_heads}
