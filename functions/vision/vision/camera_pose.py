"""A drone photo's camera pose, read from the metadata drones write, for the report to place the
photo's detections on the roof (reports.camera).

DJI and drones that follow it write XMP in the `drone-dji` namespace: GpsLatitude, GpsLongitude (some
firmware spells it GpsLongtitude), RelativeAltitude (above the take-off point) and AbsoluteAltitude,
GimbalYawDegree, GimbalPitchDegree, GimbalRollDegree, and on mapping models CalibratedFocalLength
(pixels). The 35 mm equivalent focal length comes from EXIF (FocalLengthIn35mmFilm), and the
position from EXIF GPS when the XMP has none.

A phone's or camera's photo gives where it was taken (EXIF GPS) and, when the phone wrote it, the
compass heading it pointed (GPSImgDirection): the report ties such a photo to the facet facing the
photographer that the camera points at.

Privacy: the position is read only for that, and stored beside the job's result (`camera.json`,
`kind` drone or handheld), never in the result the API returns; nothing else of the metadata is kept.
"""

from __future__ import annotations

import io
import re
from typing import Any

XMP_START, XMP_END = b"<x:xmpmeta", b"</x:xmpmeta>"
MAX_XMP_SCAN = 512 * 1024  # XMP sits in the JPEG's first segments
_FIELD = re.compile(r"drone-dji:(\w+)\s*=\s*\"([^\"]*)\"|<drone-dji:(\w+)>([^<]*)</drone-dji:\w+>")
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_FOCAL_35MM = 0xA405


def drone_fields(data: bytes) -> dict[str, str]:
    """The `drone-dji` XMP fields of a photo, by name (empty when it has none)."""
    head = data[:MAX_XMP_SCAN]
    start = head.find(XMP_START)
    end = head.find(XMP_END, start)
    if start < 0 or end < 0:
        return {}
    text = head[start:end].decode("utf-8", "replace")
    return {(m[0] or m[2]): (m[1] or m[3]).strip() for m in _FIELD.findall(text)}


def _number(fields: dict[str, str], *names: str) -> float | None:
    for name in names:
        try:
            return float(fields[name])
        except (KeyError, ValueError):
            continue
    return None


def drone_pose(data: bytes) -> dict[str, Any] | None:
    """The pose of a drone photo, or None (not a drone's, or its metadata lacks a part the report needs)."""
    fields = drone_fields(data)
    yaw, pitch = _number(fields, "GimbalYawDegree"), _number(fields, "GimbalPitchDegree")
    if yaw is None or pitch is None:
        return None
    exif = _exif(data)
    latitude = _number(fields, "GpsLatitude", "Latitude")
    longitude = _number(fields, "GpsLongitude", "GpsLongtitude", "Longitude")
    if latitude is None or longitude is None:
        latitude, longitude = exif.get("latitude"), exif.get("longitude")
    relative, absolute = _number(fields, "RelativeAltitude"), _number(fields, "AbsoluteAltitude")
    if latitude is None or longitude is None or (relative is None and absolute is None):
        return None
    pose: dict[str, Any] = {
        "latitude": latitude,
        "longitude": longitude,
        "altitude_m": relative if relative is not None else absolute,
        "altitude_ref": "relative" if relative is not None else "absolute",
        "yaw_deg": yaw,
        "pitch_deg": max(-90.0, min(30.0, pitch)),
        "roll_deg": _number(fields, "GimbalRollDegree") or 0.0,
        "focal_px": _number(fields, "CalibratedFocalLength"),
        "focal_35mm": exif.get("focal_35mm"),
    }
    return pose


def photo_pose(data: bytes) -> dict[str, Any] | None:
    """A drone photo's pose, else a handheld photo's position and heading, else None."""
    drone = drone_pose(data)
    if drone is not None:
        return {"kind": "drone", **drone}
    exif = _exif(data)
    if "latitude" not in exif or "longitude" not in exif:
        return None
    return {
        "kind": "handheld",
        "latitude": exif["latitude"],
        "longitude": exif["longitude"],
        "heading_deg": exif.get("heading_deg"),
    }


def _exif(data: bytes) -> dict[str, float]:
    """The 35 mm focal length and the GPS position from EXIF, where present (Pillow reads the header only)."""
    from PIL import Image, UnidentifiedImageError

    found: dict[str, float] = {}
    try:
        with Image.open(io.BytesIO(data)) as image:
            exif = image.getexif()
            focal = exif.get_ifd(_EXIF_IFD).get(_FOCAL_35MM)
            if focal:
                found["focal_35mm"] = float(focal)
            gps = exif.get_ifd(_GPS_IFD)
            if 2 in gps and 4 in gps:
                found["latitude"] = _degrees(gps[2], gps.get(1, "N"), "S")
                found["longitude"] = _degrees(gps[4], gps.get(3, "E"), "W")
            if 17 in gps:  # GPSImgDirection: where the camera pointed (true or magnetic north; a few degrees apart)
                found["heading_deg"] = float(gps[17]) % 360.0
    except (UnidentifiedImageError, OSError, ValueError, TypeError, ZeroDivisionError):
        return {}
    return found


def _degrees(dms: Any, ref: Any, negative: str) -> float:
    degrees, minutes, seconds = (float(v) for v in dms)
    value = degrees + minutes / 60.0 + seconds / 3600.0
    return -value if str(ref).upper().startswith(negative) else value
