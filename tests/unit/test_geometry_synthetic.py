"""Synthetic roofs: the truth agrees with itself, with the raster and with roofing arithmetic."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from evaluation.geometry.synthetic import (
    EDGE_KINDS,
    ROOF_TYPES,
    SQFT_PER_M2,
    RoofType,
    Scene,
    SceneSpec,
    build_scene,
    resampled_scene,
    standard_set,
)

FINE = 0.05  # metres per pixel for the raster-versus-polygon checks


def fine_scene(roof: RoofType) -> Scene:
    return build_scene(SceneSpec(roof=roof, resolution=FINE, rotation_deg=17.0))


def angle_gap(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def outline_area(spec: SceneSpec) -> float:
    """The roof outline's area, worked out by hand per roof type."""
    o = spec.overhang
    house = (spec.length + 2 * o) * (spec.width + 2 * o)
    if spec.roof == "pyramid":
        return (spec.width + 2 * o) ** 2
    if spec.roof == "cross_gable":  # the wing's part north of the main outline
        return house + (0.75 * spec.width + 2 * o) * (0.5 * spec.length)
    if spec.roof == "two_buildings":  # a 6 x 6 m garage with 0.3 m overhang
        return house + 6.6**2
    return house


# --- self-consistency, every roof type -------------------------------------------------------------


@pytest.mark.parametrize("roof", ROOF_TYPES)
def test_facet_areas_add_up_to_the_outline(roof: RoofType) -> None:
    scene = fine_scene(roof)

    total = sum(facet.footprint_area_m2 for facet in scene.facets)

    assert total == pytest.approx(scene.outline_area_m2, rel=1e-9)
    assert scene.outline_area_m2 == pytest.approx(outline_area(scene.spec), rel=1e-9)


@pytest.mark.parametrize("roof", ROOF_TYPES)
def test_cells_per_label_match_each_facets_area(roof: RoofType) -> None:
    scene = fine_scene(roof)
    cell = scene.grid.cell_area

    for facet in scene.facets:
        counted = np.count_nonzero(scene.truth_labels == facet.id) * cell
        tolerance = 0.03 if facet.footprint_area_m2 > 5 else 0.05  # a dormer facet is ~1.5 m^2
        assert counted == pytest.approx(facet.footprint_area_m2, rel=tolerance), facet.name
        assert facet.visible_area_m2 == pytest.approx(counted)
    roof_cells = np.count_nonzero(scene.roof_mask) * cell
    assert roof_cells == pytest.approx(scene.outline_area_m2, rel=0.01)
    assert np.array_equal(scene.truth_labels >= 0, scene.roof_mask)  # no chimney or tree here


@pytest.mark.parametrize("roof", ROOF_TYPES)
def test_heights_at_cell_centres_are_the_plane_heights(roof: RoofType) -> None:
    scene = build_scene(SceneSpec(roof=roof, resolution=0.2, rotation_deg=-41.0))
    x, y = scene.grid.xy()

    for facet in scene.facets:
        cells = scene.truth_labels == facet.id
        assert cells.any(), facet.name
        np.testing.assert_allclose(scene.grid.z[cells], facet.height_at(x[cells], y[cells]), atol=1e-9)


@pytest.mark.parametrize("roof", ROOF_TYPES)
def test_facet_measures_follow_the_roofing_arithmetic(roof: RoofType) -> None:
    scene = build_scene(SceneSpec(roof=roof, rotation_deg=200.0))

    for facet in scene.facets:
        nx, ny, nz = facet.normal
        assert math.hypot(nx, ny, nz) == pytest.approx(1.0)
        assert nz > 0
        assert facet.pitch_rise == pytest.approx(12 * math.tan(math.radians(facet.pitch_deg)))
        assert facet.pitch_deg == pytest.approx(math.degrees(math.acos(nz)))
        assert facet.sloped_area_m2 == pytest.approx(facet.footprint_area_m2 / math.cos(math.radians(facet.pitch_deg)))
        assert facet.squares == pytest.approx(facet.sloped_area_m2 * SQFT_PER_M2 / 100)
        if facet.pitch_deg > 0:  # the normal leans the way the facet faces
            assert angle_gap(math.degrees(math.atan2(nx, ny)), facet.azimuth_deg) < 1e-9
    for edge in scene.edges:
        assert edge.kind in EDGE_KINDS
        assert edge.length_ft == pytest.approx(edge.length_m / 0.3048)


