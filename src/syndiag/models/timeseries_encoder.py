"""Time-series encoder (LLaVA-for-Sensors article, 'Time Series Encoder'): every channel, at its own rate, to tokens on one time axis.

Each channel of a window is normalised on its own (mean removed, divided by its RMS about the mean; the mean and
the log-RMS are kept as two statistics added to every patch embedding, so level and amplitude are not lost), cut
into non-overlapping patches of ``patch_len`` samples aligned to the window's end (a channel shorter than a patch is
one padded patch), embedded by one shared linear map, and given a channel embedding, a channel-kind embedding and
a sinusoidal embedding of the patch centre's time in seconds before the window's end. Tokens of 12 kHz and 10 Hz
channels so meet on one time axis; one small transformer then reads the tokens of every channel together, with
the tokens of absent channels masked out of its attention (their samples are zeroed first, so NaN or garbage in a
failed sensor's buffer cannot leak into anything).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from syndiag.config.sensor import CHANNEL_KINDS, ChannelSpec, TimeSeriesEncoderConfig
from syndiag.errors import ConfigError, DataError

N_STATS = 2
"""Statistics per channel and window added to its patch embeddings: signed log1p of the mean, log of the RMS."""
RMS_FLOOR = 1e-4
"""A channel's RMS about its mean is floored at this share of its raw RMS: a constant channel (speed) normalises
to zeros instead of to amplified rounding noise."""


def patch_times(spec: ChannelSpec, patch_len: int) -> list[float]:
    """Centre time in seconds (<= 0, the window ends at 0 s) of each patch of a channel, oldest first.

    Sample ``i`` of ``L`` lies at ``(i - (L - 1)) / fs``; patches are cut from the end, so the first one is padded
    on the left when ``L`` is not a multiple of ``patch_len``, and a patch's centre is that of its real samples.
    """
    length, n = spec.length, math.ceil(spec.length / patch_len)
    pad = n * patch_len - length
    times = []
    for j in range(n):
        first, last = max(j * patch_len - pad, 0), (j + 1) * patch_len - pad - 1
        times.append(((first + last) / 2.0 - (length - 1)) / spec.fs)
    return times


def sinusoidal_embedding(times: torch.Tensor, width: int, min_period: float, max_period: float) -> torch.Tensor:
    """(T,) seconds -> (T, width): sines then cosines at ``width / 2`` periods spaced geometrically from min to max."""
    periods = torch.logspace(math.log10(min_period), math.log10(max_period), width // 2, dtype=torch.float64)
    angles = 2 * math.pi * times.to(torch.float64)[:, None] / periods[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=-1).float()


def check_layout(layout: list[ChannelSpec]) -> list[ChannelSpec]:
    """A non-empty layout of uniquely named channels (ConfigError otherwise)."""
    layout = [spec if isinstance(spec, ChannelSpec) else ChannelSpec.model_validate(spec) for spec in layout]
    if not layout:
        raise ConfigError("the sensor model needs at least one channel in its layout")
    names = [spec.name for spec in layout]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"channel names must be unique; repeated: {duplicates}")
    return layout


class TimeSeriesEncoder(nn.Module):
    """Time-series encoder (LLaVA-for-Sensors article, 'Time Series Encoder'): patches + channel/kind/time embeddings -> transformer."""

    def __init__(self, config: TimeSeriesEncoderConfig, layout: list[ChannelSpec], hidden: int | None = None) -> None:
        """``hidden``: width of the output tokens (None: ``config.d_model``)."""
        super().__init__()
        self.config = config
        self.layout = check_layout(layout)
        self.names = [spec.name for spec in self.layout]
        d = config.d_model
        self.out_dim = hidden or d
        self.patch = nn.Linear(config.patch_len, d)
        self.stats = nn.Linear(N_STATS, d)
        self.channel_embedding = nn.Embedding(len(self.layout), d)
        self.kind_embedding = nn.Embedding(len(CHANNEL_KINDS), d)
        nn.init.normal_(self.channel_embedding.weight, std=0.02)
        nn.init.normal_(self.kind_embedding.weight, std=0.02)
        layer = nn.TransformerEncoderLayer(d, config.heads, config.ff_ratio * d, config.dropout, activation="gelu", batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False) if config.layers else None
        self.norm = nn.LayerNorm(d)
        self.output = nn.Linear(d, self.out_dim) if self.out_dim != d else nn.Identity()
        times, channels, counts = [], [], []
        for index, spec in enumerate(self.layout):
            t = patch_times(spec, config.patch_len)
            times += t
            channels += [index] * len(t)
            counts.append(len(t))
        self.patch_counts = counts
        self.register_buffer("token_channel", torch.tensor(channels, dtype=torch.long), persistent=False)
        self.register_buffer("token_time_s", torch.tensor(times, dtype=torch.float32), persistent=False)
        self.register_buffer("time_embedding", sinusoidal_embedding(torch.tensor(times), d, config.min_period_s, config.max_period_s), persistent=False)
        self.register_buffer("token_kind", torch.tensor([CHANNEL_KINDS.index(self.layout[c].kind) for c in channels], dtype=torch.long), persistent=False)

    @property
    def n_tokens(self) -> int:
        return int(self.token_channel.numel())

    def check_signals(self, signals: dict[str, torch.Tensor], present: torch.Tensor) -> int:
        """The batch size; a DataError names an unknown channel, a wrong length or a present channel without samples."""
        unknown = sorted(set(signals) - set(self.names))
        if unknown:
            raise DataError(f"signals for channels {unknown} that the model does not have; its channels: {self.names}")
        if present.ndim != 2 or present.shape[1] != len(self.layout):
            raise DataError(f"present must be (batch, {len(self.layout)}) for channels {self.names}, got {tuple(present.shape)}")
        batch = present.shape[0]
        for index, spec in enumerate(self.layout):
            values = signals.get(spec.name)
            if values is None:
                if bool(present[:, index].any()):
                    raise DataError(f"channel {spec.name!r} is marked present but the batch has no samples for it")
                continue
            if tuple(values.shape) != (batch, spec.length):
                raise DataError(f"channel {spec.describe()}: expected samples of shape ({batch}, {spec.length}), got {tuple(values.shape)}")
        return batch

    def channel_patches(self, values: torch.Tensor, keep: torch.Tensor, spec: ChannelSpec) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised patches (B, n, patch_len) and statistics (B, N_STATS) of one channel; absent rows are zeros."""
        values = torch.where(keep[:, None], values.float(), torch.zeros((), device=values.device))
        mean = values.mean(1, keepdim=True)
        centred = values - mean
        raw_rms = values.pow(2).mean(1, keepdim=True).sqrt()
        rms = centred.pow(2).mean(1, keepdim=True).sqrt().maximum(RMS_FLOOR * raw_rms).clamp_min(1e-8)
        normalised = centred / rms
        n = math.ceil(spec.length / self.config.patch_len)
        pad = n * self.config.patch_len - spec.length
        if pad:
            normalised = nn.functional.pad(normalised, (pad, 0))
        stats = torch.cat([torch.sign(mean) * torch.log1p(mean.abs()), torch.log(rms)], dim=1)
        stats = torch.where(keep[:, None], stats, torch.zeros((), device=stats.device))
        return normalised.view(-1, n, self.config.patch_len), stats

    def forward(self, signals: dict[str, torch.Tensor], present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> tokens (B, T, out_dim), mask (B, T) bool (True: the token's channel is present), token_channel (T,), token_time_s (T,)."""
        device = self.patch.weight.device
        present = present.to(device=device, dtype=torch.bool)
        batch = self.check_signals(signals, present)
        embedded, masks = [], []
        for index, spec in enumerate(self.layout):
            keep = present[:, index]
            values = signals.get(spec.name)
            values = values.to(device) if values is not None else torch.zeros(batch, spec.length, device=device)
            patches, stats = self.channel_patches(values, keep, spec)
            embedded.append(self.patch(patches) + self.stats(stats)[:, None, :])
            masks.append(keep[:, None].expand(-1, patches.shape[1]))
        tokens = torch.cat(embedded, dim=1)
        mask = torch.cat(masks, dim=1)
        tokens = tokens + (self.channel_embedding(self.token_channel) + self.kind_embedding(self.token_kind) + self.time_embedding)[None]
        if self.transformer is not None:
            ignore = ~mask
            ignore = ignore & mask.any(1, keepdim=True)  # a window with no channel attends to its zeros (its tokens stay masked)
            tokens = self.transformer(tokens, src_key_padding_mask=ignore)
        tokens = self.output(self.norm(tokens))
        return tokens, mask, self.token_channel, self.token_time_s
