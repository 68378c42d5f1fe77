"""The local stage of damage detection: candidate hail hits, missing shingles and shingle edge
anomalies from OpenCV alone.

It proposes; a vision model later verifies and classifies the numbered candidates (and without a
model, the confident candidates are the answer). The method, in the order it runs:

1. **Shingle scale.** Courses of shingles are the one ruler every roof photo carries: the shadow
   line under each butt edge repeats every exposure (5 to 5 5/8 inches, `EXPOSURE_IN` taken as 5.3).
   On a small copy of the photo, the power spectrum of a few windows (high-passed, Hann-windowed)
   has a sharp peak at the course frequency; its period gives pixels per inch, and its strength says
   there is a shingled roof at all. No periodic window: no roof, no candidates.
2. **Roof area** (unless the caller gives a mask). Half-course blocks of the photo's central part
   (a damage photo is aimed at the roof) that are typical of that part seed a model of chromaticity
   (r, g of normalised RGB, blind to lighting) and fine texture; if the seeds are not near grey (a
   lawn, a sky) there is no roof. Blocks that fit the model and connect to a seed are roof, holes
   filled (a hole is a torn-off tab, not sky). This drops sky (blue, smooth), gutters (smooth) and
   lawns (green).
3. **Working resolution.** Everything after runs at about `WORK_PPI` pixels per inch (never above
   the photo's own), so a 12 MP photo costs little more than a 1 MP one and blob sizes in inches
   mean the same thing on every photo.
4. **Hail hits.** Granules knocked off leave dark, roundish spots of bare asphalt 0.5 to 2 inches
   across. On illumination-normalised log luminance (log L minus its heavy blur: lighting gradients
   and vignetting are multiplicative, so they vanish, and granule texture has the same contrast in
   sun and shade), the smaller eigenvalue of the scale-normalised Hessian is large only for dark
   *blobs*: shadow lines, keyways and the edges between shingle shades are lines or steps, whose
   smaller eigenvalue is near zero. Responses are measured in units of their own spread over the
   roof (the granule texture's noise), at five scales from 0.55 to 2.2 inches. Each local maximum
   is then judged on its contrast against its surrounding ring, its roundness (eigenvalue ratio)
   and its colour (bare asphalt is neutral; leaves and moss are not).
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
6. **Shingle edge anomalies** (wind creases, lifted tabs). Courses repeat, so a spot is compared
   with the same spot one course period up and down the slope (the period measured per tile at
   working resolution, as perspective can double it from top to bottom of a photo). An oriented
   bright-over-dark thin edge stronger than at both neighbours is a crease candidate; a wide dark
   band (a butt edge's shadow widened) stronger than at both neighbours is a lifted-tab candidate.
   On the development set these are not yet separable from normal variety (laminates' bottom layer,
   tab shade steps), so they are scored below `REPORT_SCORE`: proposals for the model stage only.
7. Candidates are ranked by score, overlapping ones merged, and at most `MAX_CANDIDATES` kept (the
   model stage draws their numbers on the photo).

Nothing here knows how the synthetic photos are made beyond what a roofer knows: exposure, hail
sizes, and that bare asphalt is dark and grey.
"""
