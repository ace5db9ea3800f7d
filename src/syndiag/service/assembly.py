"""A sensor model served live (issue 33; LLaVA-for-Sensors: several sensors at their own rates): each channel of a
declared sensor arrives on its own stream and is kept in its own ring buffer (service/buffers.py); a window is cut
when every channel has reached its end instant (or the furthest one is ``sensor_wait_s`` past it), each channel's
window ending at that one instant, as :mod:`syndiag.serving.stream` cuts a recording's for the same model.

At start every declared channel is checked against the model's layout (:func:`plan_sensors`): a rate the model
cannot read (a vibration channel slower than the layout's, or not a ratio of small integers to it; a slow quantity
slower than the layout's), a channel the layout does not have, or one it needs and the sensor lacks (a model trained
without modality dropout), is refused naming the sensor, the channel and the rates."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from syndiag.config.sensor import ChannelSpec
from syndiag.config.service import ServeConfig
from syndiag.data.channel_input import MAX_RATE_ERROR, SLOW_KINDS, change_rate
from syndiag.data.spectrogram import spectrogram_images, to_rgb
from syndiag.errors import ConfigError
from syndiag.serving.predictor import WindowBatch
from syndiag.serving.sensor_plan import SensorCheckpoint
from syndiag.service.buffers import SensorBuffer, Window

GRID_TOLERANCE_S = 1e-6
"""A window end within this of a channel's reach counts as reached: ``n * every_s`` at epoch seconds (~1.7e9) is off by
up to ~2e-7 s when ``every_s`` has no exact binary value (0.1)."""
SAMPLE_TOLERANCE = 0.05
"""A window end within this share of a sample of a sample boundary is that boundary (end * fs at epoch seconds is off by
up to ~0.03 samples at 96 kHz)."""


@dataclass(frozen=True)
class Feed:
    """One channel of a served sensor: the layout channel it is, the stream carrying it at its declared rate, and the
    seconds of it a window reads (its own window, and the stacked spectrogram's for a stacked channel)."""

    channel: str
    stream: str
    fs: float
    spec: ChannelSpec
    seconds: float

    def need(self) -> int:
        return math.ceil(self.seconds * self.fs - 1e-6)


def rate_problem(rate: float, spec: ChannelSpec) -> str | None:
    """Why the model cannot read ``spec``'s channel recorded at ``rate`` Hz; None when it can (as the file reader brings a
    channel to the layout's rate: a slow quantity interpolated, a signal polyphase-resampled by a ratio of small integers)."""
    if math.isclose(rate, spec.fs, rel_tol=1e-6):
        return None
    if rate < spec.fs:
        what = "its spectrum" if spec.kind == "vibration" else "its samples"
        return f"slower than the {spec.fs:g} Hz the model reads {what} at: declare {spec.fs:g} Hz or faster"
    if spec.kind in SLOW_KINDS or rate / spec.fs > 100:
        return None
    ratio = Fraction(spec.fs / rate).limit_denominator(1000)
    if abs(float(ratio) * rate - spec.fs) > MAX_RATE_ERROR * spec.fs:
        return f"not resampled to {spec.fs:g} Hz by a ratio of small integers (nearest {ratio.numerator}/{ratio.denominator})"
    return None


def plan_sensors(config: ServeConfig, plan: SensorCheckpoint | None, model: str) -> dict[str, list[Feed]]:
    """Each declared sensor of several channels with its feeds, checked against the model's layout (``plan``; None for a
    one-channel model, which reads no declared channels); a ConfigError names the sensor, the channel and the rates."""
    declared = {name: d for name, d in config.sensors.items() if d.channels}
    if plan is None:
        if declared:
            raise ConfigError(f"sensors.{next(iter(declared))}.channels: {model} reads one channel; a sensor of several channels "
                              "needs a sensor model (its layout names the channels)")
        return {}
    layout = {spec.name: spec for spec in plan.layout}
    stacked = plan.data.window.length / plan.fs
    found = {}
    for name, declaration in declared.items():
        feeds = []
        for channel, feed in declaration.channels.items():
            where = f"sensors.{name}.channels.{channel}"
            spec = layout.get(channel)
            if spec is None:
                raise ConfigError(f"{where}: {model} has no channel {channel!r}; its layout: {', '.join(s.describe() for s in plan.layout)}")
            if feed.kind != spec.kind:
                raise ConfigError(f"{where}: declared a {feed.kind} channel, {model} reads {channel} as {spec.kind}")
            if problem := rate_problem(feed.fs, spec):
                raise ConfigError(f"{where}: declared at {feed.fs:g} Hz, which {model} cannot use ({spec.describe()}): {problem}")
            seconds = max(spec.seconds, stacked if channel in plan.stacked else 0.0)
            if seconds + config.sensor_wait_s + config.every_s > config.buffer_s:
                raise ConfigError(f"{where}: a window reads {seconds:g} s of it, which buffer_s {config.buffer_s:g} cannot hold with "
                                  f"sensor_wait_s {config.sensor_wait_s:g} and every_s {config.every_s:g}: raise buffer_s")
            feeds.append(Feed(channel, feed.topic, feed.fs, spec, seconds))
        lacking = [spec.describe() for spec in plan.layout if spec.name not in declaration.channels]
        if lacking and plan.dropout <= 0:
            raise ConfigError(f"sensors.{name}.channels: lacks {', '.join(lacking)} of {model}'s layout, which was trained without "
                              "modality dropout and cannot diagnose without them")
        found[name] = feeds
    return found


class Assembly:
    """One sensor of several channels: the end of its next window on the ``every_s`` grid, and the windows its channels'
    buffers hold (each channel's samples at its declared rate, ending at the window's end)."""

    def __init__(self, sensor: str, feeds: list[Feed], every_s: float, wait_s: float, buffer_s: float, needs_all: bool) -> None:
        self.sensor, self.feeds, self.every_s, self.wait_s, self.buffer_s = sensor, feeds, every_s, wait_s, buffer_s
        self.needs_all = needs_all  # the model was trained without modality dropout: a window lacking a channel is incomplete
        self.timing = next((f for f in feeds if f.spec.kind == "vibration"), feeds[0])
        self.next: int | None = None  # the next window ends at next * every_s

    def windows(self, buffers: dict[str, SensorBuffer], arrived: float) -> list[Window]:
        """The windows due now: every channel has reached their end, or the furthest is ``wait_s`` past it (a channel
        not held is then absent; the window is incomplete when the model cannot do without it)."""
        reached = [buffers[f.stream].t_end if f.stream in buffers and buffers[f.stream].end is not None else -math.inf
                   for f in self.feeds]
        lead, lag = max(reached), min(reached)
        if lead == -math.inf:
            return []
        if self.next is None:
            self.next = math.floor(lead / self.every_s + 1e-9) + 1
        oldest = math.floor((lead - self.buffer_s) / self.every_s) + 1
        self.next = max(self.next, oldest)  # ends no buffer can hold any more (a gap) are not cut, as a one-channel sensor's
        found = []
        while (end := self.next * self.every_s) <= lag + GRID_TOLERANCE_S or end <= lead - self.wait_s:
            found.append(self.cut(buffers, end, arrived))
            self.next += 1
        return found

    def cut(self, buffers: dict[str, SensorBuffer], end: float, arrived: float) -> Window:
        segments = {}
        for feed in self.feeds:
            buffer = buffers.get(feed.stream)
            if buffer is None or buffer.end is None or not math.isclose(buffer.fs, feed.fs, rel_tol=1e-6):
                continue
            stop = math.ceil(end * feed.fs - SAMPLE_TOLERANCE)
            if buffer.held_from() <= stop - feed.need() and stop <= buffer.end:
                segments[feed.channel] = (np.array(buffer.span(stop - feed.need(), stop), dtype=np.float32), feed.fs)
        whole = len(segments) == len(self.feeds) or (bool(segments) and not self.needs_all)
        timing = segments.get(self.timing.channel, next(iter(segments.values()), (None, 0.0)))[0]
        window = Window(self.sensor, timing if whole else None, end, arrived)
        window.channels = segments if whole else None
        return window


def layout_batch(plan: SensorCheckpoint, windows: list[Window]) -> WindowBatch:
    """The sensor model's batch of assembled windows: each layout channel at the layout's rate (the last ``length`` of
    its samples before the window's end), the present mask and the stacked spectrogram, as stream.cut_block makes them."""
    signals = {spec.name: np.zeros((len(windows), spec.length), dtype=np.float32) for spec in plan.layout}
    present = np.zeros((len(windows), len(plan.layout)), dtype=bool)
    length = plan.data.window.length
    bands = {name: np.zeros((len(windows), length), dtype=np.float32) for name in plan.stacked}
    held = {name: np.zeros(len(windows), dtype=bool) for name in plan.stacked}
    for i, window in enumerate(windows):
        for column, spec in enumerate(plan.layout):
            x, rate = (window.channels or {}).get(spec.name, (None, 0.0))
            if x is None:
                continue
            if not math.isclose(rate, spec.fs, rel_tol=1e-6):
                x = change_rate(x.astype(np.float64), rate, float(spec.fs), spec.kind, f"{window.sensor} {spec.name}")
            x = np.asarray(x, dtype=np.float32)
            signals[spec.name][i, -min(spec.length, x.size):] = x[-spec.length:]
            present[i, column] = True
            if spec.name in bands:
                bands[spec.name][i, -min(length, x.size):] = x[-length:]
                held[spec.name][i] = True
    if plan.grid is None:
        return WindowBatch(signals, present)
    # a missing channel's band repeats a present one (the image's scaling that of real data); its tokens are hidden
    stacked = np.stack([bands[name] for name in plan.stacked], axis=1)
    for i in range(len(windows)):
        stand_in = next((bands[name][i] for name in plan.stacked if held[name][i]), None)
        for j, name in enumerate(plan.stacked):
            if not held[name][i] and stand_in is not None:
                stacked[i, j] = stand_in
    spectrogram = plan.data.spectrogram
    return WindowBatch(signals, present, to_rgb(spectrogram_images(stacked, spectrogram), spectrogram.colormap))
