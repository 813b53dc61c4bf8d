"""Videos of what a model learned: ``record_video(model, "Hopper-v5", "hopper.mp4")``.

The env renders offscreen (``render_mode="rgb_array"``), so no display is needed; the frames go to an MP4
(H.264 through imageio-ffmpeg: small files) or a GIF (Pillow), chosen by the file's suffix.

MuJoCo renders with the OpenGL backend named by the ``MUJOCO_GL`` environment variable: ``mujoco`` reads it
when it is first imported (for ``mujoco.GLContext``), and gymnasium when it creates an env's renderer.
Without it, gymnasium starts from a GLFW window, and on a machine without a display rendering fails
("mujoco.FatalError: an OpenGL platform library has not been loaded into this process"). Importing this
module therefore sets ``MUJOCO_GL=egl`` (headless; GPU-accelerated where there is one, Mesa's software
renderer otherwise), or ``osmesa`` where only OSMesa is installed, unless the user has set it. Setting it
before the first render is enough for gymnasium's envs; MuJoCo's documentation asks for it before ``mujoco``
is imported, which is why ``python -m aihf_control.play`` imports this module first and
``benchmarks.run.run_one`` before it makes its first env.
"""

from __future__ import annotations

import ctypes.util
import importlib.util
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# None of these imports mujoco or PyOpenGL: MUJOCO_GL can still be set below.
import gymnasium as gym
import imageio.v3 as iio
import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm

VIDEO_SUFFIXES = (".mp4", ".gif")
# Frames per second that look smooth; envs that step faster render every k-th step only (see record_video).
SMOOTH_FPS = 30.0
# GIF frame delays are whole centiseconds, and browsers slow delays under 2 cs down to 10 cs: a GIF keeps
# at most 50 frames per second.
GIF_MAX_FPS = 50.0


def default_gl_backend() -> str | None:
    """The headless OpenGL backend MuJoCo can use here: ``egl`` if libEGL is installed, else ``osmesa`` if
    libOSMesa is, else None."""
    for backend, library in (("egl", "EGL"), ("osmesa", "OSMesa")):
        if ctypes.util.find_library(library):
            return backend
    return None


if "MUJOCO_GL" not in os.environ and (_backend := default_gl_backend()) is not None:
    os.environ["MUJOCO_GL"] = _backend


@dataclass(frozen=True)
class Video:
    """What ``record_video`` wrote.

    :param path: the video file
    :param frames: number of frames
    :param fps: frames per second of playback (real time: the env's ``render_fps`` / ``every``)
    :param width: frame width in pixels
    :param height: frame height in pixels
    """

    path: Path
    frames: int
    fps: float
    width: int
    height: int


def check_video_path(path: str | Path) -> Path:
    """Check, before anything is rendered, that a video can be written to ``path``; create its folder.

    :param path: the video file, ending in ``.mp4`` or ``.gif``
    :return: ``path`` as a ``Path``
    :raises ValueError: for a suffix other than ``.mp4`` and ``.gif``
    :raises OSError: if the folder cannot be created or written to
    """
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(
            f"cannot write a video to {path}: unknown suffix {path.suffix or '(none)'!r}; "
            f"use one of {', '.join(VIDEO_SUFFIXES)} (.mp4 is far smaller)"
        )
    if path.suffix.lower() == ".mp4" and importlib.util.find_spec("imageio_ffmpeg") is None:
        raise ImportError(f"writing {path} needs the ffmpeg of imageio-ffmpeg: pip install imageio-ffmpeg, or use .gif")
    folder = path.parent
    file_in_the_way = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    if file_in_the_way is not None:
        raise NotADirectoryError(
            f"cannot write the video to {path}: {file_in_the_way} is a file, not a folder; choose another path"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):  # the real test: permissions, read-only disks, root squash
            pass
    except OSError as error:
        raise OSError(
            f"cannot write the video to {path}: its folder {folder} cannot be created or written to "
            f"({error.strerror or error}); choose a path in a writable folder, or make {folder} writable"
        ) from error
    if path.is_dir():
        raise IsADirectoryError(f"cannot write the video to {path}: it is a folder; name a file, e.g. {path}/run.mp4")
    return path


