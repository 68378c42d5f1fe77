"""A photo's pose from its metadata, for the report to tie it to the roof: a drone's camera (DJI's XMP,
EXIF), or a phone's position and compass heading (EXIF GPS)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from vision.camera_pose import drone_pose, photo_pose

DJI_XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" '
    'drone-dji:GpsLatitude="33.9512345" drone-dji:{lon_name}="-84.1234567" '
    'drone-dji:AbsoluteAltitude="+321.40" {relative}'
    'drone-dji:GimbalRollDegree="+0.00" drone-dji:GimbalYawDegree="-44.90" drone-dji:GimbalPitchDegree="-62.30" '
    "{calibrated}/></rdf:RDF></x:xmpmeta>"
)


def jpeg(
    xmp: str | None = None, *, focal_35mm: int | None = 24, gps: bool = False, heading: float | None = None
) -> bytes:
    exif = Image.Exif()
    if focal_35mm is not None:
        exif.get_ifd(0x8769)[0xA405] = focal_35mm
    if gps:
        exif.get_ifd(0x8825).update({1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 30.0)})
        if heading is not None:
            exif.get_ifd(0x8825).update({16: "T", 17: heading})
    buffer = io.BytesIO()
    extra = {"xmp": xmp.encode()} if xmp is not None else {}
    Image.new("RGB", (64, 48), (90, 90, 90)).save(buffer, "JPEG", exif=exif, **extra)
    return buffer.getvalue()


def test_a_dji_photo_gives_its_position_altitude_gimbal_and_focal_length() -> None:
    xmp = DJI_XMP.format(lon_name="GpsLongitude", relative='drone-dji:RelativeAltitude="+35.20" ', calibrated="")
    pose = drone_pose(jpeg(xmp))
    assert pose == {
        "latitude": 33.9512345,
        "longitude": -84.1234567,
        "altitude_m": 35.2,
        "altitude_ref": "relative",
        "yaw_deg": -44.9,
        "pitch_deg": -62.3,
        "roll_deg": 0.0,
        "focal_px": None,
        "focal_35mm": 24.0,
    }


def test_older_firmware_spellings_and_a_calibrated_focal_length_and_no_relative_altitude() -> None:
    xmp = DJI_XMP.format(lon_name="GpsLongtitude", relative="", calibrated='drone-dji:CalibratedFocalLength="3666.67" ')
    pose = drone_pose(jpeg(xmp, focal_35mm=None))
    assert pose is not None
    assert pose["longitude"] == -84.1234567
    assert (pose["altitude_m"], pose["altitude_ref"]) == (321.4, "absolute")
    assert pose["focal_px"] == 3666.67 and pose["focal_35mm"] is None


def test_a_drone_photo_without_xmp_position_takes_the_exif_gps() -> None:
    xmp = DJI_XMP.format(lon_name="Nothing", relative="", calibrated="").replace(
        'drone-dji:GpsLatitude="33.9512345" ', ""
    )
    pose = drone_pose(jpeg(xmp, gps=True))
    assert pose is not None
    assert pose["latitude"] == pytest.approx(51.5) and pose["longitude"] == pytest.approx(-0.125)


def test_a_phone_photo_gives_its_position_and_heading_and_a_plain_one_nothing() -> None:
    phone = jpeg(None, gps=True, heading=187.5)
    assert drone_pose(phone) is None
    assert photo_pose(phone) == {"kind": "handheld", "latitude": 51.5, "longitude": -0.125, "heading_deg": 187.5}
    assert photo_pose(jpeg(None, gps=True))["heading_deg"] is None  # type: ignore[index]
    assert photo_pose(jpeg(None)) is None
    assert photo_pose(b"not an image at all") is None
    xmp = DJI_XMP.format(lon_name="GpsLongitude", relative='drone-dji:RelativeAltitude="+35.20" ', calibrated="")
    assert photo_pose(jpeg(xmp))["kind"] == "drone"  # type: ignore[index]
