"""The live training chart's data (ui/charts.py): batch means recovered from Keras' running
epoch averages, smoothed across epoch boundaries, and a y range that shows the later epochs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mnist_core.jobs import BatchPoint, EpochPoint
from ui.charts import (
    TEST,
    TRAINING,
    batch_windows,
    metric_chart,
    smoothed,
    steady_domain,
    training_frame,
    y_domain,
)

STEPS = 50  # batches per epoch
EPOCHS = 3


def batch_loss(t: np.ndarray) -> np.ndarray:
    """A known per-batch loss for batches t = 1, 2, ... (falls fast, then slowly)."""
    return 0.1 + 2.2 * np.exp(-t / 30.0)


def batch_accuracy(t: np.ndarray) -> np.ndarray:
    return 0.98 - 0.88 * np.exp(-t / 30.0)


def reports(every: int = 7) -> tuple[list[BatchPoint], list[tuple[int, int]]]:
    """What the trainer publishes: Keras' running averages over the epoch so far, every
    `every` batches and at each epoch's end (reported twice, as the last batch and as the
    epoch); and the (first, last) global batch numbers each report's window covers."""
    points, windows, last = [], [], 0
    for epoch in range(EPOCHS):
        steps = sorted({*range(every, STEPS, every), STEPS, STEPS})
        for n in [*steps, STEPS]:  # the epoch's end once more
            batches = np.arange(epoch * STEPS + 1, epoch * STEPS + n + 1)
            points.append(BatchPoint(epoch + n / STEPS, float(batch_loss(batches).mean()),
                                     float(batch_accuracy(batches).mean())))
            total = epoch * STEPS + n
            if total > last:
                windows.append((last + 1, total))
                last = total
    return points, windows


def test_batch_means_are_recovered_from_running_averages() -> None:
    points, expected = reports()
    windows = batch_windows(points, STEPS)
    assert len(windows) == len(expected)  # the repeated epoch ends are skipped
    for window, (first, last) in zip(windows, expected, strict=True):
        batches = np.arange(first, last + 1)
        assert window.batches == len(batches)
        assert window.epoch_progress == pytest.approx(last / STEPS)
        assert window.loss == pytest.approx(batch_loss(batches).mean(), abs=1e-6)
        assert window.accuracy == pytest.approx(batch_accuracy(batches).mean(), abs=1e-6)


def test_one_batch_windows_give_back_the_series_itself() -> None:
    points, _ = reports(every=1)
    windows = batch_windows(points, STEPS)
    assert [w.batches for w in windows] == [1] * (EPOCHS * STEPS)
    t = np.arange(1, EPOCHS * STEPS + 1)
    assert np.allclose([w.loss for w in windows], batch_loss(t), atol=1e-6)
    assert np.allclose([w.accuracy for w in windows], batch_accuracy(t), atol=1e-6)


def test_smoothing_is_an_exponential_average_over_batches() -> None:
    points, _ = reports()
    windows = batch_windows(points, STEPS)
    span = 10.0
    values = smoothed(windows, span, "loss")
    # The same average taken batch by batch, each batch at its window's mean.
    decay, total, weight, expected = math.exp(-1 / span), 0.0, 0.0, []
    for window in windows:
        for _ in range(window.batches):
            total = decay * total + (1 - decay) * window.loss
            weight = decay * weight + (1 - decay)
        expected.append(total / weight)
    assert values == pytest.approx(expected)
    assert values[0] == pytest.approx(windows[0].loss)  # no pull towards 0 at the start


