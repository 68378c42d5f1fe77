"""The hail patch net experiment (evaluation.vision.hail_patch): its file loads and says what it
was trained on, the numpy forward pass is a real convolution, patches are cut in inches (the same
hit gives the same patch at any resolution), training cuts what inference cuts, and on a drawn
3-tab roof the net scores a hail bruise above a keyway's T-junction on a course line and above a
line's end. And the loss breakdown (evaluation.vision.hail_losses) puts every hit of a rendered
photo in exactly one step."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from evaluation.vision.hail_patch import (
    CONTEXT_PX,
    HAIL_CNN,
    MODELS,
    PATCH_PX,
    _conv_relu_pool,
    channels,
    cut,
    load_patch_net,
)
from vision.local.hail import HAIL_FEATURES, hail_features, spot_candidates
from vision.local.image_ops import log_luminance, normalised
from vision.local.spots import Spot
from vision.local.work import Work


def _work(rgb: np.ndarray, ppi: float) -> Work:
    flat = normalised(log_luminance(rgb), 3.0 * 5.3 * ppi)
    soft = np.asarray(cv2.GaussianBlur(flat, (0, 0), max(0.6, 0.1 * ppi)), np.float32)
    roof = np.ones(rgb.shape[:2], bool)
    return Work(rgb, flat, roof, ppi, 1.0, soft, math.pi / 2, None, roof, 1.0)


def _three_tab(ppi: float, hits: list[tuple[float, float]], seed: int = 0) -> np.ndarray:
    """A 3-tab roof drawn square-on at `ppi`: 5 in courses with a shadow line under each butt,
    keyways every 12 in (staggered by 6 in), granule noise, and 1 inch bruises at `hits` (inches)."""
    rng = np.random.default_rng(seed)
    w, h = round(60 * ppi), round(40 * ppi)
    grey: np.ndarray = np.full((h, w), 120.0) + rng.normal(0, 6, (h, w))
    for k in range(9):
        y = round((k * 5 + 4.8) * ppi)
        grey[y : y + max(2, round(0.25 * ppi)), :] -= 55  # the butt's shadow line
        for x_in in np.arange(6.0 * (k % 2), 60, 12.0):
            x = round(x_in * ppi)
            grey[round((k * 5) * ppi) : y, x : x + max(2, round(0.25 * ppi))] -= 55  # keyway down to the course line
    yy, xx = np.mgrid[0:h, 0:w]
    for hx, hy in hits:
        d = np.hypot(xx - hx * ppi, yy - hy * ppi) / (0.5 * ppi)
        grey -= 45 * np.clip(1.4 - d, 0, 1)
    grey = cv2.GaussianBlur(grey, (0, 0), 0.6)
    return np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def test_the_shipped_net_loads_is_small_and_records_its_training() -> None:
    net = load_patch_net(HAIL_CNN)
    assert (MODELS / f"{HAIL_CNN}.npz").stat().st_size < 1_000_000
    assert set(net.features) <= set(HAIL_FEATURES)  # fitted before log_z_rel joined the spots' features
    assert "fitting photos" in net.trained_on and "FITTING" in net.trained_on
    assert net.convs[0][0].shape[1:] == (4, 3, 3)


def test_the_forward_pass_gives_one_logit_per_patch() -> None:
    net = load_patch_net(HAIL_CNN)
    rng = np.random.default_rng(1)
    logits = net.logits(
        rng.normal(0, 0.1, (5, 4, PATCH_PX, PATCH_PX)).astype(np.float32), np.zeros((5, len(net.features)), np.float32)
    )
    assert logits.shape == (5,) and np.isfinite(logits).all()
    assert len(set(np.round(logits, 5))) > 1  # the patches differ, so do their logits


def test_the_numpy_convolution_matches_a_direct_sum() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 6, 6)).astype(np.float32)
    weight = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    bias = rng.normal(size=4).astype(np.float32)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    direct = np.zeros((2, 4, 6, 6), np.float32)
    for i in range(6):
        for j in range(6):
            direct[:, :, i, j] = np.einsum("ncab,ocab->no", padded[:, :, i : i + 3, j : j + 3], weight) + bias
    pooled = np.maximum(direct, 0).reshape(2, 4, 3, 2, 3, 2).max(axis=(3, 5))
    assert np.allclose(_conv_relu_pool(x, weight, bias), pooled, atol=1e-5)


def test_a_patch_spans_the_same_inches_at_any_resolution() -> None:
    sharp, coarse = _work(_three_tab(12.0, [(30.0, 17.0)]), 12.0), _work(_three_tab(6.0, [(30.0, 17.0)]), 6.0)
    a = channels(cut(sharp, 30.0 * 12.0, 17.0 * 12.0)[None])[0, 0]
    b = channels(cut(coarse, 30.0 * 6.0, 17.0 * 6.0)[None])[0, 0]
    centre = slice(PATCH_PX // 2 - 3, PATCH_PX // 2 + 3)
    assert a[centre, centre].mean() < -0.2 and b[centre, centre].mean() < -0.2  # the bruise is in the middle of both
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.7


@pytest.mark.parametrize("ppi", [7.0, 9.0])
def test_a_bruise_outscores_a_keyway_junction_and_a_line_end(ppi: float) -> None:
    hit = (30.5, 17.0)  # the middle of a tab's exposed face
    work = _work(_three_tab(ppi, [hit]), ppi)
    net = load_patch_net(HAIL_CNN)
    spots = spot_candidates(work)
    on_hit = [s for s in spots if math.hypot(s.x - hit[0] * ppi, s.y - hit[1] * ppi) < ppi]
    assert on_hit, "the bruise is proposed"
    junction = (36.0 * ppi, (3 * 5 + 4.9) * ppi)  # a keyway meeting the course line below it
    line_end = (36.0 * ppi, 15.2 * ppi)  # where that keyway starts
    looks = [(on_hit[0].x, on_hit[0].y, on_hit[0].features)]
    for x, y in (junction, line_end):
        fake = Spot(x, y, (0, 0, 1, 1), round(math.pi * (0.5 * ppi) ** 2), 0.3, 0.2, 4.0, 1.3, 0.9)
        features = hail_features(work, fake)
        assert features is not None
        looks.append((x, y, features))
    bruise, t_junction, end = net.scores(work, looks)
    assert bruise > t_junction and bruise > end


def test_training_cuts_the_patch_the_function_cuts_and_jitters_it_like_a_photo() -> None:
    from evaluation.vision.hail_cnn import augment, centre

    work = _work(_three_tab(9.0, [(30.5, 17.0)]), 9.0)
    context = cut(work, 30.5 * 9.0, 17.0 * 9.0, CONTEXT_PX)
    assert np.array_equal(centre(context), cut(work, 30.5 * 9.0, 17.0 * 9.0))
    rng = np.random.default_rng(3)
    jittered = [augment(context, rng) for _ in range(4)]
    assert all(j.shape == (PATCH_PX, PATCH_PX, 4) and j.dtype == np.uint8 for j in jittered)
    assert len({j[..., :3].tobytes() for j in jittered}) == 4  # each draw differs
    middle = slice(PATCH_PX // 2 - 2, PATCH_PX // 2 + 2)
    assert all(channels(j[None])[0, 0, middle, middle].mean() < -0.1 for j in jittered)  # the bruise stays central


def test_every_hail_hit_of_a_rendered_photo_is_put_in_one_loss_step() -> None:
    from evaluation.vision.families import render
    from evaluation.vision.hail_losses import STEPS, Losses, header, photo_losses

    photo = render("three_tab_ridge", 1, (640, 480))
    losses = Losses()
    photo_losses(photo, losses)
    hits = sum(m.type == "hail_hit" for m in photo.marks)
    assert hits > 0 and sum(losses.steps.values()) == hits and set(losses.steps) <= set(STEPS)
    assert losses.photos == 1 and len(losses.scale_errors) <= 1
    assert len(losses.line("three_tab_ridge").split()) >= len(header().split()) - 2