# --- known answers ---------------------------------------------------------------------------------


def test_a_6_in_12_gable_has_two_facets_facing_opposite_ways() -> None:
    scene = build_scene(SceneSpec(roof="gable", pitch=6.0))

    assert len(scene.facets) == 2
    for facet in scene.facets:
        assert facet.pitch_deg == pytest.approx(26.565, abs=1e-3)
        assert facet.pitch_rise == pytest.approx(6.0)
    south, north = scene.facets
    assert angle_gap(south.azimuth_deg, north.azimuth_deg) == pytest.approx(180.0)
    assert sorted(f.azimuth_deg for f in scene.facets) == pytest.approx([0.0, 180.0])


def test_rotating_the_building_adds_to_the_azimuths() -> None:
    spec = SceneSpec(roof="hip", pitch=8.0)
    still = build_scene(spec)
    turned = build_scene(replace(spec, rotation_deg=30.0))

    for before, after in zip(still.facets, turned.facets, strict=True):
        assert angle_gap(after.azimuth_deg, before.azimuth_deg + 30.0) < 1e-9
        assert after.pitch_deg == pytest.approx(before.pitch_deg)
        assert after.footprint_area_m2 == pytest.approx(before.footprint_area_m2)


def test_a_gables_ridge_runs_the_buildings_length() -> None:
    spec = SceneSpec(roof="gable", pitch=7.0, length=13.0, width=8.0, overhang=0.4, rotation_deg=33.0)
    scene = build_scene(spec)

    (ridge,) = scene.edges_of("ridge")
    assert ridge.length_m == pytest.approx(spec.length + 2 * spec.overhang)
    assert ridge.start[2] == pytest.approx(ridge.end[2])  # level
    assert len(scene.edges_of("eave")) == 2
    assert len(scene.edges_of("rake")) == 4
    rake_run = spec.width / 2 + spec.overhang
    assert scene.edges_of("rake")[0].length_m == pytest.approx(rake_run * math.hypot(1, spec.pitch / 12))
    assert not scene.edges_of("hip") and not scene.edges_of("valley")


def test_hip_roof_edges_and_the_hip_length_formula() -> None:
    spec = SceneSpec(roof="hip", pitch=9.0, length=14.0, width=9.0, overhang=0.3, rotation_deg=71.0)
    scene = build_scene(spec)
    length, width, slope = spec.length + 0.6, spec.width + 0.6, spec.pitch / 12

    counts = {kind: len(scene.edges_of(kind)) for kind in EDGE_KINDS}
    assert counts == {"ridge": 1, "hip": 4, "valley": 0, "eave": 4, "rake": 0}
    # a hip runs from a corner to the ridge: width / sqrt(2) across, slope * width / 2 up
    hip = math.hypot(width / math.sqrt(2), slope * width / 2)
    for edge in scene.edges_of("hip"):
        assert edge.length_m == pytest.approx(hip)
    assert scene.edges_of("ridge")[0].length_m == pytest.approx(length - width)
    assert scene.edge_lengths_m()["eave"] == pytest.approx(2 * (length + width))


def test_a_pyramid_has_four_hips_and_no_ridge() -> None:
    scene = build_scene(SceneSpec(roof="pyramid", pitch=5.0, rotation_deg=12.0))

    assert len(scene.facets) == 4
    assert len(scene.edges_of("hip")) == 4
    assert not scene.edges_of("ridge")


