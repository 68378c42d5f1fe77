"""The local stage of damage detection: candidate hail hits, missing shingles, wind creases and
lifted tabs from OpenCV alone.

It proposes; a vision model later verifies and classifies the numbered candidates (and without a
model, the confident candidates are the answer). The method, in the order it runs:

1. **Survey** (`survey`), on a copy of at most 640 pixels a side. Courses of shingles are the one
   ruler every roof photo carries: the shadow line under each butt edge repeats every exposure.
   Windows about the centre (a damage photo is aimed at the roof), of several sizes and on a half
   copy too, find the course period and direction from the comb of peaks in their dark-line
   spectrum (a fundamental must be a spectral peak that stands out of its ring; a 3-tab keyway
   lattice's mirror pair is recognised; windows without fine texture are sky or paint, and ones
   whose courses are bright lines, not dark, are brick); the central windows agree on the period
   (harmonics support the longer period, and a period two windows see three to five times over
   is their harmonic: a close-up's small windows see fine structure; perspective lets neighbours
   differ, and where the windows agree on how the period grows down the slope, the square root of
   the period growing linearly as a plane's perspective makes it, that trend is what they are
   held to: a ladder's view doubles the period within a tenth of the photo). Rings of windows
   further out, searched near what the field fitted so far expects and admitted only if they look
   like the central shingles (`appearance`: texture, texture across the courses, colour with
   room for a shadow's skylight), grow a projective *course field* (`slope_plane`: phase =
   (a X + b Y) / (1 + p X + q Y), whose denominator is the slope's horizon). The roof mask
   (`roof_mask`) is the pixels that look like those shingles and carry the field's courses in
   phase (demodulation, `phase_lock`), connected to most of the shingles the field was fitted on,
   small holes filled, large ones (a chimney) not, the edge pulled in by the texture's reach; it
   hugs the eave, ridge and rake within about an inch and stays off sky, gutters, fascia, siding
   (periodic, but smooth across the courses), brick, trees and lawns. Last the field is locked
   onto the courses of the roof's own pixels, which removes the bias a window has where the
   period changes across it. A lawn's or sky's colour, a sky's smoothness, or no roof to speak of:
   no roof. A period under 16 pixels may be two or three courses (a yard view's courses are
   too fine for the 640-pixel copy): a copy twice as large is surveyed too, and its courses win
   when they come at a half or a third of that period.
2. **Scale** (`scale`). The field and a typical focal length (66 degrees across the long side,
   15% spread) give the slope as a plane, hence pixels per inch at every pixel as an *area* scale
   (courses alone give it across the courses only: an oblique photo is squeezed down the slope, not
   along it). The style is read on the roof rectified square-on (`shingle_style`): a 3-tab roof's
   keyways are a staggered lattice with a peak at half the course frequency, laminates' random
   teeth have none. 3-tab: the tab measured along the courses is a second ruler that corrects the
   focal length's guess; imperial (12 x 5 in) and metric (13 1/4 x 5 5/8) are told apart only on a
   near square-on photo, otherwise the scale is taken between them. The patch is as big as the
   photo spans (a close-up's few feet), blurred to its sampling, and the lattice peak is judged
   against its own columns beside it. Laminated: between 5 5/8 and 5 7/8 in (8 in "designer"
   laminates are not told apart: known limit). A close-up too small to show six tabs is not told
   laminated for want of a lattice: the same exposure, with room for a 3-tab's 5 in. The
   uncertainty states the windows' spread about the field, the focal length's part where no
   keyways measured it, and the style's ambiguity.
3. **Working resolution.** Everything after runs at about `WORK_PPI` pixels per inch (never above
   the photo's own), so a 12 MP photo costs little more than a 1 MP one and blob sizes in inches
   mean the same thing on every photo. `Work.ppi` is the scale across the courses (the course
   period's), `Work.stretch` how many times more pixels an inch spans along them (foreshortening).
4. **Hail hits.** Granules knocked off leave dark, roundish spots of bare asphalt 0.5 to 2.5 inches
   across. On illumination-normalised log luminance (log L minus its heavy blur: lighting gradients
   and vignetting are multiplicative, so they vanish), a spot is what no line segment of 3 inches
   fits in: the smallest grey closing over all orientations (`spots`) fills it, while keyways,
   course lines, their T-junctions and wider dark areas hold a segment and leave nothing. Each spot
   is judged by a logistic classifier (`classifier`, `models/hail.json`, trained on the fitting
   photos only by `evaluation.vision.training`) over its depth, size, shape, its contrast with and
   colour against its ring, and whether a dark line leaves it.
5. **Missing shingles.** A torn-off tab exposes felt, deck or the unweathered course below: a patch
   roughly one exposure tall and several inches wide whose tone, colour or texture is unlike the
   roof's. At a coarse scale each pixel gets a robust distance from the roof's typical (log
   luminance, chromaticity, texture); connected regions of large distance that are tab-sized and
   rectangular (they fill most of their rotated bounding box, not long and thin like a pipe's
   shadow) are candidates. Hail candidates inside one are its corners, and are dropped.
   The course structure proposes more: a torn-off tab takes its butt edge along, so the shadow
   line it threw is missing for a tab's width (5 to 24 inches) where the courses one local period
   up and down the slope have theirs (nothing else on a roof removes that line: moss, leaves,
   streaks and shadows tint or darken a shingle, but the line's log contrast stays). The patch one
   course above such a gap is the hole; it is scored by how unlike the roof its material is (the
   appearance distance above). This finds felt on charcoal and holes on laminated courses of
   varied shades, whose appearance alone is not extreme enough to stand out.
6. **Wind damage** (`wind`: creases and lifted tabs). Courses repeat, so a spot is compared with
   the same spot one course period up and down the slope (the period measured per tile at working
   resolution, as perspective can double it from top to bottom of a photo): four filters along the
   courses (the bright-over-dark butt edge, a thin dark line, a thin bright line, a wide dark band)
   give each pixel its excess over both neighbours. A *course map* (`course_map`) says where each
   pixel sits in its course: the survey's course field demodulated by the butt edges gives the
   height above the butt line below as a share of the period. A crease lies on a tab's face (an
   inch or more above its butt), a lifted tab's shadow on the butt line, so each kind is sought in
   its own zone of the course, its excess in robust spreads of that zone (contrast-free), its runs
   along the courses measured in inches of the local period (scale-free). Each run is scored by a
   logistic classifier (`models/wind_crease.json`, `models/lifted_tab.json`, fitted by
   `evaluation.vision.wind_training` on the fitting photos only). Held aside by family, their
   operating point does not carry over (too many false runs for the marks it finds), so wind
   candidates are scored below `REPORT_SCORE`: proposals for the model stage only, the best few
   per kind.
7. Candidates are ranked by score, readings of one mark merged (overlap or containment), and at
   most `MAX_CANDIDATES` kept (the model stage draws their numbers on the photo).

Nothing here knows how the synthetic photos are made beyond what a roofer knows: exposure, hail
sizes, and that bare asphalt is dark and grey.
"""
