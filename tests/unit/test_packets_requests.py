"""What a packet may be asked for: the request's checks, the org's templates, and the photos' reading
order and captions."""

from __future__ import annotations

import io

import pytest
from pydantic import ValidationError

from packets.photos import ROLES, caption, ordered, role_of, shows
from packets.requests import PacketCreate, PacketTemplate
from packets.templates import MemoryTemplateStore, check_docx
from shared.errors import InvalidInput, NotFound

REPORT = "0" * 32


def test_a_request_names_each_section_once_and_keeps_its_letter_short() -> None:
    assert PacketCreate(report_id=REPORT).chosen_sections()[0] == "cover_letter"
    assert PacketCreate(report_id=REPORT, sections=["quantities", "summary"]).chosen_sections() == [
        "quantities",
        "summary",
    ]
    refused: list[dict[str, object]] = [
        {"sections": ["summary", "summary"]},
        {"sections": []},
        {"sections": ["nope"]},
        {"cover_letter": ["x" * 3000] * 10},
        {"report_id": "x"},
        {"template": {"photos_per_page": 3}},
    ]
    for bad in refused:
        with pytest.raises(ValidationError):
            PacketCreate.model_validate({"report_id": REPORT, **bad})


def test_an_orgs_templates_are_its_own_and_a_word_document_is_checked() -> None:
    store = MemoryTemplateStore()
    store.save("acme", "Desk review", PacketTemplate(photos_per_page=2))
    assert store.template("acme", "Desk review").photos_per_page == 2 and store.names("acme") == ["Desk review"]
    with pytest.raises(NotFound):
        store.template("other", "Desk review")
    with pytest.raises(InvalidInput):
        store.save("acme", "../escape", PacketTemplate())
    with pytest.raises(NotFound):  # a Word document belongs to a saved template
        store.save_docx("acme", "Missing", b"")
    for bad in (b"not a zip", b"PK\x03\x04 broken"):
        with pytest.raises(InvalidInput, match="docx"):
            check_docx(bad)
    import docx

    word = io.BytesIO()
    docx.Document().save(word)
    assert not store.has_docx("acme", "Desk review")
    store.save_docx("acme", "Desk review", word.getvalue())
    assert store.docx("acme", "Desk review") == word.getvalue() and store.has_docx("acme", "Desk review")


def _photo(pid: str, **extra: object) -> dict[str, object]:
    return {"id": pid, "image": {"width": 10, "height": 10, "sha256": ""}, "detections": [], **extra}


def test_photos_read_overview_then_slope_then_test_square_then_close_up_then_unassigned() -> None:
    report = {
        "photos": [
            _photo("z-untied"),
            _photo("a-close", pixels_per_foot=120.0),
            _photo("b-square", tags={"test_square": True}),
            _photo("c-slope"),
            _photo("d-drone", placed=True),
        ],
        "attributions": [
            {"photo": "a-close", "facets": ["B"]},
            {"photo": "b-square", "facets": ["A"]},
            {"photo": "c-slope", "facets": ["A"]},
            {"photo": "d-drone", "facets": ["A", "B"]},
            {"photo": "z-untied", "facets": []},
        ],
    }
    roles = [role for _, _, role in ordered(report)]
    assert roles == ["overview", "slope", "test square", "close-up", "unassigned"] == list(ROLES)
    assert role_of(_photo("x"), None) == "unassigned"


def test_a_caption_says_where_what_how_many_and_when() -> None:
    facets = {"A": {"facing": "S", "pitch": "6/12"}}
    photo = _photo("p", detections=[{"counted": True}] * 14 + [{"counted": False}])
    where = shows(facets, {"facets": ["A"]})
    assert caption(14, photo, where, "test square", "2026-05-28 14:02") == (
        "Photo 14: facet A (S, 6/12), test square, 14 functional hits, 2026-05-28 14:02"
    )
    assert shows(facets, {"facets": ["A", "B"]}) == "facets A, B"
    assert caption(1, _photo("q", detections=[{"counted": True}]), "not tied to a facet", "unassigned", None) == (
        "Photo 1: not tied to a facet, unassigned, 1 functional hit"
    )
