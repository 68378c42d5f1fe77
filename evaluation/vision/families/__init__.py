"""Evaluation families: a second roof-photo generator, independent of `evaluation.vision.synthetic`,
whose photos vary in what real roof photos vary in, grouped into named families, some for fitting
and the others held out.

How a photo is made (nothing is shared with the first generator). A house stands in 3-D: a gable
roof at some pitch with its eave, fascia, drip edge, gutter, soffit, the wall below (lap siding,
brick or stucco), gable ends, the ground, trees whose canopies hang over the roof or only shade it,
and objects on the slope (box vents, pipe boots, a chimney). A pinhole camera is placed as a person
would hold it (from the ridge, from a ladder at the eave, from a drone, close up, or from the yard)
and one ray per pixel is cast; what it meets is shaded where it is met (scene, geometry). The field
of shingles is laid course by course as pieces: 3-tab tabs with keyway cut-outs down to the course
below (and its sealant strip showing in them), laminate teeth over a darker bottom layer, each
piece with its own shade and tone, each course a thickness above the one below. Butt edges and
keyway walls therefore throw sun-dependent shadows, hide strips from a camera up the slope, show
their faces to a camera down the slope, and darken what is at their foot (shingles). Granules are
drawn per pixel from the blend, their spread reduced as a pixel covers more of them (noise).
Damage, wear and distractors are painted on the plane (damage, wear, decals), shadows of the
canopy and the objects are cast, and a camera pipeline meters, white-balances, blurs, vignettes,
adds sensor noise, tone-maps, sharpens and JPEG-compresses (photo).

Families (catalogue.FAMILIES; each a seeded distribution, `Family` documents its spreads):

FITTING (for fitting any detector weights, thresholds or classifier):
- three_tab_ridge: 3-tab 12 x 5 in from near the ridge, sun.
- three_tab_closeup: 3-tab imperial and metric, 3-7 ft close-ups, sun or overcast.
- laminate_drone: laminates 5 5/8 and 5 7/8 in from a drone, ridge caps, hail on caps too.
- laminate_ladder_overcast: laminates from a ladder (grazing), overcast, gutter at the bottom.
- wind_storm_laminate: laminate creases, lifted and missing pieces, leaves; ridge and drone.
- dirty_old_roof: curl, fading, stains, algae, moss, lichen, blisters, nail pops, scuffs, patches.
- sky_gutter_siding: yard views with lap siding or stucco, gutter, sky, lawn.
- defects_jpeg_blur: defocus or shake, JPEG 50-70, high ISO noise, white balance and EV off.

HELD_OUT (never used for fitting; acceptance figures are reported on these). Each combines what
fitting never combines or never shows:
- three_tab_ladder_low_sun: 3-tab with keyway T-junctions, from a ladder, under a low raking sun
  (3-tab is never shot from a ladder in fitting, and no fitting family has a low sun).
- three_tab_metric_shade: metric 3-tab, dark blends, a hard tree or chimney shadow across the roof
  (no fitting family has hard shadows), drone and ridge views, hail on ridge caps.
- wind_storm_three_tab: wind damage on 3-tab (fitting has wind only on laminates), ladder and ridge,
  overcast or low sun.
- sky_gutter_brick_trees: yard views with a brick wall, mulch or concrete, branches over the roof
  and their dappled shadows (fitting has neither brick nor trees).
- laminate_low_sun_growth: laminates incl. 8 in "designer" exposure (never in fitting), light
  blends, algae streaks, moss and wet patches under a low sun.
- laminate_drone_12mp: 12 MP drone photos of laminates (5 5/8 and 8 in) in sun or a low sun (a
  drone under a low sun is never in fitting): speed and memory, and accuracy at that size.

Truth per photo (truth.RoofPhoto): `pixels` (H x W x 3 uint8 RGB), `roof` (bool: shingles, ridge
caps, flashing, vents, drip edge; not gutter, fascia, soffit, walls, chimney, trees, ground, sky),
`surfaces` (scene.Surface labels), `marks` (truth.Mark: type hail_hit / wind_crease /
missing_shingle / lifted_tab, box [x0, y0, x1, y1] exclusive, size_in, on_surface, detail),
`distractors` (boxed look-alikes), `scale` (truth.PlaneScale: true pixels per foot anywhere, from
the roof plane's homography; `pixels_per_foot` at the centre), `style`, `exposure_in`, `tab_in`,
`courses_visible`, and `params` (the draw).

    from evaluation.vision.families import FAMILIES, FITTING, HELD_OUT, render
    photo = render("three_tab_ladder_low_sun", 3)            # deterministic per (family, index)
    small = render("three_tab_ridge", 0, size=(640, 480))   # same scene, fewer pixels

Scoring any detector: evaluate.py (`python -m evaluation.vision.families.evaluate`).
"""

from evaluation.vision.families.catalogue import FAMILIES, FITTING, HELD_OUT, Family
from evaluation.vision.families.render import render, render_scene
from evaluation.vision.families.truth import Distractor, Mark, PlaneScale, RoofPhoto

__all__ = [
    "FAMILIES",
    "FITTING",
    "HELD_OUT",
    "Distractor",
    "Family",
    "Mark",
    "PlaneScale",
    "RoofPhoto",
    "render",
    "render_scene",
]
