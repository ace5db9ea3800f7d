"""Machine health state (issue 33): each window's evidence (the ISO 20816 zone of its RMS velocity, its anomaly score
against the sensor's own healthy baseline, the unknown-fault verdict, the diagnosed fault with its confidence and
severity, the low end of a degrading unit's RUL interval) gives a level, ok / watch / alarm; the sensor's state follows the levels with hysteresis and a minimum
duration, so that one noisy window never flips it. Pure: no clock, no store, no thread.

Each window is read twice: with the raising thresholds (``high``) and with the clearing ones, which are lower by
``clear_ratio`` (``low``, so ``low >= high``). The state rises once ``raise_windows`` windows in a row read above it
(to the lowest level they share), and falls once ``clear_windows`` windows in a row read below it with the clearing
thresholds (to the highest level they share). A machine's state is the worst of its sensors'."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

LEVELS = ("ok", "watch", "alarm")
OK, WATCH, ALARM = 0, 1, 2
ZONE_LEVEL = {"A": OK, "B": OK, "C": WATCH, "D": ALARM}


@dataclass(frozen=True)
class Rules:
    """The thresholds of each piece of evidence and the durations (in windows) of a change."""

    raise_windows: int = 3
    clear_windows: int = 10
    clear_ratio: float = 0.8
    zone_boundaries: tuple[float, float, float] = (1.4, 2.8, 4.5)  # mm/s between zones A/B, B/C, C/D
    anomaly_alarm_ratio: float = 10.0  # anomaly score / its threshold at which a window reads alarm (above 1: watch)
    fault_probability: float = 0.9  # a fault diagnosed at least this sure reads ``fault_level``
    fault_level: int = WATCH
    unknown_level: int = WATCH
    severity_alarm: float | None = None  # a diagnosed fault's severity at which it reads alarm
    healthy_labels: tuple[str, ...] = ("normal",)
    rul_watch_h: float | None = None  # a degrading unit's RUL low end (h) below which a window reads watch
    rul_alarm_h: float | None = None  # ... alarm


@dataclass(frozen=True)
class Evidence:
    """What one window says; None where a piece is not known (too low a rate, no baseline yet, no severity head)."""

    velocity_mm_s: float | None = None
    anomaly_ratio: float | None = None  # the anomaly score over its calibrated threshold (1: the threshold)
    unknown: bool | None = None
    label: str | None = None
    probability: float | None = None
    severity: float | None = None
    rul_low_h: float | None = None  # the low end of the RUL interval (h) of a degrading unit; None: no estimate or not degrading


def zone_of(velocity_mm_s: float, boundaries: tuple[float, float, float], scale: float = 1.0) -> str:
    """ISO zone of a velocity against ``boundaries`` * ``scale`` (a boundary value is the worse zone)."""
    return "ABCD"[sum(velocity_mm_s >= b * scale for b in boundaries)]


def reasons(evidence: Evidence, rules: Rules, scale: float = 1.0) -> dict[str, int]:
    """The level each piece of evidence reads, with the thresholds scaled by ``scale`` (1: raising; clear_ratio: clearing)."""
    found: dict[str, int] = {}
    if evidence.velocity_mm_s is not None:
        found["zone"] = ZONE_LEVEL[zone_of(evidence.velocity_mm_s, rules.zone_boundaries, scale)]
    if evidence.anomaly_ratio is not None:
        ratio = evidence.anomaly_ratio
        found["anomaly"] = ALARM if ratio >= rules.anomaly_alarm_ratio * scale else WATCH if ratio >= scale else OK
    if evidence.unknown is not None:
        found["unknown"] = rules.unknown_level if evidence.unknown else OK
    if evidence.label is not None and evidence.probability is not None:
        fault = evidence.label not in rules.healthy_labels and evidence.probability >= rules.fault_probability * scale
        level = rules.fault_level if fault else OK
        if fault and rules.severity_alarm is not None and evidence.severity is not None and evidence.severity >= rules.severity_alarm * scale:
            level = ALARM
        found["fault"] = level
    if evidence.rul_low_h is not None and (rules.rul_watch_h is not None or rules.rul_alarm_h is not None):
        below = [level for limit, level in ((rules.rul_alarm_h, ALARM), (rules.rul_watch_h, WATCH))
                 if limit is not None and evidence.rul_low_h < limit / scale]  # fewer hours is worse: clearing asks for more
        found["rul"] = max(below, default=OK)
    return found


def window_levels(evidence: Evidence, rules: Rules) -> tuple[int, int, dict[str, int]]:
    """(high, low, the raising reasons) of one window: its level with the raising and with the clearing thresholds."""
    raising = reasons(evidence, rules)
    clearing = reasons(evidence, rules, rules.clear_ratio)
    return max(raising.values(), default=OK), max(clearing.values(), default=OK), raising


@dataclass(frozen=True)
class State:
    """A sensor's state: its level since ``since`` (the sensor's clock), and the run of windows pushing it to change."""

    level: int = OK
    since: float | None = None
    last_t_end: float | None = None
    rising: int = 0  # windows in a row reading above the level
    rising_to: int = ALARM  # the lowest level they read
    falling: int = 0  # windows in a row reading below the level (clearing thresholds)
    falling_to: int = OK  # the highest level they read
    reasons: dict[str, int] = field(default_factory=dict)

    def describe(self) -> dict:
        return {"state": LEVELS[self.level], "since": self.since, "last_t_end": self.last_t_end,
                "reasons": {k: LEVELS[v] for k, v in self.reasons.items()}}


def step(state: State, high: int, low: int, t_end: float, rules: Rules, why: dict[str, int] | None = None) -> State:
    """The state after one window reading ``high`` (raising thresholds) and ``low`` (clearing ones)."""
    why = dict(why or {})
    if high > state.level:
        rising, to = state.rising + 1, min(state.rising_to if state.rising else ALARM, high)
        if rising >= rules.raise_windows:
            return State(to, t_end, t_end, reasons=why)
        return replace(state, since=t_end if state.since is None else state.since, last_t_end=t_end, rising=rising, rising_to=to,
                       falling=0, falling_to=OK, reasons=why)
    if low < state.level:
        falling, to = state.falling + 1, max(state.falling_to if state.falling else OK, low)
        if falling >= rules.clear_windows:
            return State(to, t_end, t_end, reasons=why)
        return replace(state, since=t_end if state.since is None else state.since, last_t_end=t_end, rising=0, rising_to=ALARM,
                       falling=falling, falling_to=to, reasons=why)
    return replace(state, since=t_end if state.since is None else state.since, last_t_end=t_end, rising=0, rising_to=ALARM,
                   falling=0, falling_to=OK, reasons=why)


def machine_levels(levels: dict[str, int]) -> dict[str, int]:
    """site/machine -> the worst level of its sensors (site/machine/sensor -> level)."""
    found: dict[str, int] = {}
    for sensor, level in levels.items():
        machine = sensor.rsplit("/", 1)[0]
        found[machine] = max(found.get(machine, OK), level)
    return found