def test_the_l_has_two_valleys_of_the_analytic_length() -> None:
    spec = SceneSpec(roof="cross_gable", pitch=8.0, rotation_deg=-25.0)
    scene = build_scene(spec)
    slope, run = spec.pitch / 12, 0.75 * spec.width / 2 + spec.overhang

    valleys = scene.edges_of("valley")
    assert len(valleys) == 2
    for valley in valleys:
        # from the eave (inner corner, or the west wall line) up to where the wing's ridge meets the main roof
        assert valley.length_m == pytest.approx(run * math.sqrt(2 + slope**2))
        assert abs(valley.start[2] - valley.end[2]) == pytest.approx(slope * run)
    assert len(scene.edges_of("ridge")) == 2
    assert len(scene.facets) == 4


def test_dormers_stand_on_the_hip_in_valleys() -> None:
    scene = build_scene(SceneSpec(roof="hip_dormers", pitch=8.0, rotation_deg=140.0))

    dormers = [facet for facet in scene.facets if facet.name.startswith("dormer")]
    assert len(dormers) == 4
    assert all(0 < facet.footprint_area_m2 < 9.29 for facet in dormers)  # smaller than 100 sq ft
    assert len(scene.edges_of("valley")) == 4
    assert len(scene.edges_of("ridge")) == 3
    assert len(scene.edges_of("hip")) == 4


def test_dormers_that_do_not_fit_are_refused() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        build_scene(SceneSpec(roof="hip_dormers", pitch=2.0))


def test_two_buildings_have_different_roofs_and_eaves() -> None:
    scene = build_scene(SceneSpec(roof="two_buildings", pitch=8.0, eave_height=5.0))

    house = [facet for facet in scene.facets if facet.building == 0]
    garage = [facet for facet in scene.facets if facet.building == 1]
    assert len(house) == 4
    assert len(garage) == 2
    assert {round(f.pitch_rise, 6) for f in house} != {round(f.pitch_rise, 6) for f in garage}
    house_eave = min(e.start[2] for e in scene.edges_of("eave") if e.facets[0] in {f.id for f in house})
    garage_eave = min(e.start[2] for e in scene.edges_of("eave") if e.facets[0] in {f.id for f in garage})
    assert garage_eave < house_eave - 0.5


def test_a_shed_has_one_eave_and_its_high_side_is_a_rake() -> None:
    scene = build_scene(SceneSpec(roof="shed", pitch=3.0))

    (facet,) = scene.facets
    assert facet.azimuth_deg == pytest.approx(180.0)
    (eave,) = scene.edges_of("eave")
    assert eave.start[2] == pytest.approx(min(point[2] for e in scene.edges for point in (e.start, e.end)))
    assert len(scene.edges_of("rake")) == 3


def test_the_flat_roof_ignores_pitch_and_drains_gently() -> None:
    scene = build_scene(SceneSpec(roof="flat", pitch=9.0, drainage=0.25))
    dead_flat = build_scene(SceneSpec(roof="flat", drainage=0.0))

    (facet,) = scene.facets
    assert facet.pitch_rise == pytest.approx(0.25)
    (level,) = dead_flat.facets
    assert level.pitch_deg == 0.0
    assert level.azimuth_deg == 0.0
    assert len(dead_flat.edges_of("eave")) == 4


# --- the raster's axes, noise, chimney, tree --------------------------------------------------------