def record_video(
    model: BaseAlgorithm,
    env_id: str,
    path: str | Path,
    seconds: float = 3.0,
    every: int | None = None,
    size: tuple[int, int] | None = (240, 240),
    seed: int = 0,
    on_step: Callable[[int, int], None] | None = None,
) -> Video:
    """Render a rollout of ``model``'s deterministic policy in ``env_id`` to an MP4 or a GIF.

    The rollout lasts ``seconds`` of env time (``seconds · render_fps`` steps), starting a new episode
    whenever one ends, and every ``every``-th step is rendered: ``ceil(seconds · render_fps / every)``
    frames, played back in real time. Rendering is most of the cost (MuJoCo's Hopper: ~0.08 s a frame at
    240x240 on one CPU core with Mesa's software EGL), so by default only about 30 frames per second are
    rendered. A GIF renders at most 50 frames per second (``every`` is raised).

    :param model: any SB3 model (or policy): its ``predict(obs, deterministic=True)`` acts
    :param env_id: a gymnasium env id that renders ``rgb_array`` frames, e.g. ``Hopper-v5``
    :param path: the video file; ``.mp4`` or ``.gif``. Its folder is created
    :param seconds: length of the rollout in env time
    :param every: render every ``every``-th step; None: the largest step that keeps 30 frames per second
        or more (Hopper-v5 and Walker2d-v5 step at 125 per second: every 4th)
    :param size: (width, height) of the frames, for envs that take ``width`` and ``height`` (MuJoCo's);
        None keeps the env's own size
    :param seed: seed of the first episode's reset
    :param on_step: called with (env steps done, env steps in all) after each step, e.g. to show progress
    :return: what was written
    """
    path = check_video_path(path)
    if seconds <= 0 or (every is not None and every < 1):
        raise ValueError(f"seconds must be > 0 and every >= 1, got {seconds} and {every}")
    env = _make_rendering_env(env_id, size)
    try:
        render_fps = float(env.metadata.get("render_fps") or 30)  # 30: a common default for envs without one
        every = every or max(1, int(render_fps // SMOOTH_FPS))
        if path.suffix.lower() == ".gif":
            every = max(every, math.ceil(render_fps / GIF_MAX_FPS))
        steps = max(1, round(seconds * render_fps))
        obs, _ = env.reset(seed=seed)
        frames = []
        for step in range(steps):
            if step % every == 0:
                frames.append(_render(env, env_id))
            action, _ = model.predict(obs, deterministic=True)
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                obs, _ = env.reset()
            if on_step is not None:
                on_step(step + 1, steps)
    finally:
        env.close()
    fps = render_fps / every
    if path.suffix.lower() == ".gif":
        # Pillow takes milliseconds per frame; loop=0 loops forever
        iio.imwrite(path, np.stack(frames), plugin="pillow", duration=1000.0 / fps, loop=0)
    else:
        # macro_block_size=2: H.264 needs even sizes only; imageio's default 16 would resize most frames.
        iio.imwrite(path, np.stack(frames), plugin="FFMPEG", fps=fps, macro_block_size=2)
    height, width = frames[0].shape[:2]
    return Video(path, len(frames), fps, width, height)


def _make_rendering_env(env_id: str, size: tuple[int, int] | None) -> gym.Env:
    size_kwargs = {} if size is None else {"width": int(size[0]), "height": int(size[1])}
    try:
        env = gym.make(env_id, render_mode="rgb_array", **size_kwargs)
    except TypeError as error:
        if not size_kwargs or "width" not in str(error):
            raise
        env = gym.make(env_id, render_mode="rgb_array")  # an env without a size option: its own frame size
    if "rgb_array" not in env.metadata.get("render_modes", []):
        env.close()
        raise ValueError(
            f"{env_id} cannot render frames: its render modes are {env.metadata.get('render_modes', [])}, "
            "and a video needs 'rgb_array'"
        )
    return env


def _render(env: gym.Env, env_id: str) -> np.ndarray:
    try:
        frame = env.render()
    except Exception as error:  # whatever the OpenGL backend raises: say which backend and what to install
        backend = os.environ.get("MUJOCO_GL", "(unset)")
        raise RuntimeError(
            f"{env_id} could not render offscreen with MUJOCO_GL={backend}: {type(error).__name__}: {error}. "
            "Install an offscreen OpenGL (Debian/Ubuntu: apt install libegl1 for MUJOCO_GL=egl, or "
            "libosmesa6 for MUJOCO_GL=osmesa) and set MUJOCO_GL before starting Python"
        ) from error
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise ValueError(f"{env_id} rendered an array of shape {frame.shape}, not an (height, width, 3) image")
    return frame[:, :, :3].astype(np.uint8, copy=False)
