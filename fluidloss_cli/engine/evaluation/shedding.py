"""Vortex shedding of a scene's wake (`Scene.wake`: karman's cylinder) from a probe: the cross-stream velocity at one
point per frame, its dominant frequency as a Strouhal number St = f D / U, and the frame from which the oscillation
has developed.

Used by benchmarks/strouhal.py (the table in docs/dataset.md) and tests/test_karman_scene.py.
"""

import numpy as np

from fluidloss_cli.engine.phiflow_grids import velocity_faces
from fluidloss_cli.engine.scenes.base import Scene, Wake


def probe_point(wake: Wake) -> tuple[float, float]:
    """Three diameters downstream (y is the flow direction) of the body's centre, on its axis."""
    return wake.centre[0], wake.centre[1] + 3 * wake.diameter


def probe_vx(vx: np.ndarray, domain_size: tuple[float, float], point: tuple[float, float]) -> float:
    """v_x at `point` (x, y), bilinearly interpolated from the x-faces [H, W+1] of a grid covering `domain_size`
    (height, width): x-faces sit at x = i dx, y = (j + 1/2) dy."""
    (height, width), (rows, columns) = domain_size, (vx.shape[0], vx.shape[1] - 1)
    fx, fy = point[0] / (width / columns), point[1] / (height / rows) - 0.5
    i, j = int(np.floor(fx)), int(np.floor(fy))
    tx, ty = fx - i, fy - j
    return float((1 - ty) * ((1 - tx) * vx[j, i] + tx * vx[j, i + 1]) + ty * ((1 - tx) * vx[j + 1, i] + tx * vx[j + 1, i + 1]))


def probe_signal(scene: Scene, frames: int) -> np.ndarray:
    """The probe's v_x at frames 0 .. frames-1 of a scene's simulation from its initial state (a scene with a
    `wake`)."""
    state, signal, point = scene.initial_state(), [], probe_point(scene.wake)
    for frame in range(frames):
        if frame:
            state = scene.step(state)
        signal.append(probe_vx(velocity_faces(state["velocity"])[0], scene.domain_size, point))
    return np.array(signal)


def dominant_frequency(signal: np.ndarray, dt: float) -> float:
    """The frequency (per time unit) of the largest peak of the mean-free, Hann-windowed signal's spectrum,
    zero-padded 16x and refined by a parabola through the peak's three bins."""
    values = (signal - signal.mean()) * np.hanning(len(signal))
    size = 16 * len(values)
    power = np.abs(np.fft.rfft(values, size)) ** 2
    k = int(np.argmax(power[1:-1])) + 1
    a, b, c = np.log(power[k - 1:k + 2] + 1e-30)
    shift = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + shift) / (size * dt)


def strouhal(frequency: float, wake: Wake) -> float:
    """St = f D / U for the body's diameter and the stream's speed."""
    return frequency * wake.diameter / wake.speed


def amplitude(signal: np.ndarray, window: int) -> np.ndarray:
    """Half the peak-to-peak range of the signal over a window of `window` frames centred on each frame
    (NaN where the window leaves the signal): the local oscillation amplitude when `window` is one period."""
    half = window // 2
    result = np.full(len(signal), np.nan)
    for t in range(half, len(signal) - half):
        chunk = signal[t - half:t + half + 1]
        result[t] = 0.5 * (chunk.max() - chunk.min())
    return result


def onset_frame(signal: np.ndarray, period: int, tolerance: float = 0.1) -> tuple[int, float]:
    """(first frame from which the one-period amplitude stays within `tolerance` of its developed level, that level);
    the developed level is the median amplitude over the signal's last half. The frame is len(signal) when the
    amplitude has not settled by the end of the signal."""
    envelope = amplitude(signal, period)
    valid = np.flatnonzero(~np.isnan(envelope))
    developed = float(np.median(envelope[valid[len(valid) // 2:]]))
    outside = np.flatnonzero(np.abs(envelope[valid] - developed) > tolerance * developed)
    if not len(outside):
        return int(valid[0]), developed
    return (int(valid[outside[-1] + 1]) if outside[-1] + 1 < len(valid) else len(signal)), developed


def rise_frame(signal: np.ndarray, period: int, fraction: float = 0.9) -> int:
    """The first frame at which the one-period amplitude reaches `fraction` of its median over the signal's last
    half (len(signal) if it never does): when shedding first reaches its late strength."""
    envelope = amplitude(signal, period)
    valid = np.flatnonzero(~np.isnan(envelope))
    late = np.median(envelope[valid[len(valid) // 2:]])
    reached = valid[envelope[valid] >= fraction * late]
    return int(reached[0]) if len(reached) else len(signal)
