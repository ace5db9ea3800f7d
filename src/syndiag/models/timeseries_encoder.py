"""Time-series encoder (LLaVA-for-Sensors article, 'Time Series Encoder'): every channel, at its own rate, to tokens on one time axis.

Each channel of a window is normalised on its own (mean removed, divided by its RMS about the mean; the mean and
the log-RMS are kept as two statistics added to every patch embedding, so level and amplitude are not lost), cut
into non-overlapping patches of ``patch_len`` samples aligned to the window's end (a channel shorter than a patch is
one padded patch), embedded by one shared linear map, and given a channel embedding, a channel-kind embedding and
a sinusoidal embedding of the patch centre's time in seconds before the window's end. Tokens of 12 kHz and 10 Hz
channels so meet on one time axis. A channel long enough also gives ``spectrum_tokens`` frequency tokens: its
normalised window's Hann-windowed power spectrum, averaged onto equal bands from 0 Hz to its Nyquist frequency, in
log, ``spectrum_bins`` bands per token, with a sinusoidal embedding of the token's centre frequency in Hz (so a
channel at 48 kHz and one at 12 kHz put the same frequency at the same embedding). One small transformer then reads the tokens of every channel together, with
the tokens of absent channels masked out of its attention (their samples are zeroed first, so NaN or garbage in a
failed sensor's buffer cannot leak into anything).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from syndiag.config.sensor import CHANNEL_KINDS, ChannelSpec, TimeSeriesEncoderConfig
from syndiag.errors import ConfigError, DataError

MIN_PERIOD_HZ, MAX_PERIOD_HZ = 20.0, 50_000.0
"""Shortest and longest period of the sinusoidal frequency embedding, Hz."""
LOG_POWER_FLOOR = 1e-8
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


def spectrum_centres(spec: ChannelSpec, tokens: int) -> list[float]:
    """Centre frequency in Hz of each frequency token of a channel (0 Hz to Nyquist in ``tokens`` equal bands)."""
    return [(j + 0.5) * spec.fs / 2.0 / tokens for j in range(tokens)]


def has_spectrum(spec: ChannelSpec, tokens: int) -> bool:
    return tokens > 0 and spec.length >= 4 * tokens


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
        self.spectrum = nn.Linear(config.spectrum_bins, d) if config.spectrum_tokens else None
        self.stats = nn.Linear(N_STATS, d)
        self.channel_embedding = nn.Embedding(len(self.layout), d)
        self.kind_embedding = nn.Embedding(len(CHANNEL_KINDS), d)
        nn.init.normal_(self.channel_embedding.weight, std=0.02)
        nn.init.normal_(self.kind_embedding.weight, std=0.02)
        layer = nn.TransformerEncoderLayer(d, config.heads, config.ff_ratio * d, config.dropout, activation="gelu", batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False) if config.layers else None
        self.norm = nn.LayerNorm(d)
        self.output = nn.Linear(d, self.out_dim) if self.out_dim != d else nn.Identity()
        times, freqs, channels, counts = [], [], [], []
        for index, spec in enumerate(self.layout):
            t = patch_times(spec, config.patch_len)
            f = spectrum_centres(spec, config.spectrum_tokens) if has_spectrum(spec, config.spectrum_tokens) else []
            times += t + [math.nan] * len(f)
            freqs += [math.nan] * len(t) + f
            channels += [index] * (len(t) + len(f))
            counts.append(len(t) + len(f))
        self.patch_counts = counts
        self.register_buffer("token_channel", torch.tensor(channels, dtype=torch.long), persistent=False)
        self.register_buffer("token_time_s", torch.tensor(times, dtype=torch.float32), persistent=False)
        self.register_buffer("token_freq_hz", torch.tensor(freqs, dtype=torch.float32), persistent=False)
        time_tensor, freq_tensor = torch.tensor(times), torch.tensor(freqs)
        position = torch.where(time_tensor.isnan()[:, None], sinusoidal_embedding(freq_tensor.nan_to_num(0.0), d, MIN_PERIOD_HZ, MAX_PERIOD_HZ),
                            sinusoidal_embedding(time_tensor.nan_to_num(0.0), d, config.min_period_s, config.max_period_s))
        self.register_buffer("time_embedding", position, persistent=False)
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

    def spectrum_values(self, normalised: torch.Tensor) -> torch.Tensor:
        """(B, L) normalised samples -> (B, spectrum_tokens, spectrum_bins) log band powers (Hann window, bands averaged in power)."""
        tokens, bins = self.config.spectrum_tokens, self.config.spectrum_bins
        window = torch.hann_window(normalised.shape[1], periodic=False, device=normalised.device, dtype=normalised.dtype)
        power = torch.fft.rfft(normalised * window, dim=1).abs().pow(2) / window.pow(2).sum()
        bands = nn.functional.adaptive_avg_pool1d(power[:, None, :], tokens * bins)[:, 0]
        return torch.log(bands + LOG_POWER_FLOOR).view(-1, tokens, bins)

    def embed(self, signals: dict[str, torch.Tensor], present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[tuple[str, torch.Tensor]]]:
        """-> content embeddings (B, T, d) before any position embedding, mask (B, T) bool (True: the token's channel is
        present), and the tokens' raw values in token order: per channel ``("patch", (B, n_patches, patch_len))`` of its
        normalised samples, then, when it has them, ``("spectrum", (B, spectrum_tokens, spectrum_bins))`` of its log band powers."""
        device = self.patch.weight.device
        present = present.to(device=device, dtype=torch.bool)
        batch = self.check_signals(signals, present)
        embedded, masks, raw = [], [], []
        for index, spec in enumerate(self.layout):
            keep = present[:, index]
            values = signals.get(spec.name)
            values = values.to(device) if values is not None else torch.zeros(batch, spec.length, device=device)
            patches, stats = self.channel_patches(values, keep, spec)
            parts = [self.patch(patches)]
            raw.append(("patch", patches))
            if self.spectrum is not None and has_spectrum(spec, self.config.spectrum_tokens):
                pad = patches.shape[1] * self.config.patch_len - spec.length
                bands = self.spectrum_values(patches.flatten(1)[:, pad:])
                parts.append(self.spectrum(bands))
                raw.append(("spectrum", bands))
            tokens_of_channel = torch.cat(parts, dim=1) + self.stats(stats)[:, None, :]
            embedded.append(tokens_of_channel)
            masks.append(keep[:, None].expand(-1, tokens_of_channel.shape[1]))
        return torch.cat(embedded, dim=1), torch.cat(masks, dim=1), raw

    def encode(self, content: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Content embeddings (B, T, d) -> output tokens (B, T, out_dim): channel, kind and time/frequency embeddings, the transformer."""
        tokens = content + (self.channel_embedding(self.token_channel) + self.kind_embedding(self.token_kind) + self.time_embedding)[None]
        if self.transformer is not None:
            ignore = ~mask
            ignore = ignore & mask.any(1, keepdim=True)  # a window with no channel attends to its zeros (its tokens stay masked)
            tokens = self.transformer(tokens, src_key_padding_mask=ignore)
        return self.output(self.norm(tokens))

    def forward(self, signals: dict[str, torch.Tensor], present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> tokens (B, T, out_dim), mask (B, T) bool (True: the token's channel is present), token_channel (T,), token_time_s (T,)
        (NaN for frequency tokens; their centre frequencies are ``token_freq_hz``)."""
        content, mask, _ = self.embed(signals, present)
        return self.encode(content, mask), mask, self.token_channel, self.token_time_s