def test_the_dsm_axes_follow_the_grid_convention() -> None:
    # a shed facing north (turned 180 degrees) is higher at its south side: the bottom rows
    north = build_scene(SceneSpec(roof="shed", pitch=6.0, rotation_deg=180.0, margin=1.0))
    (facet,) = north.facets
    assert facet.azimuth_deg == pytest.approx(0.0)
    rows = np.nonzero(north.roof_mask.any(axis=1))[0]
    middle = north.grid.shape[1] // 2
    column = north.grid.z[rows, middle]
    assert np.all(np.diff(column) > 0)
    # facing west (turned 90 degrees) it is higher to the east: the right-hand columns
    west = build_scene(SceneSpec(roof="shed", pitch=6.0, rotation_deg=90.0, margin=1.0))
    assert west.facets[0].azimuth_deg == pytest.approx(270.0)
    cols = np.nonzero(west.roof_mask.any(axis=0))[0]
    row = west.grid.z[west.grid.shape[0] // 2, cols]
    assert np.all(np.diff(row) > 0)
    # and the truth's coordinates are the grid's: a cell's label is the facet whose polygon holds its centre
    x, y = north.grid.xy()
    (polygon,) = facet.polygons
    xs, ys = zip(*polygon, strict=True)
    inside = north.truth_labels == 0
    assert x[inside].min() >= min(xs) and x[inside].max() <= max(xs)
    assert y[inside].min() >= min(ys) and y[inside].max() <= max(ys)
    assert max(ys) < 0  # north of the grid's top edge is outside it


def test_noise_has_the_requested_sigma() -> None:
    spec = SceneSpec(roof="hip", resolution=0.1, noise_sigma=0.05, seed=7)
    noisy, clean = build_scene(spec), build_scene(replace(spec, noise_sigma=0.0))

    difference = noisy.grid.z - clean.grid.z
    assert difference.std() == pytest.approx(0.05, rel=0.03)
    assert abs(difference.mean()) < 0.003
    assert np.array_equal(noisy.truth_labels, clean.truth_labels)


def test_a_seed_reproduces_a_scene() -> None:
    spec = SceneSpec(roof="gable", noise_sigma=0.03, tree=True, ground_slope=0.05, seed=3)

    assert np.array_equal(build_scene(spec).grid.z, build_scene(spec).grid.z)
    assert not np.array_equal(build_scene(spec).grid.z, build_scene(replace(spec, seed=4)).grid.z)


def test_a_chimney_stands_1_2_m_above_the_roof_and_hides_it() -> None:
    spec = SceneSpec(roof="gable", resolution=0.1, chimney=True)
    scene, bare = build_scene(spec), build_scene(replace(spec, chimney=False))

    hidden = (scene.truth_labels == -1) & scene.roof_mask
    assert np.count_nonzero(hidden) * scene.grid.cell_area == pytest.approx(0.8 * 0.8, rel=0.15)
    rise = scene.grid.z[hidden] - bare.grid.z[hidden]
    assert rise.mean() == pytest.approx(1.2, abs=0.05)
    assert len(np.unique(scene.grid.z[hidden])) == 1  # a flat top
    for facet, before in zip(scene.facets, bare.facets, strict=True):
        assert facet.footprint_area_m2 == before.footprint_area_m2  # a roofer measures under it
    assert sum(f.visible_area_m2 for f in scene.facets) < sum(f.visible_area_m2 for f in bare.facets)


def test_a_tree_overhangs_an_eave_with_a_bumpy_canopy() -> None:
    spec = SceneSpec(roof="hip", pitch=7.0, resolution=0.1, tree=True, rotation_deg=25.0, seed=11)
    scene, bare = build_scene(spec), build_scene(replace(spec, tree=False))

    canopy = scene.grid.z > bare.grid.z + 1e-9
    over_roof = canopy & scene.roof_mask
    assert over_roof.any()
    assert np.all(scene.truth_labels[over_roof] == -1)
    # it reaches about TREE_OVERHANG_M in from the eave
    (under,) = {int(label) for label in bare.truth_labels[over_roof]}
    facet = bare.facets[under]
    x, y = scene.grid.xy()
    eave = next(e for e in bare.edges_of("eave") if e.facets[0] == under)
    ax, ay, _ = eave.start
    inward = -np.array([math.sin(math.radians(facet.azimuth_deg)), math.cos(math.radians(facet.azimuth_deg))])
    depth = (x[over_roof] - ax) * inward[0] + (y[over_roof] - ay) * inward[1]
    assert depth.max() == pytest.approx(1.5, abs=0.15)
    # 2-4 m above the eave, and not a plane
    assert 1.9 < scene.grid.z[canopy].max() - eave.start[2] < 4.4
    a = np.column_stack([x[canopy], y[canopy], np.ones(np.count_nonzero(canopy))])
    _, residual, *_ = np.linalg.lstsq(a, scene.grid.z[canopy], rcond=None)
    assert math.sqrt(residual[0] / np.count_nonzero(canopy)) > 0.2
    # the facet keeps its whole area; only its visible area shrinks
    assert scene.facets[under].footprint_area_m2 == facet.footprint_area_m2
    assert scene.facets[under].visible_area_m2 < facet.visible_area_m2 - 1.0


def test_sloping_ground_lies_under_the_margin() -> None:
    scene = build_scene(SceneSpec(roof="gable", ground_slope=0.05, margin=4.0, seed=2))

    ground = ~scene.roof_mask
    x, y = scene.grid.xy()
    a = np.column_stack([x[ground], y[ground], np.ones(np.count_nonzero(ground))])
    (gx, gy, _), *_ = np.linalg.lstsq(a, scene.grid.z[ground], rcond=None)
    assert math.hypot(gx, gy) == pytest.approx(0.05, rel=1e-6)


# --- the acceptance set -----------------------------------------------------------------------------


def test_the_standard_set_covers_the_acceptance_list() -> None:
    specs = standard_set()

    assert 30 <= len(specs) <= 40
    assert {spec.roof for spec in specs} == set(ROOF_TYPES)
    pitches = [spec.pitch for spec in specs if spec.roof != "flat"]
    assert min(pitches) == 2 and max(pitches) == 14
    assert len(set(pitches)) >= 8
    assert min(s.resolution for s in specs) == 0.1 and max(s.resolution for s in specs) == 0.5
    assert min(s.noise_sigma for s in specs) == 0.0 and max(s.noise_sigma for s in specs) == 0.08
    assert len({round(s.rotation_deg) % 90 for s in specs}) > 10  # not grid-aligned
    assert any(s.chimney for s in specs) and any(s.tree for s in specs)
    assert len({s.name for s in specs}) == len(specs)
    assert standard_set() == specs  # reproducible
    assert standard_set(seed=1) != specs


def test_every_scene_of_the_standard_set_builds_consistently() -> None:
    scenes = [build_scene(spec) for spec in standard_set()]
    for scene in scenes:
        assert scene.truth_labels.dtype == np.int32
        assert scene.truth_labels.shape == scene.grid.shape
        assert scene.grid.dx == scene.grid.dy == scene.spec.resolution
        assert sum(f.footprint_area_m2 for f in scene.facets) == pytest.approx(scene.outline_area_m2, rel=1e-9)


def test_a_resampled_dsm_is_the_source_samples_in_blocks_over_the_fine_truth() -> None:
    spec = SceneSpec(roof="hip", pitch=8, rotation_deg=23, noise_sigma=0.03, seed=5)
    scene = resampled_scene(spec, 1.0, 0.0862)
    fine = build_scene(replace(spec, resolution=0.0862))

    assert scene.grid.dx == scene.grid.dy == 0.0862
    assert np.array_equal(scene.truth_labels, fine.truth_labels)
    assert scene.facets == fine.facets
    # nearest: blocks of 11-12 identical cells along a row, the source's noise on the truth
    runs = np.diff(np.flatnonzero(np.diff(scene.grid.z[40]) != 0))
    assert set(runs.tolist()) <= {11, 12}
    roof = np.isfinite(fine.grid.z) & (fine.truth_labels >= 0)
    error = (scene.grid.z - fine.grid.z)[roof]
    assert 0.02 < float(np.median(np.abs(error))) < 0.5  # the noise, and the step within a block


def test_a_bilinear_turned_resampling_bends_between_samples_and_keeps_the_truth() -> None:
    spec = SceneSpec(roof="gable", pitch=6, noise_sigma=0.0, seed=2)
    flat = resampled_scene(spec, 1.0, 0.25, kind="bilinear")
    # bilinear: along a row the heights change linearly between samples, so most second differences vanish
    second = np.abs(np.diff(flat.grid.z[30], 2))
    assert (second < 1e-4).mean() > 0.6
    turned = resampled_scene(spec, 1.0, 0.1, turn_deg=3.0)
    rows = [np.flatnonzero(np.diff(turned.grid.z[r]) != 0)[:3] for r in (20, 120)]
    assert not np.array_equal(rows[0], rows[1])  # the blocks' edges drift down a turned source