def test_the_training_curve_does_not_jump_at_epoch_boundaries() -> None:
    points, _ = reports()
    frame = training_frame(points, (), "loss", STEPS)
    curve = frame[frame["set"] == TRAINING]
    steps = np.diff(curve["value"].to_numpy())
    epochs = curve["epoch"].to_numpy()
    at_boundary = [abs(step) for step, left in zip(steps, epochs[:-1], strict=True)
                   if left == pytest.approx(round(left)) and 0 < round(left) < EPOCHS]
    assert at_boundary
    later = np.abs(steps[len(steps) // 3:])  # after the first fast fall
    assert max(at_boundary) <= later.max() + 1e-9
    # Keras' own running average jumps there: down by most of the epoch's fall.
    raw = training_frame(points, (), "loss")
    raw_values = raw["value"].to_numpy()
    raw_epochs = raw["epoch"].to_numpy()
    first_of_epoch_2 = int(np.argmax(raw_epochs > 1))
    assert raw_values[first_of_epoch_2 - 1] - raw_values[first_of_epoch_2] > 5 * max(at_boundary)


def test_the_training_curve_follows_the_series_closely() -> None:
    points, _ = reports()
    frame = training_frame(points, (), "accuracy", STEPS)
    curve = frame[frame["set"] == TRAINING]
    last = batch_accuracy(np.array([EPOCHS * STEPS]))[0]
    assert curve["value"].iloc[-1] == pytest.approx(last, abs=0.005)
    assert curve["value"].is_monotonic_increasing  # no sawtooth


def test_y_range_shows_the_later_epochs() -> None:
    points, _ = reports()
    epochs = [EpochPoint(e, 0.0, 0.0, val_loss=0.12 - 0.005 * e, val_accuracy=0.95 + 0.005 * e)
              for e in range(1, EPOCHS + 1)]
    frame = training_frame(points, epochs, "loss", STEPS)
    low, high = y_domain(frame, as_percent=False)
    assert high < 0.6 < frame["value"].max()  # the first batches (loss ~2) lie above it
    later = frame[frame["epoch"] >= EPOCHS / 2]["value"]
    assert low <= later.min() and later.max() <= high  # all of the later half is in view
    low, high = y_domain(training_frame(points, epochs, "accuracy", STEPS), as_percent=True)
    assert high <= 1.0 and low > 0.5


def test_train_and_test_are_told_apart_by_colour_dash_and_label() -> None:
    points, _ = reports()
    epochs = [EpochPoint(1, 0.5, 0.9, 0.4, 0.91)]
    frame = training_frame(points, epochs, "accuracy", STEPS)
    spec = metric_chart(frame, "Accuracy", EPOCHS, as_percent=True)
    encoding = spec["layer"][0]["encoding"]
    assert encoding["color"]["scale"]["domain"] == [TRAINING, TEST]
    colours, dashes = encoding["color"]["scale"]["range"], encoding["strokeDash"]["scale"]["range"]
    assert colours[0] != colours[1] and dashes[0] != dashes[1]
    assert spec["height"] >= 200  # px of plot area, titles and legend come on top
    assert spec["autosize"]["type"] == "fit-x"


@pytest.mark.parametrize(("wanted", "shown", "as_percent", "drawn"), [
    ([0.90, 0.94], None, True, [0.888, 0.952]),  # a first range: room to move each side
    ([0.90, 0.935], [0.888, 0.952], True, [0.888, 0.952]),  # still holds it: kept
    ([0.93, 0.96], [0.888, 0.952], True, [0.921, 0.969]),  # the curve left it: redrawn
    ([0.940, 0.945], [0.888, 0.952], True, [0.9385, 0.9465]),  # 12x too tall: zoomed in
    ([0.975, 0.995], None, True, [0.969, 1.0]),  # accuracy never above 100%
    ([0.01, 0.21], None, False, [0.0, 0.27]),  # loss never below 0
    (None, [0.1, 0.2], False, None),  # no data: no range
])
def test_a_live_chart_keeps_its_y_range_while_the_curve_stays_in_it(
        wanted, shown, as_percent, drawn) -> None:
    """An unchanged range keeps the spec unchanged: the browser then only swaps the data."""
    result = steady_domain(wanted, shown, as_percent)
    if drawn is None:
        assert result is None
    else:
        np.testing.assert_allclose(result, drawn)


def test_a_kept_range_gives_the_same_spec_on_the_next_poll() -> None:
    points, _ = reports()
    frame = training_frame(points, (), "accuracy", STEPS)
    later = training_frame(points[:-1], (), "accuracy", STEPS)  # a poll earlier
    shown = steady_domain(y_domain(later, True), None, True)
    kept = steady_domain(y_domain(frame, True), shown, True)
    assert kept == shown
    assert metric_chart(frame, "A", EPOCHS, True, kept) == \
        metric_chart(later, "A", EPOCHS, True, shown)
