"""The canonical checks read the schema's length bounds from the models' field metadata."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, Field

from ems.schemas import event_canonical, metrics_canonical
from ems.schemas.field_bounds import item_length, length
from ems.schemas.limits import Text
from ems.schemas.observation import EventBody


class Sample(BaseModel):
    name: Text(40, 2)
    note: Text(10) | None = None
    tags: Annotated[list[Text(7, 1)], Field(max_length=3)] = Field(default_factory=list)
    labels: Annotated[dict[Text(5, 1), Text(9)], Field(min_length=1, max_length=4)] = {"a": ""}
    free: str = ""


def test_bounds_of_texts_optional_texts_lists_and_dicts() -> None:
    assert length(Sample, "name") == (2, 40)
    assert length(Sample, "note") == (0, 10)
    assert length(Sample, "tags") == (0, 3) and item_length(Sample, "tags") == (1, 7)
    assert length(Sample, "labels") == (1, 4)
    assert item_length(Sample, "labels", 0) == (1, 5) and item_length(Sample, "labels", 1) == (0, 9)
    with pytest.raises(TypeError):  # no bound declared: nothing to check against
        length(Sample, "free")


def test_the_event_check_holds_the_bounds_event_body_declares() -> None:
    title = EventBody.model_fields["title"].metadata[0].max_length
    assert (0, title) == event_canonical.TITLE
    assert event_canonical.TAGS[0] == EventBody.model_fields["tags"].metadata[0].max_length
    assert metrics_canonical.SAMPLES == (1, 10_000)
